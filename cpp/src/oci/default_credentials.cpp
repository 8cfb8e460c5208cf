// The default OCI credentials: config file API key profile -> session token profile -> resource principal
// (DESIGN.md), behind a cache.
#include <utility>

#include "oci/credentials.h"

namespace mlflow_bridge::internal {

std::shared_ptr<OciCredentialsProvider> MakeDefaultOciCredentialsProvider(OciConfigFileOptions options,
                                                                          std::shared_ptr<Clock> clock) {
  if (!clock) clock = SystemClock();
  return MakeCachingOciCredentialsProvider(
      MakeChainOciCredentialsProvider({MakeConfigFileOciCredentialsProvider(options),
                                       MakeSessionTokenOciCredentialsProvider(options, clock),
                                       MakeResourcePrincipalOciCredentialsProvider()}),
      clock);
}

}  // namespace mlflow_bridge::internal
