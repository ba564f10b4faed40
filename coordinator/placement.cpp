#include "coordinator/placement.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "common/assert.hpp"
#include "common/cluster_doc.hpp"
#include "common/limits.hpp"
#include "common/yaml_reader.hpp"
#include "coordinator/scheduler.hpp"

namespace hactl {
namespace {

constexpr int kInf = limits::kInfinity;

using Scores = std::vector<int>;

bool active(ResourceRole r) { return r != ResourceRole::kStopped; }

// One primitive's recorded state, looked up once per placement rather than per node.
struct MemberView {
  const PrimitiveConfig* p = nullptr;
  const std::vector<ResourceRole>* roles = nullptr;
  const std::vector<bool>* failed = nullptr;
  const std::vector<FailureRecord>* failures = nullptr;
  const std::vector<bool>* settling = nullptr;

  ResourceRole role(std::size_t i) const { return roles ? (*roles)[i] : ResourceRole::kStopped; }
  bool is_settling(std::size_t i) const { return settling && (*settling)[i]; }
  bool is_failed(std::size_t i) const { return failed && (*failed)[i]; }
  int fail_count(std::size_t i, Instant now) const {
    if (!failures) return 0;
    const FailureRecord& f = (*failures)[i];
    const bool expired =
        p->failure_timeout > Duration::zero() && now - f.last >= p->failure_timeout;
    return expired ? 0 : f.count;
  }
};

template <typename Map>
const typename Map::mapped_type* lookup(const Map& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

ScoreTerm located(const LocationConstraint* l) {
  ScoreTerm t;
  t.location = l;
  return t;
}
ScoreTerm colocated(const ColocationConstraint* c) {
  ScoreTerm t;
  t.colocation = c;
  return t;
}
ScoreTerm of_member(const PrimitiveConfig* p, int fail_count = 0) {
  ScoreTerm t;
  t.member = p;
  t.fail_count = fail_count;
  return t;
}
ScoreTerm short_of(const std::string* attribute, int left, int needed) {
  ScoreTerm t;
  t.attribute = attribute;
  t.left = left;
  t.needed = needed;
  return t;
}
ScoreTerm held_until(std::optional<Instant> until) {
  ScoreTerm t;
  t.until = until;
  return t;
}

// Placement by consistent hashing (placement: hash): each node has kVirtualNodes points on a
// 64-bit ring, from its name alone, so adding or removing a node moves only the units whose
// point falls to it or from it. FNV-1a, then a splitmix64 finaliser to spread similar names;
// fixed, so every agent and every version places the same way.
constexpr std::size_t kVirtualNodes = 160;

std::uint64_t ring_hash(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

struct Placer {
  const ClusterConfig& config;
  const ClusterState& state;
  Placement out;
  std::unordered_map<std::string, std::vector<const LocationConstraint*>> locations;
  std::unordered_map<std::string, std::vector<const ColocationConstraint*>> colocations;
  std::unordered_map<std::string, std::size_t> node_index;
  std::vector<std::size_t> name_rank;  // by node: its place in name order (the last tie-break)
  // The unit being placed.
  std::vector<MemberView> members;
  std::vector<bool> active_here;
  // Set when a group's members go different ways (see place_single): by member.
  std::vector<std::vector<ResourceRole>> member_roles;
  // Asked why (place(..., explain)): the unit being placed's entry in out.why.
  bool explain = false;
  UnitWhy* why_now = nullptr;
  // Primitives placed on each node so far in this pass (placement: balanced).
  std::vector<int> load;
  // (point, node) sorted, built at the first hashed unit (placement: hash).
  std::vector<std::pair<std::uint64_t, std::size_t>> ring;
  // Whether hold_back capped another node for the unit being placed.
  bool held_now = false;
  // How many of the unit's members run (merge_members): the rest cannot where they can.
  std::size_t prefix = 0;
  // By node: what the unit's finite negative colocations took off there. Pacemaker applies them
  // to each clone instance and rolls them back for an instance they leave nowhere to run.
  Scores yielding;
  // Capacity left on each node (its capacity less the utilization of what is placed there; a
  // name the node does not list is unlimited). What runs now is reserved where it runs before
  // any unit is placed, so that a new resource never pushes a running one off its node.
  std::vector<std::map<std::string, int>> left;
  std::unordered_map<std::string, std::vector<std::size_t>> reserved;  // unit -> nodes
  std::map<std::string, int> need;  // the unit being placed: its members' utilization summed
  // By node: what location rules read there (its attributes in force, built-ins).
  std::vector<RuleInput> rule_inputs;

  Placer(const ClusterConfig& c, const ClusterState& st, bool ex)
      : config(c), state(st), explain(ex) {
    for (const auto& l : c.resources.locations) locations[l.resource].push_back(&l);
    for (const auto& co : c.resources.colocations) colocations[co.resource].push_back(&co);
    for (std::size_t i = 0; i < c.nodes.size(); ++i) node_index[c.nodes[i].name] = i;
    std::vector<std::size_t> by_name(c.nodes.size());
    std::iota(by_name.begin(), by_name.end(), 0);
    std::sort(by_name.begin(), by_name.end(),
              [&](std::size_t a, std::size_t b) { return c.nodes[a].name < c.nodes[b].name; });
    name_rank.assign(c.nodes.size(), 0);
    for (std::size_t r = 0; r < by_name.size(); ++r) name_rank[by_name[r]] = r;
    load.assign(c.nodes.size(), 0);
    left.resize(c.nodes.size());
    for (std::size_t i = 0; i < c.nodes.size(); ++i) left[i] = c.nodes[i].capacity;
    for (std::size_t i = 0; i < c.nodes.size(); ++i) rule_inputs.push_back(st.rule_input(c, i));
  }

  static std::map<std::string, int> utilization_of(const Unit& u) {
    std::map<std::string, int> out;
    for (const PrimitiveConfig* p : u.members) {
      for (const auto& [name, amount] : p->utilization) out[name] += amount;
    }
    return out;
  }
  void use(std::size_t node, const std::map<std::string, int>& amounts, int sign) {
    for (const auto& [name, amount] : amounts) {
      if (const auto it = left[node].find(name); it != left[node].end())
        it->second += sign * amount;
    }
  }
  // Reserves, for every unit with a utilization, what it uses where it runs now.
  void reserve_running(const std::vector<Unit>& units) {
    for (const Unit& u : units) {
      const auto amounts = utilization_of(u);
      if (amounts.empty()) continue;
      for (std::size_t i = 0; i < n(); ++i) {
        bool here = false;
        for (const PrimitiveConfig* p : u.members) {
          const auto* roles = lookup(state.roles, p->id);
          here = here || (roles != nullptr && active((*roles)[i]));
        }
        const bool kept = state.nodes[i] != NodeCondition::kOffline;
        if (!here || !kept) continue;
        use(i, amounts, -1);
        reserved[u.id].push_back(i);
      }
    }
  }
  void apply_capacity(Scores& s) const;
  // The share of the needed capacities still free on a node (1 where it lists none of them).
  double free_share(std::size_t node) const {
    double sum = 0;
    int counted = 0;
    for (const auto& [name, amount] : need) {
      const auto cap = config.nodes[node].capacity.find(name);
      if (cap == config.nodes[node].capacity.end() || cap->second == 0) continue;
      sum += static_cast<double>(left[node].at(name)) / cap->second;
      ++counted;
    }
    return counted == 0 ? 1.0 : sum / counted;
  }

  std::size_t n() const { return config.nodes.size(); }
  void term(ScoreTerm::Kind kind, std::size_t node, int value, ScoreTerm t = {}) const {
    if (why_now == nullptr) return;
    t.kind = kind;
    t.node = static_cast<std::uint16_t>(node);
    t.value = value;
    why_now->terms.push_back(t);
  }
  const std::string& name(std::size_t i) const { return config.nodes[i].name; }
  bool active_on(std::size_t node) const { return active_here[node]; }

  void view(const Unit& u) {
    members.clear();
    member_roles.clear();
    for (const PrimitiveConfig* p : u.members) {
      members.push_back(MemberView{p, lookup(state.roles, p->id), lookup(state.failed, p->id),
                                   lookup(state.failures, p->id), lookup(state.settling, p->id)});
    }
    active_here.assign(n(), false);
    for (std::size_t i = 0; i < n(); ++i) {
      for (const auto& m : members) active_here[i] = active_here[i] || active(m.role(i));
    }
  }
  bool failed_anywhere(const MemberView& m) const {
    for (std::size_t i = 0; i < n(); ++i) {
      if (m.is_failed(i)) return true;
    }
    return false;
  }
  // The unit's failback (its members' meta, else the cluster's); nullopt: the scores decide.
  std::optional<Failback> failback_of(const Unit& u) const {
    return hactl::failback_of(config, u.members);
  }
  // Whether node j must not outscore where the unit runs now (failback never or after, flap
  // damping); for `after`, also when that changes.
  bool holds_back(const Unit& u, std::size_t j, std::optional<Instant>& until) const;
  void hold_back(const Unit& u, Scores& s);
  void recheck_at(Instant t) {
    if (!out.recheck || t < *out.recheck) out.recheck = t;
  }
  Scores base_scores(const Unit& u) const;
  void apply_locations(const std::string& id, Scores& s) const;
  void add_member(const Unit& u, std::size_t k, Scores& s) const;
  void merge_members(const Unit& u, Scores& s);
  std::optional<int> location_score(const LocationConstraint& l, std::size_t node) const;
  Scores promotion_scores(const Unit& u, const std::vector<ResourceRole>& roles) const;
  void apply_colocations(const Unit& u, Scores& s);
  int colocation_score(const ColocationConstraint& c, std::size_t i, bool& there) const;
  std::vector<ResourceRole> place_single(const Unit& u, const Scores& s);
  std::size_t choose(const Unit& u, const Scores& s);
  std::size_t choose_by_hash(const Unit& u, const Scores& s, int top);
  std::string tie_text(const Scores& s, std::size_t w) const;
  std::string cannot_run(const Unit& u, int top, std::size_t at) const;
  std::size_t settling_split(const std::vector<std::size_t>& held) const;
  std::vector<ResourceRole> place_clone(const Unit& u, const Scores& s);
  void promote(const Unit& u, std::vector<ResourceRole>& roles);
  void place_unit(const Unit& u);
};

Scores Placer::base_scores(const Unit& u) const {
  Scores s(n(), 0);
  for (std::size_t i = 0; i < n(); ++i) {
    if (config.nodes[i].witness) {
      s[i] = -kInf;
      term(ScoreTerm::Kind::kWitness, i, -kInf);
    } else if (state.nodes[i] != NodeCondition::kOnline) {
      s[i] = -kInf;
      term(ScoreTerm::Kind::kNodeCondition, i, -kInf);
    }
  }
  apply_locations(u.id, s);
  add_member(u, 0, s);
  return s;
}

// A member's own terms: location constraints on it (a group's member), failures, stickiness.
void Placer::add_member(const Unit& u, std::size_t k, Scores& s) const {
  const MemberView& m = members[k];
  if (m.p->id != u.id) apply_locations(m.p->id, s);
  // A failback replaces stickiness; a hashed unit goes where the ring says.
  const bool sticky = !failback_of(u) && u.members.front()->placement != PlacementStrategy::kHash;
  const bool stop_everywhere = m.p->on_fail == OnFail::kStop && failed_anywhere(m);
  for (std::size_t i = 0; i < n(); ++i) {
    if (const int count = m.fail_count(i, state.now); count >= m.p->migration_threshold) {
      s[i] = -kInf;
      term(ScoreTerm::Kind::kFailThreshold, i, -kInf, of_member(m.p, count));
    }
    if (m.p->on_fail == OnFail::kMove && m.is_failed(i)) {
      s[i] = -kInf;
      term(ScoreTerm::Kind::kOnFailMove, i, -kInf, of_member(m.p));
    }
    if (stop_everywhere) {
      s[i] = -kInf;
      term(ScoreTerm::Kind::kOnFailStop, i, -kInf, of_member(m.p));
    }
    if (sticky && active(m.role(i))) {
      s[i] = add_scores(s[i], m.p->stickiness);
      if (m.p->stickiness != 0)
        term(ScoreTerm::Kind::kStickiness, i, m.p->stickiness, of_member(m.p));
    }
  }
}

// A group's members after the first, each added to the unit's scores while some node still
// scores 0 or more. As Pacemaker merges a group's later members into its first member's scores
// and rolls back a merge that leaves it nowhere to run, a member that can run on no node the
// members before it can (banned, failed, disabled) stops with the members after it, and the
// members before it run without them.
void Placer::merge_members(const Unit& u, Scores& s) {
  prefix = members.size();
  auto runs = [](const Scores& x) {
    return std::any_of(x.begin(), x.end(), [](int v) { return v >= 0; });
  };
  for (std::size_t k = 1; k < members.size(); ++k) {
    const std::size_t terms_before = why_now != nullptr ? why_now->terms.size() : 0;
    Scores next = s;
    add_member(u, k, next);
    // Not for a clone's instances: Pacemaker places a cloned group's instance whole or not at
    // all (the differential test: seeds 133, 255, 273).
    if (u.kind != Unit::Kind::kClone && !runs(next) && runs(s)) {
      if (why_now != nullptr) why_now->terms.resize(terms_before);
      prefix = k;
      out.notes.push_back(u.id + ": " + members[k].p->id +
                          (k + 1 < members.size() ? " and the members after it" : "") +
                          " cannot run where the members before it can; they stay stopped");
      return;
    }
    s = std::move(next);
  }
}

// Location constraints other than for the promoted role: on their node, or on each node where
// their rule holds.
void Placer::apply_locations(const std::string& id, Scores& s) const {
  const auto* locs = lookup(locations, id);
  if (locs == nullptr) return;
  for (const LocationConstraint* l : *locs) {
    if (l->role == RoleFilter::kPromoted) continue;
    if (!l->rule) {
      const auto node = node_index.find(l->node);
      if (node == node_index.end()) continue;
      s[node->second] = add_scores(s[node->second], l->score);
      term(ScoreTerm::Kind::kLocation, node->second, l->score, located(l));
      continue;
    }
    for (std::size_t i = 0; i < n(); ++i) {
      const auto v = location_score(*l, i);
      if (!v) continue;
      s[i] = add_scores(s[i], *v);
      term(ScoreTerm::Kind::kLocation, i, *v, located(l));
    }
  }
}

// The score `l` gives node i, if it applies there: its node, or a node where its rule holds
// (with score_attribute, that attribute's value there; -inf where it is not set or not a score,
// as in Pacemaker).
std::optional<int> Placer::location_score(const LocationConstraint& l, std::size_t node) const {
  if (!l.rule) return l.node == name(node) ? std::optional(l.score) : std::nullopt;
  if (!evaluate(*l.rule, rule_inputs[node])) return std::nullopt;
  if (l.score_attribute.empty()) return l.score;
  const auto value = rule_inputs[node].get(l.score_attribute);
  const auto score = value ? parse_score(*value) : std::nullopt;
  return score.value_or(-kInf);
}

bool Placer::holds_back(const Unit& u, std::size_t j, std::optional<Instant>& until) const {
  until.reset();
  if (state.held.contains(u.id)) return true;
  const auto fb = failback_of(u);
  if (!fb || fb->mode == Failback::Mode::kImmediate) return false;
  if (fb->mode == Failback::Mode::kNever) return true;
  const Instant since = j < state.online_since.size() ? state.online_since[j] : Instant::min();
  if (since == Instant::min() || state.now - since >= fb->after) return false;
  until = since + fb->after;
  return true;
}

// Failback never or after, or held by flap damping: while the unit can stay where it runs, no
// node outscores that place (a tie goes to where it runs), except one an operator moved it to
// and, with `after`, one online for that long. Not for clones on every node (nothing to move).
void Placer::hold_back(const Unit& u, Scores& s) {
  if (u.kind == Unit::Kind::kClone && !u.clone->clone_max) return;
  int floor = kInf;
  bool stays = false;
  for (std::size_t i = 0; i < n(); ++i) {
    if (active_on(i) && s[i] >= 0 && state.nodes[i] == NodeCondition::kOnline) {
      floor = std::min(floor, s[i]);
      stays = true;
    }
  }
  if (!stays) return;
  std::vector<bool> moved_to(n(), false);
  if (const auto* locs = lookup(locations, u.id)) {
    for (const LocationConstraint* l : *locs) {
      const auto node = node_index.find(l->node);
      if (l->is_move() && l->score > 0 && node != node_index.end()) moved_to[node->second] = true;
    }
  }
  std::vector<std::size_t> kept_from;
  std::optional<Instant> due;
  for (std::size_t j = 0; j < n(); ++j) {
    if (active_on(j) || s[j] <= floor || moved_to[j]) continue;
    std::optional<Instant> until;
    if (!holds_back(u, j, until)) continue;
    s[j] = floor;
    term(ScoreTerm::Kind::kHeldBack, j, floor, held_until(until));
    held_now = true;
    kept_from.push_back(j);
    if (until && (!due || *until < *due)) due = until;
  }
  if (kept_from.empty()) return;
  std::string where;
  for (std::size_t i = 0; i < n(); ++i) {
    if (active_on(i) && state.nodes[i] == NodeCondition::kOnline)
      where += (where.empty() ? "" : ",") + name(i);
  }
  std::string better;
  for (std::size_t j : kept_from) better += (better.empty() ? "" : ",") + name(j);
  if (const auto h = state.held.find(u.id); h != state.held.end()) {
    out.notes.push_back(u.id + ": held on " + where + " by flap damping (" + h->second +
                        "), although " + better + " scores higher; `hactl resource cleanup " +
                        u.id + "` releases it");
  } else if (due) {
    recheck_at(*due);
    out.notes.push_back(u.id + ": stays on " + where + " until " + better + " has been online " +
                        format_duration(failback_of(u)->after) + " (failback after; due in " +
                        format_duration(std::chrono::ceil<std::chrono::seconds>(*due - state.now)) +
                        ")");
  } else {
    out.notes.push_back(u.id + ": stays on " + where + " although " + better +
                        " scores higher (failback never; `hactl resource move " + u.id + " " +
                        name(kept_from.front()) + "` moves it)");
  }
}

// A node with less of a capacity left than the unit needs cannot take it.
void Placer::apply_capacity(Scores& s) const {
  if (need.empty()) return;
  for (std::size_t i = 0; i < n(); ++i) {
    if (s[i] <= -kInf) continue;
    for (const auto& [name, amount] : need) {
      const auto it = left[i].find(name);
      if (it == left[i].end() || it->second >= amount) continue;
      s[i] = -kInf;
      const auto& key = config.nodes[i].capacity.find(name)->first;
      term(ScoreTerm::Kind::kCapacity, i, -kInf, short_of(&key, it->second, amount));
      break;
    }
  }
}

// What colocation c adds on node i, given where its `with` was placed (in its `with_role`):
// inf: 0 there, -inf elsewhere; -inf: -inf there; a finite score: that score there.
int Placer::colocation_score(const ColocationConstraint& c, std::size_t i, bool& there) const {
  const auto with = out.unit_roles.find(c.with);
  HACTL_ASSERT(with != out.unit_roles.end());  // placement order puts `with` first
  const ResourceRole r = with->second[i];
  there = c.with_role == RoleFilter::kPromoted     ? r == ResourceRole::kPromoted
          : c.with_role == RoleFilter::kUnpromoted ? r == ResourceRole::kStarted
                                                   : active(r);
  if (c.score >= kInf) return there ? 0 : -kInf;
  if (c.score <= -kInf) return there ? -kInf : 0;
  return there ? c.score : 0;
}

// Colocations with units placed before: inf allows only the nodes where `with` runs (in
// `with_role`), -inf forbids them, other scores add there. As in Pacemaker, a finite negative
// colocation that would leave the unit no node scoring 0 or more is dropped (it may then run
// with `with` rather than nowhere).
void Placer::apply_colocations(const Unit& u, Scores& s) {
  const auto* list = lookup(colocations, u.id);
  if (list == nullptr) return;
  for (const ColocationConstraint* cp : *list) {
    const ColocationConstraint& c = *cp;
    if (c.role == RoleFilter::kPromoted) continue;  // where it is promoted: promotion_scores
    Scores added(n(), 0);
    bool runs = false;
    for (std::size_t i = 0; i < n(); ++i) {
      bool there = false;
      added[i] = colocation_score(c, i, there);
      runs = runs || add_scores(s[i], added[i]) >= 0;
      if (added[i] != 0 || (c.score >= kInf && there))
        term(ScoreTerm::Kind::kColocation, i, added[i] == 0 ? kInf : added[i], colocated(cp));
    }
    if (!runs && c.score < 0 && c.score > -kInf) {
      if (why_now != nullptr) {
        std::erase_if(why_now->terms, [&](const ScoreTerm& t) { return t.colocation == cp; });
      }
      out.notes.push_back(u.id + ": its colocation away from " + c.with + " (" +
                          std::to_string(c.score) +
                          ") is not applied: it would leave no node where it may run");
      continue;
    }
    for (std::size_t i = 0; i < n(); ++i) {
      s[i] = add_scores(s[i], added[i]);
      if (c.score < 0 && c.score > -kInf) yielding[i] = add_scores(yielding[i], added[i]);
    }
  }
}

// Whether node a goes before node b: the score; then where it runs now; then the node with the
// fewest primitives placed so far in this pass (Pacemaker's default placement strategy, so a
// lost node's resources spread over the survivors); then node name. Pacemaker puts the fewest
// placed before where it runs when the tie is at 0 or below, which moves a resource of
// stickiness 0 whenever another one is added or stopped; hactl does not move a running
// resource for a tie (docs/scheduler.md, "Differences from Pacemaker").
bool better(const Placer& p, const Scores& s, std::size_t a, std::size_t b) {
  if (s[a] != s[b]) return s[a] > s[b];
  const bool aa = p.active_on(a), ab = p.active_on(b);
  if (aa != ab) return aa;
  if (p.load[a] != p.load[b]) return p.load[a] < p.load[b];
  return p.name_rank[a] < p.name_rank[b];
}

// Every node, best first.
std::vector<std::size_t> ranked(const Placer& p, const Scores& s) {
  std::vector<std::size_t> order(p.n());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return better(p, s, a, b); });
  return order;
}

// The best node (what ranked() puts first, without sorting the rest).
std::size_t best(const Placer& p, const Scores& s) {
  std::size_t top = 0;
  for (std::size_t i = 1; i < p.n(); ++i) {
    if (better(p, s, i, top)) top = i;
  }
  return top;
}

// Nodes out of reach where the unit may still be active: the node's lease may still be valid,
// or a member's takeover_delay after it is not over.
std::vector<std::size_t> unclean_holders(const Placer& p) {
  std::vector<std::size_t> held;
  for (std::size_t i = 0; i < p.n(); ++i) {
    bool holds = frozen(p.state.nodes[i]) && p.active_on(i);
    for (const auto& m : p.members) holds = holds || (active(m.role(i)) && m.is_settling(i));
    if (holds) held.push_back(i);
  }
  return held;
}

std::vector<ResourceRole> Placer::place_single(const Unit& u, const Scores& s) {
  std::vector<ResourceRole> roles(n(), ResourceRole::kStopped);
  const auto held = unclean_holders(*this);
  if (const auto split = settling_split(held); split > 0 && split < members.size()) {
    // Every held node's lease is over and the first members have settled there: they move,
    // in order, as far as the first member still settling; it and the members after it stay
    // where they may still run until their takeover_delay is over (Pacemaker's group rule: a
    // member that cannot run stops the ones after it, not the ones before).
    const std::size_t top = best(*this, s);
    if (s[top] >= 0) roles[top] = ResourceRole::kStarted;
    for (std::size_t k = 0; k < members.size(); ++k) {
      std::vector<ResourceRole> r = roles;
      if (k >= split) {
        r.assign(n(), ResourceRole::kStopped);
        for (std::size_t i = 0; i < n(); ++i) {
          const bool reachable =
              state.nodes[i] == NodeCondition::kOnline || state.nodes[i] == NodeCondition::kStandby;
          const bool is_held = std::find(held.begin(), held.end(), i) != held.end();
          if (active(members[k].role(i)) && (reachable || is_held)) r[i] = ResourceRole::kStarted;
        }
      }
      member_roles.push_back(std::move(r));
    }
    out.notes.push_back(u.id + ": " + members[split].p->id + " and the members after it wait for " +
                        name(held.front()) + "'s takeover_delay to end before moving");
    return roles;
  }
  if (!held.empty()) {
    // It may still run there until that node's lease (and its takeover_delay) ends: starting
    // it elsewhere could run it twice. Leave it be, wherever it is, until then: each member
    // where that member is (a group split across nodes, its vip moved before the node's lease
    // became unknown again, stays split; the unit's nodes would start each member on both).
    member_roles.assign(members.size(), roles);
    for (std::size_t i = 0; i < n(); ++i) {
      const bool reachable =
          state.nodes[i] == NodeCondition::kOnline || state.nodes[i] == NodeCondition::kStandby;
      if (!reachable && std::find(held.begin(), held.end(), i) == held.end()) continue;
      for (std::size_t k = 0; k < members.size(); ++k) {
        if (active(members[k].role(i))) member_roles[k][i] = ResourceRole::kStarted;
      }
      if (active_on(i)) roles[i] = ResourceRole::kStarted;
    }
    const NodeCondition c = state.nodes[held.front()];
    if (c == NodeCondition::kMaintenance) {
      out.notes.push_back(u.id + ": left as it is on " + name(held.front()) +
                          ", which is in maintenance");
    } else {
      out.notes.push_back(u.id + ": waiting for " + name(held.front()) +
                          (c == NodeCondition::kUnclean ? "'s lease" : "'s takeover_delay") +
                          " to end before moving it");
    }
    return roles;
  }
  const std::size_t top = choose(u, s);
  if (s[top] < 0) {
    out.notes.push_back(cannot_run(u, s[top], top));
    return roles;
  }
  roles[top] = ResourceRole::kStarted;
  return roles;
}

// The node for a unit placed as one (not a clone): the best score, then by its strategy.
std::size_t Placer::choose(const Unit& u, const Scores& s) {
  const std::size_t first = best(*this, s);
  const PlacementStrategy strategy = u.members.front()->placement;
  const int top = s[first];
  if (strategy == PlacementStrategy::kScore && why_now != nullptr && top >= 0)
    why_now->chosen_by = tie_text(s, first);
  if (strategy == PlacementStrategy::kScore || top < 0) return first;
  if (strategy == PlacementStrategy::kHash) return choose_by_hash(u, s, top);
  std::vector<std::size_t> tier;
  for (std::size_t i = 0; i < n(); ++i) {
    if (s[i] == top) tier.push_back(i);
  }
  // Balanced: where it runs now, then (with a utilization) the largest share of the needed
  // capacities free, then the fewest resources placed so far, then name order.
  std::size_t pick = first;
  for (std::size_t i : tier) {
    const bool ai = active_on(i), ap = active_on(pick);
    if (ai != ap) {
      if (ai) pick = i;
      continue;
    }
    const double fi = free_share(i), fp = free_share(pick);
    if (fi != fp) {
      if (fi > fp) pick = i;
      continue;
    }
    if (load[i] != load[pick] ? load[i] < load[pick] : name_rank[i] < name_rank[pick]) pick = i;
  }
  if (why_now != nullptr && tier.size() > 1) {
    std::string because = " runs it now";
    if (!active_on(pick)) {
      because = need.empty() ? " has the fewest resources placed before it (" +
                                   std::to_string(load[pick]) + ")"
                             : " has the most of the capacity it needs free (" +
                                   std::to_string(static_cast<int>(free_share(pick) * 100 + 0.5)) +
                                   "%), then the fewest resources";
    }
    why_now->chosen_by = "placement balanced: " + name(pick) + because + " among the " +
                         std::to_string(tier.size()) + " nodes that score " + std::to_string(top);
  }
  return pick;
}

// Why a unit runs nowhere: every node excluded (-inf), or the best scores below 0, where
// nothing runs (Pacemaker Explained: a negative score means the resource cannot run there).
std::string Placer::cannot_run(const Unit& u, int top, std::size_t at) const {
  if (top <= -kInf) return u.id + ": cannot run anywhere (every node is excluded)";
  return u.id + ": cannot run anywhere (the best node, " + name(at) + ", scores " +
         std::to_string(top) + "; a resource runs only where it scores 0 or more)";
}

// Why node w beat the nodes of its score (as better() ranks them), "" when none tied.
std::string Placer::tie_text(const Scores& s, std::size_t w) const {
  std::string runs, fewer, named, all;
  auto add = [](std::string& to, const std::string& what) {
    to += (to.empty() ? "" : ", ") + what;
  };
  for (std::size_t j = 0; j < n(); ++j) {
    if (j == w || s[j] != s[w]) continue;
    add(all, name(j));
    if (active_on(w) != active_on(j)) {
      add(runs, name(j));
    } else if (load[w] != load[j]) {
      add(fewer, name(j) + " (" + std::to_string(load[j]) + ")");
    } else {
      add(named, name(j));
    }
  }
  if (all.empty()) return "";
  std::vector<std::string> why;
  if (!runs.empty()) why.push_back("it already runs there");
  if (!fewer.empty())
    why.push_back("it has fewer resources placed before it (" + std::to_string(load[w]) +
                  ") than " + fewer);
  if (!named.empty()) why.push_back("its name sorts before " + named);
  std::string because;
  for (std::size_t k = 0; k < why.size(); ++k)
    because += (k == 0 ? "" : k + 1 == why.size() ? ", and " : ", ") + why[k];
  const std::string at = s[w] >= kInf ? "+inf" : std::to_string(s[w]);
  return name(w) + " ties with " + all + " at " + at + "; " + name(w) + " wins because " + because;
}

std::size_t Placer::choose_by_hash(const Unit& u, const Scores& s, int top) {
  // Held where it runs (failback never/after, flap damping): stays there.
  if (held_now) {
    for (std::size_t i = 0; i < n(); ++i) {
      if (s[i] == top && active_on(i)) return i;
    }
  }
  if (ring.empty()) {
    ring.reserve(n() * kVirtualNodes);
    for (std::size_t i = 0; i < n(); ++i) {
      for (std::size_t v = 0; v < kVirtualNodes; ++v)
        ring.emplace_back(ring_hash(name(i) + "#" + std::to_string(v)), i);
    }
    std::sort(ring.begin(), ring.end());
  }
  const std::uint64_t point = ring_hash(u.id);
  auto it = std::lower_bound(ring.begin(), ring.end(), std::make_pair(point, std::size_t{0}));
  for (std::size_t step = 0; step < ring.size(); ++step, ++it) {
    if (it == ring.end()) it = ring.begin();
    if (s[it->second] != top) continue;
    // Failback never or after (not yet due) and flap damping keep it where it runs, as they
    // keep other units: no move to a node of the same score.
    std::optional<Instant> until;
    if (!active_on(it->second) && holds_back(u, it->second, until)) {
      for (std::size_t i = 0; i < n(); ++i) {
        if (s[i] != top || !active_on(i)) continue;
        if (until) recheck_at(*until);
        if (why_now != nullptr) {
          why_now->chosen_by =
              "placement hash: the ring gives " + name(it->second) + ", but " + u.id +
              " stays on " + name(i) + " (" +
              (state.held.contains(u.id) ? std::string("flap damping")
                                         : "failback " + to_string(*failback_of(u))) +
              ")";
        }
        return i;
      }
    }
    if (why_now != nullptr) {
      why_now->chosen_by = "placement hash: " + name(it->second) +
                           " holds the first point of the ring after " + u.id +
                           "'s among the nodes that score " + std::to_string(top);
    }
    return it->second;
  }
  return best(*this, s);
}

// For a group held only by settling members (every held node's lease is over): the index of
// the first member still settling on a held node; 0 when the group cannot split.
std::size_t Placer::settling_split(const std::vector<std::size_t>& held) const {
  if (held.empty() || members.size() < 2) return 0;
  for (std::size_t i : held) {
    if (frozen(state.nodes[i])) return 0;
  }
  for (std::size_t k = 0; k < members.size(); ++k) {
    for (std::size_t i : held) {
      if (active(members[k].role(i)) && members[k].is_settling(i)) return k;
    }
  }
  return 0;
}

std::vector<ResourceRole> Placer::place_clone(const Unit& u, const Scores& s) {
  std::vector<ResourceRole> roles(n(), ResourceRole::kStopped);
  const std::size_t max = u.clone->clone_max ? static_cast<std::size_t>(*u.clone->clone_max) : n();
  std::size_t placed = 0;
  for (std::size_t i : unclean_holders(*this)) {
    roles[i] = members.front().role(i) == ResourceRole::kPromoted ? ResourceRole::kPromoted
                                                                  : ResourceRole::kStarted;
    ++placed;
  }
  const auto order = ranked(*this, s);
  for (std::size_t i : order) {
    if (placed >= max || s[i] < 0) break;
    if (roles[i] != ResourceRole::kStopped) continue;
    roles[i] = ResourceRole::kStarted;
    ++placed;
  }
  // Instances still to place go where only a finite negative colocation kept them off (for
  // each of them it is rolled back, as in Pacemaker, rather than leave it nowhere to run).
  for (std::size_t i : order) {
    if (placed >= max) break;
    if (roles[i] != ResourceRole::kStopped || s[i] >= 0 || s[i] <= -kInf) continue;
    if (add_scores(s[i], -yielding[i]) < 0) continue;
    roles[i] = ResourceRole::kStarted;
    ++placed;
  }
  if (max == 0) {
    out.notes.push_back(u.id + ": clone_max is 0, so no instance runs");
  } else if (placed == 0) {
    out.notes.push_back(cannot_run(u, s[best(*this, s)], best(*this, s)));
  }
  if (u.clone->promotable) promote(u, roles);
  return roles;
}

// An instance may be promoted only where the agent's promotion score (crm_master) and the
// promotion locations add up to more than 0, as in Pacemaker: a replica whose agent has not
// said it holds the newest data is never promoted by default. Stickiness then favours the
// instance promoted now. -inf where it cannot be promoted.
Scores Placer::promotion_scores(const Unit& u, const std::vector<ResourceRole>& roles) const {
  const PrimitiveConfig& child = *u.members.front();
  const bool sticky = !failback_of(u);
  static const std::vector<const LocationConstraint*> kNone;
  const auto* found = lookup(locations, u.id);
  const auto& locs = found != nullptr ? *found : kNone;
  static const std::vector<const ColocationConstraint*> kNoColocations;
  const auto* colocated_found = lookup(colocations, u.id);
  const auto& colos = colocated_found != nullptr ? *colocated_found : kNoColocations;
  Scores s(n(), -kInf);
  for (std::size_t i = 0; i < n(); ++i) {
    if (roles[i] != ResourceRole::kStarted || state.nodes[i] != NodeCondition::kOnline) continue;
    s[i] = 0;
    if (const auto score = state.promotion_score(child.id, NodeId{static_cast<std::uint16_t>(i)})) {
      s[i] = add_scores(s[i], *score);
      term(ScoreTerm::Kind::kPromotionScore, i, *score, of_member(&child));
    }
    for (const LocationConstraint* l : locs) {
      const auto v = l->role == RoleFilter::kPromoted ? location_score(*l, i) : std::nullopt;
      if (!v) continue;
      s[i] = add_scores(s[i], *v);
      term(ScoreTerm::Kind::kPromotionLocation, i, *v, located(l));
    }
    for (const ColocationConstraint* c : colos) {
      if (c->role != RoleFilter::kPromoted) continue;
      bool there = false;
      const int v = colocation_score(*c, i, there);
      s[i] = add_scores(s[i], v);
      if (v != 0 || (c->score >= kInf && there))
        term(ScoreTerm::Kind::kPromotionColocation, i, v == 0 ? kInf : v, colocated(c));
    }
    if (s[i] <= 0) {
      if (s[i] > -kInf) term(ScoreTerm::Kind::kPromotionNoScore, i, -kInf);
      s[i] = -kInf;
      continue;
    }
    if (sticky && members.front().role(i) == ResourceRole::kPromoted) {
      s[i] = add_scores(s[i], child.stickiness);
      if (child.stickiness != 0)
        term(ScoreTerm::Kind::kPromotionStickiness, i, child.stickiness, of_member(&child));
    }
  }
  return s;
}

// Promotes the best promoted_max instances by promotion score (promotion_scores), keeping the
// promoted role where failback or flap damping hold it.
void Placer::promote(const Unit& u, std::vector<ResourceRole>& roles) {
  std::size_t promoted = 0;
  for (std::size_t i = 0; i < n(); ++i) promoted += roles[i] == ResourceRole::kPromoted ? 1 : 0;
  Scores s = promotion_scores(u, roles);
  // Failback never / after and flap damping hold the promoted role where it is, as they hold
  // an instance (hold_back).
  int floor = kInf;
  for (std::size_t i = 0; i < n(); ++i) {
    if (members.front().role(i) == ResourceRole::kPromoted && s[i] > -kInf)
      floor = std::min(floor, s[i]);
  }
  if (floor < kInf) {
    std::vector<std::size_t> kept_from;
    std::optional<Instant> due;
    for (std::size_t j = 0; j < n(); ++j) {
      if (members.front().role(j) == ResourceRole::kPromoted || s[j] <= floor) continue;
      std::optional<Instant> until;
      if (!holds_back(u, j, until)) continue;
      s[j] = floor;
      term(ScoreTerm::Kind::kPromotionHeldBack, j, floor, held_until(until));
      kept_from.push_back(j);
      if (until && (!due || *until < *due)) due = until;
    }
    if (!kept_from.empty()) {
      if (due) recheck_at(*due);
      std::string better;
      for (std::size_t j : kept_from) better += (better.empty() ? "" : ",") + name(j);
      out.notes.push_back(
          u.id + ": stays promoted where it is although " + better +
          " scores higher for promotion (" +
          (state.held.contains(u.id) ? "flap damping" : "failback " + to_string(*failback_of(u))) +
          ")");
    }
  }
  std::vector<std::size_t> order(n());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (s[a] != s[b]) return s[a] > s[b];
    const bool pa = members.front().role(a) == ResourceRole::kPromoted;
    const bool pb = members.front().role(b) == ResourceRole::kPromoted;
    if (pa != pb) return pa;
    return name_rank[a] < name_rank[b];
  });
  if (why_now != nullptr) why_now->promotion_scores = s;
  // An instance that may still be promoted on a node out of reach (counted in `promoted`
  // already) blocks promoting anew, never keeping one that is promoted where it runs: demoting
  // that would not end the other (its own lease does) and would only cost its service (a new
  // coordinator takes a lost one's instances as possibly promoted until they settle).
  const auto max = static_cast<std::size_t>(u.clone->promoted_max);
  std::size_t kept = 0;
  for (std::size_t i : order) {
    if (s[i] <= -kInf) break;
    const bool is_promoted = members.front().role(i) == ResourceRole::kPromoted;
    if (kept >= max || (!is_promoted && promoted >= max)) continue;
    roles[i] = ResourceRole::kPromoted;
    ++promoted;
    ++kept;
  }
}

void Placer::place_unit(const Unit& u) {
  view(u);
  const std::size_t notes_before = out.notes.size();
  if (explain) {
    why_now = &out.why.emplace_back();
    why_now->unit = u.id;
    why_now->kind = u.kind;
    why_now->current.assign(n(), ResourceRole::kStopped);
    for (const auto& m : members) {
      for (std::size_t i = 0; i < n(); ++i)
        why_now->current[i] = std::max(why_now->current[i], m.role(i));
    }
  }
  need = utilization_of(u);
  if (const auto r = reserved.find(u.id); r != reserved.end()) {
    for (std::size_t i : r->second) use(i, need, +1);  // its own reservation, given back
  }
  Scores s = base_scores(u);
  yielding.assign(n(), 0);
  apply_colocations(u, s);
  merge_members(u, s);
  apply_capacity(s);
  hold_back(u, s);
  const auto roles = u.kind == Unit::Kind::kClone ? place_clone(u, s) : place_single(u, s);
  if (why_now != nullptr) {
    why_now->scores = std::move(s);
    why_now->roles = roles;
    why_now->notes.assign(out.notes.begin() + static_cast<std::ptrdiff_t>(notes_before),
                          out.notes.end());
    why_now = nullptr;
  }
  held_now = false;
  for (std::size_t i = 0; i < n(); ++i) {
    if (!active(roles[i])) continue;
    load[i] += static_cast<int>(prefix);
    use(i, need, -1);
  }
  out.unit_roles[u.id] = roles;
  const std::vector<ResourceRole> stopped(n(), ResourceRole::kStopped);
  for (std::size_t k = 0; k < u.members.size(); ++k) {
    out.target[u.members[k]->id] = !member_roles.empty() ? member_roles[k]
                                   : k < prefix          ? roles
                                                         : stopped;
  }
}

}  // namespace

std::vector<Unit> make_units(const ResourceConfig& rc) {
  std::unordered_map<std::string, const PrimitiveConfig*> prims;
  std::unordered_map<std::string, const GroupConfig*> groups;
  for (const auto& p : rc.primitives) prims[p.id] = &p;
  for (const auto& g : rc.groups) groups[g.id] = &g;
  std::unordered_set<std::string> owned;
  for (const auto& g : rc.groups) owned.insert(g.members.begin(), g.members.end());
  for (const auto& c : rc.clones) owned.insert(c.child);
  auto members_of = [&](const std::string& id) {
    std::vector<const PrimitiveConfig*> m;
    if (const auto g = groups.find(id); g != groups.end()) {
      for (const auto& member : g->second->members) m.push_back(prims.at(member));
    } else {
      m.push_back(prims.at(id));
    }
    return m;
  };
  std::vector<Unit> units;
  for (const auto& p : rc.primitives) {
    if (!owned.contains(p.id)) units.push_back(Unit{Unit::Kind::kPrimitive, p.id, {&p}, nullptr});
  }
  for (const auto& g : rc.groups) {
    if (!owned.contains(g.id))
      units.push_back(Unit{Unit::Kind::kGroup, g.id, members_of(g.id), nullptr});
  }
  for (const auto& c : rc.clones)
    units.push_back(Unit{Unit::Kind::kClone, c.id, members_of(c.child), &c});
  // Sort key: depth in the colocation graph (a unit comes after everything it is colocated
  // with), then priority (higher first), then the order above (primitives, groups, clones, each
  // in configuration order, as Pacemaker takes resources in the order of the CIB).
  std::unordered_map<std::string, std::vector<std::string>> with;
  for (const auto& c : rc.colocations) with[c.resource].push_back(c.with);
  std::unordered_map<std::string, int> depth;
  std::function<int(const std::string&)> depth_of = [&](const std::string& id) {
    if (auto it = depth.find(id); it != depth.end()) return it->second;
    int d = 0;
    if (auto it = with.find(id); it != with.end()) {
      for (const auto& w : it->second) d = std::max(d, depth_of(w) + 1);
    }
    return depth[id] = d;
  };
  std::vector<std::tuple<int, int, std::size_t>> keys;
  for (std::size_t i = 0; i < units.size(); ++i) {
    int priority = 0;
    for (const auto* m : units[i].members) priority = std::max(priority, m->priority);
    keys.emplace_back(depth_of(units[i].id), -priority, i);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<Unit> ordered;
  ordered.reserve(units.size());
  for (const auto& k : keys) ordered.push_back(std::move(units[std::get<2>(k)]));
  return ordered;
}

namespace {

// Mandatory orders decide what may run, as in Pacemaker: when `first` is placed nowhere (for
// first_action promote: promoted nowhere), `then` may not start (or be promoted); symmetrical,
// it stops (is demoted) where it runs; not symmetrical, it keeps running where it runs and
// only starts nowhere new. As in Pacemaker, units colocated with `then` were placed already
// and are not placed again. Orders are taken in topological order of their `first`, so a chain
// is settled in one pass.
class OrderGate {
 public:
  OrderGate(const ClusterConfig& c, const ClusterState& st, const std::vector<Unit>& units,
            Placement& out)
      : config_(c), state_(st), out_(out) {
    for (const Unit& u : units) unit_[u.id] = &u;
  }
  void run() {
    for (const OrderConstraint* o : orders_by_first(config_.resources)) {
      if (o->kind != OrderConstraint::Kind::kMandatory || able(*o)) continue;
      gate(*o);
    }
  }

 private:
  bool able(const OrderConstraint& o) const;
  void gate(const OrderConstraint& o);

  const ClusterConfig& config_;
  const ClusterState& state_;
  Placement& out_;
  std::unordered_map<std::string, const Unit*> unit_;
};

bool OrderGate::able(const OrderConstraint& o) const {
  const auto u = unit_.find(o.first);
  if (u == unit_.end()) return true;
  const bool promote = o.first_action == ActionKind::kPromote;
  if (!promote && o.first_action != ActionKind::kStart) return true;
  for (const PrimitiveConfig* p : u->second->members) {
    const auto t = out_.target.find(p->id);
    bool there = false;
    for (const ResourceRole r : t == out_.target.end() ? std::vector<ResourceRole>{} : t->second)
      there = there || (promote ? r == ResourceRole::kPromoted : r != ResourceRole::kStopped);
    if (promote && there) return true;
    if (!promote && !there) return false;
  }
  return !promote;
}

void OrderGate::gate(const OrderConstraint& o) {
  const auto u = unit_.find(o.then);
  if (u == unit_.end()) return;
  const bool promote = o.then_action == ActionKind::kPromote;
  if (!promote && o.then_action != ActionKind::kStart) return;
  const ResourceRole cap = promote ? ResourceRole::kStarted : ResourceRole::kStopped;
  bool changed = false;
  for (const PrimitiveConfig* p : u->second->members) {
    auto& roles = out_.target[p->id];
    const auto cur = state_.roles.find(p->id);
    for (std::size_t i = 0; i < roles.size(); ++i) {
      if (roles[i] <= cap || frozen(state_.nodes[i])) continue;
      const ResourceRole now = cur == state_.roles.end() ? ResourceRole::kStopped : cur->second[i];
      // Not symmetrical: what runs (is promoted) now stays so; nothing new.
      if (!o.symmetrical && now >= roles[i]) continue;
      roles[i] = cap;
      changed = true;
    }
  }
  if (!changed) return;
  auto& unit_roles = out_.unit_roles[o.then];
  for (std::size_t i = 0; i < unit_roles.size(); ++i) {
    ResourceRole r = ResourceRole::kStopped;
    for (const PrimitiveConfig* p : u->second->members) r = std::max(r, out_.target[p->id][i]);
    unit_roles[i] = r;
  }
  for (auto& why : out_.why) {
    if (why.unit == o.then) why.roles = unit_roles;
  }
  const char* what = promote ? (o.symmetrical ? "demoted" : "not promoted anew")
                             : (o.symmetrical ? "stopped" : "not started anew");
  out_.notes.push_back(o.then + ": " + what + " because " + o.first + " cannot " +
                       (o.first_action == ActionKind::kPromote ? "be promoted" : "run") +
                       " anywhere (order " + o.first + " then " + o.then + ")");
}

}  // namespace

std::vector<const OrderConstraint*> orders_by_first(const ResourceConfig& rc) {
  const auto& orders = rc.orders;
  std::unordered_map<std::string, std::vector<const OrderConstraint*>> from;
  std::unordered_map<std::string, int> indegree;
  for (const auto& o : orders) {
    from[o.first].push_back(&o);
    ++indegree[o.then];
    indegree.try_emplace(o.first, 0);
  }
  std::vector<std::string> ready;
  for (const auto& o : orders) {
    if (indegree[o.first] == 0) {
      ready.push_back(o.first);
      indegree[o.first] = -1;  // queued once
    }
  }
  std::vector<const OrderConstraint*> sorted;
  for (std::size_t k = 0; k < ready.size(); ++k) {
    const auto it = from.find(ready[k]);
    if (it == from.end()) continue;
    for (const OrderConstraint* o : it->second) {
      sorted.push_back(o);
      if (--indegree[o->then] == 0) ready.push_back(o->then);
    }
  }
  return sorted;  // the loader refuses cycles, so every order is here
}

Placement place(const ClusterConfig& config, const ClusterState& state, bool explain) {
  HACTL_ASSERT(state.nodes.size() == config.nodes.size());
  Placer p(config, state, explain);
  const std::vector<Unit> units = make_units(config.resources);
  p.reserve_running(units);
  for (const Unit& u : units) p.place_unit(u);
  if (!config.resources.orders.empty()) OrderGate(config, state, units, p.out).run();
  return std::move(p.out);
}

}  // namespace hactl
