#include "coordinator/scheduler.hpp"

#include <algorithm>
#include <map>
#include <queue>
#include <set>
#include <sstream>
#include <tuple>

#include "common/assert.hpp"
#include "common/limits.hpp"
#include "coordinator/placement.hpp"

namespace hactl {
namespace {

bool active(ResourceRole r) { return r != ResourceRole::kStopped; }

int phase(ActionKind k) {
  switch (k) {
    case ActionKind::kDemote:
      return 0;
    case ActionKind::kStop:
      return 1;
    case ActionKind::kStart:
      return 2;
    case ActionKind::kPromote:
      return 3;
  }
  return 4;
}

class Builder {
 public:
  Builder(const ClusterConfig& config, const ClusterState& state, const Placement& placement)
      : config_(config), state_(state), placement_(placement) {}

  Transition build();

 private:
  using Key = std::tuple<std::string, std::uint16_t, ActionKind>;
  std::size_t add(const std::string& rsc, std::size_t node, ActionKind kind, std::string reason);
  std::optional<std::size_t> find(const std::string& rsc, std::size_t node, ActionKind kind) const;
  void edge(std::optional<std::size_t> a, std::optional<std::size_t> b);
  ResourceRole target(const std::string& rsc, std::size_t node) const;
  void actions_for(const PrimitiveConfig& p);
  void restart_group_followers();
  void order_primitive(const PrimitiveConfig& p, bool cloned);
  void order_groups();
  void order_constraints();
  std::vector<const PrimitiveConfig*> primitives_of(const std::string& unit) const;
  Transition sorted() const;

  const ClusterConfig& config_;
  const ClusterState& state_;
  const Placement& placement_;
  std::vector<PlannedAction> actions_;
  std::map<Key, std::size_t> index_;
  std::set<std::pair<std::size_t, std::size_t>> edges_;
};

std::size_t Builder::add(const std::string& rsc, std::size_t node, ActionKind kind,
                         std::string reason) {
  const Key key{rsc, static_cast<std::uint16_t>(node), kind};
  if (auto it = index_.find(key); it != index_.end()) return it->second;
  actions_.push_back(
      PlannedAction{rsc, NodeId{static_cast<std::uint16_t>(node)}, kind, std::move(reason)});
  index_[key] = actions_.size() - 1;
  return actions_.size() - 1;
}

std::optional<std::size_t> Builder::find(const std::string& rsc, std::size_t node,
                                         ActionKind kind) const {
  const auto it = index_.find(Key{rsc, static_cast<std::uint16_t>(node), kind});
  return it == index_.end() ? std::nullopt : std::optional{it->second};
}

void Builder::edge(std::optional<std::size_t> a, std::optional<std::size_t> b) {
  if (a && b && *a != *b) edges_.emplace(*a, *b);
}

ResourceRole Builder::target(const std::string& rsc, std::size_t node) const {
  const auto it = placement_.target.find(rsc);
  return it == placement_.target.end() ? ResourceRole::kStopped : it->second[node];
}

void Builder::actions_for(const PrimitiveConfig& p) {
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    const NodeCondition cond = state_.nodes[i];
    if (cond == NodeCondition::kUnclean || cond == NodeCondition::kOffline) continue;
    const NodeId id{static_cast<std::uint16_t>(i)};
    const ResourceRole c = state_.role(p.id, id);
    const ResourceRole t = target(p.id, i);
    const bool recover =
        active(c) && active(t) && state_.is_failed(p.id, id) && p.on_fail != OnFail::kIgnore;
    if (recover) {
      if (c == ResourceRole::kPromoted)
        add(p.id, i, ActionKind::kDemote, "recover: monitor failed");
      add(p.id, i, ActionKind::kStop, "recover: monitor failed");
      add(p.id, i, ActionKind::kStart, "recover: monitor failed");
      if (t == ResourceRole::kPromoted)
        add(p.id, i, ActionKind::kPromote, "recover: monitor failed");
      continue;
    }
    const std::string why = cond == NodeCondition::kStandby ? "node is in standby"
                            : active(t)                     ? "placed here"
                                                            : "placed elsewhere or stopped";
    if (c == ResourceRole::kPromoted && t != ResourceRole::kPromoted)
      add(p.id, i, ActionKind::kDemote, why);
    if (active(c) && !active(t)) add(p.id, i, ActionKind::kStop, why);
    if (!active(c) && active(t)) add(p.id, i, ActionKind::kStart, why);
    if (t == ResourceRole::kPromoted && c != ResourceRole::kPromoted)
      add(p.id, i, ActionKind::kPromote, "chosen for promotion");
  }
}

// A group member that restarts in place takes the members after it down and up with it.
void Builder::restart_group_followers() {
  for (const auto& g : config_.resources.groups) {
    for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
      bool restarting = false;
      for (const auto& m : g.members) {
        const bool restarts = find(m, i, ActionKind::kStop) && find(m, i, ActionKind::kStart);
        if (restarting && !restarts &&
            active(state_.role(m, NodeId{static_cast<std::uint16_t>(i)})) && active(target(m, i))) {
          add(m, i, ActionKind::kStop, "restart: an earlier member of " + g.id + " restarts");
          add(m, i, ActionKind::kStart, "restart: an earlier member of " + g.id + " restarts");
        }
        restarting = restarting || restarts;
      }
    }
  }
}

void Builder::order_primitive(const PrimitiveConfig& p, bool cloned) {
  const std::size_t n = config_.nodes.size();
  for (std::size_t i = 0; i < n; ++i) {
    edge(find(p.id, i, ActionKind::kDemote), find(p.id, i, ActionKind::kStop));
    edge(find(p.id, i, ActionKind::kStop), find(p.id, i, ActionKind::kStart));
    edge(find(p.id, i, ActionKind::kStart), find(p.id, i, ActionKind::kPromote));
    for (std::size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      // Never active on two nodes: stop here before starting there (clone instances are
      // separate per node, but never more promoted than allowed: demote before promote).
      if (!cloned) edge(find(p.id, i, ActionKind::kStop), find(p.id, j, ActionKind::kStart));
      edge(find(p.id, i, ActionKind::kDemote), find(p.id, j, ActionKind::kPromote));
    }
  }
}

void Builder::order_groups() {
  for (const auto& g : config_.resources.groups) {
    for (std::size_t k = 0; k + 1 < g.members.size(); ++k) {
      const auto& a = g.members[k];
      const auto& b = g.members[k + 1];
      for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
        edge(find(a, i, ActionKind::kStart), find(b, i, ActionKind::kStart));
        edge(find(b, i, ActionKind::kStop), find(a, i, ActionKind::kStop));
        for (std::size_t j = 0; j < config_.nodes.size(); ++j) {
          // The whole group leaves a node before any of it starts on another.
          edge(find(b, i, ActionKind::kStop), find(a, j, ActionKind::kStart));
        }
      }
    }
  }
}

std::vector<const PrimitiveConfig*> Builder::primitives_of(const std::string& unit) const {
  const auto& rc = config_.resources;
  std::string inner = unit;
  if (const auto* c = rc.clone(unit)) inner = c->child;
  std::vector<const PrimitiveConfig*> out;
  if (const auto* g = rc.group(inner)) {
    for (const auto& m : g->members) out.push_back(rc.primitive(m));
  } else if (const auto* p = rc.primitive(inner)) {
    out.push_back(p);
  }
  return out;
}

ActionKind inverse(ActionKind k) {
  return k == ActionKind::kPromote ? ActionKind::kDemote
         : k == ActionKind::kStart ? ActionKind::kStop
                                   : k;
}

void Builder::order_constraints() {
  const std::size_t n = config_.nodes.size();
  for (const auto& o : config_.resources.orders) {
    for (const auto* f : primitives_of(o.first)) {
      for (const auto* t : primitives_of(o.then)) {
        for (std::size_t i = 0; i < n; ++i) {
          for (std::size_t j = 0; j < n; ++j) {
            edge(find(f->id, i, o.first_action), find(t->id, j, o.then_action));
            if (o.symmetrical) {
              edge(find(t->id, j, inverse(o.then_action)), find(f->id, i, inverse(o.first_action)));
            }
          }
        }
      }
    }
  }
}

// Kahn's algorithm; among ready actions the earliest phase, then resource id, then node name.
Transition Builder::sorted() const {
  const std::size_t n = actions_.size();
  std::vector<std::vector<std::size_t>> next(n);
  std::vector<std::size_t> indegree(n, 0);
  for (const auto& [a, b] : edges_) {
    next[a].push_back(b);
    ++indegree[b];
  }
  auto key = [&](std::size_t i) {
    const auto& a = actions_[i];
    return std::tuple{phase(a.kind), a.resource, config_.nodes[a.node.value].name};
  };
  auto later = [&](std::size_t a, std::size_t b) { return key(a) > key(b); };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> ready(later);
  for (std::size_t i = 0; i < n; ++i) {
    if (indegree[i] == 0) ready.push(i);
  }
  std::vector<std::size_t> position(n);
  Transition t;
  while (!ready.empty()) {
    const std::size_t i = ready.top();
    ready.pop();
    position[i] = t.actions.size();
    t.actions.push_back(actions_[i]);
    for (std::size_t j : next[i]) {
      if (--indegree[j] == 0) ready.push(j);
    }
  }
  HACTL_ASSERT(t.actions.size() == n);  // orderings never form a cycle (the loader refuses them)
  for (const auto& [a, b] : edges_) t.order.emplace_back(position[a], position[b]);
  std::sort(t.order.begin(), t.order.end());
  return t;
}

Transition Builder::build() {
  const auto& rc = config_.resources;
  std::set<std::string> cloned;
  for (const auto& c : rc.clones) {
    for (const auto* p : primitives_of(c.id)) cloned.insert(p->id);
  }
  for (const auto& p : rc.primitives) actions_for(p);
  restart_group_followers();
  for (const auto& p : rc.primitives) order_primitive(p, cloned.contains(p.id));
  order_groups();
  order_constraints();
  Transition t = sorted();
  t.target = placement_.target;
  t.notes = placement_.notes;
  return t;
}

std::string roles_text(const ClusterConfig& config, const std::vector<ResourceRole>& roles) {
  std::string promoted, started;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    std::string& list = roles[i] == ResourceRole::kPromoted ? promoted : started;
    if (roles[i] != ResourceRole::kStopped)
      list += (list.empty() ? "" : ", ") + config.nodes[i].name;
  }
  if (promoted.empty() && started.empty()) return "stopped";
  if (promoted.empty()) return "started on " + started;
  return "promoted on " + promoted + (started.empty() ? "" : "; started on " + started);
}

}  // namespace

int add_scores(int a, int b) {
  constexpr int kInf = limits::kInfinity;
  if (a <= -kInf || b <= -kInf) return -kInf;
  if (a >= kInf || b >= kInf) return kInf;
  return std::clamp(a + b, -kInf, kInf);
}

Transition schedule(const ClusterConfig& config, const ClusterState& state) {
  const Placement placement = place(config, state);
  return Builder(config, state, placement).build();
}

std::string describe(const ClusterConfig& config, const Transition& t) {
  std::ostringstream out;
  out << "actions:\n";
  if (t.actions.empty()) out << "  (none)\n";
  for (std::size_t i = 0; i < t.actions.size(); ++i) {
    const auto& a = t.actions[i];
    out << "  " << i + 1 << ". " << to_string(a.kind) << " " << a.resource << " on "
        << config.nodes[a.node.value].name;
    std::string after;
    for (const auto& [x, y] : t.order) {
      if (y == i) after += (after.empty() ? "" : ",") + std::to_string(x + 1);
    }
    if (!after.empty()) out << " after " << after;
    out << "  (" << a.reason << ")\n";
  }
  out << "placement:\n";
  for (const auto& p : config.resources.primitives) {
    const auto it = t.target.find(p.id);
    out << "  " << p.id << ": "
        << (it == t.target.end() ? "stopped" : roles_text(config, it->second)) << "\n";
  }
  for (const auto& note : t.notes) out << "note: " << note << "\n";
  return out.str();
}

std::string_view to_string(ResourceRole r) {
  switch (r) {
    case ResourceRole::kStopped:
      return "stopped";
    case ResourceRole::kStarted:
      return "started";
    case ResourceRole::kPromoted:
      return "promoted";
  }
  return "unknown";
}

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

int ClusterState::fail_count(const PrimitiveConfig& p, NodeId node) const {
  const auto it = failures.find(p.id);
  if (it == failures.end()) return 0;
  const FailureRecord& f = it->second.at(node.value);
  const bool expired = p.failure_timeout > Duration::zero() && now - f.last >= p.failure_timeout;
  return expired ? 0 : f.count;
}

}  // namespace hactl
