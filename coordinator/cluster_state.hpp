// What the scheduler knows of the cluster at one instant: each node's condition, each
// primitive's role on each node (as the agents reported it), and failure records. The
// coordinator builds it from membership and agent reports; `hactl simulate` reads it from a
// file. Data with lookups (cluster_state.cpp): no decisions, no I/O.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cluster_doc.hpp"
#include "common/config.hpp"
#include "common/types.hpp"

namespace hactl {

enum class NodeCondition {
  kOnline,
  kStandby,  // in the cluster, runs nothing
  kOffline,  // gone, and its lease is over: it runs nothing
  kUnclean,  // gone, but its lease may still be valid: what it ran may still run there
  // An operator put it in maintenance: what runs there is left alone (not monitored, stopped,
  // or started elsewhere) and nothing new is placed there, whether it is up or not.
  kMaintenance,
};
// Whatever is active on a node in this condition stays and is not acted on.
inline bool frozen(NodeCondition c) {
  return c == NodeCondition::kUnclean || c == NodeCondition::kMaintenance;
}
std::string_view to_string(NodeCondition c);

struct FailureRecord {
  int count = 0;
  Instant last{};
  bool operator==(const FailureRecord&) const = default;
};

struct ClusterState {
  Instant now{};
  std::vector<NodeCondition> nodes;  // by NodeId
  // primitive id -> role on each node (absent: stopped everywhere)
  std::map<std::string, std::vector<ResourceRole>> roles;
  // primitive id -> on each node, whether its last monitor failed and it awaits recovery
  std::map<std::string, std::vector<bool>> failed;
  // primitive id -> on each offline node, whether it may still be active there: the node's
  // lease is over but the resource's takeover_delay is not (its role is kept in `roles`)
  std::map<std::string, std::vector<bool>> settling;
  // primitive id -> failures on each node
  std::map<std::string, std::vector<FailureRecord>> failures;
  // By NodeId: since when the node has been online without a break (failback after); empty,
  // or Instant::min() for a node: longer than any failback delay.
  std::vector<Instant> online_since;
  // Top-level resources flap damping holds (ClusterDoc::held) -> why ("7 moves within 1h"):
  // they move only when they cannot stay where they run.
  std::map<std::string, std::string> held;
  // By NodeId (empty: none): the node attributes in force (attributes_in_force), promotion
  // scores (master-PRIMITIVE) among them.
  NodeAttributes attributes;
  // The promotion score a node's attribute gives `primitive` there (crm_master), if any.
  std::optional<int> promotion_score(const std::string& primitive, NodeId node) const;
  // What a location rule reads on node `node` (common/rule.hpp): its attributes in force and
  // the built-ins (#uname, #id, ...). Views into `config` and this state.
  RuleInput rule_input(const ClusterConfig& config, std::size_t node) const;

  ResourceRole role(const std::string& primitive, NodeId node) const;
  bool is_failed(const std::string& primitive, NodeId node) const;
  bool is_settling(const std::string& primitive, NodeId node) const;
  // Failures that still count (younger than failure_timeout; 0 = never forgotten).
  int fail_count(const PrimitiveConfig& p, NodeId node) const;
  // The same cluster, perhaps at another instant.
  bool same_but_now(const ClusterState& o) const {
    return nodes == o.nodes && roles == o.roles && failed == o.failed && settling == o.settling &&
           failures == o.failures && online_since == o.online_since && held == o.held &&
           attributes == o.attributes;
  }
};

}  // namespace hactl
