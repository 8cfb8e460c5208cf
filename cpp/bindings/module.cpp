// pybind11 glue for mlflow_bridge._core: argument conversion and error
// translation only. JSON crosses the boundary as text; the GIL is released
// while the core does I/O.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/kubernetes_client.h"
#include "mlflow_bridge/local_client.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/sagemaker_client.h"
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

LocalDeployRequest MakeRequest(std::string name, std::string model_uri, std::string run_id, std::string flavor,
                               std::string staged_model_dir, std::string python, const std::string& config_json) {
  auto config = nlohmann::json::parse(config_json, nullptr, false);
  if (config.is_discarded()) throw StatusError(InvalidParameterError("config is not valid JSON"));
  return LocalDeployRequest{std::move(name), std::move(model_uri), std::move(run_id), std::move(flavor),
                            std::move(staged_model_dir), std::move(python), std::move(config)};
}

// create and update: the same arguments, a JSON description back.
auto Deploy(StatusOr<nlohmann::json> (LocalClient::*method)(const LocalDeployRequest&)) {
  return [method](LocalClient& c, std::string name, std::string model_uri, std::string run_id, std::string flavor,
                  std::string model_dir, std::string python, const std::string& config) {
    auto req = MakeRequest(name, model_uri, run_id, flavor, model_dir, python, config);
    return NoGil([&] { return (c.*method)(req); }).dump();
  };
}
#define DEPLOY_ARGS                                                                                      \
  py::arg("name"), py::arg("model_uri"), py::arg("run_id"), py::arg("flavor"), py::arg("model_dir"), \
      py::arg("python"), py::arg("config")

nlohmann::json ParseJson(const std::string& text, const char* what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw StatusError(InvalidParameterError(std::string(what) + " is not valid JSON"));
  return j;
}

auto SageMakerDeploy(StatusOr<nlohmann::json> (SageMakerClient::*method)(const SageMakerDeployRequest&)) {
  return [method](SageMakerClient& c, std::string name, std::string endpoint, std::string model_uri, std::string run_id,
                  std::string flavor, std::string model_dir, std::string mlflow_version, const std::string& config,
                  std::string python) {
    SageMakerDeployRequest req{std::move(name),   std::move(endpoint),  std::move(model_uri),      std::move(run_id),
                               std::move(flavor), std::move(model_dir), std::move(mlflow_version), std::move(python),
                               ParseJson(config, "config")};
    return NoGil([&] { return (c.*method)(req); }).dump();
  };
}
#define SAGEMAKER_DEPLOY_ARGS                                                                            \
  py::arg("name"), py::arg("endpoint"), py::arg("model_uri"), py::arg("run_id"), py::arg("flavor"), \
      py::arg("model_dir"), py::arg("mlflow_version"), py::arg("config"), py::arg("python") = ""

KubeFlavor KubeFlavorOf(const std::string& name) {
  if (name == "kyma") return KubeFlavor::kKyma;
  if (name == "aks") return KubeFlavor::kAks;
  throw StatusError(InvalidParameterError("unknown Kubernetes target '" + name + "'"));
}

auto KubeDeploy(StatusOr<nlohmann::json> (KubernetesClient::*method)(const KubeDeployRequest&)) {
  return [method](KubernetesClient& c, std::string name, std::string endpoint, std::string model_uri, std::string run_id,
                  std::string model_dir, std::string python, std::string mlflow_version, const std::string& config) {
    KubeDeployRequest req{std::move(name),      std::move(endpoint), std::move(model_uri),      std::move(run_id),
                          std::move(model_dir), std::move(python),   std::move(mlflow_version), ParseJson(config, "config")};
    return NoGil([&] { return (c.*method)(req); }).dump();
  };
}
#define KUBE_DEPLOY_ARGS                                                                                 \
  py::arg("name"), py::arg("endpoint"), py::arg("model_uri"), py::arg("run_id"), py::arg("model_dir"), py::arg("python"), \
      py::arg("mlflow_version"), py::arg("config")

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
  m.def("aws_default_region", [](const std::string& profile) { return AwsDefaultRegion(profile); }, py::arg("profile") = "");
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
                       std::string client_cert, std::string client_key, std::string proxy,
                       std::string tls_server_name) {
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

  py::class_<LocalClient>(m, "LocalClient")
      .def(py::init([](std::string home) { return LocalClient(LocalClientOptions{std::move(home), nullptr, nullptr, Interrupted}); }),
           py::arg("home") = "")
      .def_static("help", &LocalClient::Help)
      .def("create", Deploy(&LocalClient::Create), DEPLOY_ARGS)
      .def("update", Deploy(&LocalClient::Update), DEPLOY_ARGS)
      .def(
          "run_local",
          [](LocalClient& c, std::string model_uri, std::string flavor, std::string model_dir, std::string python,
             const std::string& config) {
            auto req = MakeRequest("", model_uri, "", flavor, model_dir, python, config);
            NoGil([&] { return c.RunLocal(req); });
          },
          py::arg("model_uri"), py::arg("flavor"), py::arg("model_dir"), py::arg("python"), py::arg("config"))
      .def("check_new", [](LocalClient& c, const std::string& name) { Unwrap(c.CheckNew(name)); })
      .def("delete", [](LocalClient& c, const std::string& name) { NoGil([&] { return c.Delete(name); }); })
      .def("list", [](LocalClient& c) { return NoGil([&] { return c.List(); }).dump(); })
      .def("get", [](LocalClient& c, const std::string& name) { return NoGil([&] { return c.Get(name); }).dump(); })
      .def(
          "predict",
          [](LocalClient& c, const std::string& name, py::bytes body, const std::string& content_type) {
            std::string payload = body;
            return py::bytes(NoGil([&] { return c.Predict(name, payload, content_type); }));
          },
          py::arg("name"), py::arg("body"), py::arg("content_type"));

  py::class_<SageMakerClient, std::shared_ptr<SageMakerClient>>(m, "SageMakerClient")
      .def(py::init([](std::string region, std::string assume_role_arn, std::string work_dir, std::string image_work_dir) {
             SageMakerClientOptions options;
             options.interrupted = Interrupted;
             options.work_dir = std::move(work_dir);
             options.image_work_dir = std::move(image_work_dir);
             return Unwrap(SageMakerClient::Make({std::move(region), std::move(assume_role_arn)}, options));
           }),
           py::arg("region"), py::arg("assume_role_arn") = "", py::arg("work_dir") = "", py::arg("image_work_dir") = "")
      .def_static("help", &SageMakerClient::Help)
      .def_readonly_static("max_payload", &SageMakerClient::kMaxPayloadBytes)
      .def("check_new",
           [](SageMakerClient& c, const std::string& name, const std::string& endpoint) {
             NoGil([&] { return c.CheckNew(name, endpoint); });
           })
      .def("create", SageMakerDeploy(&SageMakerClient::CreateDeployment), SAGEMAKER_DEPLOY_ARGS)
      .def("update", SageMakerDeploy(&SageMakerClient::UpdateDeployment), SAGEMAKER_DEPLOY_ARGS)
      .def("delete",
           [](SageMakerClient& c, const std::string& name, const std::string& endpoint, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             NoGil([&] { return c.DeleteDeployment(name, endpoint, parsed); });
           })
      .def("get",
           [](SageMakerClient& c, const std::string& name, const std::string& endpoint) {
             return NoGil([&] { return c.GetDeployment(name, endpoint); }).dump();
           })
      .def("list", [](SageMakerClient& c, const std::string& endpoint) { return NoGil([&] { return c.ListDeployments(endpoint); }).dump(); })
      .def("update_endpoint",
           [](SageMakerClient& c, const std::string& endpoint, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             return NoGil([&] { return c.UpdateEndpointWeights(endpoint, parsed); }).dump();
           })
      .def("predict", [](SageMakerClient& c, const std::string& name, const std::vector<py::bytes>& bodies,
                         const std::string& content_type, const std::string& endpoint) {
        std::vector<std::string> payloads(bodies.begin(), bodies.end());
        std::vector<std::string> answers = NoGil([&] { return c.Predict(name, payloads, content_type, endpoint); });
        py::list out;
        for (const auto& a : answers) out.append(py::bytes(a));
        return out;
      });

  py::class_<ImageBuilder, std::shared_ptr<ImageBuilder>>(m, "ImageBuilder")
      .def(py::init([](std::string work_dir) {
             ImageBuilderOptions options;
             options.work_dir = std::move(work_dir);
             options.interrupted = Interrupted;
             return Unwrap(ImageBuilder::Make(WithRegistryLogins(std::move(options))));
           }),
           py::arg("work_dir"))
      .def_static("help", &ImageBuilder::Help)
      .def(
          "build_and_push",
          [](ImageBuilder& b, std::string model_dir, std::string model_uri, std::string run_id, std::string python,
             std::string mlflow_version, const std::string& config) {
            ImageBuildRequest request{std::move(model_dir), std::move(model_uri), std::move(run_id), std::move(python),
                                      std::move(mlflow_version), ParseJson(config, "config")};
            return NoGil([&] { return b.BuildAndPush(request); }).dump();
          },
          py::arg("model_dir"), py::arg("model_uri"), py::arg("run_id"), py::arg("python"), py::arg("mlflow_version"),
          py::arg("config"));

  py::class_<KubernetesClient, std::shared_ptr<KubernetesClient>>(m, "KubernetesClient")
      .def(py::init([](const std::string& flavor, std::string namespace_name, std::string image_work_dir) {
             KubeClientOptionsPublic options;
             options.namespace_name = std::move(namespace_name);
             options.image_work_dir = std::move(image_work_dir);
             options.interrupted = Interrupted;
             return Unwrap(KubernetesClient::Make(KubeFlavorOf(flavor), options));
           }),
           py::arg("flavor"), py::arg("namespace") = "", py::arg("image_work_dir") = "")
      .def_static("help", [](const std::string& flavor) { return KubernetesClient::Help(KubeFlavorOf(flavor)); })
      .def_static("post_to_route",
                  [](const std::string& url, py::bytes body, const std::string& content_type) {
                    std::string payload = body;
                    return py::bytes(NoGil([&] { return KubernetesClient::PostToRoute(url, payload, content_type); }));
                  })
      .def("check_new",
           [](KubernetesClient& c, const std::string& name, const std::string& endpoint, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             NoGil([&] { return c.CheckNew(name, endpoint, parsed); });
           })
      .def("create", KubeDeploy(&KubernetesClient::CreateDeployment), KUBE_DEPLOY_ARGS)
      .def("update", KubeDeploy(&KubernetesClient::UpdateDeployment), KUBE_DEPLOY_ARGS)
      .def("delete",
           [](KubernetesClient& c, const std::string& name, const std::string& endpoint, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             NoGil([&] { return c.DeleteDeployment(name, endpoint, parsed); });
           })
      .def("get",
           [](KubernetesClient& c, const std::string& name, const std::string& endpoint) {
             return NoGil([&] { return c.GetDeployment(name, endpoint); }).dump();
           })
      .def("list", [](KubernetesClient& c, const std::string& endpoint) { return NoGil([&] { return c.ListDeployments(endpoint); }).dump(); })
      .def("predict",
           [](KubernetesClient& c, const std::string& name, const std::string& endpoint, py::bytes body,
              const std::string& content_type) {
             std::string payload = body;
             return py::bytes(NoGil([&] { return c.Predict(name, endpoint, payload, content_type); }));
           })
      .def("create_endpoint",
           [](KubernetesClient& c, const std::string& name, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             return NoGil([&] { return c.CreateEndpoint(name, parsed); }).dump();
           })
      .def("update_endpoint",
           [](KubernetesClient& c, const std::string& name, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             return NoGil([&] { return c.UpdateEndpoint(name, parsed); }).dump();
           })
      .def("delete_endpoint",
           [](KubernetesClient& c, const std::string& name, const std::string& config) {
             auto parsed = ParseJson(config, "config");
             NoGil([&] { return c.DeleteEndpoint(name, parsed); });
           })
      .def("get_endpoint", [](KubernetesClient& c, const std::string& name) { return NoGil([&] { return c.GetEndpoint(name); }).dump(); })
      .def("list_endpoints", [](KubernetesClient& c) { return NoGil([&] { return c.ListEndpoints(); }).dump();       });
}
