#include "common/names.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace hactl {
namespace {

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// A byte as a person can read it in a message: ';' or, unprintable, byte 0x0a.
std::string shown(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f) return std::string("'") + c + "'";
  std::array<char, 16> buf{};
  std::snprintf(buf.data(), buf.size(), "byte 0x%02x", u);
  return buf.data();
}

// The first byte of `s` that `ok` refuses, if any.
template <typename Ok>
std::optional<char> first_bad(std::string_view s, Ok ok) {
  const auto it = std::find_if_not(s.begin(), s.end(), ok);
  if (it == s.end()) return std::nullopt;
  return *it;
}

constexpr std::array<std::string_view, 8> kStartableUnitTypes = {
    "service", "socket", "target", "mount", "automount", "swap", "timer", "path"};

}  // namespace

std::optional<std::string> interface_name_problem(std::string_view name) {
  if (name.empty() || name.size() > kMaxInterfaceName) {
    return "an interface name is 1 to " + std::to_string(kMaxInterfaceName) + " bytes, got " +
           std::to_string(name.size());
  }
  if (name == "." || name == "..") return "'" + std::string(name) + "' is not an interface name";
  if (const auto bad =
          first_bad(name, [](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; })) {
    return "an interface name is A-Z a-z 0-9 _ . - only, got " + shown(*bad);
  }
  return std::nullopt;
}

std::optional<std::string> unit_name_problem(std::string_view name) {
  if (name.empty() || name.size() > kMaxUnitName) {
    return "a unit name is 1 to " + std::to_string(kMaxUnitName) + " bytes";
  }
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "a unit name needs a NAME before .TYPE";
  const std::string_view type = name.substr(dot + 1);
  if (std::find(kStartableUnitTypes.begin(), kStartableUnitTypes.end(), type) ==
      kStartableUnitTypes.end()) {
    return "'." + std::string(type) +
           "' is not a unit type hactl can start (service, socket, target, mount, automount, "
           "swap, timer, path)";
  }
  const std::string_view stem = name.substr(0, dot);
  if (const auto bad = first_bad(stem, [](char c) {
        return alnum(c) || c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@';
      })) {
    return "a unit name is A-Z a-z 0-9 : - _ . \\ and @ before an instance, got " + shown(*bad);
  }
  const auto at = stem.find('@');
  if (at == 0) return "a unit name needs a NAME before @";
  if (at != std::string_view::npos && at + 1 == stem.size()) {
    return "'" + std::string(name) + "' is a template: name an instance, e.g. " +
           std::string(stem) + "INSTANCE." + std::string(type);
  }
  return std::nullopt;
}

std::optional<std::string> path_component_problem(std::string_view component) {
  if (component.empty() || component.size() > kMaxPathComponent) {
    return "must be 1 to " + std::to_string(kMaxPathComponent) + " bytes";
  }
  if (component.front() == '.' || component.front() == '-') {
    return "must not start with " + shown(component.front());
  }
  if (const auto bad = first_bad(
          component, [](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; })) {
    return "must be A-Z a-z 0-9 _ . - only, got " + shown(*bad);
  }
  return std::nullopt;
}

std::optional<std::string> program_path_problem(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.back() == '/') {
    return "must be the absolute path of an executable file";
  }
  if (path.size() > kMaxProgramPath) {
    return "must be at most " + std::to_string(kMaxProgramPath) + " bytes";
  }
  if (const auto bad = first_bad(path, [](char c) {
        return alnum(c) || c == '/' || c == '_' || c == '.' || c == '-' || c == '+' || c == '@' ||
               c == ':';
      })) {
    return "must be A-Z a-z 0-9 / _ . - + @ : only, got " + shown(*bad);
  }
  for (std::size_t begin = 1; begin <= path.size();) {
    const auto end = std::min(path.find('/', begin), path.size());
    const std::string_view part = path.substr(begin, end - begin);
    if (part.empty() || part == "." || part == "..") {
      return "must not have an empty, '.' or '..' component";
    }
    begin = end + 1;
  }
  return std::nullopt;
}

bool valid_fence_agent_name(std::string_view name) {
  constexpr std::string_view kPrefix = "fence_";
  if (!name.starts_with(kPrefix) || name.size() == kPrefix.size() || name.size() > 64) {
    return false;
  }
  return std::all_of(name.begin() + kPrefix.size(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace hactl
