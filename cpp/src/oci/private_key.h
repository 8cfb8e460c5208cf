// RSA private keys for OCI request signing: loaded from PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8
// "PRIVATE KEY", either encrypted with a passphrase) and used for RSA-SHA256 (PKCS#1 v1.5) through
// OpenSSL's EVP interface. The key material never leaves this object: no accessor returns it and no
// message carries it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mlflow_bridge/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace mlflow_bridge::internal {

class OciPrivateKey {
 public:
  // Parses PEM text. `where` names the source in messages ("key_file /home/u/.oci/key.pem", "the
  // OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM variable"); the text itself is never quoted. As the OCI SDKs do: a
  // passphrase given for a key that is not encrypted is ignored; an encrypted key without one, a wrong
  // passphrase and a public key each get their own message.
  static StatusOr<std::shared_ptr<const OciPrivateKey>> FromPem(std::string_view pem,
                                                                const std::optional<std::string>& passphrase,
                                                                std::string_view where);
  // Reads the file (a leading "~/" is the home folder) and parses it as above.
  static StatusOr<std::shared_ptr<const OciPrivateKey>> FromFile(const std::string& path,
                                                                 const std::optional<std::string>& passphrase,
                                                                 std::string_view where);

  ~OciPrivateKey();
  OciPrivateKey(const OciPrivateKey&) = delete;
  OciPrivateKey& operator=(const OciPrivateKey&) = delete;

  // Raw RSA-SHA256 (PKCS#1 v1.5) signature of `data`.
  StatusOr<std::string> SignSha256(std::string_view data) const;

 private:
  explicit OciPrivateKey(EVP_PKEY* key) : key_(key) {}
  EVP_PKEY* key_;
};

}  // namespace mlflow_bridge::internal
