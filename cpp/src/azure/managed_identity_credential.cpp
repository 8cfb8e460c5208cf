// Entra ID tokens for the managed identity of an Azure VM, scale set or AKS node, from the Instance Metadata
// Service (IMDS), as azure-identity's ManagedIdentityCredential asks it; retried as its ImdsRetryPolicy does.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <utility>

#include "azure/credentials.h"
#include "azure/entra.h"
#include "common/strings.h"
#include "common/url.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

constexpr char kDefaultImdsEndpoint[] = "http://169.254.169.254";
constexpr char kImdsTokenPath[] = "/metadata/identity/oauth2/token";
constexpr char kImdsApiVersion[] = "2018-02-01";

std::string_view IdKindName(ManagedIdentityId::Kind kind) {
  switch (kind) {
    case ManagedIdentityId::Kind::kClientId: return "client_id";
    case ManagedIdentityId::Kind::kObjectId: return "object_id";
    case ManagedIdentityId::Kind::kResourceId: return "msi_res_id";
    case ManagedIdentityId::Kind::kSystemAssigned: break;
  }
  return "";
}

std::string NormalizeEndpoint(std::string_view endpoint) {
  std::string_view v = Trim(endpoint);
  while (!v.empty() && v.back() == '/') v.remove_suffix(1);
  if (v.empty()) return kDefaultImdsEndpoint;
  if (v.find("://") == std::string_view::npos) return "http://" + std::string(v);
  return std::string(v);
}

// Whether a reply comes from a managed identity endpoint: a success, an error in JSON (IMDS writes its errors
// so) or IMDS's Server header ("IMDS/150.870.65.1325"); not the plain-text or HTML refusal of a proxy.
bool LooksLikeImds(const HttpResponse& r) {
  if (r.ok()) return true;
  if (ToLower(r.Header("Server").value_or("")).find("imds") != std::string::npos) return true;
  return nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false).is_object();
}

class ManagedIdentityCredential : public TokenCredential {
 public:
  ManagedIdentityCredential(ManagedIdentitySettings settings, std::shared_ptr<HttpTransport> transport,
                            std::shared_ptr<Clock> clock, RetryPolicy retry, BackoffPolicy backoff)
      : settings_(std::move(settings)),
        transport_(std::move(transport)),
        clock_(std::move(clock)),
        retry_(retry),
        backoff_(backoff) {}

  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    if (Status s = ValidateScope(scope); !s.ok()) return s.WithContext(Describe()).set_final();
    HttpRequest request;
    request.method = "GET";
    request.url = settings_.endpoint + kImdsTokenPath + "?api-version=" + kImdsApiVersion +
                  "&resource=" + UriEncode(ScopeToResource(scope));
    if (settings_.id.kind != ManagedIdentityId::Kind::kSystemAssigned)
      request.url += "&" + std::string(IdKindName(settings_.id.kind)) + "=" + UriEncode(settings_.id.value);
    request.headers = {{"Metadata", "true"}};
    const std::string what = Describe();
    int gone = 0;  // 410 replies so far
    StatusOr<AccessToken> token =
        RetryLoop<AccessToken>(retry_, backoff_, Idempotency::kIdempotent, *clock_, what, [&]() -> StatusOr<AccessToken> {
          StatusOr<HttpResponse> response = transport_->Send(request);
          if (!response.ok()) {
            if (!answered_.load())  // nothing has ever answered there: not on Azure (or no IMDS proxy in the pod)
              return NotFoundError(what + ": no managed identity endpoint answered at " + settings_.endpoint +
                                   " (not running on an Azure VM, scale set or AKS node?): " + response.status().message());
            return response.status().WithContext(what);
          }
          if (!answered_.load() && !LooksLikeImds(*response)) {
            // Something else answers at that address (a proxy or firewall refusing the link-local address):
            // there is no managed identity endpoint here.
            return NotFoundError(what + ": no managed identity endpoint at " + settings_.endpoint + ": HTTP " +
                                 std::to_string(response->status_code) + " from something that is not IMDS (" +
                                 TokenErrorDetail(*response) + "; a proxy or firewall?)");
          }
          answered_.store(true);
          return FromResponse(*response, what, gone);
        });
    if (!token.ok()) return ScrubbedFinal(token.status(), {});
    return token;
  }

  std::string Describe() const override {
    std::string who = settings_.id.kind == ManagedIdentityId::Kind::kSystemAssigned
                          ? std::string("system-assigned")
                          : "user-assigned " + std::string(IdKindName(settings_.id.kind)) + " " + settings_.id.value;
    return "managed identity credential (" + who + ", IMDS at " + settings_.endpoint + ")";
  }

 private:
  StatusOr<AccessToken> FromResponse(const HttpResponse& r, const std::string& what, int& gone) {
    const long code = r.status_code;
    if (r.ok()) {
      StatusOr<AccessToken> t = ParseTokenResponse(r.body, clock_->WallNow());
      if (!t.ok()) return t.status().WithContext(what + ": IMDS");
      return t;
    }
    const std::string detail = TokenErrorDetail(r);
    if (code == 400) {
      // IMDS says 400 when the resource has no managed identity, or not the one asked for.
      std::string message = what + ": " +
                            (settings_.id.kind == ManagedIdentityId::Kind::kSystemAssigned
                                 ? "no managed identity is assigned to this resource"
                                 : "the requested identity is not assigned to this resource") +
                            " (IMDS answered HTTP 400: " + detail + ")";
      return NotFoundError(std::move(message));
    }
    if (code == 403 && r.body.find("unreachable") != std::string::npos)  // Docker Desktop's proxy
      return NotFoundError(what + ": the managed identity endpoint is unreachable from here (HTTP 403: " + detail + ")");
    std::string message = what + ": IMDS answered HTTP " + std::to_string(code) + ": " + detail;
    if (code == 404 || code == 410 || code == 429 || code >= 500) {
      Status s = UnavailableError(std::move(message));
      if (auto after = AzureRetryAfter(r, clock_->WallNow())) {
        s.set_retry_after(*after);
      } else if (code == 410) {
        // IMDS is being upgraded: azure-identity waits longer (its backoff factor is 2.5 for 410), at least
        // 70 s in all. 5, 10, 20, 40 s...
        ++gone;
        auto wait = std::chrono::seconds(5) * (1LL << std::min(gone - 1, 4));
        s.set_retry_after(std::min<std::chrono::milliseconds>(wait, backoff_.maximum));
      }
      return s;
    }
    if (code == 401 || code == 403) return UnauthenticatedError(std::move(message));
    return InternalError(std::move(message));
  }

  ManagedIdentitySettings settings_;
  std::shared_ptr<HttpTransport> transport_;
  std::shared_ptr<Clock> clock_;
  RetryPolicy retry_;
  BackoffPolicy backoff_;
  // IMDS has answered once: a transport failure or an odd reply is a transient failure from then on.
  std::atomic<bool> answered_{false};
};

}  // namespace

ManagedIdentitySettings ManagedIdentitySettingsFromEnv(const EnvGetter& getenv, const ManagedIdentityId& configured) {
  ManagedIdentitySettings s;
  s.endpoint = NormalizeEndpoint(getenv("AZURE_POD_IDENTITY_AUTHORITY_HOST").value_or(""));
  s.id = configured;
  if (s.id.kind == ManagedIdentityId::Kind::kSystemAssigned) {
    if (auto client_id = getenv("AZURE_CLIENT_ID")) s.id = {ManagedIdentityId::Kind::kClientId, *client_id};
  }
  return s;
}

StatusOr<std::shared_ptr<TokenCredential>> MakeManagedIdentityCredential(ManagedIdentitySettings settings,
                                                                         const AzureCredentialOptions& options) {
  if (settings.id.kind != ManagedIdentityId::Kind::kSystemAssigned && Trim(settings.id.value).empty())
    return InvalidParameterError("managed identity credential: the " + std::string(IdKindName(settings.id.kind)) +
                                 " of the user-assigned identity is empty");
  settings.endpoint = NormalizeEndpoint(settings.endpoint);
  if (Status s = ParseUrl(settings.endpoint).status(); !s.ok())
    return InvalidParameterError("managed identity endpoint '" + settings.endpoint +
                                 "' (AZURE_POD_IDENTITY_AUTHORITY_HOST) is not a URL: " + s.message());
  std::shared_ptr<HttpTransport> transport = options.imds_transport;
  if (!transport) {
    TransportOptions t;
    t.connect_timeout = std::chrono::seconds(2);  // link-local: it answers at once or not at all
    t.total_timeout = std::chrono::seconds(30);
    transport = MakeCurlTransport(t);
  }
  return std::shared_ptr<TokenCredential>(std::make_shared<ManagedIdentityCredential>(
      std::move(settings), std::move(transport), ClockOf(options), options.imds_retry, options.imds_backoff));
}

}  // namespace mlflow_bridge::internal
