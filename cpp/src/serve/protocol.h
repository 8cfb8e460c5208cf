// The link between the native server and its Python workers (decision 0009): frames on a socketpair,
//
//   u32 length (big endian) | u32 header length (big endian) | header JSON | payload
//
// where `length` counts every byte after itself (4 + header length + payload length). The header is a JSON
// object with a "type"; the payload is raw bytes (a request or response body).
//
//   worker -> server, once:  {"type": "ready", "mlflow_version", "flavors", "loader_module", "input_schema", "pid"}
//                       or:  {"type": "error", "message"} (the model did not load; the worker exits)
//   server -> worker:        {"type": "predict", "id", "content_type"} + request body
//                            ("content_type" is null when the request had no Content-Type header)
//   worker -> server:        {"type": "reply", "id", "status", "content_type"} + response body
//
// A worker handles one frame at a time; the server keeps at most one predict in flight per worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct Frame {
  nlohmann::json header;  // an object
  std::string payload;
};

// The frame's bytes. `header` must be an object; its JSON is written with invalid UTF-8 replaced.
std::string EncodeFrame(const nlohmann::json& header, std::string_view payload);
// The 8-byte prefix of a frame whose header JSON and payload have these sizes (to send the parts without
// joining them).
std::string EncodeFramePrefix(size_t header_size, size_t payload_size);

// Cuts a byte stream into frames, however the bytes arrive: a frame split over many reads, many frames in
// one read. Errors are final: a length below the minimum, a header length beyond the frame, a frame larger
// than `max_frame_bytes` (reported as soon as its prefix arrives, before its bytes are buffered), a header
// that is not a JSON object.
class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Adds bytes read from the link. Fails (and keeps failing) once the stream is corrupt.
  Status Feed(std::string_view bytes);
  // The next complete frame, if one is buffered; an error when it is malformed.
  StatusOr<std::optional<Frame>> Next();
  // Bytes buffered and not yet returned as frames.
  size_t buffered() const { return buffer_.size() - start_; }
  // The length of the frame now being received, once its prefix is in (for a reader that wants to reserve).
  std::optional<size_t> pending_frame_size() const;

 private:
  Status Check();

  size_t max_frame_bytes_;
  std::string buffer_;
  size_t start_ = 0;
  Status error_;
};

}  // namespace mlflow_bridge::internal
