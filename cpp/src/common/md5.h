// MD5 through OpenSSL, for integrity headers (Azure Storage's Content-MD5); never for security.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace mlflow_bridge::internal {

class Md5 {
 public:
  Md5() { EVP_DigestInit_ex(ctx_.get(), EVP_md5(), nullptr); }
  void Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // The raw 16-byte digest; the object is spent afterwards.
  std::string Digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    return std::string(reinterpret_cast<const char*>(md), n);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_{EVP_MD_CTX_new(), EVP_MD_CTX_free};
};

// The raw 16-byte MD5 of `data`.
inline std::string Md5Digest(std::string_view data) {
  Md5 h;
  h.Update(data);
  return h.Digest();
}

}  // namespace mlflow_bridge::internal
