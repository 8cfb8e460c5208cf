// A chain of Entra ID credentials, as azure-identity's ChainedTokenCredential asks them: unavailable ones are
// skipped, the first other answer wins (a token, or an error that stops the chain), and the credential that gave
// a token is the only one asked afterwards.
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "azure/credentials.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

class ChainedTokenCredential : public TokenCredential {
 public:
  ChainedTokenCredential(std::vector<std::shared_ptr<TokenCredential>> credentials, std::string hint)
      : credentials_(std::move(credentials)), hint_(std::move(hint)) {}

  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    if (int i = successful_.load(); i >= 0) return credentials_[static_cast<size_t>(i)]->GetToken(scope);
    std::string tried;
    for (size_t i = 0; i < credentials_.size(); ++i) {
      const auto& c = credentials_[i];
      if (!c) continue;
      StatusOr<AccessToken> token = c->GetToken(scope);
      if (token.ok()) {
        LogDebug("Entra ID token for " + scope + " from " + c->Describe());
        successful_.store(static_cast<int>(i));
        return token;
      }
      if (!IsCredentialUnavailable(token.status())) return token.status();
      LogDebug("Azure credential chain: " + token.status().message());
      tried += (tried.empty() ? "" : "; ") + token.status().message();
    }
    Status s =
        UnauthenticatedError("no Azure credential is available (tried " + (tried.empty() ? std::string("none") : tried) +
                             ")" + (hint_.empty() ? std::string() : ". " + hint_));
    return s.set_final();
  }

  // The credential that gave the last token (what a message about that token's use should name), else all.
  std::string Describe() const override {
    if (const int i = successful_.load(); i >= 0) return credentials_[static_cast<size_t>(i)]->Describe();
    std::string out;
    for (const auto& c : credentials_)
      if (c) out += (out.empty() ? "" : ", then ") + c->Describe();
    return "chain of " + out;
  }

 private:
  std::vector<std::shared_ptr<TokenCredential>> credentials_;
  std::string hint_;
  std::atomic<int> successful_{-1};
};

}  // namespace

std::shared_ptr<TokenCredential> MakeChainedTokenCredential(std::vector<std::shared_ptr<TokenCredential>> credentials,
                                                            std::string hint) {
  return std::make_shared<ChainedTokenCredential>(std::move(credentials), std::move(hint));
}

}  // namespace mlflow_bridge::internal
