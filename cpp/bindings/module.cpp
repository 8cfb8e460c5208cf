// pybind11 glue for mlflow_bridge._core: argument conversion and error
// translation only. JSON crosses the boundary as text; the GIL is released
// while the core does I/O.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/deployment_target.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/kubernetes_client.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/targets.h"

namespace py = pybind11;
using namespace mlflow_bridge;

namespace {

struct StatusError : std::exception {
  explicit StatusError(Status s) : status(std::move(s)) {}
  const char* what() const noexcept override { return status.message().c_str(); }
  Status status;
};

void Unwrap(const Status& s) {
  if (!s.ok()) throw StatusError(s);
}
template <typename T>
T Unwrap(StatusOr<T> s) {
  if (!s.ok()) throw StatusError(s.status());
  return std::move(s).value();
}

// Runs `fn` without the GIL, then raises its error (if any) with the GIL held.
// A Python exception raised meanwhile (KeyboardInterrupt seen by Interrupted)
// wins over the core's error.
template <typename Fn>
auto NoGil(Fn&& fn) {
  std::optional<decltype(fn())> result;
  {
    py::gil_scoped_release release;
    try {
      result.emplace(fn());
    } catch (const std::exception& e) {  // the core should not throw; if it does, it is still an MLflow error
      result.emplace(InternalError(std::string("unexpected error in the native core: ") + e.what()));
    }
  }
  if (PyErr_Occurred()) throw py::error_already_set();
  return Unwrap(std::move(*result));
}

// Lets Python's signal handlers run (Ctrl-C) while the core waits.
bool Interrupted() {
  py::gil_scoped_acquire gil;
  return PyErr_Occurred() || PyErr_CheckSignals() != 0;
}

nlohmann::json ParseJson(const std::string& text, const char* what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw StatusError(InvalidParameterError(std::string(what) + " is not valid JSON"));
  return j;
}

// A DeployRequest from its JSON form (python/mlflow_bridge/targets/_base.py writes it).
DeployRequest ParseRequest(const std::string& text) {
  nlohmann::json j = ParseJson(text, "request");
  auto str = [&](const char* key) { return j.value(key, std::string()); };
  DeployRequest r{str("name"),   str("endpoint"),       str("model_uri"),
                  str("run_id"), str("flavor"),         str("model_dir"),
                  str("python"), str("mlflow_version"), j.value("config", nlohmann::json::object())};
  if (!r.config.is_object()) throw StatusError(InvalidParameterError("config must be a dict of key -> value"));
  return r;
}

// The wheel's mlflow_bridge/serve/ (python/mlflow_bridge/_serve.py), where the native model server is.
std::string ServeDir() { return py::module_::import("mlflow_bridge._serve").attr("SERVE_DIR").cast<std::string>(); }

DeploymentTargetOptions Options(std::string home) {
  return DeploymentTargetOptions{std::move(home), Interrupted, ServeDir()};
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "mlflow-bridge native core";
  m.attr("__version__") = MLFLOW_BRIDGE_VERSION;

  // Error(message) with .code (MLflow's error code name) and .message.
  static py::handle error = py::exception<StatusError>(m, "Error").release();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      py::object err = error(py::str(e.status.message()));
      err.attr("code") = py::str(std::string(StatusCodeName(e.status.code())));
      err.attr("message") = py::str(e.status.message());
      PyErr_SetObject(error.ptr(), err.ptr());
    }
  });

  m.def("redact", &Redact, py::arg("text"));
  m.def(
      "aws_default_region", [](const std::string& profile) { return AwsDefaultRegion(profile); }, py::arg("profile") = "");
  m.def(
      "ensure_ecr_repository",
      [](const std::string& name, const std::string& region, const std::string& profile) {
        return NoGil([&] { return EnsureEcrRepository(name, region, profile); });
      },
      py::arg("name"), py::arg("region") = "", py::arg("profile") = "");
  m.def("set_log_level", [](const std::string& level) {
    static const std::map<std::string, LogLevel> kLevels = {{"debug", LogLevel::kDebug},
                                                            {"info", LogLevel::kInfo},
                                                            {"warning", LogLevel::kWarning},
                                                            {"error", LogLevel::kError},
                                                            {"off", LogLevel::kOff}};
    auto it = kLevels.find(level);
    if (it == kLevels.end()) throw StatusError(InvalidParameterError("unknown log level '" + level + "'"));
    SetLogLevel(it->second);
  });

  py::class_<HttpTransport, std::shared_ptr<HttpTransport>>(m, "Http")
      .def(py::init([](long connect_timeout_ms, long timeout_ms, bool verify_tls, std::string ca_bundle,
                       std::string client_cert, std::string client_key, std::string proxy, std::string tls_server_name) {
             TransportOptions o;
             o.connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
             o.total_timeout = std::chrono::milliseconds(timeout_ms);
             o.verify_tls = verify_tls;
             o.ca_bundle = std::move(ca_bundle);
             o.client_cert = std::move(client_cert);
             o.client_key = std::move(client_key);
             o.proxy = std::move(proxy);
             o.tls_server_name = std::move(tls_server_name);
             return MakeCurlTransport(o);
           }),
           py::arg("connect_timeout_ms") = 10000, py::arg("timeout_ms") = 60000, py::arg("verify_tls") = true,
           py::arg("ca_bundle") = "", py::arg("client_cert") = "", py::arg("client_key") = "", py::arg("proxy") = "",
           py::arg("tls_server_name") = "")
      .def(
          "request",
          [](HttpTransport& t, std::string method, std::string url, HttpHeaders headers, py::bytes body) {
            HttpRequest req{std::move(method), std::move(url), std::move(headers), std::string(body), std::nullopt};
            HttpResponse r = NoGil([&] { return t.Send(req); });
            return py::make_tuple(r.status_code, r.headers, py::bytes(r.body));
          },
          py::arg("method"), py::arg("url"), py::arg("headers") = HttpHeaders{}, py::arg("body") = py::bytes(""));

  py::class_<ImageBuilder, std::shared_ptr<ImageBuilder>>(m, "ImageBuilder")
      .def(py::init([](std::string work_dir) {
             ImageBuilderOptions options;
             options.work_dir = std::move(work_dir);
             options.interrupted = Interrupted;
             options.serve_dir = ServeDir();
             return Unwrap(ImageBuilder::Make(WithRegistryLogins(std::move(options))));
           }),
           py::arg("work_dir"))
      .def_static("help", &ImageBuilder::Help)
      .def(
          "build_and_push",
          [](ImageBuilder& b, std::string model_dir, std::string model_uri, std::string run_id, std::string python,
             std::string mlflow_version, const std::string& config) {
            ImageBuildRequest request{std::move(model_dir), std::move(model_uri),      std::move(run_id),
                                      std::move(python),    std::move(mlflow_version), ParseJson(config, "config")};
            return NoGil([&] { return b.BuildAndPush(request); }).dump();
          },
          py::arg("model_dir"), py::arg("model_uri"), py::arg("run_id"), py::arg("python"), py::arg("mlflow_version"),
          py::arg("config"));

  // The one adapter of every deployment target (mlflow_bridge/deployment_target.h). Requests and results
  // cross as JSON text.
  m.def("target_names", &DeploymentTargetNames);
  m.def(
      "target_help", [](const std::string& name) { return Unwrap(DeploymentTargetHelp(name)); }, py::arg("name"));
  m.def(
      "run_local",
      [](const std::string& request, std::string home) {
        DeployRequest r = ParseRequest(request);
        DeploymentTargetOptions options = Options(std::move(home));  // with the GIL: it asks Python for serve_dir
        NoGil([&] { return RunLocal(r, std::move(options)); });
      },
      py::arg("request"), py::arg("home") = "");
  m.def(
      "post_to_route",
      [](const std::string& url, py::bytes body, const std::string& content_type) {
        std::string payload = body;
        return py::bytes(NoGil([&] { return KubernetesClient::PostToRoute(url, payload, content_type); }));
      },
      py::arg("url"), py::arg("body"), py::arg("content_type"));

  using Json = StatusOr<nlohmann::json>;
  py::class_<DeploymentTarget, std::shared_ptr<DeploymentTarget>>(m, "Target")
      .def(py::init([](const std::string& name, const std::string& target_uri, std::string home) {
             return Unwrap(MakeDeploymentTarget(name, target_uri, Options(std::move(home))));
           }),
           py::arg("name"), py::arg("target_uri"), py::arg("home") = "")
      .def_property_readonly("max_payload", &DeploymentTarget::MaxPayloadBytes)
      .def_property_readonly("supports_endpoints", &DeploymentTarget::SupportsEndpoints)
      .def_property_readonly("endpoint_takes_model", &DeploymentTarget::EndpointTakesModel)
      .def("needs_model_files",
           [](DeploymentTarget& t, const std::string& model_uri, const std::string& config) {
             return t.NeedsModelFiles(model_uri, ParseJson(config, "config"));
           })
      .def("check_create",
           [](DeploymentTarget& t, const std::string& request) {
             DeployRequest r = ParseRequest(request);
             NoGil([&] { return t.CheckCreate(r); });
           })
      .def("check_update",
           [](DeploymentTarget& t, const std::string& request) {
             DeployRequest r = ParseRequest(request);
             NoGil([&] { return t.CheckUpdate(r); });
           })
      .def("create_deployment",
           [](DeploymentTarget& t, const std::string& request) {
             DeployRequest r = ParseRequest(request);
             return NoGil([&] { return t.CreateDeployment(r); }).dump();
           })
      .def("update_deployment",
           [](DeploymentTarget& t, const std::string& request) {
             DeployRequest r = ParseRequest(request);
             return NoGil([&] { return t.UpdateDeployment(r); }).dump();
           })
      .def("delete_deployment",
           [](DeploymentTarget& t, const std::string& name, const std::string& endpoint, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             NoGil([&] { return t.DeleteDeployment(name, endpoint, parsed); });
           })
      .def("get_deployment",
           [](DeploymentTarget& t, const std::string& name, const std::string& endpoint) {
             return NoGil([&]() -> Json { return t.GetDeployment(name, endpoint); }).dump();
           })
      .def("list_deployments",
           [](DeploymentTarget& t, const std::string& endpoint) {
             return NoGil([&]() -> Json { return t.ListDeployments(endpoint); }).dump();
           })
      .def("predict",
           [](DeploymentTarget& t, const std::string& name, const std::string& endpoint,
              const std::vector<py::bytes>& bodies, const std::string& content_type) {
             std::vector<std::string> payloads(bodies.begin(), bodies.end());
             std::vector<std::string> answers = NoGil([&] { return t.Predict(name, endpoint, payloads, content_type); });
             py::list out;
             for (const auto& a : answers) out.append(py::bytes(a));
             return out;
           })
      .def("create_endpoint",
           [](DeploymentTarget& t, const std::string& name, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             return NoGil([&] { return t.CreateEndpoint(name, parsed); }).dump();
           })
      .def("update_endpoint",
           [](DeploymentTarget& t, const std::string& name, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             return NoGil([&] { return t.UpdateEndpoint(name, parsed); }).dump();
           })
      .def("delete_endpoint",
           [](DeploymentTarget& t, const std::string& name, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             NoGil([&] { return t.DeleteEndpoint(name, parsed); });
           })
      .def("get_endpoint",
           [](DeploymentTarget& t, const std::string& name) { return NoGil([&] { return t.GetEndpoint(name); }).dump(); })
      .def("list_endpoints", [](DeploymentTarget& t) { return NoGil([&] { return t.ListEndpoints(); }).dump(); });
}
