// What tests/python/test_azure_blob_crosscheck.py compares with azure-storage-blob and azure-ai-ml:
//   blob_sign_tool sign   reads {"method", "url", "headers": [[name, value], ...], "body_length", "account",
//                         "key"} from stdin and prints {"string_to_sign", "authorization"} (Shared Key);
//   blob_sign_tool hash   reads {"path"} from stdin and prints {"hash"} (ObjectHash) and, for a folder,
//                         {"prefix", "files": [[local path, blob name], ...]} in upload order (ScanModelFolder),
//                         or {"scan_error": "..."}.
// {"error": "..."} and exit status 1 when the input is unusable.
#include <iostream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "azure/blob_stub.h"
#include "azure/model_upload.h"

int main(int argc, char** argv) {
  using nlohmann::json;
  using namespace mlflow_bridge;
  using namespace mlflow_bridge::internal;
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    // Read it all first: nlohmann's iterator adapter spins on istreambuf_iterator with libstdc++ 12.
    const std::string text(std::istreambuf_iterator<char>(std::cin), {});
    const json in = json::parse(text);
    json out;
    if (mode == "sign") {
      HttpRequest r;
      r.method = in.value("method", "GET");
      r.url = in.at("url").get<std::string>();
      for (const auto& h : in.value("headers", json::array()))
        r.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
      r.body.assign(in.value("body_length", 0), 'x');
      const std::string account = in.at("account").get<std::string>();
      out["string_to_sign"] = SharedKeyStringToSign(r, account);
      Status s = SignSharedKey(r, account, in.at("key").get<std::string>());
      if (!s.ok()) throw std::runtime_error(s.ToString());
      out["authorization"] = FindHeader(r.headers, "Authorization").value_or("");
    } else if (mode == "hash") {
      const std::string path = in.at("path").get<std::string>();
      StatusOr<std::string> hash = ObjectHash(path);
      if (!hash.ok()) throw std::runtime_error(hash.status().ToString());
      out["hash"] = *hash;
      StatusOr<ModelFolder> m = ScanModelFolder(path);
      if (m.ok()) {
        out["prefix"] = m->blob_prefix();
        out["files"] = json::array();
        for (const ModelFolderFile& f : m->files) out["files"].push_back({f.local_path, f.blob_name});
      } else {
        out["scan_error"] = m.status().ToString();
      }
    } else {
      throw std::runtime_error("usage: blob_sign_tool sign|hash < request.json");
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cout << json{{"error", e.what()}}.dump() << "\n";
    return 1;
  }
}
