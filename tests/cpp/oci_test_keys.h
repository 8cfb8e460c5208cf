// Test data shared by the OCI tests: the published signing vectors (tests/data/oci) and their RSA key
// rewritten in the other PEM forms (PKCS#8, encrypted, public) with OpenSSL.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace mlflow_bridge::testing {

// The vectors are kept in the repository with their licence (tests/data/oci/LICENSE.txt).
inline const nlohmann::json& OciVectors() {
  static const nlohmann::json kVectors = [] {
    const auto path = std::filesystem::path(__FILE__).parent_path() / ".." / "data" / "oci" / "request-signing-vectors.json";
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
  }();
  return kVectors;
}

// The vectors' key (PKCS#1, "BEGIN RSA PRIVATE KEY").
inline std::string OciTestKeyPem() { return OciVectors().at("private_key_pem").get<std::string>(); }

enum class PemForm { kPkcs8, kPkcs8Encrypted, kPkcs1Encrypted, kPublic };

// The vectors' key in another form; `passphrase` for the encrypted ones.
inline std::string OciTestKeyAs(PemForm form, const std::string& passphrase = "") {
  const std::string pem = OciTestKeyPem();
  std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  auto* pass = reinterpret_cast<unsigned char*>(const_cast<char*>(passphrase.data()));
  const int n = static_cast<int>(passphrase.size());
  switch (form) {
    case PemForm::kPkcs8: PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr); break;
    case PemForm::kPkcs8Encrypted:
      PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), const_cast<char*>(passphrase.data()), n,
                                    nullptr, nullptr);
      break;
    case PemForm::kPkcs1Encrypted:
      PEM_write_bio_PrivateKey_traditional(out.get(), key.get(), EVP_aes_128_cbc(), pass, n, nullptr, nullptr);
      break;
    case PemForm::kPublic: PEM_write_bio_PUBKEY(out.get(), key.get()); break;
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace mlflow_bridge::testing
