// A request line of the agent's control socket, parsed: one JSON object whose "cmd" is a verb
// the agent knows, and whether that verb reads or changes the cluster. Pure (no agent state, no
// I/O), so the control server and the fuzzer (tests/fuzz) run the same code. The operands stay
// in `body`; each verb's handler reads its own.
#pragma once

#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace hactl {

enum class ControlAccess { kRead, kWrite };

struct ControlRequest {
  std::string cmd;
  ControlAccess access = ControlAccess::kRead;
  nlohmann::json body;  // the whole object, "cmd" included
};

// The verb's access, or nullopt for a verb the agent does not know.
std::optional<ControlAccess> control_access(std::string_view cmd);

// A request, or the answer to give instead ("malformed request: ...", "unknown command ...").
// Never throws.
std::expected<ControlRequest, std::string> parse_control_request(std::string_view line);

}  // namespace hactl
