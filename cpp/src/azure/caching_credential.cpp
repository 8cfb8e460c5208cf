// Caches Entra ID tokens per scope with azure-identity's refresh rules (get_token_mixin): a new token is required
// when there is none or it has expired, and recommended once refresh_on has passed or it expires within five
// minutes; a failed recommended refresh keeps the old token and is not tried again for 30 s.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "azure/credentials.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

constexpr auto kRefreshOffset = std::chrono::seconds(300);     // azure-identity DEFAULT_REFRESH_OFFSET
constexpr auto kRefreshRetryDelay = std::chrono::seconds(30);  // DEFAULT_TOKEN_REFRESH_RETRY_DELAY

class CachingTokenCredential : public TokenCredential {
 public:
  CachingTokenCredential(std::shared_ptr<TokenCredential> inner, std::shared_ptr<Clock> clock)
      : inner_(std::move(inner)), clock_(std::move(clock)) {}

  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    std::shared_ptr<Entry> entry;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::shared_ptr<Entry>& e = entries_[scope];
      if (!e) e = std::make_shared<Entry>();
      entry = e;
    }
    std::lock_guard<std::mutex> lock(entry->mu);  // one request per scope at a time; other scopes go on
    const auto wall = clock_->WallNow();
    const Clock::TimePoint steady = clock_->Now();
    if (entry->token && wall < entry->token->expires_on) {
      const AccessToken& t = *entry->token;
      const bool recommended = (t.refresh_on && wall >= *t.refresh_on) || t.expires_on - wall <= kRefreshOffset;
      if (!recommended) return t;
      if (entry->last_attempt && steady - *entry->last_attempt < kRefreshRetryDelay) return t;
      entry->last_attempt = steady;
      StatusOr<AccessToken> fresh = inner_->GetToken(scope);
      if (fresh.ok()) {
        entry->token = *fresh;
        return fresh;
      }
      LogWarning(inner_->Describe() + ": refreshing the token for " + scope +
                 " failed; using the current one until it expires: " + fresh.status().ToString());
      return *entry->token;
    }
    entry->last_attempt = steady;
    StatusOr<AccessToken> fresh = inner_->GetToken(scope);
    if (fresh.ok()) entry->token = *fresh;
    return fresh;
  }

  std::string Describe() const override { return inner_->Describe(); }

 private:
  struct Entry {
    std::mutex mu;
    std::optional<AccessToken> token;
    std::optional<Clock::TimePoint> last_attempt;
  };

  std::shared_ptr<TokenCredential> inner_;
  std::shared_ptr<Clock> clock_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
};

}  // namespace

std::shared_ptr<TokenCredential> MakeCachingTokenCredential(std::shared_ptr<TokenCredential> inner,
                                                            std::shared_ptr<Clock> clock) {
  return std::make_shared<CachingTokenCredential>(std::move(inner), clock ? std::move(clock) : SystemClock());
}

}  // namespace mlflow_bridge::internal
