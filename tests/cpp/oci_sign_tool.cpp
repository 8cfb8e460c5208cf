// Signs one request with SignOciRequest and prints the resulting headers, for cross-checking against the
// oci SDK's Signer. Reads JSON from stdin:
//   {"method", "url", "headers": {...}, "body" (text) or "body_base64", "private_key_pem", "passphrase",
//    "key_id", "time": <seconds since the epoch>, "sign_body": true}
// and prints {"headers": {...}, "signing_string": "..."} (all headers after signing), or {"error": "..."}
// with exit status 1.
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "oci/signer.h"

int main() {
  using nlohmann::json;
  using namespace mlflow_bridge;
  using namespace mlflow_bridge::internal;
  try {
    // Read it all first: nlohmann's iterator adapter spins on istreambuf_iterator with libstdc++ 12.
    const std::string text(std::istreambuf_iterator<char>(std::cin), {});
    json in = json::parse(text);
    HttpRequest r;
    r.method = in.value("method", "GET");
    r.url = in.at("url").get<std::string>();
    r.body = in.value("body", "");
    if (in.contains("body_base64")) {
      std::optional<std::string> body = Base64Decode(in["body_base64"].get<std::string>());
      if (!body) throw std::runtime_error("body_base64 is not base64");
      r.body = *body;
    }
    const json headers = in.value("headers", json::object());
    for (const auto& [k, v] : headers.items()) r.headers.emplace_back(k, v.get<std::string>());

    std::optional<std::string> passphrase;
    if (in.contains("passphrase") && !in["passphrase"].is_null()) passphrase = in["passphrase"].get<std::string>();
    auto key = OciPrivateKey::FromPem(in.at("private_key_pem").get<std::string>(), passphrase, "the request");
    if (!key.ok()) throw std::runtime_error(key.status().ToString());
    OciSigningKey signing_key{in.at("key_id").get<std::string>(), *key};
    OciSignOptions options;
    options.sign_body = in.value("sign_body", true);
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(in.at("time").get<int64_t>()));

    Status s = SignOciRequest(r, signing_key, now, options);
    if (!s.ok()) throw std::runtime_error(s.ToString());
    auto names = OciSignedHeaderNames(r.method, options);
    auto signing_string = OciSigningString(r, *names);
    json out = {{"headers", json::object()}, {"signing_string", signing_string.ok() ? *signing_string : ""}};
    for (const auto& [k, v] : r.headers) out["headers"][k] = v;
    std::cout << out.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cout << json{{"error", e.what()}}.dump() << "\n";
    return 1;
  }
}
