#include "http/ca_bundle.h"

#include <sys/stat.h>

#include <cstdlib>

namespace mlflow_bridge {
namespace internal {

CaLocation FindCaLocation(const std::function<const char*(const char*)>& getenv,
                          const std::function<bool(const std::string&)>& exists) {
  auto env = [&](const char* name) {
    const char* v = getenv(name);
    return std::string(v != nullptr ? v : "");
  };
  CaLocation ca;
  for (const char* name : {"CURL_CA_BUNDLE", "SSL_CERT_FILE"}) {
    if (std::string file = env(name); !file.empty()) {
      ca.file = file;
      ca.source = name;
      break;
    }
  }
  ca.dir = env("SSL_CERT_DIR");
  if (!ca.file.empty() || !ca.dir.empty()) {
    if (ca.source.empty()) ca.source = "SSL_CERT_DIR";
    return ca;
  }
  // The list Go's crypto/x509 searches (root_linux.go), in its order.
  for (const char* file : {"/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Gentoo
                           "/etc/pki/tls/certs/ca-bundle.crt",                   // Fedora, RHEL 6
                           "/etc/ssl/ca-bundle.pem",                             // openSUSE
                           "/etc/pki/tls/cacert.pem",                            // OpenELEC
                           "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // CentOS, RHEL 7+
                           "/etc/ssl/cert.pem"}) {                               // Alpine
    if (exists(file)) {
      ca.file = file;
      ca.source = "the system";
      return ca;
    }
  }
  for (const char* dir : {"/etc/ssl/certs", "/etc/pki/tls/certs"}) {
    if (exists(dir)) {
      ca.dir = dir;
      ca.source = "the system";
      return ca;
    }
  }
  return ca;
}

CaLocation DefaultCaLocation() {
  return FindCaLocation([](const char* name) { return std::getenv(name); },
                        [](const std::string& path) {
                          struct stat st;
                          return ::stat(path.c_str(), &st) == 0;
                        });
}

}  // namespace internal
}  // namespace mlflow_bridge
