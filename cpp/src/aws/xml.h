// The few fixed fields of AWS XML replies (STS, IAM, S3 errors); not an XML parser.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mlflow_bridge::internal {

// The text of the first <tag>...</tag> in `xml` (entities decoded), if any.
std::optional<std::string> XmlTagText(std::string_view xml, std::string_view tag);

}  // namespace mlflow_bridge::internal
