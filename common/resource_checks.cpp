// Whole-file checks of the resource sections (part of check_resources in resource_loader.hpp):
// unique ids, resolvable references, one owner per primitive, roles only on promotable
// clones, no self-references or cycles among colocations and orders.
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "common/limits.hpp"
#include "common/resource_loader.hpp"
#include "common/suggest.hpp"
#include "common/vip_params.hpp"

namespace hactl {
namespace {

struct Checker {
  YamlReader& r;
  const YAML::Node& root;
  const ClusterConfig& config;
  const ResourceConfig& rc;
  std::map<std::string, std::string> owner;  // primitive or group -> group or clone holding it

  YAML::Node node(const char* section, std::size_t i, const char* key = nullptr) const {
    YAML::Node n = root[section][i];
    return key != nullptr && n[key] ? n[key] : n;
  }
  YAML::Node constraint(const char* kind, std::size_t i, const char* key) const {
    YAML::Node n = root["constraints"][kind][i];
    return n[key] ? n[key] : n;
  }

  // A clone's child: the primitive, or the group's members.
  std::vector<std::string> primitives_of_child(const std::string& child) const {
    if (const GroupConfig* g = rc.group(child)) return g->members;
    return {child};
  }
  void unique_ids();
  void vip_params();
  void utilization();
  void groups();
  void clones();
  void constraints();
  void reference(const std::string& id, const YAML::Node& at, const std::string& path,
                 bool member_ok = false);
  void role_on(const std::string& id, RoleFilter role, const YAML::Node& at,
               const std::string& path);
  void rule_nodes(const Rule& rule, const YAML::Node& at, const std::string& path);
  void cycles(const char* kind, const std::vector<std::pair<std::string, std::string>>& edges);
};

void Checker::unique_ids() {
  std::map<std::string, std::string> seen;
  auto add = [&](const std::string& id, const char* section, std::size_t i) {
    const std::string path = std::string(section) + "[" + std::to_string(i) + "].id";
    if (!valid_name(id, 64)) {
      r.error(node(section, i, "id"), path, "ids are 1 to 64 characters of A-Z a-z 0-9 _ . -");
      return;
    }
    if (auto [it, fresh] = seen.emplace(id, path); !fresh) {
      r.error(node(section, i, "id"), path, "duplicate id '" + id + "' (also " + it->second + ")");
    }
  };
  for (std::size_t i = 0; i < rc.primitives.size(); ++i) add(rc.primitives[i].id, "resources", i);
  for (std::size_t i = 0; i < rc.groups.size(); ++i) add(rc.groups[i].id, "groups", i);
  for (std::size_t i = 0; i < rc.clones.size(); ++i) add(rc.clones[i].id, "clones", i);
  if (seen.size() > limits::kMaxResources) {
    r.error(root, "resources", "more than " + std::to_string(limits::kMaxResources) + " resources");
  }
}

void Checker::vip_params() {
  for (std::size_t i = 0; i < rc.primitives.size(); ++i) {
    const auto& p = rc.primitives[i];
    if (p.cls != ResourceClass::kVip) continue;
    const std::string path = "resources[" + std::to_string(i) + "].params";
    const YAML::Node at = node("resources", i, "params");
    const auto parsed = parse_vip_params(p.params);
    if (parsed) continue;
    for (const VipParamError& e : parsed.error()) {
      const YAML::Node key = at.IsMap() && at[e.key] ? at[e.key] : at;
      r.error(key, path + "." + e.key, e.message);
    }
  }
}

void Checker::groups() {
  for (std::size_t i = 0; i < rc.groups.size(); ++i) {
    const auto& g = rc.groups[i];
    const std::string path = "groups[" + std::to_string(i) + "].members";
    const YAML::Node at = node("groups", i, "members");
    if (g.members.empty()) r.error(at, path, "a group needs at least one member");
    for (std::size_t m = 0; m < g.members.size(); ++m) {
      const auto& id = g.members[m];
      const std::string mp = path + "[" + std::to_string(m) + "]";
      if (rc.primitive(id) == nullptr) {
        r.error(at, mp,
                "'" + id + "' is not a resource (groups hold resources, not groups or clones)");
      } else if (auto [it, fresh] = owner.emplace(id, g.id); !fresh) {
        r.error(at, mp, "'" + id + "' is already a member of " + it->second);
      }
    }
    // The group moves as one: its members' failback and flap_damping must agree.
    const PrimitiveConfig* fb = nullptr;
    const PrimitiveConfig* fd = nullptr;
    for (const auto& id : g.members) {
      const PrimitiveConfig* p = rc.primitive(id);
      if (p == nullptr) continue;
      if (p->failback && fb && *fb->failback != *p->failback) {
        r.error(at, path,
                "members of a group move together: '" + fb->id + "' has failback " +
                    to_string(*fb->failback) + " and '" + p->id + "' " + to_string(*p->failback));
      }
      if (p->flap_damping && fd && *fd->flap_damping != *p->flap_damping) {
        r.error(at, path,
                "members of a group move together: '" + fd->id + "' and '" + p->id +
                    "' have different flap_damping");
      }
      if (p->failback && !fb) fb = p;
      if (p->flap_damping && !fd) fd = p;
    }
    const PrimitiveConfig* first = rc.primitive(g.members.empty() ? "" : g.members.front());
    for (const auto& id : g.members) {
      const PrimitiveConfig* p = rc.primitive(id);
      if (p == nullptr || first == nullptr || p->placement == first->placement) continue;
      r.error(at, path,
              "members of a group are placed together: '" + first->id + "' has placement " +
                  std::string(to_string(first->placement)) + " and '" + p->id + "' " +
                  std::string(to_string(p->placement)));
      break;
    }
  }
}

void Checker::clones() {
  for (std::size_t i = 0; i < rc.clones.size(); ++i) {
    const auto& c = rc.clones[i];
    const std::string path = "clones[" + std::to_string(i) + "]";
    const YAML::Node at = node("clones", i, "resource");
    if (rc.primitive(c.child) == nullptr && rc.group(c.child) == nullptr) {
      r.error(at, path + ".resource", "'" + c.child + "' is not a resource or group");
      continue;
    }
    // A clone runs on the best clone_max nodes; there is no one node to choose.
    for (const auto& id : primitives_of_child(c.child)) {
      const PrimitiveConfig* p = rc.primitive(id);
      if (p != nullptr && p->placement != PlacementStrategy::kScore) {
        r.error(at, path + ".resource",
                "'" + id + "' has placement " + std::string(to_string(p->placement)) +
                    ", which is for primitives and groups, not clones");
      }
    }
    if (auto [it, fresh] = owner.emplace(c.child, c.id); !fresh) {
      r.error(at, path + ".resource", "'" + c.child + "' already belongs to " + it->second);
    }
    if (!c.promotable) continue;
    const auto* prim = rc.primitive(c.child);
    if (prim == nullptr || prim->cls != ResourceClass::kOcf) {
      r.error(at, path + ".resource",
              "a promotable clone needs an ocf resource (promote and demote are OCF actions)");
    }
    if (c.clone_max && *c.clone_max > 0 && c.promoted_max > *c.clone_max) {
      r.error(node("clones", i, "promoted_max"), path + ".promoted_max",
              "promoted_max (" + std::to_string(c.promoted_max) + ") exceeds clone_max (" +
                  std::to_string(*c.clone_max) + ")");
    }
  }
}

// `member_ok`: a member of a group that is not cloned may be named (a location constraint on a
// member, as in Pacemaker: docs/scheduler.md, "Group members").
void Checker::reference(const std::string& id, const YAML::Node& at, const std::string& path,
                        bool member_ok) {
  const auto it = owner.find(id);
  const bool member =
      it != owner.end() && rc.group(it->second) != nullptr && !owner.contains(it->second);
  if (!rc.exists(id)) {
    r.error(at, path, "no resource, group or clone is called '" + id + "'");
  } else if (it != owner.end() && !(member_ok && member)) {
    r.error(at, path,
            "'" + id + "' belongs to " + it->second + ": constrain " + it->second + " instead");
  }
}

void Checker::role_on(const std::string& id, RoleFilter role, const YAML::Node& at,
                      const std::string& path) {
  if (role != RoleFilter::kPromoted && role != RoleFilter::kUnpromoted) return;
  const auto* c = rc.clone(id);
  if (c == nullptr || !c->promotable) {
    r.error(at, path, "the roles promoted and unpromoted exist only for promotable clones");
  }
}

// `#uname eq NAME` (or ne) with a NAME that is no node never matches (or always does): a typo
// the scheduler would follow silently. Names compare without regard to case, as in the rule.
void Checker::rule_nodes(const Rule& rule, const YAML::Node& at, const std::string& path) {
  std::vector<std::string> names;
  for (const auto& n : config.nodes) names.push_back(n.name);
  for (const Rule::Step& s : rule.steps) {
    const RuleCondition& c = s.condition;
    if (s.kind != Rule::Step::Kind::kCondition || c.attribute != "#uname" ||
        (c.op != RuleOp::kEq && c.op != RuleOp::kNe) ||
        (c.type != RuleType::kDefault && c.type != RuleType::kString)) {
      continue;
    }
    const RuleCondition same{"#uname", RuleOp::kEq, RuleType::kString, c.value};
    const bool known = std::any_of(names.begin(), names.end(), [&](const std::string& n) {
      return holds(same, std::string_view(n));
    });
    if (!known) {
      r.error(at, path,
              "rule '" + rule.text + "': " + unknown_name_message("node", c.value, names));
    }
  }
}

void Checker::constraints() {
  std::vector<std::pair<std::string, std::string>> coloc_edges, order_edges;
  for (std::size_t i = 0; i < rc.locations.size(); ++i) {
    const auto& l = rc.locations[i];
    const std::string p = "constraints.location[" + std::to_string(i) + "]";
    reference(l.resource, constraint("location", i, "resource"), p + ".resource", true);
    if (l.rule) {
      rule_nodes(*l.rule, constraint("location", i, "rule"), p + ".rule");
    } else if (root["constraints"]["location"][i]["node"] && !config.find_node(l.node)) {
      r.error(constraint("location", i, "node"), p + ".node", "no node is called '" + l.node + "'");
    }
    role_on(l.resource, l.role, constraint("location", i, "role"), p + ".role");
  }
  for (std::size_t i = 0; i < rc.colocations.size(); ++i) {
    const auto& c = rc.colocations[i];
    const std::string p = "constraints.colocation[" + std::to_string(i) + "]";
    reference(c.resource, constraint("colocation", i, "resource"), p + ".resource");
    reference(c.with, constraint("colocation", i, "with"), p + ".with");
    role_on(c.with, c.with_role, constraint("colocation", i, "with_role"), p + ".with_role");
    role_on(c.resource, c.role, constraint("colocation", i, "role"), p + ".role");
    if (c.resource == c.with) {
      r.error(constraint("colocation", i, "with"), p + ".with",
              "a resource cannot be colocated with itself");
    }
    coloc_edges.emplace_back(c.resource, c.with);
  }
  for (std::size_t i = 0; i < rc.orders.size(); ++i) {
    const auto& o = rc.orders[i];
    const std::string p = "constraints.order[" + std::to_string(i) + "]";
    reference(o.first, constraint("order", i, "first"), p + ".first");
    reference(o.then, constraint("order", i, "then"), p + ".then");
    if (o.first == o.then) {
      r.error(constraint("order", i, "then"), p + ".then",
              "a resource cannot be ordered after itself");
    }
    order_edges.emplace_back(o.first, o.then);
  }
  if (r.errors().empty()) {
    cycles("colocation", coloc_edges);
    cycles("order", order_edges);
  }
}

// Depth-first search for a cycle; reports the first one found as a path a person can follow.
void Checker::cycles(const char* kind,
                     const std::vector<std::pair<std::string, std::string>>& edges) {
  std::map<std::string, std::vector<std::string>> next;
  for (const auto& [a, b] : edges) next[a].push_back(b);
  std::map<std::string, int> state;  // 0 new, 1 on stack, 2 done
  std::vector<std::string> stack;
  std::function<bool(const std::string&)> visit = [&](const std::string& v) {
    state[v] = 1;
    stack.push_back(v);
    for (const auto& w : next[v]) {
      if (state[w] == 1) {
        std::string loop;
        for (auto it = std::find(stack.begin(), stack.end(), w); it != stack.end(); ++it)
          loop += *it + " -> ";
        r.error(root["constraints"][kind], std::string("constraints.") + kind,
                std::string(kind) + " constraints form a cycle: " + loop + w);
        return true;
      }
      if (state[w] == 0 && visit(w)) return true;
    }
    stack.pop_back();
    state[v] = 2;
    return false;
  };
  for (const auto& [v, _] : next) {
    if (state[v] == 0 && visit(v)) return;
  }
}

}  // namespace

void check_resources(YamlReader& reader, const YAML::Node& root, const ClusterConfig& config) {
  Checker c{reader, root, config, config.resources, {}};
  c.unique_ids();
  c.vip_params();
  c.groups();
  c.clones();
  c.constraints();
  c.utilization();
}

// A utilization name no node lists in its capacity limits nothing: most likely a typo. Both
// lists come from the file, so this stays n log n: the names in a set, and a did-you-mean (an
// edit distance against every name) for the first few unknown names only.
void Checker::utilization() {
  constexpr std::size_t kMaxSuggestions = 8;
  std::set<std::string> known_set;
  for (const auto& n : config.nodes) {
    for (const auto& [name, _] : n.capacity) known_set.insert(name);
  }
  const std::vector<std::string> known(known_set.begin(), known_set.end());
  std::size_t suggested = 0;
  for (std::size_t i = 0; i < rc.primitives.size(); ++i) {
    for (const auto& [name, _] : rc.primitives[i].utilization) {
      if (known_set.contains(name)) continue;
      std::string message = "no node lists '" + name + "' in its capacity";
      if (known.empty()) {
        message += " (nodes: [{name: ..., capacity: {" + name + ": N}}])";
      } else if (suggested < kMaxSuggestions) {
        ++suggested;
        if (const auto close = closest_name(name, known)) {
          message += "; did you mean '" + *close + "'?";
        }
      }
      r.error(node("resources", i, "utilization"),
              "resources[" + std::to_string(i) + "].utilization." + name, message);
    }
  }
}

std::string_view to_string(ResourceClass c) {
  switch (c) {
    case ResourceClass::kVip:
      return "vip";
    case ResourceClass::kOcf:
      return "ocf";
    case ResourceClass::kSystemd:
      return "systemd";
    case ResourceClass::kExec:
      return "exec";
  }
  return "unknown";
}

std::string to_string(const Failback& f) {
  switch (f.mode) {
    case Failback::Mode::kNever:
      return "never";
    case Failback::Mode::kImmediate:
      return "immediate";
    case Failback::Mode::kAfter:
      return "after " + format_duration(f.after);
  }
  return "unknown";
}

bool same_definition(const PrimitiveConfig& a, const PrimitiveConfig& b) {
  return a.cls == b.cls && a.provider == b.provider && a.type == b.type && a.params == b.params;
}

bool same_settings(const PrimitiveConfig& a, const PrimitiveConfig& b) {
  return same_definition(a, b) && a.monitor == b.monitor && a.start == b.start &&
         a.stop == b.stop && a.promote == b.promote && a.demote == b.demote &&
         a.notify == b.notify && a.stickiness == b.stickiness &&
         a.migration_threshold == b.migration_threshold && a.failure_timeout == b.failure_timeout &&
         a.on_fail == b.on_fail && a.priority == b.priority &&
         a.on_quorum_loss == b.on_quorum_loss && a.failback == b.failback &&
         a.flap_damping == b.flap_damping && a.placement == b.placement &&
         a.takeover_delay == b.takeover_delay && a.utilization == b.utilization;
}

std::string_view to_string(PlacementStrategy s) {
  switch (s) {
    case PlacementStrategy::kScore:
      return "score";
    case PlacementStrategy::kBalanced:
      return "balanced";
    case PlacementStrategy::kHash:
      return "hash";
  }
  return "score";
}

std::string_view to_string(OnFail f) {
  switch (f) {
    case OnFail::kRestart:
      return "restart";
    case OnFail::kMove:
      return "move";
    case OnFail::kStop:
      return "stop";
    case OnFail::kIgnore:
      return "ignore";
  }
  return "unknown";
}

std::string_view to_string(OrderConstraint::Kind k) {
  switch (k) {
    case OrderConstraint::Kind::kMandatory:
      return "mandatory";
    case OrderConstraint::Kind::kOptional:
      return "optional";
    case OrderConstraint::Kind::kSerialize:
      return "serialize";
  }
  return "unknown";
}

std::string_view to_string(ActionKind a) {
  switch (a) {
    case ActionKind::kStart:
      return "start";
    case ActionKind::kStop:
      return "stop";
    case ActionKind::kPromote:
      return "promote";
    case ActionKind::kDemote:
      return "demote";
  }
  return "unknown";
}

void ResourceConfig::build_index() {
  index_ = Index{};
  for (std::size_t i = 0; i < primitives.size(); ++i) index_.primitive.emplace(primitives[i].id, i);
  for (std::size_t i = 0; i < groups.size(); ++i) index_.group.emplace(groups[i].id, i);
  for (std::size_t i = 0; i < clones.size(); ++i) {
    index_.clone.emplace(clones[i].id, i);
    index_.clone_of.emplace(clones[i].child, i);
    const auto g = index_.group.find(clones[i].child);
    if (g == index_.group.end()) continue;
    for (const auto& member : groups[g->second].members) index_.clone_of.emplace(member, i);
  }
  index_.primitives = primitives.size();
  index_.groups = groups.size();
  index_.clones = clones.size();
  index_.built = true;
}

namespace {
// The element of `items` with this id: through the index when it is current, else by a scan.
template <typename T, typename Map>
const T* find_by_id(const std::vector<T>& items, const Map& index, bool indexed,
                    std::string_view id) {
  if (indexed) {
    const auto it = index.find(id);
    if (it == index.end()) return nullptr;
    if (it->second < items.size() && items[it->second].id == id) return &items[it->second];
  }
  for (const auto& x : items)
    if (x.id == id) return &x;
  return nullptr;
}
}  // namespace

const PrimitiveConfig* ResourceConfig::primitive(std::string_view id) const {
  return find_by_id(primitives, index_.primitive, indexed(), id);
}
const GroupConfig* ResourceConfig::group(std::string_view id) const {
  return find_by_id(groups, index_.group, indexed(), id);
}
const CloneConfig* ResourceConfig::clone(std::string_view id) const {
  return find_by_id(clones, index_.clone, indexed(), id);
}
const CloneConfig* ResourceConfig::clone_of(std::string_view primitive) const {
  if (indexed()) {
    const auto it = index_.clone_of.find(primitive);
    return it == index_.clone_of.end() ? nullptr : &clones[it->second];
  }
  for (const auto& c : clones) {
    if (c.child == primitive) return &c;
    if (const GroupConfig* g = group(c.child);
        g && std::find(g->members.begin(), g->members.end(), primitive) != g->members.end()) {
      return &c;
    }
  }
  return nullptr;
}

}  // namespace hactl
