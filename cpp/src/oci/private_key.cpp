#include "oci/private_key.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>
#include <utility>

#include "common/env.h"
#include "common/strings.h"

namespace mlflow_bridge::internal {
namespace {

struct PassphraseState {
  const std::optional<std::string>* passphrase;
  bool asked = false;
};

// OpenSSL's pem_password_cb: records that the key is encrypted and hands over the passphrase, if any.
int PassphraseCallback(char* buf, int size, int /*rwflag*/, void* u) {
  auto* state = static_cast<PassphraseState*>(u);
  state->asked = true;
  if (!state->passphrase->has_value()) return -1;
  const std::string& p = **state->passphrase;
  if (p.size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, p.data(), p.size());
  return static_cast<int>(p.size());
}

// Whether the text is a public key (PEM "PUBLIC KEY" or "RSA PUBLIC KEY", or OpenSSH's one-line form).
bool IsPublicKey(std::string_view text) {
  return text.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos ||
         text.find("-----BEGIN RSA PUBLIC KEY-----") != std::string_view::npos || text.rfind("ssh-rsa ", 0) == 0;
}

}  // namespace

StatusOr<std::shared_ptr<const OciPrivateKey>> OciPrivateKey::FromPem(std::string_view pem,
                                                                      const std::optional<std::string>& passphrase,
                                                                      std::string_view where) {
  pem = Trim(pem);
  const std::string prefix = "cannot load the OCI private key from " + std::string(where) + ": ";
  if (pem.empty()) return InvalidParameterError(prefix + "it is empty");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  PassphraseState state{&passphrase};
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback, &state);
  ERR_clear_error();  // OpenSSL's queue may quote nothing secret, but it is not ours to leave behind
  if (key == nullptr) {
    if (state.asked && !passphrase)
      return InvalidParameterError(prefix + "the key is encrypted and needs a passphrase (pass_phrase in the config file)");
    if (IsPublicKey(pem)) {
      return InvalidParameterError(prefix +
                                   "it is a public key; signing needs the private key (the PEM file `oci setup keys` "
                                   "writes as oci_api_key.pem, not oci_api_key_public.pem)");
    }
    if (state.asked) return InvalidParameterError(prefix + "the passphrase is incorrect");
    return InvalidParameterError(prefix +
                                 "it is not a PEM private key (expected \"-----BEGIN RSA PRIVATE KEY-----\" "
                                 "or \"-----BEGIN PRIVATE KEY-----\")");
  }
  if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
    EVP_PKEY_free(key);
    return InvalidParameterError(prefix + "it is not an RSA key; OCI API keys are RSA keys (2048 bits or more)");
  }
  return std::shared_ptr<const OciPrivateKey>(new OciPrivateKey(key));
}

StatusOr<std::shared_ptr<const OciPrivateKey>> OciPrivateKey::FromFile(const std::string& path,
                                                                       const std::optional<std::string>& passphrase,
                                                                       std::string_view where) {
  const std::string expanded = ExpandUser(path);
  std::optional<std::string> text = ReadFileText(expanded);
  if (!text)
    return InvalidParameterError("cannot load the OCI private key from " + std::string(where) + ": cannot read " + expanded +
                                 " (does it exist, and may this user read it?)");
  auto key = FromPem(*text, passphrase, where);
  OPENSSL_cleanse(text->data(), text->size());
  return key;
}

OciPrivateKey::~OciPrivateKey() { EVP_PKEY_free(key_); }

StatusOr<std::string> OciPrivateKey::SignSha256(std::string_view data) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    ERR_clear_error();
    return InternalError("RSA-SHA256 signing failed (OpenSSL)");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    ERR_clear_error();
    return InternalError("RSA-SHA256 signing failed (OpenSSL)");
  }
  sig.resize(len);
  return sig;
}

}  // namespace mlflow_bridge::internal
