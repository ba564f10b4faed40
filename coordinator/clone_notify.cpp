#include "coordinator/clone_notify.hpp"

#include <algorithm>
#include <iterator>

namespace hactl {
namespace {

NotifyOperation operation_of(ActionKind k) {
  switch (k) {
    case ActionKind::kStart:
      return NotifyOperation::kStart;
    case ActionKind::kStop:
      return NotifyOperation::kStop;
    case ActionKind::kPromote:
      return NotifyOperation::kPromote;
    case ActionKind::kDemote:
      return NotifyOperation::kDemote;
  }
  return NotifyOperation::kStart;
}

// Pacemaker runs a clone's demotes, then stops, starts and promotes.
int rank(NotifyOperation o) {
  switch (o) {
    case NotifyOperation::kDemote:
      return 0;
    case NotifyOperation::kStop:
      return 1;
    case NotifyOperation::kStart:
      return 2;
    case NotifyOperation::kPromote:
      return 3;
  }
  return 0;
}

std::optional<std::uint32_t> index_of(const ClusterConfig& config, const std::string& id) {
  const PrimitiveConfig* p = config.resources.primitive(id);
  if (p == nullptr) return std::nullopt;
  return static_cast<std::uint32_t>(p - config.resources.primitives.data());
}

void add_sorted(std::vector<std::uint16_t>& list, std::uint16_t node) {
  const auto at = std::lower_bound(list.begin(), list.end(), node);
  if (at == list.end() || *at != node) list.insert(at, node);
}

std::vector<std::uint16_t>& list_of(CloneNotification& n, NotifyOperation o) {
  switch (o) {
    case NotifyOperation::kStart:
      return n.start;
    case NotifyOperation::kStop:
      return n.stop;
    case NotifyOperation::kPromote:
      return n.promote;
    case NotifyOperation::kDemote:
      return n.demote;
  }
  return n.start;
}

// Every action of `t` on the primitive, where it is active and promoted, where it may run.
CloneNotification lists_for(const ClusterConfig& config, const ClusterState& state,
                            const Transition& t, const std::string& primitive) {
  CloneNotification n;
  for (const PlannedAction& a : t.actions) {
    if (a.resource == primitive) add_sorted(list_of(n, operation_of(a.kind)), a.node.value);
  }
  const auto arbiter = config.arbiter();
  for (std::size_t i = 0; i < config.nodes.size(); ++i) {
    const NodeId node{static_cast<std::uint16_t>(i)};
    const ResourceRole role = state.role(primitive, node);
    if (role != ResourceRole::kStopped) n.active.push_back(node.value);
    if (role == ResourceRole::kPromoted) n.promoted.push_back(node.value);
    const bool runs_resources = !config.nodes[i].witness && (!arbiter || arbiter->value != i);
    if (runs_resources && i < state.nodes.size() && state.nodes[i] == NodeCondition::kOnline)
      n.available.push_back(node.value);
  }
  return n;
}

}  // namespace

std::vector<bool> notifying_primitives(const ClusterConfig& config) {
  const ResourceConfig& rc = config.resources;
  std::vector<bool> out(rc.primitives.size(), false);
  for (std::size_t i = 0; i < rc.primitives.size(); ++i) {
    const CloneConfig* c = rc.clone_of(rc.primitives[i].id);
    out[i] = c != nullptr && c->notify && c->child == rc.primitives[i].id;
  }
  return out;
}

std::optional<NotifyStep> next_notify_step(const ClusterConfig& config, const ClusterState& state,
                                           const Transition& t, const std::vector<bool>& waits,
                                           const std::vector<bool>& notifying) {
  std::optional<NotifyStep> best;
  for (std::size_t i = 0; i < t.actions.size(); ++i) {
    if (waits[i]) continue;
    const PlannedAction& a = t.actions[i];
    const auto index = index_of(config, a.resource);
    if (!index || !notifying[*index]) continue;
    const NotifyOperation op = operation_of(a.kind);
    if (best && (*index > best->primitive ||
                 (*index == best->primitive && rank(op) > rank(best->operation))))
      continue;
    if (!best || *index != best->primitive || op != best->operation) {
      best = NotifyStep{*index, op, {}, {}, NotifyStep::Phase::kPre};
    }
    add_sorted(best->nodes, a.node.value);
  }
  if (best)
    best->lists = lists_for(config, state, t, config.resources.primitives[best->primitive].id);
  return best;
}

bool in_step(const NotifyStep& step, const ClusterConfig& config, const PlannedAction& a) {
  return operation_of(a.kind) == step.operation &&
         a.resource == config.resources.primitives[step.primitive].id &&
         std::binary_search(step.nodes.begin(), step.nodes.end(), a.node.value);
}

bool still_planned(const NotifyStep& step, const ClusterConfig& config, const Transition& t,
                   const std::vector<bool>& waits) {
  std::vector<std::uint16_t> nodes;
  const std::string& id = config.resources.primitives[step.primitive].id;
  for (std::size_t i = 0; i < t.actions.size(); ++i) {
    const PlannedAction& a = t.actions[i];
    if (waits[i] || a.resource != id || operation_of(a.kind) != step.operation) continue;
    add_sorted(nodes, a.node.value);
  }
  return nodes == step.nodes;
}

std::vector<std::uint16_t> notify_targets(const NotifyStep& step, NotifyType type) {
  std::vector<std::uint16_t> out = step.lists.active;
  if (type == NotifyType::kPre) return out;
  if (step.operation == NotifyOperation::kStop) {
    std::vector<std::uint16_t> kept;
    std::set_difference(out.begin(), out.end(), step.nodes.begin(), step.nodes.end(),
                        std::back_inserter(kept));
    return kept;
  }
  if (step.operation == NotifyOperation::kStart) {
    for (const std::uint16_t n : step.nodes) add_sorted(out, n);
  }
  return out;
}

}  // namespace hactl
