#include "common/control_request.hpp"

#include <array>

namespace hactl {
namespace {

constexpr std::array<std::string_view, 7> kReads = {
    "status", "config-show", "config-history", "config-check", "events", "simulate", "explain"};
constexpr std::array<std::string_view, 12> kWrites = {
    "node-maintenance", "cleanup",      "node-standby",         "node-online",
    "resource-move",    "resource-ban", "resource-clear",       "resource-enable",
    "resource-disable", "config-apply", "coordinator-handover", "cluster-unblock"};

}  // namespace

std::optional<ControlAccess> control_access(std::string_view cmd) {
  for (const auto r : kReads) {
    if (r == cmd) return ControlAccess::kRead;
  }
  for (const auto w : kWrites) {
    if (w == cmd) return ControlAccess::kWrite;
  }
  return std::nullopt;
}

std::expected<ControlRequest, std::string> parse_control_request(std::string_view line) {
  ControlRequest r;
  r.body = nlohmann::json::parse(line, nullptr, false);
  if (r.body.is_discarded() || !r.body.is_object()) {
    return std::unexpected("malformed request: expected one JSON object per line");
  }
  try {
    r.cmd = r.body.value("cmd", std::string());
  } catch (const nlohmann::json::exception& e) {  // {"cmd": 1}
    return std::unexpected(std::string("malformed request: ") + e.what());
  }
  const auto access = control_access(r.cmd);
  if (!access) return std::unexpected("unknown command '" + r.cmd + "'");
  r.access = *access;
  return r;
}

}  // namespace hactl
