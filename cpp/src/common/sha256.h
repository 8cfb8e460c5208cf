// SHA-256 (OpenSSL EVP), incremental, as image digests ("sha256:<hex>") need it.
#pragma once

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace mlflow_bridge::internal {

class Sha256 {
 public:
  Sha256() { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // Lower-case hex of the digest; the object is spent afterwards.
  std::string Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    std::string hex(2 * n, '0');
    static constexpr char kDigits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < n; ++i) {
      hex[2 * i] = kDigits[md[i] >> 4];
      hex[2 * i + 1] = kDigits[md[i] & 15];
    }
    return hex;
  }
  // "sha256:<hex>", as OCI digests are written.
  std::string Digest() { return "sha256:" + Hex(); }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_{EVP_MD_CTX_new(), EVP_MD_CTX_free};
};

inline std::string Sha256Digest(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Digest();
}

}  // namespace mlflow_bridge::internal
