// A small writer of indented XML, one element per line (agents grep crm_mon's output line by
// line: pgsql's `<node name="$1" .* online="true"` must find a node's attributes on one line).
// Every attribute value is escaped: names and values come from the cluster's configuration and
// from resource agents, so they may hold quotes, angle brackets, ampersands, newlines or control
// characters. XML 1.0 cannot carry most control characters at all, even as references: they
// become U+FFFD.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hactl::crm {

// Text safe inside a double-quoted XML attribute (and in character data).
std::string xml_escape(std::string_view text);

using XmlAttrs = std::vector<std::pair<std::string_view, std::string>>;

class XmlWriter {
 public:
  void open(std::string_view tag, const XmlAttrs& attrs = {});
  void leaf(std::string_view tag, const XmlAttrs& attrs = {});
  void close(std::string_view tag);
  const std::string& text() const { return out_; }

 private:
  void start(std::string_view tag, const XmlAttrs& attrs);
  std::string out_;
  int depth_ = 0;
};

inline std::string xml_bool(bool b) { return b ? "true" : "false"; }

}  // namespace hactl::crm
