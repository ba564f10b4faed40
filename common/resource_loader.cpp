#include "common/resource_loader.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/rule.hpp"

namespace hactl {
namespace {

std::string at(const std::string& section, std::size_t i) {
  return section + "[" + std::to_string(i) + "]";
}

// Reads `type` into p.cls/provider/type; nullopt when it is good, else why not.
std::optional<std::string> parse_type(const std::string& type, PrimitiveConfig& p) {
  const std::string usage =
      "unknown type '" + type +
      "': use vip, ocf:PROVIDER:TYPE, systemd:UNIT or exec:/absolute/path/to/script";
  if (type == "vip") {
    p.cls = ResourceClass::kVip;
    return std::nullopt;
  }
  const auto colon = type.find(':');
  if (colon == std::string::npos) return usage;
  const std::string cls = type.substr(0, colon);
  const std::string rest = type.substr(colon + 1);
  if (cls == "ocf") {
    const auto second = rest.find(':');
    if (second == std::string::npos) return usage;
    p.cls = ResourceClass::kOcf;
    p.provider = rest.substr(0, second);
    p.type = rest.substr(second + 1);
    if (auto why = path_component_problem(p.provider)) return "OCF provider " + *why;
    if (auto why = path_component_problem(p.type)) return "OCF type " + *why;
    return std::nullopt;
  }
  if (cls == "systemd" && !rest.empty()) {
    p.cls = ResourceClass::kSystemd;
    p.type = rest.find('.') == std::string::npos ? rest + ".service" : rest;
    if (auto why = unit_name_problem(p.type)) return "systemd unit: " + *why;
    return std::nullopt;
  }
  if (cls == "exec" && rest.starts_with('/')) {
    p.cls = ResourceClass::kExec;
    p.type = rest;
    if (auto why = program_path_problem(rest)) return "exec script " + *why;
    return std::nullopt;
  }
  return usage;
}

void load_op(YamlReader& r, const YAML::Node& ops, const std::string& path, const char* name,
             OperationConfig& op, bool recurring) {
  const YAML::Node n = ops[name];
  if (!n) return;
  const std::string p = path_join(path, name);
  if (!r.expect_map(n, p,
                    recurring ? std::vector<std::string_view>{"interval", "timeout"}
                              : std::vector<std::string_view>{"timeout"})) {
    return;
  }
  if (auto v = r.duration_field(n, p, "interval")) op.interval = *v;
  if (auto v = r.duration_field(n, p, "timeout")) {
    if (*v <= Duration::zero()) {
      r.error(n["timeout"], path_join(p, "timeout"), "must be longer than zero");
    } else {
      op.timeout = *v;
    }
  }
}

void load_meta(YamlReader& r, const YAML::Node& meta, const std::string& path, PrimitiveConfig& p) {
  if (!r.expect_map(
          meta, path,
          {"stickiness", "migration_threshold", "failure_timeout", "on_fail", "priority",
           "takeover_delay", "on_quorum_loss", "failback", "flap_damping", "placement"})) {
    return;
  }
  if (auto v = r.score_field(meta, path, "stickiness")) p.stickiness = *v;
  if (auto v = r.int_field(meta, path, "migration_threshold", 1, limits::kInfinity)) {
    p.migration_threshold = *v;
  }
  if (auto v = r.duration_field(meta, path, "failure_timeout")) p.failure_timeout = *v;
  if (auto v = r.int_field(meta, path, "priority", -1000, 1000)) p.priority = *v;
  if (auto v = r.duration_field(meta, path, "takeover_delay")) p.takeover_delay = *v;
  if (auto v = failback_field(r, meta, path)) p.failback = *v;
  if (auto v = flap_damping_field(r, meta, path)) p.flap_damping = *v;
  if (auto v = r.string_field(meta, path, "placement")) {
    if (*v == "score") {
      p.placement = PlacementStrategy::kScore;
    } else if (*v == "balanced") {
      p.placement = PlacementStrategy::kBalanced;
    } else if (*v == "hash") {
      p.placement = PlacementStrategy::kHash;
    } else {
      r.error(meta["placement"], path_join(path, "placement"),
              "must be score, balanced or hash, got '" + *v + "'");
    }
  }
  if (auto v = r.string_field(meta, path, "on_quorum_loss")) {
    if (*v == "stop") {
      p.on_quorum_loss = QuorumLoss::kStop;
    } else if (*v == "freeze") {
      p.on_quorum_loss = QuorumLoss::kFreeze;
    } else {
      r.error(meta["on_quorum_loss"], path_join(path, "on_quorum_loss"),
              "must be stop or freeze, got '" + *v + "'");
    }
  }
  if (auto v = r.string_field(meta, path, "on_fail")) {
    static const std::map<std::string, OnFail, std::less<>> kOnFail = {
        {"restart", OnFail::kRestart},
        {"move", OnFail::kMove},
        {"stop", OnFail::kStop},
        {"ignore", OnFail::kIgnore}};
    if (auto it = kOnFail.find(*v); it != kOnFail.end()) {
      p.on_fail = it->second;
    } else {
      r.error(meta["on_fail"], path_join(path, "on_fail"),
              "must be restart, move, stop or ignore, got '" + *v + "'");
    }
  }
}

void load_params(YamlReader& r, const YAML::Node& params, const std::string& path,
                 PrimitiveConfig& p) {
  if (!params.IsMap()) {
    r.error(params, path, "expected a map of name: value, got " + std::string(kind_name(params)));
    return;
  }
  for (const auto& kv : params) {
    const std::string key = kv.first.Scalar();
    if (!r.expect_scalar(kv.second, path_join(path, key), "a value")) continue;
    if (!valid_name(key, 64)) {
      r.error(kv.first, path_join(path, key), "parameter names are letters, digits, _ . -");
      continue;
    }
    p.params[key] = kv.second.Scalar();
  }
}

void load_primitive(YamlReader& r, const YAML::Node& n, const std::string& path,
                    PrimitiveConfig& p) {
  if (!r.expect_map(n, path, {"id", "type", "params", "ops", "meta", "utilization"})) return;
  if (auto u = r.amounts_field(n, path, "utilization")) p.utilization = *u;
  if (auto id = r.string_field(n, path, "id", true)) p.id = *id;
  if (auto type = r.string_field(n, path, "type", true)) {
    if (auto why = parse_type(*type, p)) r.error(n["type"], path + ".type", *why);
  }
  if (n["params"]) load_params(r, n["params"], path + ".params", p);
  if (const YAML::Node ops = n["ops"]; ops) {
    const std::string op_path = path + ".ops";
    if (r.expect_map(ops, op_path, {"monitor", "start", "stop", "promote", "demote", "notify"})) {
      load_op(r, ops, op_path, "monitor", p.monitor, true);
      load_op(r, ops, op_path, "start", p.start, false);
      load_op(r, ops, op_path, "stop", p.stop, false);
      load_op(r, ops, op_path, "promote", p.promote, false);
      load_op(r, ops, op_path, "demote", p.demote, false);
      load_op(r, ops, op_path, "notify", p.notify, false);
    }
  }
  if (n["meta"]) load_meta(r, n["meta"], path + ".meta", p);
}

RoleFilter role_field(YamlReader& r, const YAML::Node& n, const std::string& path,
                      const char* key) {
  const auto v = r.string_field(n, path, key);
  if (!v) return RoleFilter::kAny;
  if (*v == "started") return RoleFilter::kStarted;
  if (*v == "promoted") return RoleFilter::kPromoted;
  if (*v == "unpromoted") return RoleFilter::kUnpromoted;
  r.error(n[key], path_join(path, key),
          "must be started, promoted or unpromoted, got '" + *v + "'");
  return RoleFilter::kAny;
}

ActionKind action_field(YamlReader& r, const YAML::Node& n, const std::string& path,
                        const char* key) {
  const auto v = r.string_field(n, path, key);
  if (!v || *v == "start") return ActionKind::kStart;
  if (*v == "promote") return ActionKind::kPromote;
  if (*v == "stop") return ActionKind::kStop;
  if (*v == "demote") return ActionKind::kDemote;
  r.error(n[key], path_join(path, key), "must be start, stop, promote or demote, got '" + *v + "'");
  return ActionKind::kStart;
}

// kind: mandatory (default), optional or serialize; Pacemaker's capitalised words too.
OrderConstraint::Kind order_kind_field(YamlReader& r, const YAML::Node& n,
                                       const std::string& path) {
  const auto v = r.string_field(n, path, "kind");
  if (!v || *v == "mandatory" || *v == "Mandatory") return OrderConstraint::Kind::kMandatory;
  if (*v == "optional" || *v == "Optional") return OrderConstraint::Kind::kOptional;
  if (*v == "serialize" || *v == "Serialize") return OrderConstraint::Kind::kSerialize;
  r.error(n["kind"], path_join(path, "kind"),
          "must be mandatory, optional or serialize, got '" + *v + "'");
  return OrderConstraint::Kind::kMandatory;
}

// rule: TEXT (common/rule.hpp); a text that does not parse is an error naming the character.
std::optional<Rule> rule_field(YamlReader& r, const YAML::Node& n, const std::string& path) {
  const auto text = r.string_field(n, path, "rule");
  if (!text) return std::nullopt;
  auto rule = parse_rule(*text);
  if (!rule) {
    r.error(n["rule"], path_join(path, "rule"),
            "rule '" + (text->size() > 80 ? text->substr(0, 80) + "..." : *text) +
                "': " + rule.error().to_string());
    return std::nullopt;
  }
  return std::move(*rule);
}

// A location: resource, node or rule (exactly one), score (or, with a rule, score_attribute),
// role.
std::optional<LocationConstraint> load_location(YamlReader& r, const YAML::Node& n,
                                                const std::string& p) {
  if (!r.expect_map(n, p, {"resource", "node", "rule", "score", "score_attribute", "role"}))
    return std::nullopt;
  LocationConstraint l;
  l.resource = r.string_field(n, p, "resource", true).value_or("");
  l.role = role_field(r, n, p, "role");
  const bool by_node = n["node"].IsDefined(), by_rule = n["rule"].IsDefined();
  if (by_node && by_rule) {
    r.error(n["rule"], p + ".rule", "a location has a node or a rule, not both");
  } else if (!by_node && !by_rule) {
    r.error(n, p + ".node", "required key 'node' (or 'rule') is missing");
  }
  if (by_node) l.node = r.string_field(n, p, "node").value_or("");
  if (by_rule) l.rule = rule_field(r, n, p);
  if (!n["score_attribute"]) {
    l.score = r.score_field(n, p, "score", true).value_or(0);
    return l;
  }
  const std::string sp = p + ".score_attribute";
  l.score_attribute = r.string_field(n, p, "score_attribute").value_or("");
  if (!by_rule) {
    r.error(n["score_attribute"], sp, "score_attribute goes with a rule (with a node, give score)");
  } else if (n["score"]) {
    r.error(n["score"], p + ".score", "give score or score_attribute, not both");
  } else if (l.score_attribute.starts_with('#')) {
    r.error(n["score_attribute"], sp, "a built-in attribute is not a score");
  } else if (auto why = attribute_name_problem(l.score_attribute)) {
    r.error(n["score_attribute"], sp, *why);
  }
  return l;
}

template <typename F>
void each(YamlReader& r, const YAML::Node& list, const std::string& path, F&& f) {
  if (!list) return;
  if (!list.IsSequence()) {
    r.error(list, path, "expected a list, got " + std::string(kind_name(list)));
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i) f(list[i], at(path, i));
}

void load_constraints(YamlReader& r, const YAML::Node& c, ResourceConfig& out) {
  if (!r.expect_map(c, "constraints", {"location", "colocation", "order"})) return;
  each(r, c["location"], "constraints.location", [&](const YAML::Node& n, const std::string& p) {
    if (auto l = load_location(r, n, p)) out.locations.push_back(std::move(*l));
  });
  each(r, c["colocation"], "constraints.colocation",
       [&](const YAML::Node& n, const std::string& p) {
         if (!r.expect_map(n, p, {"resource", "with", "score", "with_role", "role"})) return;
         ColocationConstraint l;
         l.resource = r.string_field(n, p, "resource", true).value_or("");
         l.with = r.string_field(n, p, "with", true).value_or("");
         l.score = r.score_field(n, p, "score", true).value_or(0);
         l.with_role = role_field(r, n, p, "with_role");
         l.role = role_field(r, n, p, "role");
         if (l.role == RoleFilter::kUnpromoted) {
           r.error(n["role"], p + ".role",
                   "role: unpromoted on the colocated side is not supported: colocate the "
                   "clone (its instances) or its promoted role");
         }
         out.colocations.push_back(l);
       });
  each(r, c["order"], "constraints.order", [&](const YAML::Node& n, const std::string& p) {
    if (!r.expect_map(n, p,
                      {"first", "first_action", "then", "then_action", "symmetrical", "kind"}))
      return;
    OrderConstraint o;
    o.first = r.string_field(n, p, "first", true).value_or("");
    o.then = r.string_field(n, p, "then", true).value_or("");
    o.first_action = action_field(r, n, p, "first_action");
    o.then_action = action_field(r, n, p, "then_action");
    o.kind = order_kind_field(r, n, p);
    const bool serial = o.kind == OrderConstraint::Kind::kSerialize;
    o.symmetrical = r.bool_field(n, p, "symmetrical").value_or(!serial);
    if (serial && o.symmetrical) {
      r.error(n["symmetrical"], p + ".symmetrical",
              "a serialize order has no direction to reverse: leave symmetrical out");
    }
    out.orders.push_back(o);
  });
}

}  // namespace

std::optional<Failback> failback_field(YamlReader& r, const YAML::Node& map,
                                       const std::string& path) {
  const YAML::Node n = map["failback"];
  if (!n) return std::nullopt;
  const std::string p = path_join(path, "failback");
  const std::string expected = "must be never, immediate or {after: DURATION}";
  if (n.IsMap()) {
    if (!r.expect_map(n, p, {"after"})) return std::nullopt;
    if (!n["after"]) {
      r.error(n, p, expected + ", got a map without after");
      return std::nullopt;
    }
    const auto d = r.duration_field(n, p, "after");
    if (!d) return std::nullopt;
    if (*d <= Duration::zero() || *d > std::chrono::hours{24 * 7}) {
      r.error(n["after"], path_join(p, "after"),
              "must be longer than zero and at most 7 days (use never for longer)");
      return std::nullopt;
    }
    return Failback{Failback::Mode::kAfter, *d};
  }
  if (!n.IsScalar()) {
    r.error(n, p, expected + ", got " + std::string(kind_name(n)));
    return std::nullopt;
  }
  if (n.Scalar() == "never") return Failback{Failback::Mode::kNever, Duration{0}};
  if (n.Scalar() == "immediate") return Failback{Failback::Mode::kImmediate, Duration{0}};
  r.error(n, p, expected + ", got '" + n.Scalar() + "'");
  return std::nullopt;
}

std::optional<FlapDamping> flap_damping_field(YamlReader& r, const YAML::Node& map,
                                              const std::string& path) {
  const YAML::Node n = map["flap_damping"];
  if (!n) return std::nullopt;
  const std::string p = path_join(path, "flap_damping");
  if (n.IsScalar() && (n.Scalar() == "off" || n.Scalar() == "false")) {
    return FlapDamping{0, std::chrono::hours{1}};
  }
  if (!n.IsMap()) {
    r.error(n, p, "must be off or {moves: N, within: DURATION}");
    return std::nullopt;
  }
  if (!r.expect_map(n, p, {"moves", "within"})) return std::nullopt;
  FlapDamping f;
  const auto moves = r.int_field(n, p, "moves", 1, 1000);
  if (n["moves"] && !moves) return std::nullopt;
  if (moves) f.moves = *moves;
  if (n["within"]) {
    const auto d = r.duration_field(n, p, "within");
    if (!d) return std::nullopt;
    if (*d < std::chrono::seconds{1} || *d > std::chrono::hours{24 * 7}) {
      r.error(n["within"], path_join(p, "within"), "must be from 1s to 7 days");
      return std::nullopt;
    }
    f.within = *d;
  }
  return f;
}

void load_resources(YamlReader& r, const YAML::Node& root, ResourceConfig& out) {
  each(r, root["resources"], "resources", [&](const YAML::Node& n, const std::string& p) {
    PrimitiveConfig prim;
    load_primitive(r, n, p, prim);
    out.primitives.push_back(std::move(prim));
  });
  each(r, root["groups"], "groups", [&](const YAML::Node& n, const std::string& p) {
    if (!r.expect_map(n, p, {"id", "members"})) return;
    GroupConfig g;
    g.id = r.string_field(n, p, "id", true).value_or("");
    g.members = r.string_list(n, p, "members", true).value_or(std::vector<std::string>{});
    out.groups.push_back(std::move(g));
  });
  out.build_index();  // the clones below look their primitives up
  each(r, root["clones"], "clones", [&](const YAML::Node& n, const std::string& p) {
    if (!r.expect_map(n, p,
                      {"id", "resource", "clone_max", "promotable", "promoted_max", "notify"}))
      return;
    CloneConfig c;
    c.id = r.string_field(n, p, "id", true).value_or("");
    c.child = r.string_field(n, p, "resource", true).value_or("");
    c.clone_max = r.int_field(n, p, "clone_max", 0, static_cast<int>(limits::kMaxNodes));
    c.promotable = r.bool_field(n, p, "promotable").value_or(false);
    c.promoted_max =
        r.int_field(n, p, "promoted_max", 1, static_cast<int>(limits::kMaxNodes)).value_or(1);
    c.notify = r.bool_field(n, p, "notify").value_or(false);
    if (c.notify) {
      // Only an OCF agent has a notify action (a group's members are notified in Pacemaker
      // one by one; hactl does not do that).
      const PrimitiveConfig* prim = out.primitive(c.child);
      if (prim == nullptr || prim->cls != ResourceClass::kOcf) {
        r.error(n["notify"], p + ".notify",
                "notify needs the clone's resource to be an OCF primitive, whose agent has a "
                "notify action (not a group, vip, systemd unit or exec script)");
      }
    }
    out.clones.push_back(std::move(c));
  });
  out.build_index();
  if (root["constraints"]) load_constraints(r, root["constraints"], out);
}

}  // namespace hactl
