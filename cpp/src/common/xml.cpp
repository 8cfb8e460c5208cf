#include "common/xml.h"

#include <cctype>
#include <cstdlib>

namespace mlflow_bridge::internal {
namespace {

std::string DecodeXmlEntities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      size_t semi = s.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        std::string_view ent = s.substr(i + 1, semi - i - 1);
        std::optional<unsigned long> code;
        if (ent == "amp") code = '&';
        else if (ent == "lt") code = '<';
        else if (ent == "gt") code = '>';
        else if (ent == "quot") code = '"';
        else if (ent == "apos") code = '\'';
        else if (ent.size() > 1 && ent[0] == '#') {
          std::string num(ent.substr(1));
          char* end = nullptr;
          unsigned long v = (num[0] == 'x' || num[0] == 'X') ? std::strtoul(num.c_str() + 1, &end, 16)
                                                             : std::strtoul(num.c_str(), &end, 10);
          if (end != nullptr && *end == '\0' && v < 0x80) code = v;  // ASCII only; enough here
        }
        if (code) {
          out.push_back(static_cast<char>(*code));
          i = semi;
          continue;
        }
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::string XmlEscapeText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

std::optional<std::string> XmlTagText(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t after = pos + open.size();
    if (after < xml.size() && (xml[after] == '>' || std::isspace(static_cast<unsigned char>(xml[after])))) {
      size_t gt = xml.find('>', after);
      if (gt == std::string_view::npos) return std::nullopt;
      if (xml[gt - 1] == '/') return std::string();  // <Tag/>
      size_t end = xml.find(close, gt + 1);
      if (end == std::string_view::npos) return std::nullopt;
      return DecodeXmlEntities(xml.substr(gt + 1, end - gt - 1));
    }
    pos = after;
  }
  return std::nullopt;
}

}  // namespace mlflow_bridge::internal
