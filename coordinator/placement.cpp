#include "coordinator/placement.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <set>

#include "common/assert.hpp"
#include "common/limits.hpp"
#include "coordinator/scheduler.hpp"

namespace hactl {
namespace {

constexpr int kInf = limits::kInfinity;

using Scores = std::vector<int>;

bool active(ResourceRole r) { return r != ResourceRole::kStopped; }

struct Placer {
  const ClusterConfig& config;
  const ClusterState& state;
  Placement out;

  std::size_t n() const { return config.nodes.size(); }
  NodeId id(std::size_t i) const { return NodeId{static_cast<std::uint16_t>(i)}; }
  const std::string& name(std::size_t i) const { return config.nodes[i].name; }

  bool active_on(const Unit& u, std::size_t node) const {
    return std::any_of(u.members.begin(), u.members.end(), [&](const PrimitiveConfig* p) {
      return active(state.role(p->id, id(node)));
    });
  }

  bool failed_anywhere(const PrimitiveConfig& p) const {
    for (std::size_t i = 0; i < n(); ++i) {
      if (state.is_failed(p.id, id(i))) return true;
    }
    return false;
  }
  Scores base_scores(const Unit& u) const;
  void apply_colocations(const Unit& u, Scores& s) const;
  std::vector<ResourceRole> place_single(const Unit& u, const Scores& s);
  std::vector<ResourceRole> place_clone(const Unit& u, const Scores& s);
  void promote(const Unit& u, std::vector<ResourceRole>& roles);
  void place_unit(const Unit& u);
};

Scores Placer::base_scores(const Unit& u) const {
  Scores s(n(), 0);
  for (std::size_t i = 0; i < n(); ++i) {
    if (config.nodes[i].witness || state.nodes[i] != NodeCondition::kOnline) {
      s[i] = -kInf;
      continue;
    }
    for (const auto& l : config.resources.locations) {
      if (l.resource == u.id && l.node == name(i) && l.role != RoleFilter::kPromoted) {
        s[i] = add_scores(s[i], l.score);
      }
    }
    for (const PrimitiveConfig* p : u.members) {
      if (state.fail_count(*p, id(i)) >= p->migration_threshold) s[i] = -kInf;
      if (p->on_fail == OnFail::kMove && state.is_failed(p->id, id(i))) s[i] = -kInf;
      if (p->on_fail == OnFail::kStop && failed_anywhere(*p)) s[i] = -kInf;
      if (active(state.role(p->id, id(i)))) s[i] = add_scores(s[i], p->stickiness);
    }
  }
  return s;
}

void Placer::apply_colocations(const Unit& u, Scores& s) const {
  for (const auto& c : config.resources.colocations) {
    if (c.resource != u.id) continue;
    const auto with = out.unit_roles.find(c.with);
    HACTL_ASSERT(with != out.unit_roles.end());  // placement order puts `with` first
    for (std::size_t i = 0; i < n(); ++i) {
      const ResourceRole r = with->second[i];
      const bool there = c.with_role == RoleFilter::kPromoted     ? r == ResourceRole::kPromoted
                         : c.with_role == RoleFilter::kUnpromoted ? r == ResourceRole::kStarted
                                                                  : active(r);
      if (c.score >= kInf && !there) s[i] = -kInf;
      if (c.score <= -kInf && there) s[i] = -kInf;
      if (c.score > -kInf && c.score < kInf && there) s[i] = add_scores(s[i], c.score);
    }
  }
}

// Best node first: score, then where it runs now, then node name.
std::vector<std::size_t> ranked(const Placer& p, const Unit& u, const Scores& s) {
  std::vector<std::size_t> order(p.n());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (s[a] != s[b]) return s[a] > s[b];
    const bool aa = p.active_on(u, a), ab = p.active_on(u, b);
    if (aa != ab) return aa;
    return p.name(a) < p.name(b);
  });
  return order;
}

std::vector<std::size_t> unclean_holders(const Placer& p, const Unit& u) {
  std::vector<std::size_t> held;
  for (std::size_t i = 0; i < p.n(); ++i) {
    if (p.state.nodes[i] == NodeCondition::kUnclean && p.active_on(u, i)) held.push_back(i);
  }
  return held;
}

std::vector<ResourceRole> Placer::place_single(const Unit& u, const Scores& s) {
  std::vector<ResourceRole> roles(n(), ResourceRole::kStopped);
  if (const auto held = unclean_holders(*this, u); !held.empty()) {
    // It may still run there until that node's lease ends: starting it elsewhere could run it
    // twice. Leave it be until the node is known to be offline.
    roles[held.front()] = ResourceRole::kStarted;
    out.notes.push_back(u.id + ": waiting for " + name(held.front()) +
                        "'s lease to end before moving it");
    return roles;
  }
  const auto order = ranked(*this, u, s);
  if (s[order.front()] <= -kInf) {
    out.notes.push_back(u.id + ": cannot run anywhere (every node is excluded)");
    return roles;
  }
  roles[order.front()] = ResourceRole::kStarted;
  return roles;
}

std::vector<ResourceRole> Placer::place_clone(const Unit& u, const Scores& s) {
  std::vector<ResourceRole> roles(n(), ResourceRole::kStopped);
  const std::size_t max =
      u.clone->clone_max > 0 ? static_cast<std::size_t>(u.clone->clone_max) : n();
  std::size_t placed = 0;
  for (std::size_t i : unclean_holders(*this, u)) {
    roles[i] = state.role(u.members.front()->id, id(i)) == ResourceRole::kPromoted
                   ? ResourceRole::kPromoted
                   : ResourceRole::kStarted;
    ++placed;
  }
  for (std::size_t i : ranked(*this, u, s)) {
    if (placed >= max || s[i] <= -kInf) break;
    if (roles[i] != ResourceRole::kStopped) continue;
    roles[i] = ResourceRole::kStarted;
    ++placed;
  }
  if (placed == 0) out.notes.push_back(u.id + ": cannot run anywhere (every node is excluded)");
  if (u.clone->promotable) promote(u, roles);
  return roles;
}

void Placer::promote(const Unit& u, std::vector<ResourceRole>& roles) {
  const PrimitiveConfig& child = *u.members.front();
  std::size_t promoted = 0;
  for (std::size_t i = 0; i < n(); ++i) promoted += roles[i] == ResourceRole::kPromoted ? 1 : 0;
  Scores s(n(), -kInf);
  for (std::size_t i = 0; i < n(); ++i) {
    if (roles[i] != ResourceRole::kStarted || state.nodes[i] != NodeCondition::kOnline) continue;
    s[i] = 0;
    for (const auto& l : config.resources.locations) {
      if (l.resource == u.id && l.node == name(i) && l.role == RoleFilter::kPromoted) {
        s[i] = add_scores(s[i], l.score);
      }
    }
    if (state.role(child.id, id(i)) == ResourceRole::kPromoted)
      s[i] = add_scores(s[i], child.stickiness);
  }
  std::vector<std::size_t> order(n());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (s[a] != s[b]) return s[a] > s[b];
    const bool pa = state.role(child.id, id(a)) == ResourceRole::kPromoted;
    const bool pb = state.role(child.id, id(b)) == ResourceRole::kPromoted;
    if (pa != pb) return pa;
    return name(a) < name(b);
  });
  const auto max = static_cast<std::size_t>(u.clone->promoted_max);
  for (std::size_t i : order) {
    if (promoted >= max || s[i] <= -kInf) break;
    roles[i] = ResourceRole::kPromoted;
    ++promoted;
  }
}

void Placer::place_unit(const Unit& u) {
  Scores s = base_scores(u);
  apply_colocations(u, s);
  const auto roles = u.kind == Unit::Kind::kClone ? place_clone(u, s) : place_single(u, s);
  out.unit_roles[u.id] = roles;
  for (const PrimitiveConfig* p : u.members) out.target[p->id] = roles;
}

}  // namespace

std::vector<Unit> make_units(const ResourceConfig& rc) {
  std::set<std::string> owned;
  for (const auto& g : rc.groups) owned.insert(g.members.begin(), g.members.end());
  for (const auto& c : rc.clones) owned.insert(c.child);
  std::vector<Unit> units;
  auto members_of = [&](const std::string& id) {
    std::vector<const PrimitiveConfig*> m;
    if (const auto* g = rc.group(id)) {
      for (const auto& member : g->members) m.push_back(rc.primitive(member));
    } else {
      m.push_back(rc.primitive(id));
    }
    return m;
  };
  for (const auto& p : rc.primitives) {
    if (!owned.contains(p.id)) units.push_back(Unit{Unit::Kind::kPrimitive, p.id, {&p}, nullptr});
  }
  for (const auto& g : rc.groups) {
    if (!owned.contains(g.id))
      units.push_back(Unit{Unit::Kind::kGroup, g.id, members_of(g.id), nullptr});
  }
  for (const auto& c : rc.clones)
    units.push_back(Unit{Unit::Kind::kClone, c.id, members_of(c.child), &c});
  // Depth in the colocation graph: a unit comes after everything it is colocated with.
  std::map<std::string, int> depth;
  std::function<int(const std::string&)> depth_of = [&](const std::string& id) {
    if (auto it = depth.find(id); it != depth.end()) return it->second;
    int d = 0;
    for (const auto& c : rc.colocations) {
      if (c.resource == id) d = std::max(d, depth_of(c.with) + 1);
    }
    return depth[id] = d;
  };
  auto priority = [](const Unit& u) {
    int p = 0;
    for (const auto* m : u.members) p = std::max(p, m->priority);
    return p;
  };
  std::sort(units.begin(), units.end(), [&](const Unit& a, const Unit& b) {
    const int da = depth_of(a.id), db = depth_of(b.id);
    if (da != db) return da < db;
    if (priority(a) != priority(b)) return priority(a) > priority(b);
    return a.id < b.id;
  });
  return units;
}

Placement place(const ClusterConfig& config, const ClusterState& state) {
  HACTL_ASSERT(state.nodes.size() == config.nodes.size());
  Placer p{config, state, {}};
  for (const Unit& u : make_units(config.resources)) p.place_unit(u);
  return std::move(p.out);
}

}  // namespace hactl
