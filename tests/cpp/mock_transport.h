// A scripted HttpTransport for tests: records every request and answers from a
// queue of responses (or Status errors), in order.
#pragma once

#include <deque>
#include <fstream>
#include <mutex>
#include <vector>

#include "mlflow_bridge/http.h"

namespace mlflow_bridge {

class MockTransport : public HttpTransport {
 public:
  void Enqueue(StatusOr<HttpResponse> reply) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_.push_back(std::move(reply));
  }
  void Enqueue(long status_code, std::string body, HttpHeaders headers = {}) {
    Enqueue(HttpResponse{status_code, std::move(headers), std::move(body)});
  }
  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    if (request.body_file) {  // recorded as if sent from memory
      const auto& f = *request.body_file;
      std::ifstream in(f.path, std::ios::binary);
      std::string body(f.length, '\0');
      in.seekg(static_cast<std::streamoff>(f.offset));
      in.read(body.data(), static_cast<std::streamsize>(f.length));
      if (static_cast<uint64_t>(in.gcount()) != f.length)
        return InvalidParameterError("MockTransport: cannot read the body from " + f.path);
      requests_.back().body = std::move(body);
      requests_.back().body_file.reset();
    }
    if (replies_.empty()) return InternalError("MockTransport: no reply queued for " + request.method + " " + request.url);
    StatusOr<HttpResponse> r = std::move(replies_.front());
    replies_.pop_front();
    return r;
  }
  std::vector<HttpRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::deque<StatusOr<HttpResponse>> replies_;
  std::vector<HttpRequest> requests_;
};

}  // namespace mlflow_bridge
