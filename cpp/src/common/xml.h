// The few fixed fields of XML replies (AWS STS, IAM and S3 errors; Azure Storage errors) and escaping for the
// small XML bodies the stubs send; not an XML parser.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mlflow_bridge::internal {

// The text of the first <tag>...</tag> in `xml` (entities decoded), if any.
std::optional<std::string> XmlTagText(std::string_view xml, std::string_view tag);

// `s` as XML character data (element text): & < > escaped.
std::string XmlEscapeText(std::string_view s);

}  // namespace mlflow_bridge::internal
