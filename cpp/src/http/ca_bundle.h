// Which CA certificates TLS trusts when nothing more specific is configured.
//
// The libcurl bundled in binary wheels has no CA path compiled in (the right one differs between
// distributions), so the transport looks for it as curl, Python and Go do: CURL_CA_BUNDLE, then
// SSL_CERT_FILE (a PEM file), SSL_CERT_DIR (a hashed directory), else the first system bundle that
// exists (Debian/Ubuntu, Red Hat/Fedora/CentOS, SUSE, Alpine).
#pragma once

#include <functional>
#include <string>

namespace mlflow_bridge {
namespace internal {

struct CaLocation {
  std::string file;    // CURLOPT_CAINFO; empty: none found
  std::string dir;     // CURLOPT_CAPATH; empty: none
  std::string source;  // where it came from, for messages: "CURL_CA_BUNDLE", "the system"
};

CaLocation FindCaLocation(const std::function<const char*(const char*)>& getenv,
                          const std::function<bool(const std::string&)>& exists);

// With the process's environment and file system.
CaLocation DefaultCaLocation();

}  // namespace internal
}  // namespace mlflow_bridge
