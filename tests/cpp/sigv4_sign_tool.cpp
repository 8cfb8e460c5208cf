// Signs one request with SignV4 and prints the resulting headers, for
// cross-checking against botocore. Reads JSON from stdin:
//   {"method", "url", "headers": {...}, "body", "region", "service",
//    "access_key", "secret_key", "session_token", "time": "20240101T000000Z",
//    "unsigned_payload": false, "sign_body_hash_header": false}
// and prints {"headers": {...}} (all headers after signing), or
// {"error": "..."} with exit status 1.
#include <ctime>
#include <iostream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/aws.h"

int main() {
  using nlohmann::json;
  using namespace mlflow_bridge;
  try {
    // Read it all first: nlohmann's iterator adapter spins on istreambuf_iterator with libstdc++ 12.
    const std::string text(std::istreambuf_iterator<char>(std::cin), {});
    json in = json::parse(text);
    HttpRequest r;
    r.method = in.value("method", "GET");
    r.url = in.at("url").get<std::string>();
    r.body = in.value("body", "");
    const json headers = in.value("headers", json::object());
    for (const auto& [k, v] : headers.items()) r.headers.emplace_back(k, v.get<std::string>());

    std::tm tm{};
    const std::string t = in.value("time", "");
    if (!strptime(t.c_str(), "%Y%m%dT%H%M%SZ", &tm)) throw std::runtime_error("time must look like 20240101T000000Z");
    SigV4Params p;
    p.region = in.at("region").get<std::string>();
    p.service = in.at("service").get<std::string>();
    p.now = std::chrono::system_clock::from_time_t(timegm(&tm));
    p.unsigned_payload = in.value("unsigned_payload", false);
    p.sign_body_hash_header = in.value("sign_body_hash_header", false);
    AwsCredentials c{in.at("access_key").get<std::string>(), in.at("secret_key").get<std::string>(),
                     in.value("session_token", ""), std::nullopt};

    Status s = SignV4(r, c, p);
    if (!s.ok()) throw std::runtime_error(s.ToString());
    json out = {{"headers", json::object()}};
    for (const auto& [k, v] : r.headers) out["headers"][k] = v;
    std::cout << out.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cout << json{{"error", e.what()}}.dump() << "\n";
    return 1;
  }
}
