// Entra ID tokens for a service principal with a certificate (AZURE_CLIENT_CERTIFICATE_PATH), as azure-identity's
// CertificateCredential gets them through MSAL: a JWT client assertion signed RS256 with the certificate's
// SHA-1 thumbprint as x5t (padded base64url, as MSAL writes it) and, when asked, the chain as x5c.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "azure/credentials.h"
#include "azure/entra.h"
#include "common/base64.h"
#include "common/crypto.h"
#include "common/env.h"
#include "common/strings.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using Json = nlohmann::json;
using PKeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

constexpr auto kAssertionLifetime = std::chrono::seconds(600);
constexpr auto kAssertionRenewBefore = std::chrono::seconds(60);

// The last OpenSSL error as text (never a secret), and the queue cleared.
std::string OpenSslError() {
  unsigned long e = ERR_peek_last_error();
  std::string out;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out = buf;
  }
  ERR_clear_error();
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string Der(X509* cert) {
  int n = i2d_X509(cert, nullptr);
  if (n <= 0) return "";
  std::string out(static_cast<size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_X509(cert, &p);
  return out;
}

// Hands OpenSSL the password of an encrypted PEM key; never prompts.
int PasswordCallback(char* buf, int size, int /*rwflag*/, void* user) {
  const auto* password = static_cast<const std::string*>(user);
  if (password == nullptr || password->empty() || size <= 0) return 0;
  int n = static_cast<int>(std::min<size_t>(password->size(), static_cast<size_t>(size)));
  std::memcpy(buf, password->data(), static_cast<size_t>(n));
  return n;
}

struct LoadedCertificate {
  PKeyPtr key{nullptr, EVP_PKEY_free};
  std::vector<std::string> chain_der;  // the signer first
  std::string sha1;                    // of the signer's DER
};

// The key and every certificate of a PEM file.
Status LoadPem(const std::string& text, const std::string& password, const std::string& where, PKeyPtr& key,
               std::vector<X509Ptr>& certs) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(c, X509_free);
  ERR_clear_error();  // the end of the file
  BioPtr key_bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
  key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, PasswordCallback, const_cast<std::string*>(&password)));
  if (!key) {
    std::string detail = OpenSslError();
    if (text.find("ENCRYPTED") != std::string::npos && password.empty())
      return InvalidParameterError(where +
                                   ": the private key is encrypted; set its password (AZURE_CLIENT_CERTIFICATE_PASSWORD)");
    if (text.find("PRIVATE KEY-----") == std::string::npos)
      return InvalidParameterError(where +
                                   " has no private key: it must hold the certificate and its RSA private key (PEM)");
    return InvalidParameterError(where + ": cannot read the private key (wrong password?): " + detail);
  }
  if (certs.empty()) return InvalidParameterError(where + " has no certificate (-----BEGIN CERTIFICATE-----)");
  return OkStatus();
}

Status LoadPkcs12(const std::string& bytes, const std::string& password, const std::string& where, PKeyPtr& key,
                  std::vector<X509Ptr>& certs) {
  auto parse = [&]() -> bool {
    BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())), BIO_free);
    std::unique_ptr<PKCS12, decltype(&PKCS12_free)> p12(d2i_PKCS12_bio(bio.get(), nullptr), PKCS12_free);
    if (!p12) return false;
    EVP_PKEY* k = nullptr;
    X509* cert = nullptr;
    STACK_OF(X509)* ca = nullptr;
    if (PKCS12_parse(p12.get(), password.c_str(), &k, &cert, &ca) != 1) return false;
    key.reset(k);
    certs.clear();
    if (cert != nullptr) certs.emplace_back(cert, X509_free);
    for (int i = 0; ca != nullptr && i < sk_X509_num(ca); ++i) certs.emplace_back(sk_X509_value(ca, i), X509_free);
    sk_X509_free(ca);  // the certificates are owned by `certs` now
    return true;
  };
  if (!parse()) {
    // Files made by older tools protect the certificates with RC2 or 3DES, which OpenSSL 3 keeps in its
    // legacy provider.
    std::string detail = OpenSslError();
    // Loaded once and kept for the process (the default provider stays as the fallback).
    static std::once_flag legacy_once;
    static OSSL_PROVIDER* legacy = nullptr;
    std::call_once(legacy_once, [] {
      legacy = OSSL_PROVIDER_try_load(nullptr, "legacy", 1);
      if (legacy == nullptr) ERR_clear_error();
    });
    if (!parse()) {
      OpenSslError();
      return InvalidParameterError(where +
                                   " is neither PEM nor a PKCS#12 file that opens with the given password "
                                   "(AZURE_CLIENT_CERTIFICATE_PASSWORD): " +
                                   detail);
    }
  }
  if (!key) return InvalidParameterError(where + ": the PKCS#12 file has no private key");
  if (certs.empty()) return InvalidParameterError(where + ": the PKCS#12 file has no certificate");
  return OkStatus();
}

StatusOr<LoadedCertificate> LoadCertificate(const std::string& path, const std::string& password) {
  const std::string where = "certificate file " + path;
  std::optional<std::string> bytes = ReadFileText(path);
  if (!bytes) return InvalidParameterError(where + " cannot be read (AZURE_CLIENT_CERTIFICATE_PATH)");
  PKeyPtr key(nullptr, EVP_PKEY_free);
  std::vector<X509Ptr> certs;
  if (bytes->find("-----BEGIN ") != std::string::npos) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(LoadPem(*bytes, password, where, key, certs));
  } else {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(LoadPkcs12(*bytes, password, where, key, certs));
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
    return InvalidParameterError(where + ": the private key must be RSA (the assertion is signed RS256)");
  // The certificate of the key signs; the others follow in the file's order.
  size_t signer = certs.size();
  for (size_t i = 0; i < certs.size() && signer == certs.size(); ++i)
    if (X509_check_private_key(certs[i].get(), key.get()) == 1) signer = i;
  ERR_clear_error();
  if (signer == certs.size()) return InvalidParameterError(where + ": none of its certificates matches its private key");
  LoadedCertificate out;
  out.chain_der.push_back(Der(certs[signer].get()));
  for (size_t i = 0; i < certs.size(); ++i)
    if (i != signer) out.chain_der.push_back(Der(certs[i].get()));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(certs[signer].get(), EVP_sha1(), md, &n) != 1)
    return InternalError(where + ": cannot compute the certificate's thumbprint: " + OpenSslError());
  out.sha1.assign(reinterpret_cast<const char*>(md), n);
  out.key = std::move(key);
  return out;
}

// A random (version 4) UUID; nullopt when OpenSSL has no randomness.
std::optional<std::string> RandomUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  std::string hex = HexEncode(std::string_view(reinterpret_cast<const char*>(b), sizeof(b)));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

StatusOr<std::string> SignRs256(EVP_PKEY* key, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t n = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return InternalError("cannot sign the client assertion: " + OpenSslError());
  std::string sig(n, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return InternalError("cannot sign the client assertion: " + OpenSslError());
  sig.resize(n);
  return sig;
}

class ClientCertificateCredential : public TokenCredential {
 public:
  ClientCertificateCredential(ClientCertificateSettings settings, LoadedCertificate cert, std::string token_url,
                              TokenRequester requester)
      : settings_(std::move(settings)),
        cert_(std::move(cert)),
        token_url_(std::move(token_url)),
        requester_(std::move(requester)) {}

  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    if (Status s = ValidateScope(scope); !s.ok()) return s.WithContext(Describe()).set_final();
    StatusOr<std::string> assertion = Assertion();
    if (!assertion.ok()) return assertion.status().WithContext(Describe()).set_final();
    return requester_.Post(token_url_,
                           {{"client_assertion", *assertion},
                            {"client_assertion_type", kJwtBearerAssertionType},
                            {"client_id", settings_.client_id},
                            {"grant_type", "client_credentials"},
                            {"scope", scope},
                            {"client_info", "1"}},
                           Describe(), {*assertion, settings_.certificate_password});
  }

  std::string Describe() const override {
    return "client certificate credential of client " + settings_.client_id + " in tenant " + settings_.tenant_id +
           " (certificate " + settings_.certificate_path + ")";
  }

 private:
  // The current assertion, made anew once it is within a minute of its expiry.
  StatusOr<std::string> Assertion() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = requester_.clock->WallNow();
    if (!assertion_.empty() && now < assertion_expires_ - kAssertionRenewBefore) return assertion_;
    const long long iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const long long exp = iat + kAssertionLifetime.count();
    Json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"x5t", Base64UrlEncode(cert_.sha1, /*pad=*/true)}};
    if (settings_.send_certificate_chain) {
      Json x5c = Json::array();
      for (const std::string& der : cert_.chain_der) x5c.push_back(Base64Encode(der));
      header["x5c"] = std::move(x5c);
    }
    std::optional<std::string> jti = RandomUuid();
    if (!jti) return InternalError("cannot make the client assertion: OpenSSL has no random bytes");
    Json claims = {
        {"aud", token_url_}, {"iss", settings_.client_id}, {"sub", settings_.client_id}, {"iat", iat}, {"exp", exp},
        {"jti", *jti}};
    std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
    StatusOr<std::string> sig = SignRs256(cert_.key.get(), input);
    if (!sig.ok()) return sig.status();
    assertion_ = input + "." + Base64UrlEncode(*sig);
    assertion_expires_ = std::chrono::system_clock::time_point(std::chrono::seconds(exp));
    return assertion_;
  }

  ClientCertificateSettings settings_;
  LoadedCertificate cert_;
  std::string token_url_;
  TokenRequester requester_;
  std::mutex mu_;
  std::string assertion_;  // a secret
  std::chrono::system_clock::time_point assertion_expires_;
};

}  // namespace

StatusOr<ClientCertificateSettings> ClientCertificateSettingsFromEnv(const EnvGetter& getenv) {
  ClientCertificateSettings s;
  StatusOr<AppEnv> env = ReadAppEnv(getenv, "AZURE_CLIENT_CERTIFICATE_PATH");
  if (!env.ok()) return env.status();
  s.tenant_id = env->tenant_id;
  s.client_id = env->client_id;
  s.certificate_path = env->value;
  s.authority_host = env->authority_host;
  s.certificate_password = getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD").value_or("");
  std::string chain = ToLower(Trim(getenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN").value_or("")));
  s.send_certificate_chain = chain == "true" || chain == "1";
  return s;
}

StatusOr<std::shared_ptr<TokenCredential>> MakeClientCertificateCredential(ClientCertificateSettings settings,
                                                                           const AzureCredentialOptions& options) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateTenantId(settings.tenant_id));
  if (settings.client_id.empty()) return InvalidParameterError("client certificate credential: the client id is empty");
  if (settings.certificate_path.empty())
    return InvalidParameterError("client certificate credential of client " + settings.client_id +
                                 ": no certificate file given");
  StatusOr<std::string> authority = NormalizeAuthorityHost(settings.authority_host, "authority host");
  if (!authority.ok()) return authority.status();
  settings.authority_host = *authority;
  StatusOr<LoadedCertificate> cert = LoadCertificate(ExpandUser(settings.certificate_path), settings.certificate_password);
  if (!cert.ok()) return cert.status().WithMessage(ScrubSecrets(cert.status().message(), {settings.certificate_password}));
  std::string url = TokenUrl(settings.authority_host, settings.tenant_id);
  TokenRequester requester{TransportOf(options), ClockOf(options), options.token_retry, options.token_backoff};
  return std::shared_ptr<TokenCredential>(std::make_shared<ClientCertificateCredential>(
      std::move(settings), std::move(*cert), std::move(url), std::move(requester)));
}

}  // namespace mlflow_bridge::internal
