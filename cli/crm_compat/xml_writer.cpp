#include "cli/crm_compat/xml_writer.hpp"

#include <cassert>

namespace hactl::crm {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\n':
        out += "&#10;";
        break;  // kept through attribute-value normalisation
      case '\r':
        out += "&#13;";
        break;
      case '\t':
        out += "&#9;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\xEF\xBF\xBD";  // U+FFFD: not representable in XML 1.0
        } else {
          out += c;
        }
    }
  }
  return out;
}

void XmlWriter::start(std::string_view tag, const XmlAttrs& attrs) {
  out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
  out_ += '<';
  out_ += tag;
  for (const auto& [name, value] : attrs) {
    out_ += ' ';
    out_ += name;
    out_ += "=\"";
    out_ += xml_escape(value);
    out_ += '"';
  }
}

void XmlWriter::open(std::string_view tag, const XmlAttrs& attrs) {
  start(tag, attrs);
  out_ += ">\n";
  ++depth_;
}

void XmlWriter::leaf(std::string_view tag, const XmlAttrs& attrs) {
  start(tag, attrs);
  out_ += "/>\n";
}

void XmlWriter::close(std::string_view tag) {
  assert(depth_ > 0);  // every close has its open
  --depth_;
  out_.append(static_cast<std::size_t>(depth_) * 2, ' ');
  out_ += "</";
  out_ += tag;
  out_ += ">\n";
}

}  // namespace hactl::crm
