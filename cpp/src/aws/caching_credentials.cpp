// Caches AWS credentials until 5 minutes before they expire.
#include <mutex>
#include <optional>
#include <utility>

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {
namespace {

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

}  // namespace

std::shared_ptr<AwsCredentialsProvider> MakeCachingAwsCredentialsProvider(std::shared_ptr<AwsCredentialsProvider> inner,
                                                                          std::shared_ptr<Clock> clock) {
  return std::make_shared<CachingProvider>(std::move(inner), clock ? std::move(clock) : SystemClock());
}

}  // namespace mlflow_bridge
