// OCF resource agents (the OCF Resource Agent API 1.1, as Pacemaker runs them): how an action
// is invoked (program, argument, environment) and what its exit code means. Also the plain
// `exec` class: an LSB-style script with start/stop/status. Pure: builds ProcessSpecs and reads
// codes; running them is process_runner's job.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/clone_notification.hpp"
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

inline constexpr const char* kDefaultToolsDir = "/usr/lib/hactl/bin";
// The CRM feature set of the Pacemaker hactl's commands answer as (Debian 12's 2.1.5).
inline constexpr const char* kCrmFeatureSet = "3.16.2";

// What every agent hactl runs is told besides its primitive's parameters.
struct OcfContext {
  std::string ocf_root = kDefaultOcfRoot;
  // hactl's own Pacemaker commands (crm_attribute, crm_master, crm_mon, ...:
  // docs/pacemaker-tools.md): HA_SBIN_DIR, and the front of PATH, so agents that call them
  // find hactl's and a Pacemaker on the same host is never used. "": neither is set.
  std::string tools_dir;
  std::string socket;  // the local agent's control socket, for those commands (HACTL_SOCKET)
  // Set: why the local agent cannot answer (HACTL_CRM_OFFLINE), so those commands say "not
  // connected" at once instead of waiting on a stopped agent's socket (the guard's stops).
  std::string tools_offline;
  std::string node;  // this node's name (OCF_RESKEY_CRM_meta_on_node)
  // The clone meta of each primitive that runs in a clone (ocf_clone_env), by primitive id.
  std::map<std::string, std::vector<std::string>, std::less<>> clone_env;
  // For notify calls (ocf_notify_env): every node's name by index, and the nodes that may run
  // resources (neither witnesses nor the arbiter).
  std::vector<std::string> node_names;
  std::vector<std::uint16_t> resource_nodes;
};

// The meta attributes Pacemaker gives a clone instance's agent: OCF_RESKEY_CRM_meta_clone_max,
// clone_node_max, notify, globally_unique, and for a promotable clone promoted_max and
// promoted_node_max (with their old names master_max, master_node_max), by primitive id, for
// every primitive in a clone. `nodes`: how many nodes may run resources (clone_max 0).
std::map<std::string, std::vector<std::string>, std::less<>> ocf_clone_env(const ResourceConfig& rc,
                                                                           std::size_t nodes);

// The OCF_RESKEY_CRM_meta_notify_* of one `notify` call of an instance of `primitive`
// (Pacemaker Explained, clone notifications): notify_type and notify_operation, then for start,
// stop, promote, demote, active, promoted and unpromoted (with their old names master and slave)
// the instances as _resource (PRIMITIVE:N, N the node's index: one instance per node) and their
// nodes as _uname; inactive_resource (available, not active); all_uname (`all`, every node that
// may run resources) and available_uname. An empty list is a single space, as Pacemaker gives
// it. `node_names` by node index.
std::vector<std::string> ocf_notify_env(const CloneNotification& n, std::string_view primitive,
                                        const std::vector<std::string>& node_names,
                                        const std::vector<std::uint16_t>& all);

// `action` is start, stop, monitor, promote, demote, notify, meta-data or validate-all.
ProcessSpec ocf_spec(const PrimitiveConfig& p, std::string_view action, Duration timeout,
                     Duration interval = Duration{0}, const OcfContext& context = {});

// exec:SCRIPT: `monitor` runs `SCRIPT status`. Its LSB status codes become OCF codes with
// exec_code (0 running, 3 not running, anything else an error).
ProcessSpec exec_spec(const PrimitiveConfig& p, std::string_view action, Duration timeout);
OcfCode exec_code(std::string_view action, int exit_code);

}  // namespace hactl
