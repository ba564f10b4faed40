#include "coordinator/scheduler.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <queue>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

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

// Builds the action graph with integer indexes throughout: a primitive's actions live in a
// small list of their own, so orderings cost what the transition holds, not nodes squared.
class Builder {
 public:
  Builder(const ClusterConfig& config, const ClusterState& state, const Placement& placement);
  Transition build();

 private:
  static constexpr std::size_t kKinds = 4;
  std::size_t slot(std::size_t prim, std::size_t node, ActionKind kind) const {
    return (prim * config_.nodes.size() + node) * kKinds + static_cast<std::size_t>(kind);
  }
  std::size_t add(std::size_t prim, std::size_t node, ActionKind kind, std::string reason);
  std::optional<std::size_t> find(std::size_t prim, std::size_t node, ActionKind kind) const;
  void edge(std::optional<std::size_t> a, std::optional<std::size_t> b);
  void actions_for(std::size_t prim);
  void restart_followers(const GroupConfig& g);
  void order_primitive(std::size_t prim, bool cloned);
  void order_groups();
  void order_constraints();
  void order_restart(const OrderConstraint& o);
  void restart_then(const OrderConstraint& o);
  std::vector<std::size_t> primitives_of(const std::string& unit) const;
  Transition sorted();

  const ClusterConfig& config_;
  const ClusterState& state_;
  const Placement& placement_;
  std::vector<const PrimitiveConfig*> prims_;
  std::unordered_map<std::string, std::size_t> prim_index_;
  std::vector<const std::vector<ResourceRole>*> current_, target_;
  std::vector<int> slots_;  // -1: no such action
  std::vector<std::vector<std::size_t>> by_prim_;
  std::vector<PlannedAction> actions_;
  std::vector<std::size_t> action_prim_;
  std::vector<std::pair<std::size_t, std::size_t>> edges_;
};

Builder::Builder(const ClusterConfig& config, const ClusterState& state, const Placement& placement)
    : config_(config), state_(state), placement_(placement) {
  for (const auto& p : config.resources.primitives) {
    prim_index_[p.id] = prims_.size();
    prims_.push_back(&p);
    const auto cur = state.roles.find(p.id);
    current_.push_back(cur == state.roles.end() ? nullptr : &cur->second);
    const auto tgt = placement.target.find(p.id);
    target_.push_back(tgt == placement.target.end() ? nullptr : &tgt->second);
  }
  slots_.assign(prims_.size() * config.nodes.size() * kKinds, -1);
  by_prim_.resize(prims_.size());
}

std::size_t Builder::add(std::size_t prim, std::size_t node, ActionKind kind, std::string reason) {
  int& s = slots_[slot(prim, node, kind)];
  if (s >= 0) return static_cast<std::size_t>(s);
  s = static_cast<int>(actions_.size());
  actions_.push_back(PlannedAction{prims_[prim]->id, NodeId{static_cast<std::uint16_t>(node)}, kind,
                                   std::move(reason)});
  action_prim_.push_back(prim);
  by_prim_[prim].push_back(actions_.size() - 1);
  return actions_.size() - 1;
}

std::optional<std::size_t> Builder::find(std::size_t prim, std::size_t node,
                                         ActionKind kind) const {
  const int s = slots_[slot(prim, node, kind)];
  return s < 0 ? std::nullopt : std::optional{static_cast<std::size_t>(s)};
}

void Builder::edge(std::optional<std::size_t> a, std::optional<std::size_t> b) {
  if (a && b && *a != *b) edges_.emplace_back(*a, *b);
}

void Builder::actions_for(std::size_t prim) {
  const PrimitiveConfig& p = *prims_[prim];
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    const NodeCondition cond = state_.nodes[i];
    if (frozen(cond) || cond == NodeCondition::kOffline) continue;
    const ResourceRole c = current_[prim] ? (*current_[prim])[i] : ResourceRole::kStopped;
    const ResourceRole t = target_[prim] ? (*target_[prim])[i] : ResourceRole::kStopped;
    if (c == t && !active(c)) continue;
    const NodeId id{static_cast<std::uint16_t>(i)};
    const bool recover =
        active(c) && active(t) && state_.is_failed(p.id, id) && p.on_fail != OnFail::kIgnore;
    if (recover) {
      if (c == ResourceRole::kPromoted)
        add(prim, i, ActionKind::kDemote, "recover: monitor failed");
      add(prim, i, ActionKind::kStop, "recover: monitor failed");
      add(prim, i, ActionKind::kStart, "recover: monitor failed");
      if (t == ResourceRole::kPromoted)
        add(prim, i, ActionKind::kPromote, "recover: monitor failed");
      continue;
    }
    std::string elsewhere;
    for (std::size_t j = 0; j < config_.nodes.size() && target_[prim]; ++j) {
      if (j != i && active((*target_[prim])[j]))
        elsewhere += (elsewhere.empty() ? "" : ",") + config_.nodes[j].name;
    }
    const std::string why = cond == NodeCondition::kStandby ? "node is in standby"
                            : active(t)                     ? "placed here"
                            : !elsewhere.empty()            ? "placed on " + elsewhere
                                                            : "placed nowhere";
    if (c == ResourceRole::kPromoted && t != ResourceRole::kPromoted)
      add(prim, i, ActionKind::kDemote, why);
    if (active(c) && !active(t)) add(prim, i, ActionKind::kStop, why);
    if (!active(c) && active(t)) add(prim, i, ActionKind::kStart, why);
    if (t == ResourceRole::kPromoted && c != ResourceRole::kPromoted)
      add(prim, i, ActionKind::kPromote, "chosen for promotion");
  }
}

// A group member that restarts in place takes the members after it down and up with it.
void Builder::restart_followers(const GroupConfig& g) {
  std::vector<std::size_t> members;
  for (const auto& m : g.members) members.push_back(prim_index_.at(m));
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    bool restarting = false;
    for (std::size_t m : members) {
      const bool restarts = find(m, i, ActionKind::kStop) && find(m, i, ActionKind::kStart);
      const bool running =
          current_[m] && active((*current_[m])[i]) && target_[m] && active((*target_[m])[i]);
      if (restarting && !restarts && running) {
        add(m, i, ActionKind::kStop, "restart: an earlier member of " + g.id + " restarts");
        add(m, i, ActionKind::kStart, "restart: an earlier member of " + g.id + " restarts");
      }
      restarting = restarting || restarts;
    }
  }
}

void Builder::order_primitive(std::size_t prim, bool cloned) {
  for (std::size_t a : by_prim_[prim]) {
    for (std::size_t b : by_prim_[prim]) {
      const PlannedAction& x = actions_[a];
      const PlannedAction& y = actions_[b];
      const bool same = x.node == y.node;
      const auto xk = x.kind, yk = y.kind;
      if (same && ((xk == ActionKind::kDemote && yk == ActionKind::kStop) ||
                   (xk == ActionKind::kStop && yk == ActionKind::kStart) ||
                   (xk == ActionKind::kStart && yk == ActionKind::kPromote))) {
        edge(a, b);
      }
      // Never active on two nodes: stop here before starting there (clone instances are
      // separate per node, but never more promoted than allowed: demote before promote).
      if (!same && !cloned && xk == ActionKind::kStop && yk == ActionKind::kStart) edge(a, b);
      if (!same && xk == ActionKind::kDemote && yk == ActionKind::kPromote) edge(a, b);
    }
  }
}

void Builder::order_groups() {
  for (const auto& g : config_.resources.groups) {
    for (std::size_t k = 0; k + 1 < g.members.size(); ++k) {
      const std::size_t a = prim_index_.at(g.members[k]);
      const std::size_t b = prim_index_.at(g.members[k + 1]);
      for (std::size_t x : by_prim_[a]) {
        for (std::size_t y : by_prim_[b]) {
          const PlannedAction& ax = actions_[x];
          const PlannedAction& by = actions_[y];
          const bool same = ax.node == by.node;
          if (same && ax.kind == ActionKind::kStart && by.kind == ActionKind::kStart) edge(x, y);
          if (same && ax.kind == ActionKind::kStop && by.kind == ActionKind::kStop) edge(y, x);
          // The whole group leaves a node before any of it starts on another.
          if (!same && ax.kind == ActionKind::kStart && by.kind == ActionKind::kStop) edge(y, x);
        }
      }
    }
  }
}

std::vector<std::size_t> Builder::primitives_of(const std::string& unit) const {
  const auto& rc = config_.resources;
  std::string inner = unit;
  if (const auto* c = rc.clone(unit)) inner = c->child;
  std::vector<std::size_t> out;
  if (const auto* g = rc.group(inner)) {
    for (const auto& m : g->members) out.push_back(prim_index_.at(m));
  } else if (rc.primitive(inner) != nullptr) {
    out.push_back(prim_index_.at(inner));
  }
  return out;
}

ActionKind inverse(ActionKind k) {
  return k == ActionKind::kPromote ? ActionKind::kDemote
         : k == ActionKind::kStart ? ActionKind::kStop
                                   : k;
}

void Builder::order_constraints() {
  for (const auto& o : config_.resources.orders) {
    const bool serial = o.kind == OrderConstraint::Kind::kSerialize;
    for (std::size_t f : primitives_of(o.first)) {
      for (std::size_t t : primitives_of(o.then)) {
        for (std::size_t x : by_prim_[f]) {
          for (std::size_t y : by_prim_[t]) {
            const ActionKind xk = actions_[x].kind, yk = actions_[y].kind;
            if (serial) {
              // One at a time: starts first then then, stops the other way round.
              if (xk == ActionKind::kStart && yk == ActionKind::kStart) edge(x, y);
              if (xk == ActionKind::kStop && yk == ActionKind::kStop) edge(y, x);
              continue;
            }
            if (xk == o.first_action && yk == o.then_action) edge(x, y);
            if (o.symmetrical && yk == inverse(o.then_action) && xk == inverse(o.first_action)) {
              edge(y, x);
            }
          }
        }
      }
    }
  }
}

// A mandatory, symmetrical order restarts `then` where it stays when `first` starts, stops or
// moves (is promoted or demoted, for first_action promote), as Pacemaker does: `then` must not
// run on a `first` that went away under it. Instances of a clone that start or stop do not
// restart what is ordered after the clone (Pacemaker's clone pseudo-actions); its promotion
// moving does.
void Builder::order_restart(const OrderConstraint& o) {
  if (o.kind != OrderConstraint::Kind::kMandatory || !o.symmetrical) return;
  const bool promote = o.first_action == ActionKind::kPromote;
  if (!promote && o.first_action != ActionKind::kStart) return;
  if (!promote && config_.resources.clone(o.first) != nullptr) return;
  for (std::size_t f : primitives_of(o.first)) {
    for (std::size_t a : by_prim_[f]) {
      const ActionKind k = actions_[a].kind;
      if (k == o.first_action || k == inverse(o.first_action)) return restart_then(o);
    }
  }
}

void Builder::restart_then(const OrderConstraint& o) {
  const bool promote = o.then_action == ActionKind::kPromote;
  if (!promote && o.then_action != ActionKind::kStart) return;
  const ResourceRole held = promote ? ResourceRole::kPromoted : ResourceRole::kStarted;
  const ActionKind down = promote ? ActionKind::kDemote : ActionKind::kStop;
  const std::string why =
      "restart: " + o.first + " " +
      (o.first_action == ActionKind::kPromote ? "is promoted anew" : "restarts") + " (order " +
      o.first + " then " + o.then + ")";
  for (std::size_t t : primitives_of(o.then)) {
    for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
      const NodeCondition cond = state_.nodes[i];
      if (frozen(cond) || cond == NodeCondition::kOffline) continue;
      const bool stays =
          current_[t] && (*current_[t])[i] >= held && target_[t] && (*target_[t])[i] >= held;
      if (!stays || find(t, i, down)) continue;
      if (promote || (*current_[t])[i] == ResourceRole::kPromoted)
        add(t, i, ActionKind::kDemote, why);
      if (!promote) add(t, i, ActionKind::kStop, why);
      if (!promote) add(t, i, ActionKind::kStart, why);
      if (promote || (*target_[t])[i] == ResourceRole::kPromoted)
        add(t, i, ActionKind::kPromote, why);
    }
  }
}

// Kahn's algorithm; among ready actions the earliest phase, then resource id, then node name.
Transition Builder::sorted() {
  std::sort(edges_.begin(), edges_.end());
  edges_.erase(std::unique(edges_.begin(), edges_.end()), edges_.end());
  const std::size_t n = actions_.size();
  std::vector<std::size_t> by_id(prims_.size()), by_name(config_.nodes.size());
  std::iota(by_id.begin(), by_id.end(), 0);
  std::iota(by_name.begin(), by_name.end(), 0);
  std::sort(by_id.begin(), by_id.end(),
            [&](auto a, auto b) { return prims_[a]->id < prims_[b]->id; });
  std::sort(by_name.begin(), by_name.end(),
            [&](auto a, auto b) { return config_.nodes[a].name < config_.nodes[b].name; });
  std::vector<std::size_t> prim_rank(prims_.size()), node_rank(config_.nodes.size());
  for (std::size_t r = 0; r < by_id.size(); ++r) prim_rank[by_id[r]] = r;
  for (std::size_t r = 0; r < by_name.size(); ++r) node_rank[by_name[r]] = r;
  std::vector<std::tuple<int, std::size_t, std::size_t>> key(n);
  for (std::size_t i = 0; i < n; ++i) {
    key[i] = {phase(actions_[i].kind), prim_rank[action_prim_[i]],
              node_rank[actions_[i].node.value]};
  }
  std::vector<std::vector<std::size_t>> next(n);
  std::vector<std::size_t> indegree(n, 0);
  for (const auto& [a, b] : edges_) {
    next[a].push_back(b);
    ++indegree[b];
  }
  auto later = [&](std::size_t a, std::size_t b) { return key[a] > key[b]; };
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
  std::vector<bool> cloned(prims_.size(), false);
  for (const auto& c : config_.resources.clones) {
    for (std::size_t p : primitives_of(c.id)) cloned[p] = true;
  }
  for (std::size_t p = 0; p < prims_.size(); ++p) actions_for(p);
  // Restarts spread along groups and mandatory orders, in one pass: each order after the
  // orders that lead to its `first`, which has its group's restarts by then.
  for (const auto& g : config_.resources.groups) restart_followers(g);
  for (const OrderConstraint* o : orders_by_first(config_.resources)) {
    if (const GroupConfig* g = config_.resources.group(o->first)) restart_followers(*g);
    order_restart(*o);
  }
  for (const auto& g : config_.resources.groups) restart_followers(g);
  for (std::size_t p = 0; p < prims_.size(); ++p) order_primitive(p, cloned[p]);
  order_groups();
  order_constraints();
  Transition t = sorted();
  t.target = placement_.target;
  t.notes = placement_.notes;
  t.recheck = placement_.recheck;
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

Transition schedule(const ClusterConfig& config, const ClusterState& state, bool explain) {
  Placement placement = place(config, state, explain);
  Transition t = Builder(config, state, placement).build();
  t.why = std::move(placement.why);
  return t;
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

}  // namespace hactl
