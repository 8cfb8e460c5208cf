#include "serve/protocol.h"

namespace mlflow_bridge::internal {
namespace {

constexpr size_t kPrefix = 8;

void PutU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

uint32_t GetU32(const char* p) {
  auto b = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

}  // namespace

std::string EncodeFramePrefix(size_t header_size, size_t payload_size) {
  std::string out;
  out.reserve(kPrefix);
  PutU32(out, static_cast<uint32_t>(4 + header_size + payload_size));
  PutU32(out, static_cast<uint32_t>(header_size));
  return out;
}

std::string EncodeFrame(const nlohmann::json& header, std::string_view payload) {
  std::string h = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out = EncodeFramePrefix(h.size(), payload.size());
  out.reserve(kPrefix + h.size() + payload.size());
  out += h;
  out.append(payload.data(), payload.size());
  return out;
}

std::optional<size_t> FrameDecoder::pending_frame_size() const {
  if (buffered() < 4) return std::nullopt;
  return 4 + static_cast<size_t>(GetU32(buffer_.data() + start_));
}

Status FrameDecoder::Check() {
  if (!error_.ok() || buffered() < kPrefix) return error_;
  const char* p = buffer_.data() + start_;
  uint32_t length = GetU32(p);
  uint32_t header_length = GetU32(p + 4);
  if (length < 4) {
    error_ = InternalError("worker link: a frame length of " + std::to_string(length) + " (at least 4)");
  } else if (static_cast<uint64_t>(length) + 4 > max_frame_bytes_) {
    error_ = InternalError("worker link: a frame of " + std::to_string(static_cast<uint64_t>(length) + 4) +
                           " bytes, over the limit of " + std::to_string(max_frame_bytes_));
  } else if (header_length > length - 4) {
    error_ = InternalError("worker link: a header length of " + std::to_string(header_length) + " in a frame of " +
                           std::to_string(length) + " bytes");
  }
  return error_;
}

Status FrameDecoder::Feed(std::string_view bytes) {
  if (!error_.ok()) return error_;
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
  return Check();
}

StatusOr<std::optional<Frame>> FrameDecoder::Next() {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(Check());
  if (buffered() < kPrefix) return std::optional<Frame>();
  const char* p = buffer_.data() + start_;
  size_t total = 4 + static_cast<size_t>(GetU32(p));
  if (buffered() < total) {
    // Room for the rest of this frame, so that a large payload arriving in pieces is not copied again and again.
    if (buffer_.capacity() < start_ + total) {
      buffer_.erase(0, start_);
      start_ = 0;
      buffer_.reserve(total);
    }
    return std::optional<Frame>();
  }
  size_t header_length = GetU32(p + 4);
  Frame frame;
  frame.header = nlohmann::json::parse(std::string_view(p + kPrefix, header_length), nullptr, false);
  if (!frame.header.is_object()) {
    error_ = InternalError("worker link: a frame header that is not a JSON object");
    return error_;
  }
  frame.payload.assign(p + kPrefix + header_length, total - kPrefix - header_length);
  start_ += total;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 65536 && start_ * 2 > buffer_.size()) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  return std::optional<Frame>(std::move(frame));
}

}  // namespace mlflow_bridge::internal
