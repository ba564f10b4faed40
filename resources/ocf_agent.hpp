// OCF resource agents (the OCF Resource Agent API 1.1, as Pacemaker runs them): how an action
// is invoked (program, argument, environment) and what its exit code means. Also the plain
// `exec` class: an LSB-style script with start/stop/status. Pure: builds ProcessSpecs and reads
// codes; running them is process_runner's job.
#pragma once

#include <string>
#include <string_view>

#include "common/resource_config.hpp"
#include "resources/process_runner.hpp"

namespace hactl {

// OCF exit codes (OCF RA API section "Return codes").
enum class OcfCode : int {
  kSuccess = 0,
  kErrGeneric = 1,
  kErrArgs = 2,
  kErrUnimplemented = 3,
  kErrPerm = 4,
  kErrInstalled = 5,
  kErrConfigured = 6,
  kNotRunning = 7,
  kRunningPromoted = 8,
  kFailedPromoted = 9,
};
std::string_view describe(OcfCode c);  // "not running", "running promoted", ...
// Any exit code, mapped into the OCF range (unknown codes are generic errors).
OcfCode ocf_code(int exit_code);

inline constexpr const char* kDefaultOcfRoot = "/usr/lib/ocf";
// OCF_ROOT/resource.d/PROVIDER/TYPE: the program an ocf:PROVIDER:TYPE primitive runs.
std::string ocf_agent_path(std::string_view ocf_root, std::string_view provider,
                           std::string_view type);

// `action` is start, stop, monitor, promote, demote, notify, meta-data or validate-all.
ProcessSpec ocf_spec(const PrimitiveConfig& p, std::string_view action, Duration timeout,
                     Duration interval = Duration{0},
                     const std::string& ocf_root = kDefaultOcfRoot);

// exec:SCRIPT: `monitor` runs `SCRIPT status`. Its LSB status codes become OCF codes with
// exec_code (0 running, 3 not running, anything else an error).
ProcessSpec exec_spec(const PrimitiveConfig& p, std::string_view action, Duration timeout);
OcfCode exec_code(std::string_view action, int exit_code);

}  // namespace hactl
