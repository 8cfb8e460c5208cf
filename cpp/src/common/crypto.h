// Hashes through OpenSSL: SHA-256 (incremental, as image digests "sha256:<hex>" need it),
// HMAC-SHA256, and lower-case hex.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

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

// Lower-case hex of the bytes.
inline std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

// Lower-case hex of SHA-256(data).
inline std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Hex();
}

// Raw 32-byte HMAC-SHA256(key, data); empty when OpenSSL fails.
inline std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), md, &len) == nullptr)
    return std::string();
  return std::string(reinterpret_cast<const char*>(md), len);
}

}  // namespace mlflow_bridge::internal
