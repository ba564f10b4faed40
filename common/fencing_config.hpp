// Fencing in the configuration (`fencing:`): fence devices, run through the standard fence-agent
// interface (Debian's fence-agents: the arguments on standard input as name=value lines), and
// per-node levels: try the devices of level 1, and if any of them fails, those of level 2, and
// so on. A level succeeds when every device in it succeeds (two power supplies, two PDUs).
//
//   fencing:
//     devices:
//       - id: ipmi-alpha
//         agent: fence_ipmilan             # in /usr/sbin, or an absolute path
//         params: {ip: 192.0.2.101, username: admin, password: secret, lanplus: "1"}
//         nodes: [alpha]                   # the nodes it can fence
//         host_map: {alpha: "1"}           # the plug for each node (default: the node's name)
//         action: off                      # off (default) or reboot
//         timeout: 60s
//     levels:
//       alpha: [[ipmi-alpha], [pdu-a, pdu-b]]
//
// Without levels for a node, each device that lists the node is a level of its own, in the
// order of the file. hactl sets `action` and `plug` itself: params may not.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace YAML {
class Node;
}

namespace hactl {

class YamlReader;
struct ClusterConfig;

enum class FenceAction { kOff, kReboot };
std::string_view to_string(FenceAction a);

struct FenceDevice {
  static constexpr Duration kDefaultTimeout = std::chrono::seconds{60};
  static constexpr Duration kMaxTimeout = std::chrono::minutes{10};
  std::string id;
  std::string agent;  // an absolute path, resolved from a bare fence_* name to /usr/sbin
  std::map<std::string, std::string> params;
  std::vector<std::string> nodes;               // node names it can fence
  std::map<std::string, std::string> host_map;  // node name -> plug
  FenceAction action = FenceAction::kOff;
  Duration timeout = kDefaultTimeout;
  // Waited before each off or reboot by this device (Pacemaker's pcmk_delay_base): in a pair's
  // fence race, the node this device fences is the one that waits to be shot, so it wins.
  Duration delay{0};
  static constexpr Duration kMaxDelay = std::chrono::minutes{5};

  bool can_fence(std::string_view node) const;
  std::string plug_for(const std::string& node) const;  // host_map, or the node's name
  // The name=value lines given to the agent on standard input to fence `node`.
  std::string stdin_for(const std::string& node) const {
    return stdin_for(node, to_string(action));
  }
  std::string stdin_for(const std::string& node, std::string_view action) const;
};

struct FencingConfig {
  std::vector<FenceDevice> devices;
  std::map<std::string, std::vector<std::vector<std::string>>> levels;  // node -> levels

  bool enabled() const { return !devices.empty(); }
  const FenceDevice* device(std::string_view id) const;
  // The levels to try for `node`, as device ids: the configured ones, or one level per device
  // that can fence it. Empty: the node cannot be fenced.
  std::vector<std::vector<std::string>> levels_for(const std::string& node) const;
};

// Loads `fencing:` into config.fencing (the nodes must be loaded already).
void load_fencing(YamlReader& reader, const YAML::Node& n, ClusterConfig& config);

}  // namespace hactl
