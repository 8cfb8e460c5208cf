#include "image/reference.h"

#include <cctype>
#include <string>

namespace mlflow_bridge::internal {
namespace {

constexpr size_t kMaxRepositoryLength = 255;
constexpr std::string_view kExample =
    "e.g. \"python:3.11-slim\", \"registry.example.com:5000/team/app:1.0\" or "
    "\"127.0.0.1:5000/team/app@sha256:<64 hex digits>\"";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

Status Bad(std::string_view text, const std::string& what) {
  return InvalidParameterError("invalid image reference \"" + std::string(text) + "\": " + what + "; expected " +
                               std::string(kExample));
}

// [a-z0-9]+ ( ( '.' | '_' | '__' | '-'+ ) [a-z0-9]+ )*
bool IsValidPathComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

// host[:port]: labels of [A-Za-z0-9-] (no leading/trailing '-') separated by '.', or [IPv6].
bool IsValidRegistry(std::string_view r) {
  std::string_view host = r;
  std::string_view port;
  if (!r.empty() && r.front() == '[') {
    size_t close = r.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : r.substr(1, close - 1))
      if (!IsHex(c) && c != ':' && c != '.') return false;
    host = {};
    std::string_view rest = r.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
  } else {
    size_t colon = r.rfind(':');
    if (colon != std::string_view::npos) {
      host = r.substr(0, colon);
      port = r.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    size_t pos = 0;
    while (pos <= host.size()) {
      size_t dot = host.find('.', pos);
      if (dot == std::string_view::npos) dot = host.size();
      std::string_view label = host.substr(pos, dot - pos);
      if (label.empty() || label.front() == '-' || label.back() == '-') return false;
      for (char c : label)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
      pos = dot + 1;
    }
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

bool HasUpper(std::string_view s) {
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

std::string DisplayName(const ImageReference& r) {
  return (r.IsDockerHub() ? std::string("docker.io") : r.registry) + "/" + r.repository;
}

}  // namespace

bool IsValidTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(tag.front())) return false;
  for (char c : tag)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

bool IsValidDigest(std::string_view digest) {
  size_t colon = digest.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view alg = digest.substr(0, colon), hex = digest.substr(colon + 1);
  if (alg == "sha256" || alg == "sha512") {
    if (hex.size() != (alg == "sha256" ? 64u : 128u)) return false;
    for (char c : hex)
      if (!IsLowerHex(c)) return false;
    return true;
  }
  // algorithm: [a-z0-9]+ ([+._-][a-z0-9]+)*, encoded: hex, at least 32 digits.
  if (!IsLowerAlnum(alg.front()) || !IsLowerAlnum(alg.back())) return false;
  for (size_t i = 0; i < alg.size(); ++i) {
    bool sep = alg[i] == '+' || alg[i] == '.' || alg[i] == '_' || alg[i] == '-';
    if (!IsLowerAlnum(alg[i]) && !(sep && IsLowerAlnum(alg[i + 1]))) return false;
  }
  if (hex.size() < 32) return false;
  for (char c : hex)
    if (!IsHex(c)) return false;
  return true;
}

std::string ImageReference::ToString() const {
  std::string out = DisplayName(*this);
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string ImageReference::WithDigest(const std::string& d) const { return DisplayName(*this) + "@" + d; }

StatusOr<ImageReference> ParseImageReference(std::string_view text) {
  if (text.empty()) return Bad(text, "it is empty");
  for (char c : text)
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
      return Bad(text, "it contains white space or a non-ASCII character");
  if (text.find("://") != std::string_view::npos)
    return Bad(text, "an image reference has no scheme (drop \"https://\" or \"http://\")");

  ImageReference ref;
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    if (!IsValidDigest(digest))
      return Bad(text, "digest \"" + std::string(digest) + "\" is not of the form sha256:<64 lower-case hex digits>");
    ref.digest = std::string(digest);
    rest = rest.substr(0, at);
  }
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
    std::string_view tag = rest.substr(colon + 1);
    if (!IsValidTag(tag))
      return Bad(text, "tag \"" + std::string(tag) +
                           "\" is not valid (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')");
    ref.tag = std::string(tag);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return Bad(text, "the repository name is missing");

  std::string_view name = rest;
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" || HasUpper(first)) {
      if (!IsValidRegistry(first)) return Bad(text, "registry \"" + std::string(first) + "\" is not a valid host[:port]");
      ref.registry = std::string(first);
      name = rest.substr(slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "docker.io" || ref.registry == "index.docker.io") {
    ref.registry = std::string(kDockerHubRegistry);
  }
  if (ref.IsDockerHub() && name.find('/') == std::string_view::npos) ref.repository = "library/";
  ref.repository += std::string(name);

  if (name.empty()) return Bad(text, "the repository name is missing");
  if (HasUpper(name)) return Bad(text, "repository name \"" + std::string(name) + "\" must be lower-case");
  if (ref.repository.size() > kMaxRepositoryLength) return Bad(text, "the repository name is longer than 255 characters");
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t s = name.find('/', pos);
    if (s == std::string_view::npos) s = name.size();
    std::string_view component = name.substr(pos, s - pos);
    if (!IsValidPathComponent(component))
      return Bad(text, "repository name component \"" + std::string(component) +
                           "\" is not valid (lower-case letters and digits, separated by '.', '_', '__' or '-')");
    pos = s + 1;
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace mlflow_bridge::internal
