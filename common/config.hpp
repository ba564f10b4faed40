// The cluster configuration model: what one YAML file describes, after parsing and validation.
// A ClusterConfig that exists has passed validate(): names unique, addresses parse, timing safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fencing_config.hpp"
#include "common/resource_config.hpp"
#include "common/types.hpp"

namespace hactl {

enum class NoQuorumPolicy { kStop, kFreeze, kIgnore };
std::string_view to_string(NoQuorumPolicy p);

struct NodeAddress {
  std::string host;  // numeric IPv4 or IPv6 literal (no brackets)
  std::uint16_t port = 0;
  bool operator==(const NodeAddress&) const = default;
  std::string to_string() const;  // "10.0.0.1:5405" or "[fe80::1]:5405"
};

struct NodeConfig {
  std::string name;
  NodeAddress address;
  bool witness = false;  // votes, never runs resources, never stands for coordinator
  // What resources may use here (name -> amount; `utilization` of resources): a name the node
  // does not list is unlimited on it. Applied without a restart.
  std::map<std::string, int> capacity;
  // The cluster's arbiter (`arbiter:` in the YAML, a hactl-arbiter elsewhere): listed last among
  // the nodes as a witness, asked only while a peer is silent (docs/pairs.md).
  bool arbiter = false;
};

struct TimingConfig {
  Duration heartbeat_interval = std::chrono::milliseconds{100};
  Duration node_timeout = std::chrono::milliseconds{300};
};

// One alert hook (`alerts:` in the YAML): an executable run on events, the event in its
// environment (agent/alert_runner.hpp, docs/alerts.md).
struct AlertConfig {
  static constexpr std::size_t kMaxAlerts = 32;
  static constexpr int kMaxRetries = 10;
  static constexpr Duration kMaxTimeout = std::chrono::minutes{10};
  static constexpr Duration kMaxRetryDelay = std::chrono::hours{1};
  static constexpr std::size_t kMaxKindLength = 64;  // EventLogLimits::max_key_bytes

  std::string id;                                  // unique; default: the path's basename
  std::string path;                                // absolute path of an executable
  Duration timeout = std::chrono::seconds{30};     // then killed (SIGTERM, then SIGKILL)
  std::vector<std::string> kinds;                  // event kinds to run on; empty: every kind
  int retries = 2;                                 // further attempts after a failed one
  Duration retry_delay = std::chrono::seconds{5};  // between a failed attempt and the next
  bool operator==(const AlertConfig&) const = default;

  bool wants(std::string_view kind) const;
};

struct ClusterConfig {
  std::string name;
  std::string auth_key_file;
  std::string state_dir = "/var/lib/hactl";
  std::string control_socket = "/run/hactl/hactl.sock";
  // Control socket access: read verbs for this group's members, write verbs for root and the
  // admin group's members ("" : root only).
  std::string read_group = "haclient";
  // Prometheus text on http://ADDRESS/metrics; loopback unless the operator says otherwise,
  // "" for none.
  std::string metrics_address = "127.0.0.1:9405";
  std::string admin_group;
  TimingConfig timing;
  NoQuorumPolicy no_quorum_policy = NoQuorumPolicy::kStop;
  // `two_node: true` (docs/pairs.md): a pair without a third vote, kept safe by fencing. A node
  // that loses its peer keeps what it runs, fences the peer (the race is decided by the fence
  // devices' `delay`), and counts a peer fenced in its current boot, or gone after leaving
  // cleanly, as backing it. Requires two nodes, no witness or arbiter, and a fence device for
  // each; no_quorum_policy is freeze.
  bool two_node = false;
  // With two_node (its default): a node that started fences nobody until it has run with its
  // peer once (its peer's grant and the coordinator's document of that term), or an operator
  // ran `hactl cluster unblock`; so a fenced node that boots alone cannot fence the survivor.
  bool wait_for_all = false;
  // `last_resort: unsafe_take_over` (two_node, no fence device): a node that loses its peer
  // takes it as dead after node_timeout and runs everything, as if it had fenced it. A cut link
  // runs everything on both nodes until it heals. Opt-in and named unsafe (docs/pairs.md).
  bool last_resort_unsafe = false;
  // Defaults for every resource (its meta overrides them). No failback: the scores decide.
  std::optional<Failback> failback;
  FlapDamping flap_damping;
  std::vector<NodeConfig> nodes;
  // The round trip to the arbiter the timing must allow for (`arbiter: {rtt: ...}`): an election
  // through it is answered within the vote's lease only if node_timeout >= 2 x rtt + h.
  Duration arbiter_rtt = std::chrono::milliseconds{50};
  ResourceConfig resources;
  std::vector<AlertConfig> alerts;
  FencingConfig fencing;  // fencing: (none: a lost node's resources wait for its lease)
  // A digest of the file's text. Agents act on each other's resource reports and requests only
  // when their ids match: resources travel on the wire as indexes into this file's list.
  std::uint64_t config_id = 0;

  std::optional<NodeId> find_node(std::string_view node_name) const;
  const NodeConfig& node(NodeId id) const { return nodes.at(id.value); }
  std::size_t voters() const { return nodes.size(); }
  std::size_t majority() const { return nodes.size() / 2 + 1; }
  std::optional<NodeId> arbiter() const;  // the arbiter's place in `nodes`, if there is one
  // The nodes that may run resources: neither witnesses nor the arbiter.
  std::size_t resource_nodes() const;
};

// A 64-bit BLAKE2b digest of a text (config ids, document digests); the same on every node.
std::uint64_t text_digest(std::string_view text);

// One problem in a config file, located as precisely as the YAML allows.
struct ConfigError {
  std::string file;
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;    // 1-based; 0 when unknown
  std::string path;  // field path, e.g. "nodes[1].address"
  std::string message;
  std::string to_string() const;  // "file:line:column: path: message"
};

struct ConfigWarning {
  std::string path;
  std::string message;
};

struct LoadedConfig {
  ClusterConfig config;
  std::vector<ConfigWarning> warnings;
};

// Parse and validate. `file` is used only to name the source in errors.
std::expected<LoadedConfig, std::vector<ConfigError>> parse_config(std::string_view yaml_text,
                                                                   std::string_view file);
std::expected<LoadedConfig, std::vector<ConfigError>> load_config_file(const std::string& path);

// "100ms", "2s", "1.5s", "250us", "1m". A bare number is an error (the unit is required).
std::expected<Duration, std::string> parse_duration(std::string_view text);
std::string format_duration(Duration d);

// How long past the end of its last lease a restarted agent keeps the resources it finds
// running, waiting for a new lease, before it stops them (Keeper).
inline Duration restart_grace(const TimingConfig& t) { return 3 * t.node_timeout; }

// Whether a node that loses its lease stops this primitive: its meta on_quorum_loss, else the
// cluster's no_quorum_policy (stop; freeze and ignore keep what runs).
inline bool stops_without_quorum(const PrimitiveConfig& p, NoQuorumPolicy cluster) {
  return p.on_quorum_loss ? *p.on_quorum_loss == QuorumLoss::kStop
                          : cluster == NoQuorumPolicy::kStop;
}

}  // namespace hactl
