#include "agent/event_sink.hpp"

#include <cctype>

namespace hactl {
namespace {

// Whether `rest` starts a new field: " key=" (or it is the end of the line).
bool field_follows(std::string_view rest) {
  if (rest.empty()) return true;
  if (rest[0] != ' ') return false;
  std::size_t i = 1;
  while (i < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[i])) || rest[i] == '_'))
    ++i;
  return i > 1 && i < rest.size() && rest[i] == '=';
}

}  // namespace

std::optional<std::pair<std::string, std::map<std::string, std::string>>> parse_event_fields(
    std::string_view line) {
  if (!line.starts_with("event=")) return std::nullopt;
  std::string kind;
  std::map<std::string, std::string> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const std::size_t eq = line.find('=', i);
    const std::size_t space = line.find(' ', i);
    if (eq == std::string_view::npos || (space != std::string_view::npos && space < eq)) {
      // A word without "=": not a field; skip it.
      i = space == std::string_view::npos ? line.size() : space;
      continue;
    }
    std::string key(line.substr(i, eq - i));
    std::string value;
    std::size_t j = eq + 1;
    if (j < line.size() && line[j] == '"') {
      // Quoted: up to the quote that ends the line or is followed by the next " key=".
      std::size_t end = j + 1;
      while (end < line.size() && !(line[end] == '"' && field_follows(line.substr(end + 1)))) {
        ++end;
      }
      value = std::string(line.substr(j + 1, std::min(end, line.size()) - j - 1));
      i = end + 1;
    } else {
      const std::size_t end = line.find(' ', j);
      value = std::string(line.substr(j, end == std::string_view::npos ? line.npos : end - j));
      i = end == std::string_view::npos ? line.size() : end;
    }
    if (key == "event" && kind.empty()) {
      kind = value;
      continue;
    }
    if (key.empty()) continue;
    std::string name = key;
    for (int n = 2; fields.count(name) != 0 && n < 100; ++n) name = key + "_" + std::to_string(n);
    fields.emplace(std::move(name), std::move(value));
  }
  if (kind.empty()) return std::nullopt;
  return std::make_pair(std::move(kind), std::move(fields));
}

void EventSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (!on_event_ || std::this_thread::get_id() != owner_) return;
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  auto parsed = parse_event_fields(payload);
  if (!parsed) return;
  if (msg.level >= spdlog::level::warn) parsed->second.emplace("level", "warning");
  on_event_(std::move(parsed->first), std::move(parsed->second));
}

}  // namespace hactl
