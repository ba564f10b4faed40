#include "common/event.hpp"

#include <algorithm>
#include <array>

namespace hactl {
namespace {

constexpr std::array kKindNames = {
#define HACTL_EVENT_KIND_NAME(name, text) std::string_view(text),
    HACTL_EVENT_KINDS(HACTL_EVENT_KIND_NAME)
#undef HACTL_EVENT_KIND_NAME
};

bool needs_quotes(std::string_view v) {
  return v.empty() || v.find_first_of(" \"=\\\n\r\t") != std::string_view::npos;
}

void append_quoted(std::string& out, std::string_view v) {
  out += '"';
  for (const char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string_view to_string(EventKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < kKindNames.size() ? kKindNames[i] : std::string_view("unknown");
}

std::optional<EventKind> event_kind_named(std::string_view name) {
  const auto it = std::find(kKindNames.begin(), kKindNames.end(), name);
  if (it == kKindNames.end()) return std::nullopt;
  return static_cast<EventKind>(it - kKindNames.begin());
}

std::span<const std::string_view> event_kind_names() { return kKindNames; }

const EventValue* Event::find(std::string_view key) const {
  const auto it =
      std::find_if(fields.begin(), fields.end(), [&](const EventField& f) { return f.key == key; });
  return it == fields.end() ? nullptr : &it->value;
}

std::string Event::str(std::string_view key) const {
  const EventValue* v = find(key);
  return v ? to_string(*v) : std::string();
}

std::optional<std::int64_t> Event::integer(std::string_view key) const {
  const EventValue* v = find(key);
  if (v == nullptr || !std::holds_alternative<std::int64_t>(*v)) return std::nullopt;
  return std::get<std::int64_t>(*v);
}

std::optional<bool> Event::flag(std::string_view key) const {
  const EventValue* v = find(key);
  if (v == nullptr || !std::holds_alternative<bool>(*v)) return std::nullopt;
  return std::get<bool>(*v);
}

std::string to_string(const EventValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* n = std::get_if<std::int64_t>(&value)) return std::to_string(*n);
  return std::get<bool>(value) ? "true" : "false";
}

std::string format_event(const Event& e) {
  std::string out = "event=";
  out += to_string(e.kind);
  for (const EventField& f : e.fields) {
    out += ' ';
    out += f.key;
    out += '=';
    const std::string v = to_string(f.value);
    if (f.quoted || needs_quotes(v)) {
      append_quoted(out, v);
    } else {
      out += v;
    }
  }
  return out;
}

std::map<std::string, std::string> history_fields(const Event& e) {
  std::map<std::string, std::string> out;
  for (const EventField& f : e.fields) {
    if (f.key.empty()) continue;
    std::string name = f.key;
    for (int n = 2; out.contains(name) && n < 100; ++n) name = f.key + "_" + std::to_string(n);
    out.emplace(std::move(name), to_string(f.value));
  }
  if (e.warning()) out.emplace("level", "warning");
  return out;
}

}  // namespace hactl
