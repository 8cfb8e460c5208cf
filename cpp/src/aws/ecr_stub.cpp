#include "aws/ecr_stub.h"

#include <utility>

#include "common/timestamp.h"

namespace mlflow_bridge::internal {

EcrApiStub::EcrApiStub(AwsCaller caller, std::string endpoint, std::string region)
    : caller_(std::move(caller)), ecr_{"ecr", std::move(endpoint), std::move(region)} {}

StatusOr<nlohmann::json> EcrApiStub::Call(std::string_view operation, const nlohmann::json& request,
                                          std::string_view what) const {
  return caller_.JsonCall(ecr_, "AmazonEC2ContainerRegistry_V20150921." + std::string(operation), request, what);
}

StatusOr<std::string> EcrApiStub::DescribeRepositories(std::string_view repository_name) const {
  const std::string what = "ECR DescribeRepositories '" + std::string(repository_name) + "'";
  StatusOr<nlohmann::json> reply =
      Call("DescribeRepositories", nlohmann::json{{"repositoryNames", {std::string(repository_name)}}}, what);
  if (!reply.ok()) return reply.status();
  auto repos = reply->find("repositories");
  if (repos == reply->end() || !repos->is_array() || repos->empty())
    return NotFoundError(what + ": no such repository in the registry of the calling account");
  for (const nlohmann::json& repo : *repos) {
    if (!repo.is_object()) continue;
    auto name = repo.find("repositoryName");
    auto uri = repo.find("repositoryUri");
    if (uri == repo.end() || !uri->is_string()) continue;
    if (name != repo.end() && name->is_string() && name->get<std::string>() != repository_name) continue;
    return uri->get<std::string>();
  }
  return InternalError(what + ": the reply has no repositoryUri");
}

StatusOr<std::string> EcrApiStub::CreateRepository(std::string_view repository_name) const {
  const std::string what = "ECR CreateRepository '" + std::string(repository_name) + "'";
  StatusOr<nlohmann::json> reply =
      Call("CreateRepository", nlohmann::json{{"repositoryName", std::string(repository_name)}}, what);
  if (!reply.ok()) return reply.status();
  std::string uri = reply->value("/repository/repositoryUri"_json_pointer, "");
  if (uri.empty()) return InternalError(what + ": the reply has no repositoryUri");
  return uri;
}

StatusOr<EcrAuthorization> EcrApiStub::GetAuthorizationToken() const {
  const std::string what = "ECR GetAuthorizationToken";
  StatusOr<nlohmann::json> reply = Call("GetAuthorizationToken", nlohmann::json::object(), what);
  if (!reply.ok()) return reply.status();
  auto data = reply->find("authorizationData");
  if (data == reply->end() || !data->is_array() || data->empty() || !(*data)[0].is_object())
    return InternalError(what + ": the reply has no authorizationData");
  const nlohmann::json& d = (*data)[0];
  EcrAuthorization auth;
  if (auto t = d.find("authorizationToken"); t != d.end() && t->is_string()) auth.token = t->get<std::string>();
  if (auto p = d.find("proxyEndpoint"); p != d.end() && p->is_string()) auth.proxy_endpoint = p->get<std::string>();
  if (auth.token.empty() || auth.proxy_endpoint.empty())
    return InternalError(what + ": the reply has no authorizationToken or proxyEndpoint");
  // JSON 1.1 timestamps are epoch seconds (possibly fractional); accept ISO 8601 too.
  auto e = d.find("expiresAt");
  if (e != d.end() && e->is_number() && e->get<double>() >= 0 && e->get<double>() < 1e11) {  // before year 5000
    using std::chrono::system_clock;
    auth.expires_at = system_clock::time_point(
        std::chrono::duration_cast<system_clock::duration>(std::chrono::duration<double>(e->get<double>())));
  } else if (e != d.end() && e->is_string() && ParseIso8601(e->get<std::string>())) {
    auth.expires_at = *ParseIso8601(e->get<std::string>());
  } else {
    return InternalError(what + ": the reply has no readable expiresAt");
  }
  return auth;
}

}  // namespace mlflow_bridge::internal
