// Caches OCI credentials until 5 minutes before their token expires (API keys: until invalidated).
#include <mutex>
#include <optional>
#include <utility>

#include "mlflow_bridge/logging.h"
#include "oci/credentials.h"

namespace mlflow_bridge::internal {
namespace {

class CachingProvider : public OciCredentialsProvider {
 public:
  CachingProvider(std::shared_ptr<OciCredentialsProvider> inner, std::shared_ptr<Clock> clock)
      : inner_(std::move(inner)), clock_(std::move(clock)) {}

  StatusOr<OciCredentials> GetCredentials() override {
    constexpr auto kRefreshWindow = std::chrono::minutes(5);
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = clock_->WallNow();
    if (cached_ && (!cached_->expiration || *cached_->expiration - now > kRefreshWindow)) return *cached_;
    StatusOr<OciCredentials> fresh = inner_->GetCredentials();
    if (!fresh.ok()) {
      // A failed early refresh need not fail the caller while the current token still works.
      if (cached_ && cached_->expiration && *cached_->expiration > now) {
        LogWarning("refreshing OCI credentials failed, using the current ones until they expire: " +
                   fresh.status().ToString());
        return *cached_;
      }
      return fresh.status();
    }
    cached_ = *fresh;
    return fresh;
  }

  void Invalidate() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cached_.reset();
    }
    inner_->Invalidate();
  }

  std::string Describe() const override { return inner_->Describe(); }

 private:
  std::shared_ptr<OciCredentialsProvider> inner_;
  std::shared_ptr<Clock> clock_;
  std::mutex mu_;
  std::optional<OciCredentials> cached_;
};

}  // namespace

std::shared_ptr<OciCredentialsProvider> MakeCachingOciCredentialsProvider(std::shared_ptr<OciCredentialsProvider> inner,
                                                                          std::shared_ptr<Clock> clock) {
  return std::make_shared<CachingProvider>(std::move(inner), clock ? std::move(clock) : SystemClock());
}
}  // namespace mlflow_bridge::internal
