// Image references as docker writes and reads them:
//   [registry/]repository[:tag][@digest]
// e.g. "ubuntu", "library/ubuntu:22.04", "localhost:5000/a/b:1",
// "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app@sha256:<64 hex>".
//
// docker's rules (distribution/reference, normalize.go):
//  - the first '/'-separated component is a registry when it contains '.' or
//    ':', is "localhost", or has upper-case letters; otherwise the reference
//    is on Docker Hub;
//  - Docker Hub ("docker.io", "index.docker.io", "registry-1.docker.io") is
//    reached at registry-1.docker.io and a single-component name gets
//    "library/" in front ("ubuntu" -> library/ubuntu);
//  - the tag defaults to "latest" when neither tag nor digest is given;
//  - repository components are lower-case [a-z0-9]+ joined by '.', '_', '__'
//    or runs of '-', separated by '/'; at most 255 characters;
//  - tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127};
//  - digest: algorithm ":" hex ("sha256:" + 64 lower-case hex digits).
#pragma once

#include <string>
#include <string_view>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

inline constexpr std::string_view kDockerHubRegistry = "registry-1.docker.io";

struct ImageReference {
  std::string registry;    // "127.0.0.1:5000", "registry-1.docker.io" for Docker Hub
  std::string repository;  // "library/python", "team/app"
  std::string tag;         // "" when only a digest was given
  std::string digest;      // "sha256:<64 hex>" or ""

  // As a user writes it: registry/repository[:tag][@digest]; Docker Hub is shown as docker.io/...
  std::string ToString() const;
  // registry/repository@digest (same Docker Hub rule).
  std::string WithDigest(const std::string& digest) const;
  // Whether this is Docker Hub.
  bool IsDockerHub() const { return registry == kDockerHubRegistry; }
};

// Parses `text` by docker's rules above. Bad input is INVALID_PARAMETER_VALUE
// saying what is wrong, with an example of a valid reference.
StatusOr<ImageReference> ParseImageReference(std::string_view text);

// Whether `digest` is a well-formed digest ("sha256:" + 64 lower-case hex,
// "sha512:" + 128, or another algorithm with at least 32 hex digits).
bool IsValidDigest(std::string_view digest);
// Whether `tag` is a valid tag.
bool IsValidTag(std::string_view tag);

}  // namespace mlflow_bridge::internal
