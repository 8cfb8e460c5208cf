#include "image/registry_auth.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "common/base64.h"
#include "common/strings.h"
#include "common/url.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;
using std::chrono::system_clock;

constexpr std::string_view kDockerHubConfigKey = "https://index.docker.io/v1/";
constexpr auto kCacheMargin = std::chrono::minutes(5);
constexpr auto kTokenMargin = std::chrono::seconds(10);
constexpr int kMinTokenSeconds = 60;

bool IsDockerHub(std::string_view registry) {
  return registry == "registry-1.docker.io" || registry == "docker.io" || registry == "index.docker.io";
}

// docker's ConvertToHostname: without scheme and path, port kept.
std::string ConfigKeyHostname(std::string_view key) {
  if (key.starts_with("http://")) key.remove_prefix(7);
  else if (key.starts_with("https://")) key.remove_prefix(8);
  return ToLower(key.substr(0, key.find('/')));
}

bool IsLoopbackHost(std::string_view host) {
  std::string h = ToLower(host);
  return h == "localhost" || h.starts_with("127.") || h == "[::1]" || h == "::1";
}

// The key in a config's "auths" (or "credHelpers") object for `registry`: exact, then by hostname.
const json* FindEntry(const json& object, const std::string& registry) {
  if (!object.is_object()) return nullptr;
  std::vector<std::string> wanted;
  if (IsDockerHub(registry))
    wanted = {std::string(kDockerHubConfigKey), "index.docker.io", "docker.io", "registry-1.docker.io"};
  else wanted = {registry};
  for (const std::string& w : wanted)
    if (auto it = object.find(w); it != object.end()) return &*it;
  for (const std::string& w : wanted) {
    std::string host = ToLower(w.find("://") != std::string::npos ? ConfigKeyHostname(w) : w);
    for (auto it = object.begin(); it != object.end(); ++it)
      if (ConfigKeyHostname(it.key()) == host) return &*it;
  }
  return nullptr;
}

std::string JsonString(const json& entry, const char* key) {
  auto it = entry.find(key);
  return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// One "auths" entry as credentials.
StatusOr<RegistryCredentials> EntryCredentials(const json& entry, const std::string& registry, const std::string& source) {
  RegistryCredentials c;
  if (!entry.is_object()) return c;
  std::string auth = JsonString(entry, "auth");
  if (!auth.empty()) {
    std::optional<std::string> decoded = Base64Decode(auth);
    size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (!decoded || colon == std::string::npos || colon == 0)
      return InvalidParameterError("the \"auth\" entry for " + registry + " in " + source +
                                   " is not base64 of \"user:password\"; run `docker login " + registry +
                                   "` again or fix the entry");
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  } else {
    c.username = JsonString(entry, "username");
    c.password = JsonString(entry, "password");
  }
  c.identity_token = JsonString(entry, "identitytoken");
  c.registry_token = JsonString(entry, "registrytoken");
  return c;
}

std::string HomeDir() {
  const char* home = std::getenv("HOME");
  return home ? home : "";
}

class AnonymousProvider : public RegistryCredentialsProvider {
 public:
  StatusOr<RegistryCredentials> Get(const std::string&) override { return RegistryCredentials{}; }
  std::string Describe() const override { return "anonymous access"; }
};

class StaticProvider : public RegistryCredentialsProvider {
 public:
  StaticProvider(RegistryCredentials c, std::string d) : creds_(std::move(c)), describe_(std::move(d)) {}
  StatusOr<RegistryCredentials> Get(const std::string&) override { return creds_; }
  std::string Describe() const override { return describe_; }

 private:
  RegistryCredentials creds_;
  std::string describe_;
};

class DockerConfigProvider : public RegistryCredentialsProvider {
 public:
  explicit DockerConfigProvider(std::string path) : path_(std::move(path)) {}

  StatusOr<RegistryCredentials> Get(const std::string& registry) override {
    // DOCKER_AUTH_CONFIG first.
    if (const char* env = std::getenv("DOCKER_AUTH_CONFIG"); env && *env) {
      json config = json::parse(env, nullptr, /*allow_exceptions=*/false);
      if (config.is_discarded() || !config.is_object())
        return InvalidParameterError(
            "the DOCKER_AUTH_CONFIG environment variable is not valid JSON (expected "
            "{\"auths\": {\"host\": {\"auth\": \"base64(user:password)\"}}})");
      StatusOr<std::optional<RegistryCredentials>> c = Lookup(config, registry, "DOCKER_AUTH_CONFIG");
      if (!c.ok()) return c.status();
      if (*c) return **c;
    }
    std::string path = Path();
    std::error_code ec;
    if (path.empty() || !std::filesystem::exists(path, ec)) return RegistryCredentials{};
    std::ifstream in(path, std::ios::binary);
    if (!in) return InvalidParameterError("cannot read docker config file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    // Never put the parser's message in ours: it may quote a secret.
    json config = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object())
      return InvalidParameterError("docker config file " + path + " is not valid JSON");
    StatusOr<std::optional<RegistryCredentials>> c = Lookup(config, registry, path);
    if (!c.ok()) return c.status();
    return c->value_or(RegistryCredentials{});
  }

  std::string Describe() const override {
    if (!path_.empty()) return path_;
    if (const char* dc = std::getenv("DOCKER_CONFIG"); dc && *dc) return std::string(dc) + "/config.json";
    return "~/.docker/config.json";
  }

 private:
  std::string Path() const {
    if (!path_.empty()) return path_;
    if (const char* dc = std::getenv("DOCKER_CONFIG"); dc && *dc) return std::string(dc) + "/config.json";
    std::string home = HomeDir();
    return home.empty() ? "" : home + "/.docker/config.json";
  }

  // nullopt: nothing usable for `registry` in `config`.
  static StatusOr<std::optional<RegistryCredentials>> Lookup(const json& config, const std::string& registry,
                                                             const std::string& source) {
    const json* entry = config.contains("auths") ? FindEntry(config["auths"], registry) : nullptr;
    if (entry) {
      StatusOr<RegistryCredentials> c = EntryCredentials(*entry, registry, source);
      if (!c.ok()) return c.status();
      if (!c->empty()) return std::optional<RegistryCredentials>(*c);
    }
    std::string helper;
    if (config.contains("credHelpers")) {
      if (const json* h = FindEntry(config["credHelpers"], registry); h && h->is_string()) helper = h->get<std::string>();
    }
    if (helper.empty() && entry) helper = JsonString(config, "credsStore");
    if (!helper.empty())
      return InvalidParameterError(
          source + " says to get the credentials for " + registry + " from the credential helper docker-credential-" +
          helper +
          ", and mlflow-bridge does not run credential helpers. Pass the registry user name and password "
          "to mlflow-bridge instead (for example the output of `docker-credential-" +
          helper +
          " get`), or add an "
          "\"auth\" entry for " +
          registry + " to the file");
    return std::optional<RegistryCredentials>();
  }

  std::string path_;
};

class CachingProvider : public RegistryCredentialsProvider {
 public:
  CachingProvider(std::function<StatusOr<RegistryCredentials>()> fetch, std::string describe, std::shared_ptr<Clock> clock)
      : fetch_(std::move(fetch)), describe_(std::move(describe)), clock_(clock ? std::move(clock) : SystemClock()) {}

  StatusOr<RegistryCredentials> Get(const std::string&) override {
    std::lock_guard<std::mutex> lock(mu_);
    const system_clock::time_point now = clock_->WallNow();
    if (cached_ && (!refresh_at_ || now < *refresh_at_)) return *cached_;
    StatusOr<RegistryCredentials> c = fetch_();
    if (!c.ok()) return c.status();
    cached_ = *c;
    refresh_at_.reset();
    if (c->expires_at) {
      if (*c->expires_at <= now) {
        LogDebug("registry credentials from " + describe_ +
                 " are already expired when fetched; using them for this client's life instead of fetching them "
                 "again on every call");
      } else if (*c->expires_at - kCacheMargin <= now) {
        refresh_at_ = *c->expires_at;
      } else {
        refresh_at_ = *c->expires_at - kCacheMargin;
      }
    }
    return *c;
  }
  std::string Describe() const override { return describe_; }

 private:
  std::function<StatusOr<RegistryCredentials>()> fetch_;
  std::string describe_;
  std::shared_ptr<Clock> clock_;
  std::mutex mu_;
  std::optional<RegistryCredentials> cached_;
  std::optional<system_clock::time_point> refresh_at_;  // none: keep for good
};

std::string ScopeKey(std::vector<std::string> scopes) {
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  std::string key;
  for (const std::string& s : scopes) key += (key.empty() ? "" : " ") + s;
  return key;
}

std::string WithoutQuery(const std::string& url) { return url.substr(0, url.find('?')); }

}  // namespace

bool RegistryCredentials::empty() const {
  return username.empty() && password.empty() && identity_token.empty() && registry_token.empty();
}

std::shared_ptr<RegistryCredentialsProvider> MakeAnonymousRegistryCredentials() {
  return std::make_shared<AnonymousProvider>();
}

std::shared_ptr<RegistryCredentialsProvider> MakeStaticRegistryCredentials(RegistryCredentials creds, std::string describe) {
  return std::make_shared<StaticProvider>(std::move(creds), std::move(describe));
}

std::shared_ptr<RegistryCredentialsProvider> MakeDockerConfigRegistryCredentials(std::string path) {
  return std::make_shared<DockerConfigProvider>(std::move(path));
}

std::shared_ptr<RegistryCredentialsProvider> MakeCachingRegistryCredentials(
    std::function<StatusOr<RegistryCredentials>()> fetch, std::string describe, std::shared_ptr<Clock> clock) {
  return std::make_shared<CachingProvider>(std::move(fetch), std::move(describe), std::move(clock));
}

std::shared_ptr<RegistryCredentialsProvider> MakeRegistryCredentials(RegistryLoginSource source,
                                                                     std::shared_ptr<Clock> clock) {
  auto fetch = std::move(source.fetch);
  return MakeCachingRegistryCredentials(
      [fetch]() -> StatusOr<RegistryCredentials> {
        auto login = fetch();
        if (!login.ok()) return login.status();
        RegistryCredentials c;
        c.username = std::move(login->username);
        c.password = std::move(login->password);
        c.identity_token = std::move(login->identity_token);
        c.expires_at = login->expires_at;
        return c;
      },
      std::move(source.describe), std::move(clock));
}

// ---- WWW-Authenticate ----

std::optional<AuthChallenge> ParseAuthChallenge(std::string_view h) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t')) ++i;
  };
  auto is_tchar = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~/:").find(c) != std::string_view::npos;
  };
  auto token = [&] {
    size_t start = i;
    while (i < h.size() && is_tchar(h[i])) ++i;
    return std::string(h.substr(start, i - start));
  };
  std::optional<AuthChallenge> current;
  auto finish = [&]() -> bool { return current && (current->scheme == "basic" || current->scheme == "bearer"); };
  while (i < h.size()) {
    skip_ws();
    if (i < h.size() && h[i] == ',') {
      ++i;
      continue;
    }
    size_t start = i;
    std::string name = token();
    if (name.empty()) {  // garbage: give up on the rest
      if (i == start) break;
      continue;
    }
    skip_ws();
    // token68 ("Negotiate abc==") or auth-param (name=value)?
    if (i < h.size() && h[i] == '=' && current && !(i + 1 < h.size() && h[i + 1] == '=')) {
      ++i;
      skip_ws();
      std::string value;
      if (i < h.size() && h[i] == '"') {
        ++i;
        while (i < h.size() && h[i] != '"') {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          value += h[i++];
        }
        if (i < h.size()) ++i;  // closing quote
      } else {
        value = token();
      }
      current->params[ToLower(name)] = value;
      continue;
    }
    // A new challenge begins.
    if (finish()) return current;
    current = AuthChallenge{ToLower(name), {}};
    // Skip a token68, if any.
    while (i < h.size() && h[i] == '=') ++i;
  }
  if (finish()) return current;
  return std::nullopt;
}

// ---- RegistryAuthenticator ----

RegistryAuthenticator::RegistryAuthenticator(std::string registry, std::shared_ptr<RegistryCredentialsProvider> creds,
                                             std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock,
                                             RetryPolicy retry, BackoffPolicy backoff, bool plain_http)
    : registry_(std::move(registry)),
      creds_(std::move(creds)),
      transport_(std::move(transport)),
      clock_(clock ? std::move(clock) : SystemClock()),
      retry_(retry),
      backoff_(backoff),
      plain_http_(plain_http) {}

std::string RegistryAuthenticator::DescribeCredentials() const { return creds_ ? creds_->Describe() : "anonymous access"; }

std::string RegistryAuthenticator::Scrub(std::string text) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ScrubLocked(std::move(text));
}

std::string RegistryAuthenticator::ScrubLocked(std::string text) const {
  std::vector<std::string_view> s(secrets_.begin(), secrets_.end());
  return ScrubSecrets(std::move(text), s);
}

StatusOr<RegistryCredentials> RegistryAuthenticator::CredentialsLocked() {
  if (!creds_) return RegistryCredentials{};
  StatusOr<RegistryCredentials> c = creds_->Get(registry_);
  if (!c.ok()) return c.status();
  auto add = [&](const std::string& s) {
    if (!s.empty() && std::find(secrets_.begin(), secrets_.end(), s) == secrets_.end()) secrets_.push_back(s);
  };
  add(c->password);
  add(c->identity_token);
  add(c->registry_token);
  if (!c->username.empty() || !c->password.empty()) add(Base64Encode(c->username + ":" + c->password));
  return c;
}

std::string RegistryAuthenticator::Authorization(const std::vector<std::string>& scopes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bearer_) {
    const std::string key = ScopeKey(scopes);
    auto it = tokens_.find(key);
    if (it == tokens_.end() || clock_->Now() >= it->second.expires - kTokenMargin) {
      if (!FetchTokenLocked(scopes).ok()) return "";  // the 401 that follows reports it
      it = tokens_.find(key);
    }
    if (it != tokens_.end()) return "Bearer " + it->second.value;
    return "";
  }
  return basic_;
}

Status RegistryAuthenticator::HandleChallenge(const std::string& challenge_header, const std::vector<std::string>& scopes) {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<AuthChallenge> ch = ParseAuthChallenge(challenge_header);
  if (!ch) {
    std::string shown = std::string(Trim(challenge_header)).substr(0, 200);
    return UnauthenticatedError("registry " + registry_ +
                                " requires authentication but offers no scheme mlflow-bridge "
                                "supports (Basic or Bearer); its WWW-Authenticate header was '" +
                                ScrubLocked(Redact(shown)) + "'");
  }
  if (ch->scheme == "basic") {
    StatusOr<RegistryCredentials> c = CredentialsLocked();
    if (!c.ok()) return c.status();
    if (c->username.empty() && c->password.empty())
      return UnauthenticatedError("registry " + registry_ + " requires a user name and password, and " +
                                  DescribeCredentials() + " has none for it; pass the registry user name and password");
    basic_ = "Basic " + Base64Encode(c->username + ":" + c->password);
    return OkStatus();
  }
  // Bearer
  const std::string realm = ch->params.count("realm") ? ch->params["realm"] : "";
  StatusOr<ParsedUrl> url = ParseUrl(realm);
  if (realm.empty() || !url.ok() || (url->scheme != "http" && url->scheme != "https") || url->host.empty())
    return UnauthenticatedError("registry " + registry_ + " asked for a Bearer token without a valid realm URL ('" +
                                ScrubLocked(Redact(realm.substr(0, 200))) + "')");
  if (url->scheme == "http" && !plain_http_ && !IsLoopbackHost(url->host))
    return InvalidParameterError("registry " + registry_ + " names a plain-HTTP token service (" + WithoutQuery(realm) +
                                 "); mlflow-bridge does not send credentials in clear text to a remote host. Use a "
                                 "registry whose token realm is https://");
  bearer_ = *ch;
  std::vector<std::string> effective = scopes;
  if (effective.empty() && ch->params.count("scope")) {
    std::istringstream in(ch->params["scope"]);
    for (std::string s; in >> s;) effective.push_back(s);
  }
  tokens_.erase(ScopeKey(effective));
  return FetchTokenLocked(effective);
}

Status RegistryAuthenticator::FetchTokenLocked(const std::vector<std::string>& scopes) {
  StatusOr<RegistryCredentials> c = CredentialsLocked();
  if (!c.ok()) return c.status();
  const std::string key = ScopeKey(scopes);
  const Clock::TimePoint now = clock_->Now();
  if (!c->registry_token.empty()) {
    tokens_[key] = Token{c->registry_token, now + std::chrono::hours(24 * 365)};
    return OkStatus();
  }
  const std::string realm = bearer_->params["realm"];
  const std::string service = bearer_->params.count("service") ? bearer_->params["service"] : "";
  const std::string realm_shown = WithoutQuery(realm);

  HttpRequest req;
  if (!c->identity_token.empty()) {
    req.method = "POST";
    req.url = realm;
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.body = "grant_type=refresh_token&refresh_token=" + UriEncode(c->identity_token) + "&service=" + UriEncode(service) +
               "&scope=" + UriEncode(ScopeKey(scopes)) + "&client_id=mlflow-bridge";
  } else {
    std::string q;
    if (!service.empty()) q += "service=" + UriEncode(service);
    for (const std::string& s : scopes) q += (q.empty() ? "" : "&") + ("scope=" + UriEncode(s));
    if (!c->username.empty()) q += (q.empty() ? "" : "&") + ("account=" + UriEncode(c->username));
    req.method = "GET";
    req.url = realm + (q.empty() ? "" : (realm.find('?') == std::string::npos ? "?" : "&") + q);
    if (!c->username.empty() || !c->password.empty())
      req.headers.emplace_back("Authorization", "Basic " + Base64Encode(c->username + ":" + c->password));
  }
  const std::string what = "token service " + realm_shown + " of registry " + registry_;
  const bool anonymous = c->empty();
  StatusOr<HttpResponse> r =
      RetryLoop<HttpResponse>(retry_, backoff_, Idempotency::kIdempotent, *clock_, what, [&]() -> StatusOr<HttpResponse> {
        StatusOr<HttpResponse> sent = transport_->Send(req);
        if (!sent.ok()) {
          if (sent.status().code() == StatusCode::kTemporarilyUnavailable)
            return UnavailableError(what + " is unreachable (" + sent.status().message() + ")");
          return sent.status().WithContext(what);
        }
        if (sent->status_code == 401 || sent->status_code == 403) {
          if (anonymous)
            return UnauthenticatedError("registry " + registry_ + " refused anonymous access (its token service " +
                                        realm_shown + " answered " + std::to_string(sent->status_code) +
                                        "); pass the registry user name and password");
          return UnauthenticatedError("registry " + registry_ + " refused the credentials from " + DescribeCredentials() +
                                      " (its token service " + realm_shown + " answered " +
                                      std::to_string(sent->status_code) + "). Check the user name and password");
        }
        if (!sent->ok()) return HttpErrorStatus(*sent, what);
        return sent;
      });
  if (!r.ok()) {
    Status out(r.status().code(), ScrubLocked(r.status().message()));
    if (r.status().retry_after()) out.set_retry_after(*r.status().retry_after());
    return out;
  }
  json body = json::parse(r->body, nullptr, false);
  std::string token;
  long long expires_in = 0;
  if (body.is_object()) {
    token = JsonString(body, "access_token");
    if (token.empty()) token = JsonString(body, "token");
    if (auto it = body.find("expires_in"); it != body.end() && it->is_number()) expires_in = it->get<long long>();
  }
  if (token.empty())
    return InternalError(what + " replied without a token (expected JSON with \"token\" or \"access_token\")");
  if (expires_in < kMinTokenSeconds) expires_in = kMinTokenSeconds;
  if (std::find(secrets_.begin(), secrets_.end(), token) == secrets_.end()) secrets_.push_back(token);
  tokens_[key] = Token{token, now + std::chrono::seconds(expires_in)};
  LogDebug("got a registry token for " + registry_ + " (scopes: " + (key.empty() ? "none" : key) + ", valid " +
           std::to_string(expires_in) + " s)");
  return OkStatus();
}

}  // namespace mlflow_bridge::internal
