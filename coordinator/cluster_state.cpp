#include "coordinator/cluster_state.hpp"

#include "common/yaml_reader.hpp"

namespace hactl {

std::string_view to_string(NodeCondition c) {
  switch (c) {
    case NodeCondition::kOnline:
      return "online";
    case NodeCondition::kStandby:
      return "standby";
    case NodeCondition::kOffline:
      return "offline";
    case NodeCondition::kUnclean:
      return "unclean";
    case NodeCondition::kMaintenance:
      return "maintenance";
  }
  return "unknown";
}

ResourceRole ClusterState::role(const std::string& primitive, NodeId node) const {
  const auto it = roles.find(primitive);
  return it == roles.end() ? ResourceRole::kStopped : it->second.at(node.value);
}

bool ClusterState::is_failed(const std::string& primitive, NodeId node) const {
  const auto it = failed.find(primitive);
  return it != failed.end() && it->second.at(node.value);
}

bool ClusterState::is_settling(const std::string& primitive, NodeId node) const {
  const auto it = settling.find(primitive);
  return it != settling.end() && it->second.at(node.value);
}

int ClusterState::fail_count(const PrimitiveConfig& p, NodeId node) const {
  const auto it = failures.find(p.id);
  if (it == failures.end()) return 0;
  const FailureRecord& f = it->second.at(node.value);
  const bool expired = p.failure_timeout > Duration::zero() && now - f.last >= p.failure_timeout;
  return expired ? 0 : f.count;
}

std::optional<int> ClusterState::promotion_score(const std::string& primitive, NodeId node) const {
  if (node.value >= attributes.size()) return std::nullopt;
  const auto& on = attributes[node.value];
  const auto it = on.find(promotion_attribute(primitive));
  if (it == on.end()) return std::nullopt;
  return parse_score(it->second);
}

RuleInput ClusterState::rule_input(const ClusterConfig& config, std::size_t node) const {
  RuleInput in;
  in.name = config.nodes.at(node).name;
  in.id = std::to_string(node + 1);  // crm_node -i: the 1-based position in the configuration
  in.cluster_name = config.name;
  if (node < attributes.size()) in.attributes = &attributes[node];
  return in;
}

}  // namespace hactl
