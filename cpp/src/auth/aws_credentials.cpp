// AWS credential providers: environment, shared files, chain, cache and STS
// AssumeRole.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include "auth/sigv4.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {
namespace internal {
namespace {

std::string DecodeXmlEntities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      size_t semi = s.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        std::string_view ent = s.substr(i + 1, semi - i - 1);
        std::optional<unsigned long> code;
        if (ent == "amp") code = '&';
        else if (ent == "lt") code = '<';
        else if (ent == "gt") code = '>';
        else if (ent == "quot") code = '"';
        else if (ent == "apos") code = '\'';
        else if (ent.size() > 1 && ent[0] == '#') {
          std::string num(ent.substr(1));
          char* end = nullptr;
          unsigned long v = (num[0] == 'x' || num[0] == 'X') ? std::strtoul(num.c_str() + 1, &end, 16)
                                                             : std::strtoul(num.c_str(), &end, 10);
          if (end != nullptr && *end == '\0' && v < 0x80) code = v;  // ASCII only; enough here
        }
        if (code) {
          out.push_back(static_cast<char>(*code));
          i = semi;
          continue;
        }
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> ParseIso8601(std::string_view s) {
  auto t = ParseTimestamp(s, /*zone_required=*/false);
  if (!t) return std::nullopt;
  return std::chrono::time_point_cast<std::chrono::seconds>(*t);  // whole seconds: what expirations need
}

std::optional<std::string> XmlTagText(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t after = pos + open.size();
    if (after < xml.size() && (xml[after] == '>' || std::isspace(static_cast<unsigned char>(xml[after])))) {
      size_t gt = xml.find('>', after);
      if (gt == std::string_view::npos) return std::nullopt;
      if (xml[gt - 1] == '/') return std::string();  // <Tag/>
      size_t end = xml.find(close, gt + 1);
      if (end == std::string_view::npos) return std::nullopt;
      return DecodeXmlEntities(xml.substr(gt + 1, end - gt - 1));
    }
    pos = after;
  }
  return std::nullopt;
}

AwsIniFile ParseAwsIniFile(std::string_view text) {
  AwsIniFile out;
  std::string section;
  bool in_section = false;
  bool after_key = false;  // an indented line after a key continues it (nested settings)
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view raw = text.substr(pos, eol - pos);
    pos = eol + 1;
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      if (close == std::string_view::npos) {
        in_section = false;  // malformed header: ignore what follows until the next one
        continue;
      }
      section = std::string(Trim(line.substr(1, close - 1)));
      out[section];
      in_section = true;
      after_key = false;
      continue;
    }
    if (!in_section) continue;
    if (after_key && std::isspace(static_cast<unsigned char>(raw.front()))) continue;
    size_t delim = line.find_first_of("=:");
    if (delim == std::string_view::npos) continue;
    std::string key(Trim(line.substr(0, delim)));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    std::string_view value = Trim(line.substr(delim + 1));
    for (size_t i = 1; i < value.size(); ++i) {
      if ((value[i] == '#' || value[i] == ';') && std::isspace(static_cast<unsigned char>(value[i - 1]))) {
        value = Trim(value.substr(0, i));
        break;
      }
    }
    if (key.empty()) continue;
    out[section][key] = std::string(value);
    after_key = true;
  }
  return out;
}

std::string ScrubSecrets(std::string text, const std::vector<std::string_view>& secrets) {
  for (std::string_view secret : secrets) {
    if (secret.size() < 4) continue;  // too short to be a secret; replacing would mangle the text
    size_t pos = 0;
    while ((pos = text.find(secret, pos)) != std::string::npos) {
      text.replace(pos, secret.size(), "[REDACTED]");
      pos += 10;
    }
  }
  return text;
}

}  // namespace internal

namespace {

using internal::AwsIniFile;

std::optional<std::string> GetEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string HomeDirectory() {
  if (auto home = GetEnv("HOME")) return *home;
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return ".";
}

std::string ExpandUser(std::string path) {
  if (path == "~" || path.rfind("~/", 0) == 0) path = HomeDirectory() + path.substr(1);
  return path;
}

// The file's contents, or nullopt when it does not exist or cannot be read.
std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ~/.aws/config's sections by profile name: "[default]" and "[profile name]".
AwsIniFile ConfigProfiles(std::string_view text) {
  AwsIniFile profiles;
  for (auto& [section, keys] : internal::ParseAwsIniFile(text)) {
    std::string_view s = section;
    if (s == "default") {
      profiles["default"] = keys;
    } else if (s.rfind("profile", 0) == 0 && s.size() > 7 && std::isspace(static_cast<unsigned char>(s[7]))) {
      std::string name(s.substr(8));
      name.erase(0, name.find_first_not_of(" \t"));
      if (!name.empty()) profiles[name] = keys;
    }
  }
  return profiles;
}

// ---------------------------------------------------------------- static

class StaticProvider : public AwsCredentialsProvider {
 public:
  explicit StaticProvider(AwsCredentials c) : c_(std::move(c)) {}
  StatusOr<AwsCredentials> GetCredentials() override {
    if (c_.access_key_id.empty() || c_.secret_access_key.empty())
      return InvalidParameterError("the configured AWS credentials need both an access key id and a secret access key");
    return c_;
  }
  std::string Describe() const override { return "explicitly configured credentials"; }

 private:
  AwsCredentials c_;
};

// ---------------------------------------------------------------- environment

class EnvironmentProvider : public AwsCredentialsProvider {
 public:
  StatusOr<AwsCredentials> GetCredentials() override {
    std::optional<std::string> id = GetEnv("AWS_ACCESS_KEY_ID");
    std::optional<std::string> secret = GetEnv("AWS_SECRET_ACCESS_KEY");
    if (!id && !secret) return NotFoundError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
    if (!id) return InvalidParameterError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both");
    if (!secret) return InvalidParameterError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both");
    AwsCredentials c;
    c.access_key_id = std::move(*id);
    c.secret_access_key = std::move(*secret);
    if (auto token = GetEnv("AWS_SESSION_TOKEN")) c.session_token = std::move(*token);
    else if (auto legacy = GetEnv("AWS_SECURITY_TOKEN")) c.session_token = std::move(*legacy);
    if (auto exp = GetEnv("AWS_CREDENTIAL_EXPIRATION")) {
      c.expiration = internal::ParseIso8601(*exp);
      if (!c.expiration)
        return InvalidParameterError("AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time (e.g. 2024-01-01T00:00:00Z): '" +
                                     *exp + "'");
    }
    return c;
  }
  std::string Describe() const override {
    return "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY";
  }
};

// ---------------------------------------------------------------- shared files

class SharedFilesProvider : public AwsCredentialsProvider {
 public:
  explicit SharedFilesProvider(std::string profile) : profile_(std::move(profile)) {}

  StatusOr<AwsCredentials> GetCredentials() override {
    std::string profile = profile_;
    std::string source = "requested";
    if (profile.empty()) {
      if (auto p = GetEnv("AWS_PROFILE")) {
        profile = *p;
        source = "from AWS_PROFILE";
      } else if (auto d = GetEnv("AWS_DEFAULT_PROFILE")) {
        profile = *d;
        source = "from AWS_DEFAULT_PROFILE";
      }
    }
    const bool explicit_profile = !profile.empty();
    if (profile.empty()) profile = "default";

    const std::string credentials_path = ExpandUser(GetEnv("AWS_SHARED_CREDENTIALS_FILE").value_or("~/.aws/credentials"));
    const std::string config_path = ExpandUser(GetEnv("AWS_CONFIG_FILE").value_or("~/.aws/config"));
    std::optional<std::string> credentials_text = ReadFile(credentials_path);
    std::optional<std::string> config_text = ReadFile(config_path);

    // Profiles of each file, by profile name.
    AwsIniFile credentials_profiles = credentials_text ? internal::ParseAwsIniFile(*credentials_text) : AwsIniFile();
    AwsIniFile config_profiles = config_text ? ConfigProfiles(*config_text) : AwsIniFile();

    for (const auto& [path, profiles] : {std::pair<const std::string&, const AwsIniFile&>(credentials_path, credentials_profiles),
                                         std::pair<const std::string&, const AwsIniFile&>(config_path, config_profiles)}) {
      auto it = profiles.find(profile);
      if (it == profiles.end()) continue;
      const auto& keys = it->second;
      auto get = [&](const char* k) -> std::string {
        auto kv = keys.find(k);
        return kv == keys.end() ? std::string() : kv->second;
      };
      std::string id = get("aws_access_key_id"), secret = get("aws_secret_access_key");
      if (id.empty() && secret.empty()) continue;  // maybe the other file has them
      const std::string where = "profile '" + profile + "' in " + path;
      if (id.empty()) return InvalidParameterError(where + " has aws_secret_access_key but no aws_access_key_id");
      if (secret.empty()) return InvalidParameterError(where + " has aws_access_key_id but no aws_secret_access_key");
      AwsCredentials c;
      c.access_key_id = std::move(id);
      c.secret_access_key = std::move(secret);
      c.session_token = get("aws_session_token");
      return c;
    }

    const bool exists = credentials_profiles.count(profile) > 0 || config_profiles.count(profile) > 0;
    const std::string files = credentials_path + " and " + config_path;
    if (exists) {
      return NotFoundError("profile '" + profile + "' (" + files +
                           ") has no aws_access_key_id/aws_secret_access_key; profiles that use role_arn, sso_*, "
                           "credential_process or web identity are not supported yet");
    }
    if (!credentials_text && !config_text) {
      if (explicit_profile)
        return InvalidParameterError("AWS profile '" + profile + "' (" + source + ") not found: neither " +
                                     credentials_path + " nor " + config_path + " exists");
      return NotFoundError("neither " + credentials_path + " nor " + config_path + " exists");
    }
    if (explicit_profile) {
      std::vector<std::string> names;
      for (const auto& [n, _] : credentials_profiles) names.push_back(n);
      for (const auto& [n, _] : config_profiles)
        if (!credentials_profiles.count(n)) names.push_back(n);
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      return InvalidParameterError("AWS profile '" + profile + "' (" + source + ") not found in " + files +
                                   (list.empty() ? "; they define no profiles" : "; profiles found: " + list));
    }
    return NotFoundError("no [default] profile in " + files);
  }

  std::string Describe() const override {
    return "shared credentials/config files (~/.aws/credentials, ~/.aws/config" +
           std::string(profile_.empty() ? "" : ", profile '" + profile_ + "'") + ")";
  }

 private:
  std::string profile_;
};

// ---------------------------------------------------------------- chain

class ChainProvider : public AwsCredentialsProvider {
 public:
  explicit ChainProvider(std::vector<std::shared_ptr<AwsCredentialsProvider>> providers)
      : providers_(std::move(providers)) {}

  StatusOr<AwsCredentials> GetCredentials() override {
    std::string tried;
    for (const auto& p : providers_) {
      if (!p) continue;
      StatusOr<AwsCredentials> c = p->GetCredentials();
      if (c.ok()) {
        LogDebug("AWS credentials from " + p->Describe());
        return c;
      }
      if (c.status().code() != StatusCode::kResourceDoesNotExist)
        return c.status().WithContext("AWS credentials from " + p->Describe());
      tried += (tried.empty() ? "" : "; ") + p->Describe() + ": " + c.status().message();
    }
    return UnauthenticatedError(
        "no AWS credentials found (tried " + (tried.empty() ? std::string("no sources") : tried) +
        "). Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary credentials), or "
        "configure a profile in ~/.aws/credentials (e.g. with `aws configure`) and select it with AWS_PROFILE");
  }

  std::string Describe() const override {
    std::string out;
    for (const auto& p : providers_)
      if (p) out += (out.empty() ? "" : ", then ") + p->Describe();
    return out;
  }

 private:
  std::vector<std::shared_ptr<AwsCredentialsProvider>> providers_;
};

// ---------------------------------------------------------------- cache

class CachingProvider : public AwsCredentialsProvider {
 public:
  CachingProvider(std::shared_ptr<AwsCredentialsProvider> inner, std::shared_ptr<Clock> clock)
      : inner_(std::move(inner)), clock_(std::move(clock)) {}

  StatusOr<AwsCredentials> GetCredentials() override {
    constexpr auto kRefreshWindow = std::chrono::minutes(5);
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = clock_->WallNow();
    if (cached_ && (!cached_->expiration || *cached_->expiration - now > kRefreshWindow)) return *cached_;
    StatusOr<AwsCredentials> fresh = inner_->GetCredentials();
    if (!fresh.ok()) {
      // A failed early refresh need not fail the caller while the old credentials still work.
      if (cached_ && cached_->expiration && *cached_->expiration > now) {
        LogWarning("refreshing AWS credentials failed, using the current ones until they expire: " +
                   fresh.status().ToString());
        return *cached_;
      }
      return fresh.status();
    }
    cached_ = *fresh;
    return fresh;
  }

  std::string Describe() const override { return inner_->Describe(); }

 private:
  std::shared_ptr<AwsCredentialsProvider> inner_;
  std::shared_ptr<Clock> clock_;
  std::mutex mu_;
  std::optional<AwsCredentials> cached_;
};

// ---------------------------------------------------------------- assume role

Status StsErrorStatus(const HttpResponse& response, const std::string& role_arn,
                      const std::vector<std::string_view>& secrets) {
  Status by_http = HttpErrorStatus(response, "STS AssumeRole");
  std::string code = internal::XmlTagText(response.body, "Code").value_or("");
  std::string message = internal::XmlTagText(response.body, "Message").value_or("");
  std::string request_id = internal::XmlTagText(response.body, "RequestId").value_or("");
  // Keep the first line (some services append the canonical request) and not too much of it.
  message = message.substr(0, message.find('\n'));
  if (message.size() > 500) message = message.substr(0, 500) + "...";

  StatusCode status_code = by_http.code();
  std::string hint;
  if (code == "AccessDenied") {
    status_code = StatusCode::kPermissionDenied;
    hint = "check that the role's trust policy allows the calling identity and that it may call sts:AssumeRole";
  } else if (code == "InvalidClientTokenId" || code == "InvalidAccessKeyId") {
    status_code = StatusCode::kUnauthenticated;
    hint = "the base credentials' access key id is not valid";
  } else if (code == "SignatureDoesNotMatch") {
    status_code = StatusCode::kUnauthenticated;
    hint = "check the base credentials' secret access key";
  } else if (code == "ExpiredToken" || code == "ExpiredTokenException") {
    status_code = StatusCode::kUnauthenticated;
    hint = "the base credentials' session token has expired; refresh them";
  } else if (code == "Throttling" || code == "ThrottlingException" || code == "RequestLimitExceeded") {
    status_code = StatusCode::kTemporarilyUnavailable;
  }

  std::string text = "STS AssumeRole of " + role_arn + ": HTTP " + std::to_string(response.status_code);
  if (!code.empty()) {
    text += " " + code;
    if (!message.empty()) text += ": " + message;
    if (!hint.empty()) text += " (" + hint + ")";
    if (!request_id.empty()) text += " [request id " + request_id + "]";
  } else {
    text = by_http.message();  // not STS's XML: the generic excerpt
  }
  Status out(status_code, internal::ScrubSecrets(Redact(text), secrets));
  if (by_http.retry_after()) out.set_retry_after(*by_http.retry_after());
  return out;
}

StatusOr<AwsCredentials> ParseAssumeRoleResponse(std::string_view body) {
  std::optional<std::string> block = internal::XmlTagText(body, "Credentials");
  if (!block) return InternalError("STS AssumeRole replied without Credentials");
  AwsCredentials c;
  c.access_key_id = internal::XmlTagText(*block, "AccessKeyId").value_or("");
  c.secret_access_key = internal::XmlTagText(*block, "SecretAccessKey").value_or("");
  c.session_token = internal::XmlTagText(*block, "SessionToken").value_or("");
  if (c.access_key_id.empty() || c.secret_access_key.empty() || c.session_token.empty())
    return InternalError("STS AssumeRole replied with incomplete Credentials (AccessKeyId, SecretAccessKey, SessionToken)");
  if (std::optional<std::string> exp = internal::XmlTagText(*block, "Expiration")) {
    c.expiration = internal::ParseIso8601(*exp);
    if (!c.expiration) return InternalError("STS AssumeRole replied with an unreadable Expiration '" + *exp + "'");
  } else {
    return InternalError("STS AssumeRole replied without an Expiration");
  }
  return c;
}

bool ValidSessionName(std::string_view s) {
  if (s.size() < 2 || s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("_+=,.@-").find(c) == std::string_view::npos)
      return false;
  return true;
}

class AssumeRoleProvider : public AwsCredentialsProvider {
 public:
  AssumeRoleProvider(AssumeRoleOptions options, std::shared_ptr<AwsCredentialsProvider> base,
                     std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock)
      : options_(std::move(options)), base_(std::move(base)), transport_(std::move(transport)), clock_(std::move(clock)) {}

  StatusOr<AwsCredentials> GetCredentials() override {
    const std::string& arn = options_.role_arn;
    if (arn.rfind("arn:", 0) != 0 || arn.find(":role/") == std::string::npos)
      return InvalidParameterError("role ARN '" + arn + "' is not of the form arn:aws:iam::<account-id>:role/<name>");
    std::string region = options_.region;
    if (region.empty() && !options_.endpoint_url.empty()) region = "us-east-1";
    if (!IsValidRegionName(region))
      return InvalidParameterError("STS region '" + region + "' is not an AWS region name (e.g. us-east-1)");
    const long long seconds = options_.duration.count();
    if (seconds < 900 || seconds > 43200)
      return InvalidParameterError("assume-role duration must be between 900 and 43200 seconds, got " +
                                   std::to_string(seconds));
    std::string session = options_.role_session_name;
    if (session.empty()) {
      session = "mlflow-bridge-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                      clock_->WallNow().time_since_epoch())
                                                      .count());
    }
    if (!ValidSessionName(session))
      return InvalidParameterError("role session name '" + session +
                                   "' must be 2 to 64 characters of letters, digits and _+=,.@-");
    if (!base_) return UnauthenticatedError("assume role " + arn + ": no base credentials provider");
    StatusOr<AwsCredentials> base = base_->GetCredentials();
    if (!base.ok()) {
      Status s = base.status();
      if (s.code() == StatusCode::kResourceDoesNotExist) s = UnauthenticatedError(s.message());
      return s.WithContext("assume role " + arn + ": base credentials");
    }
    const AwsCredentials base_credentials = std::move(base).value();
    const std::vector<std::string_view> secrets = {base_credentials.secret_access_key, base_credentials.session_token};

    std::string endpoint = options_.endpoint_url.empty() ? ResolveAwsEndpoint("sts", "sts", region)
                                                         : ResolveAwsEndpoint("sts", "sts", region, options_.endpoint_url);
    std::string body = "Action=AssumeRole&Version=2011-06-15&RoleArn=" + internal::UriEncode(arn) +
                       "&RoleSessionName=" + internal::UriEncode(session) +
                       "&DurationSeconds=" + std::to_string(seconds);
    if (!options_.external_id.empty()) body += "&ExternalId=" + internal::UriEncode(options_.external_id);

    std::function<StatusOr<AwsCredentials>()> call = [&]() -> StatusOr<AwsCredentials> {
      HttpRequest request;
      request.method = "POST";
      request.url = endpoint + "/";
      request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
      request.body = body;
      SigV4Params params;
      params.region = region;
      params.service = "sts";
      params.now = clock_->WallNow();
      MLFLOW_BRIDGE_RETURN_IF_ERROR(SignV4(request, base_credentials, params));
      StatusOr<HttpResponse> response = transport_->Send(request);
      if (!response.ok()) return response.status().WithContext("STS AssumeRole of " + arn + " at " + endpoint);
      if (!response->ok()) return StsErrorStatus(*response, arn, secrets);
      return ParseAssumeRoleResponse(response->body);
    };
    StatusOr<AwsCredentials> result =
        RetryLoop<AwsCredentials>(options_.retry, options_.backoff, Idempotency::kIdempotent, *clock_, "STS AssumeRole", call);
    if (!result.ok()) {
      const Status& s = result.status();
      Status scrubbed(s.code(), internal::ScrubSecrets(s.message(), secrets));
      if (s.retry_after()) scrubbed.set_retry_after(*s.retry_after());
      return scrubbed;
    }
    LogDebug("assumed role " + arn + " (session " + session + ")");
    return result;
  }

  std::string Describe() const override {
    return "STS AssumeRole of " + options_.role_arn + " with " + (base_ ? base_->Describe() : std::string("nothing"));
  }

 private:
  AssumeRoleOptions options_;
  std::shared_ptr<AwsCredentialsProvider> base_;
  std::shared_ptr<HttpTransport> transport_;
  std::shared_ptr<Clock> clock_;
};

}  // namespace

std::shared_ptr<AwsCredentialsProvider> MakeStaticAwsCredentialsProvider(AwsCredentials credentials) {
  return std::make_shared<StaticProvider>(std::move(credentials));
}

std::shared_ptr<AwsCredentialsProvider> MakeEnvironmentAwsCredentialsProvider() {
  return std::make_shared<EnvironmentProvider>();
}

std::shared_ptr<AwsCredentialsProvider> MakeSharedFilesAwsCredentialsProvider(std::string profile) {
  return std::make_shared<SharedFilesProvider>(std::move(profile));
}

std::shared_ptr<AwsCredentialsProvider> MakeChainAwsCredentialsProvider(
    std::vector<std::shared_ptr<AwsCredentialsProvider>> providers) {
  return std::make_shared<ChainProvider>(std::move(providers));
}

std::shared_ptr<AwsCredentialsProvider> MakeCachingAwsCredentialsProvider(std::shared_ptr<AwsCredentialsProvider> inner,
                                                                          std::shared_ptr<Clock> clock) {
  return std::make_shared<CachingProvider>(std::move(inner), clock ? std::move(clock) : SystemClock());
}

std::shared_ptr<AwsCredentialsProvider> MakeDefaultAwsCredentialsProvider(std::string profile) {
  // A profile named here is the user's explicit choice: as in botocore (and `aws --profile`), the
  // environment's keys do not override it. AWS_PROFILE is not such a choice: the environment's keys win.
  if (!profile.empty()) {
    return MakeCachingAwsCredentialsProvider(MakeChainAwsCredentialsProvider({MakeSharedFilesAwsCredentialsProvider(std::move(profile))}));
  }
  return MakeCachingAwsCredentialsProvider(MakeChainAwsCredentialsProvider(
      {MakeEnvironmentAwsCredentialsProvider(), MakeSharedFilesAwsCredentialsProvider()}));
}

std::string AwsDefaultRegion(const std::string& profile) {
  for (const char* env : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (auto r = GetEnv(env)) return *r;
  std::string name = profile;
  if (name.empty()) name = GetEnv("AWS_PROFILE").value_or(GetEnv("AWS_DEFAULT_PROFILE").value_or("default"));
  auto text = ReadFile(ExpandUser(GetEnv("AWS_CONFIG_FILE").value_or("~/.aws/config")));
  if (!text) return "";
  AwsIniFile profiles = ConfigProfiles(*text);
  auto it = profiles.find(name);
  if (it == profiles.end()) return "";
  auto region = it->second.find("region");
  return region == it->second.end() ? "" : region->second;
}

std::shared_ptr<AwsCredentialsProvider> MakeAssumeRoleAwsCredentialsProvider(
    AssumeRoleOptions options, std::shared_ptr<AwsCredentialsProvider> base, std::shared_ptr<HttpTransport> transport,
    std::shared_ptr<Clock> clock) {
  return std::make_shared<AssumeRoleProvider>(std::move(options), std::move(base), std::move(transport),
                                              clock ? std::move(clock) : SystemClock());
}

}  // namespace mlflow_bridge
