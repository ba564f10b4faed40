// The agent's control verbs, listed once (kControlVerbs: the verb, its name on the wire and
// whether it reads or changes the cluster) for the CLI that builds requests and the agent that
// dispatches them; and a request line, parsed: one JSON object whose "cmd" names a verb of the
// list. Pure (no agent state, no I/O), so the control server and the fuzzer (tests/fuzz) run the
// same code. The operands stay in `body`; each verb's handler reads its own.
#pragma once

#include <array>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace hactl {

enum class ControlAccess { kRead, kWrite };

enum class ControlVerb {
  kStatus,
  kConfigShow,
  kConfigHistory,
  kConfigCheck,
  kEvents,
  kSimulate,
  kExplain,
  kNodeStandby,
  kNodeOnline,
  kNodeMaintenance,
  kCleanup,
  kResourceMove,
  kResourceBan,
  kResourceClear,
  kResourceEnable,
  kResourceDisable,
  kResourceRestart,
  kConfigApply,
  kCoordinatorHandover,
  kClusterUnblock,
  kAttributeSet,
  kAttributeDelete,
  kAttributeQuery,
};

struct ControlVerbInfo {
  ControlVerb verb;
  std::string_view wire;  // the request's "cmd"
  ControlAccess access;
};

inline constexpr std::array<ControlVerbInfo, 23> kControlVerbs = {{
    {ControlVerb::kStatus, "status", ControlAccess::kRead},
    {ControlVerb::kConfigShow, "config-show", ControlAccess::kRead},
    {ControlVerb::kConfigHistory, "config-history", ControlAccess::kRead},
    {ControlVerb::kConfigCheck, "config-check", ControlAccess::kRead},
    {ControlVerb::kEvents, "events", ControlAccess::kRead},
    {ControlVerb::kSimulate, "simulate", ControlAccess::kRead},
    {ControlVerb::kExplain, "explain", ControlAccess::kRead},
    {ControlVerb::kNodeStandby, "node-standby", ControlAccess::kWrite},
    {ControlVerb::kNodeOnline, "node-online", ControlAccess::kWrite},
    {ControlVerb::kNodeMaintenance, "node-maintenance", ControlAccess::kWrite},
    {ControlVerb::kCleanup, "cleanup", ControlAccess::kWrite},
    {ControlVerb::kResourceMove, "resource-move", ControlAccess::kWrite},
    {ControlVerb::kResourceBan, "resource-ban", ControlAccess::kWrite},
    {ControlVerb::kResourceClear, "resource-clear", ControlAccess::kWrite},
    {ControlVerb::kResourceEnable, "resource-enable", ControlAccess::kWrite},
    {ControlVerb::kResourceDisable, "resource-disable", ControlAccess::kWrite},
    {ControlVerb::kResourceRestart, "resource-restart", ControlAccess::kWrite},
    {ControlVerb::kConfigApply, "config-apply", ControlAccess::kWrite},
    {ControlVerb::kCoordinatorHandover, "coordinator-handover", ControlAccess::kWrite},
    {ControlVerb::kClusterUnblock, "cluster-unblock", ControlAccess::kWrite},
    {ControlVerb::kAttributeSet, "attribute-set", ControlAccess::kWrite},
    {ControlVerb::kAttributeDelete, "attribute-delete", ControlAccess::kWrite},
    {ControlVerb::kAttributeQuery, "attribute-query", ControlAccess::kRead},
}};

// In the enum's order, so that a verb is its own index.
constexpr bool verbs_in_order() {
  for (std::size_t i = 0; i < kControlVerbs.size(); ++i) {
    if (static_cast<std::size_t>(kControlVerbs[i].verb) != i) return false;
  }
  return true;
}
static_assert(verbs_in_order());
static_assert(static_cast<std::size_t>(ControlVerb::kAttributeQuery) + 1 == kControlVerbs.size());

const ControlVerbInfo& verb_info(ControlVerb v);
inline std::string_view wire_name(ControlVerb v) { return verb_info(v).wire; }
// The verb of a request's "cmd", or nullopt for one the agent does not know.
std::optional<ControlVerb> control_verb(std::string_view cmd);
// A request of this verb without operands: {"cmd": NAME}.
nlohmann::json control_body(ControlVerb v);

struct ControlRequest {
  std::string cmd;
  ControlVerb verb = ControlVerb::kStatus;
  ControlAccess access = ControlAccess::kRead;
  nlohmann::json body;  // the whole object, "cmd" included
};

// The verb's access, or nullopt for a verb the agent does not know.
std::optional<ControlAccess> control_access(std::string_view cmd);

// A request, or the answer to give instead ("malformed request: ...", "unknown command ...").
// Never throws.
std::expected<ControlRequest, std::string> parse_control_request(std::string_view line);

}  // namespace hactl
