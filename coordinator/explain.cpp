#include "coordinator/explain.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

#include "common/cluster_doc.hpp"
#include "common/known_names.hpp"
#include "common/limits.hpp"
#include "common/suggest.hpp"

namespace hactl {
namespace {

constexpr int kInf = limits::kInfinity;

bool active(ResourceRole r) { return r != ResourceRole::kStopped; }

// A score as a total: "100", "-inf".
std::string total_text(int v) {
  if (v >= kInf) return "+inf";
  if (v <= -kInf) return "-inf";
  return std::to_string(v);
}

// A score as a term: "+100", "-50", "-inf".
std::string signed_text(int v) {
  if (v >= kInf) return "+inf";
  if (v <= -kInf) return "-inf";
  return v >= 0 ? "+" + std::to_string(v) : std::to_string(v);
}

std::string seconds_text(std::int64_t s) {
  return format_duration(std::chrono::seconds{std::max<std::int64_t>(s, 0)});
}

std::string_view kind_name(const ScoreTerm& t) {
  using K = ScoreTerm::Kind;
  switch (t.kind) {
    case K::kWitness:
      return "witness";
    case K::kNodeCondition:
      return "node";
    case K::kLocation:
    case K::kPromotionLocation:
      switch (t.location->origin) {
        case LocationConstraint::Origin::kConfig:
          return t.kind == K::kLocation ? "location" : "promotion_location";
        case LocationConstraint::Origin::kMove:
          return "move";
        case LocationConstraint::Origin::kBan:
          return "ban";
        case LocationConstraint::Origin::kDisabled:
          return "disabled";
      }
      return "location";
    case K::kFailThreshold:
      return "fail_count";
    case K::kOnFailMove:
      return "on_fail_move";
    case K::kOnFailStop:
      return "on_fail_stop";
    case K::kStickiness:
      return "stickiness";
    case K::kPromotionStickiness:
      return "promotion_stickiness";
    case K::kColocation:
      return "colocation";
    case K::kPromotionColocation:
      return "promotion_colocation";
    case K::kHeldBack:
    case K::kPromotionHeldBack:
      return "held_back";
    case K::kPromotionScore:
      return "promotion_score";
    case K::kPromotionNoScore:
      return "no_promotion_score";
    case K::kCapacity:
      return "capacity";
  }
  return "unknown";
}

std::string unit_kind_text(const ClusterConfig& config, const UnitWhy& u) {
  switch (u.kind) {
    case Unit::Kind::kPrimitive:
      return "primitive";
    case Unit::Kind::kGroup:
      return "group";
    case Unit::Kind::kClone:
      return config.resources.clone(u.unit)->promotable ? "promotable clone" : "clone";
  }
  return "unit";
}

std::string role_name(const ClusterConfig& config, const std::string& unit, ResourceRole r) {
  if (r == ResourceRole::kStarted) {
    const CloneConfig* c = config.resources.clone(unit);
    if (c != nullptr && c->promotable) return "unpromoted";
  }
  return std::string(to_string(r));
}

std::string nodes_text(const ClusterConfig& config, const std::vector<ResourceRole>& roles,
                       bool with_promoted) {
  std::string out;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (!active(roles[i])) continue;
    out += (out.empty() ? "" : ", ") + config.nodes[i].name;
    if (with_promoted && roles[i] == ResourceRole::kPromoted) out += " (promoted)";
  }
  return out;
}

std::string decision_text(const ClusterConfig& config, const UnitWhy& u) {
  const bool promotable =
      u.kind == Unit::Kind::kClone && config.resources.clone(u.unit)->promotable;
  const std::string now = nodes_text(config, u.current, promotable);
  const std::string after = nodes_text(config, u.roles, promotable);
  if (now.empty() && after.empty()) return "is stopped and stays stopped";
  if (now.empty()) return "is stopped; starts on " + after;
  if (after.empty()) return "runs on " + now + "; stops there";
  if (now == after) return "runs on " + now + " and stays there";
  return "runs on " + now + "; goes to " + after;
}

std::string condition_text(const std::string& node, NodeCondition c) {
  switch (c) {
    case NodeCondition::kOnline:
      return node + " is online";
    case NodeCondition::kStandby:
      return node + " is in standby";
    case NodeCondition::kOffline:
      return node + " is offline (out of the cluster, its lease over)";
    case NodeCondition::kUnclean:
      return node + " is out of reach and its lease may still be valid";
    case NodeCondition::kMaintenance:
      return node + " is in maintenance";
  }
  return node + " is " + std::string(to_string(c));
}

std::string condition_change(const std::string& node, NodeCondition c) {
  switch (c) {
    case NodeCondition::kStandby:
    case NodeCondition::kMaintenance:
      return "hactl node online " + node;
    case NodeCondition::kOffline:
      return "start hactl-agent on " + node;
    case NodeCondition::kUnclean:
      return "nothing: it is offline once its lease is over";
    case NodeCondition::kOnline:
      break;
  }
  return "";
}

const UnitWhy* find_why(const Transition& t, const std::string& unit) {
  for (const auto& w : t.why) {
    if (w.unit == unit) return &w;
  }
  return nullptr;
}

// The node a unit is placed on that beats node `i` (for "lost to"), if any.
std::optional<std::size_t> winner(const UnitWhy& u) {
  for (std::size_t i = 0; i < u.roles.size(); ++i) {
    if (active(u.roles[i])) return i;
  }
  return std::nullopt;
}

// Why the winner won against nodes of the same score, or nullopt when no node tied with it.
std::optional<std::string> tie_break(const ClusterConfig& config, const UnitWhy& u) {
  if (!u.chosen_by.empty()) return u.chosen_by;
  if (u.kind == Unit::Kind::kClone) return std::nullopt;
  const auto w = winner(u);
  if (!w || u.scores[*w] <= -kInf) return std::nullopt;
  std::vector<std::string> tied;
  bool by_current = false;
  for (std::size_t j = 0; j < u.scores.size(); ++j) {
    if (j == *w || u.scores[j] != u.scores[*w]) continue;
    tied.push_back(config.nodes[j].name);
    by_current = by_current || (active(u.current[*w]) && !active(u.current[j]));
  }
  if (tied.empty()) return std::nullopt;
  std::string others;
  for (const auto& t : tied) others += (others.empty() ? "" : ", ") + t;
  return config.nodes[*w].name + " ties with " + others + " at " + total_text(u.scores[*w]) + "; " +
         config.nodes[*w].name + " wins because " +
         (by_current ? "it already runs there" : "its name sorts first");
}

// The same for the promoted role of a promotable clone: a promoted node against candidates of
// the same promotion score left unpromoted.
std::optional<std::string> promotion_tie_break(const ClusterConfig& config, const UnitWhy& u) {
  if (u.promotion_scores.empty()) return std::nullopt;
  const auto& s = u.promotion_scores;
  for (std::size_t w = 0; w < s.size(); ++w) {
    if (u.roles[w] != ResourceRole::kPromoted || s[w] <= -kInf) continue;
    std::string others;
    bool by_current = false;
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (j == w || s[j] != s[w] || u.roles[j] == ResourceRole::kPromoted) continue;
      others += (others.empty() ? "" : ", ") + config.nodes[j].name;
      by_current = by_current || (u.current[w] == ResourceRole::kPromoted &&
                                  u.current[j] != ResourceRole::kPromoted);
    }
    if (others.empty()) continue;
    return config.nodes[w].name + " ties with " + others + " for promotion at " + total_text(s[w]) +
           "; " + config.nodes[w].name + " is promoted because " +
           (by_current ? "it already is" : "its name sorts first");
  }
  return std::nullopt;
}

// A location rule that holds on the term's node: its text, what it read there, and where its
// score came from.
TermText rule_term_text(const ClusterConfig& config, const ClusterState& state, const ScoreTerm& t,
                        const std::string& what) {
  const LocationConstraint& l = *t.location;
  const RuleInput in = state.rule_input(config, t.node);
  std::string detail = rule_inputs_text(*l.rule, in);
  if (!l.score_attribute.empty()) {
    detail += "; score from " + l.score_attribute;
    const bool read = std::any_of(l.rule->steps.begin(), l.rule->steps.end(), [&](const auto& s) {
      return s.kind == Rule::Step::Kind::kCondition && s.condition.attribute == l.score_attribute;
    });
    const auto v = in.get(l.score_attribute);
    if (!read) detail += v ? ", which is " + std::string(*v) : std::string(", not set here");
  }
  const bool promotion = t.kind == ScoreTerm::Kind::kPromotionLocation;
  if (t.value <= -kInf) detail += promotion ? "; never promoted here" : "; never here";
  if (t.value >= kInf) detail += "; here whenever it can";
  return {"location rule" + what + " '" + l.rule->text + "' matched here (" + detail + ")",
          "the node's attributes (hactl status --json lists them), or edit the rule and run "
          "hactl config apply"};
}

}  // namespace

TermText term_text(const ClusterConfig& config, const ClusterState& state, const UnitWhy& unit,
                   const ScoreTerm& t, std::int64_t now_unix) {
  using K = ScoreTerm::Kind;
  const std::string& node = config.nodes[t.node].name;
  const std::string& id = unit.unit;
  switch (t.kind) {
    case K::kWitness:
      return {node + " is a witness: it votes but never runs resources", ""};
    case K::kNodeCondition:
      return {condition_text(node, state.nodes[t.node]),
              condition_change(node, state.nodes[t.node])};
    case K::kLocation:
    case K::kPromotionLocation: {
      const LocationConstraint& l = *t.location;
      const std::string what = t.kind == K::kPromotionLocation ? " for promotion" : "";
      std::string left;
      if (l.expires == 0) {
        left = "until cleared";
      } else if (now_unix != 0) {
        left = "for another " + seconds_text(l.expires - now_unix);
      }
      switch (l.origin) {
        case LocationConstraint::Origin::kConfig:
          if (l.rule) return rule_term_text(config, state, t, what);
          return {"location constraint" + what + " in the configuration (" + node + ": " +
                      total_text(l.score) +
                      (l.score <= -kInf  ? ", never here"
                       : l.score >= kInf ? ", here whenever it can"
                                         : "") +
                      ")",
                  "edit the constraint and run hactl config apply"};
        case LocationConstraint::Origin::kMove:
          return {"an operator moved it here (hactl resource move" +
                      (left.empty() ? ")" : ", " + left + ")"),
                  "hactl resource clear " + id};
        case LocationConstraint::Origin::kBan:
          return {"an operator banned it from here (hactl resource ban" +
                      (left.empty() ? ")" : ", " + left + ")"),
                  "hactl resource clear " + id + " --node " + node};
        case LocationConstraint::Origin::kDisabled:
          return {"an operator disabled it (hactl resource disable)",
                  "hactl resource enable " + id};
      }
      break;
    }
    case K::kFailThreshold: {
      const PrimitiveConfig& m = *t.member;
      const std::string text = m.id + " failed " + std::to_string(t.fail_count) +
                               (t.fail_count == 1 ? " time" : " times") +
                               " here (migration_threshold " +
                               std::to_string(m.migration_threshold) + ")";
      const std::string detail =
          m.failure_timeout > Duration::zero()
              ? "failures are forgotten " + format_duration(m.failure_timeout) + " after the last"
              : "failures are never forgotten (failure_timeout 0)";
      return {text, "hactl resource cleanup " + m.id + " --node " + node, detail};
    }
    case K::kOnFailMove:
      return {t.member->id + "'s monitor failed here (on_fail: move)",
              "hactl resource cleanup " + t.member->id + " --node " + node};
    case K::kOnFailStop:
      return {t.member->id + " failed (on_fail: stop keeps it stopped everywhere)",
              "hactl resource cleanup " + t.member->id};
    case K::kPromotionScore:
      return {"the agent's promotion score here (" + promotion_attribute(t.member->id) + " = " +
                  total_text(t.value) + ")",
              "set by the resource agent (crm_master); hactl status --json lists it"};
    case K::kPromotionNoScore:
      return {
          "no positive promotion score here, from the agent or a promotion location: it "
          "cannot be promoted",
          "the agent sets one once its data allows (crm_master), or add a location with "
          "role: promoted"};
    case K::kStickiness:
    case K::kPromotionStickiness:
      return {t.member->id + (t.kind == K::kStickiness ? " runs here" : " is promoted here") +
                  " (stickiness " + std::to_string(t.member->stickiness) + ")",
              "hactl resource move " + id + " NODE"};
    case K::kColocation:
    case K::kPromotionColocation: {
      const ColocationConstraint& c = *t.colocation;
      const std::string with = c.with + (c.with_role == RoleFilter::kPromoted     ? " (promoted)"
                                         : c.with_role == RoleFilter::kUnpromoted ? " (unpromoted)"
                                                                                  : "");
      const std::string be = t.kind == K::kPromotionColocation ? "be promoted" : "run";
      std::string text;
      if (t.value >= kInf) {
        text = "must " + be + " with " + with + ", which runs here";
      } else if (t.value <= -kInf && c.score >= kInf) {
        text = "must " + be + " with " + with + ", which does not run here";
      } else if (t.value <= -kInf) {
        text = "must not " + be + " with " + with + ", which runs here";
      } else {
        text = "colocation with " + with + ", which runs here (score " + total_text(c.score) + ")";
      }
      return {text, "hactl explain " + c.with + " (where it runs decides)"};
    }
    case K::kCapacity: {
      const std::string& a = *t.attribute;
      const auto cap = config.nodes[t.node].capacity.find(a);
      const int of = cap == config.nodes[t.node].capacity.end() ? 0 : cap->second;
      return {node + " has " + std::to_string(t.left) + " " + a + " left of " + std::to_string(of) +
                  "; " + id + " needs " + std::to_string(t.needed),
              "raise " + node + "'s capacity or lower " + id +
                  "'s utilization (hactl config apply), or move something off " + node};
    }
    case K::kHeldBack:
    case K::kPromotionHeldBack: {
      const std::string what = t.kind == K::kPromotionHeldBack ? "promotion " : "";
      const std::string cap =
          "capped at " + total_text(t.value) + ", the " + what + "score where it runs now";
      if (const auto h = state.held.find(id); h != state.held.end()) {
        return {cap + ": held by flap damping (" + h->second + ")", "hactl resource cleanup " + id};
      }
      const std::optional<Failback> fb = unit_failback(config, id);
      if (t.until) {
        return {cap + ": failback " + (fb ? to_string(*fb) : std::string("after")) + ", until " +
                    node + " has been online long enough (due in " +
                    format_duration(std::chrono::ceil<std::chrono::seconds>(*t.until - state.now)) +
                    ")",
                "hactl resource move " + id + " " + node};
      }
      return {cap + ": failback " + (fb ? to_string(*fb) : std::string("never")),
              "hactl resource move " + id + " " + node};
    }
  }
  return {"?", ""};
}

std::expected<nlohmann::json, std::string> explain(const ClusterConfig& config,
                                                   const ClusterState& state,
                                                   const std::string& resource,
                                                   const std::optional<std::string>& node,
                                                   const ExplainContext& context) {
  const auto unit_id = top_level_resource(config.resources, resource);
  if (!unit_id) {
    return std::unexpected(
        unknown_name_message("resource", resource, resource_ids(config.resources)));
  }
  std::optional<std::size_t> only;
  if (node) {
    const auto id = config.find_node(*node);
    if (!id) {
      return std::unexpected(unknown_name_message("node", *node, node_names(config)));
    }
    only = id->value;
  }
  if (state.nodes.size() != config.nodes.size())
    return std::unexpected("the state does not fit the configuration");
  const Transition t = schedule(config, state, true);
  const UnitWhy* u = find_why(t, *unit_id);
  if (u == nullptr) return std::unexpected("the scheduler did not place " + *unit_id);

  nlohmann::json j;
  j["resource"] = resource;
  j["unit"] = u->unit;
  j["unit_kind"] = unit_kind_text(config, *u);
  nlohmann::json members = nlohmann::json::array();
  for (const auto& p : primitives_of(config.resources, u->unit)) members.push_back(p);
  j["members"] = members;
  auto roles_json = [&](const std::vector<ResourceRole>& roles) {
    nlohmann::json a = nlohmann::json::array();
    for (std::size_t i = 0; i < roles.size(); ++i) {
      if (active(roles[i]))
        a.push_back(
            {{"node", config.nodes[i].name}, {"role", role_name(config, u->unit, roles[i])}});
    }
    return a;
  };
  j["now"] = roles_json(u->current);
  j["after"] = roles_json(u->roles);
  j["decision"] = decision_text(config, *u);
  const bool promotable = !u->promotion_scores.empty();
  nlohmann::json nodes = nlohmann::json::array();
  for (std::size_t i = 0; i < config.nodes.size(); ++i) {
    if (only && *only != i) continue;
    nlohmann::json reasons = nlohmann::json::array();
    for (const auto& term : u->terms) {
      if (term.node != i) continue;
      const TermText tt = term_text(config, state, *u, term, context.now_unix);
      const bool promotion = term.promotion();
      nlohmann::json r = {{"kind", std::string(kind_name(term))},
                          {"score", term.value},
                          {"promotion", promotion},
                          {"text", tt.detail.empty() ? tt.text : tt.text + "; " + tt.detail}};
      r["change"] = tt.change.empty() ? nlohmann::json(nullptr) : nlohmann::json(tt.change);
      // A location rule's term names its rule (typed, for tools; the text is for people).
      if (term.location != nullptr && term.location->rule) r["rule"] = term.location->rule->text;
      reasons.push_back(std::move(r));
    }
    nlohmann::json n = {{"node", config.nodes[i].name},
                        {"condition", std::string(to_string(state.nodes[i]))},
                        {"score", u->scores[i]},
                        // Below 0 a resource cannot run (Pacemaker's rule), -inf or not.
                        {"excluded", u->scores[i] < 0},
                        {"now", active(u->current[i]) ? role_name(config, u->unit, u->current[i])
                                                      : std::string("stopped")},
                        {"after", active(u->roles[i]) ? role_name(config, u->unit, u->roles[i])
                                                      : std::string("stopped")},
                        {"reasons", std::move(reasons)}};
    if (promotable) n["promotion_score"] = u->promotion_scores[i];
    nodes.push_back(std::move(n));
  }
  j["nodes"] = std::move(nodes);
  auto tie = tie_break(config, *u);
  if (!tie) tie = promotion_tie_break(config, *u);
  j["tie_break"] = tie ? nlohmann::json(*tie) : nlohmann::json(nullptr);
  j["notes"] = u->notes;
  j["quorum"] = context.quorum ? nlohmann::json(*context.quorum) : nlohmann::json(nullptr);
  j["availability"] = context.availability;
  nlohmann::json actions = nlohmann::json::array();
  const auto prims = primitives_of(config.resources, u->unit);
  for (const auto& a : t.actions) {
    if (std::find(prims.begin(), prims.end(), a.resource) == prims.end()) continue;
    actions.push_back({{"action", std::string(to_string(a.kind))},
                       {"resource", a.resource},
                       {"node", config.nodes[a.node.value].name},
                       {"reason", a.reason}});
  }
  j["actions"] = std::move(actions);
  return j;
}

std::string format_explanation(const nlohmann::json& j) {
  std::ostringstream out;
  const std::string unit = j.value("unit", std::string());
  const std::string resource = j.value("resource", std::string());
  std::string members;
  for (const auto& m : j["members"])
    members += (members.empty() ? "" : ", ") + m.get<std::string>();
  out << resource;
  if (resource != unit) out << " (in " << j.value("unit_kind", std::string()) << " " << unit << ")";
  const std::string kind = j.value("unit_kind", std::string());
  if (resource == unit && kind != "primitive") out << " (" << kind << " of " << members << ")";
  out << " " << j.value("decision", std::string()) << ".\n";
  if (j.contains("quorum") && j["quorum"].is_boolean() && !j["quorum"].get<bool>()) {
    out << "  this node's partition has no quorum: no_quorum_policy and on_quorum_loss decide "
           "what it keeps, and nothing starts here\n";
  }
  for (const auto& n : j["nodes"]) {
    const int score = n["score"].get<int>();
    out << "  " << n["node"].get<std::string>() << ": " << total_text(score);
    if (n.contains("promotion_score") && n["after"] != "stopped")
      out << ", promotion " << total_text(n["promotion_score"].get<int>());
    const std::string now = n["now"], after = n["after"];
    if (now != "stopped" || after != "stopped") {
      out << ", " << (now == after ? now + " here" : now + " now, " + after + " after");
    } else if (n["excluded"].get<bool>()) {
      out << ", excluded";
    }
    out << "\n";
    if (n["reasons"].empty()) out << "      (no constraint, stickiness or failure here)\n";
    for (const auto& r : n["reasons"]) {
      std::string value = signed_text(r["score"].get<int>());
      const std::string k = r["kind"];
      if (k == "held_back") value = "cap";
      if (k == "colocation" && r["score"].get<int>() >= kInf) value = "with";
      out << "      " << value << std::string(value.size() < 6 ? 6 - value.size() : 1, ' ')
          << (r["promotion"].get<bool>() ? "promotion: " : "") << r["text"].get<std::string>()
          << "\n";
      if (r["change"].is_string())
        out << "            to change: " << r["change"].get<std::string>() << "\n";
    }
  }
  if (j["tie_break"].is_string()) out << "  tie: " << j["tie_break"].get<std::string>() << "\n";
  if (j.contains("availability") && j["availability"].is_array()) {
    for (const auto& a : j["availability"]) {
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.3f", a["uptime_percent"].get<double>());
      out << "  availability of " << a["resource"].get<std::string>() << " (last 24h, "
          << format_duration(std::chrono::seconds{a["observed_s"].get<std::int64_t>()})
          << " observed): " << pct << "% up, " << a["outages"].get<int>() << " outages, "
          << a["failovers"].get<int>() << " failovers";
      if (a["mttr_s"].is_number()) {
        std::snprintf(pct, sizeof pct, "%.3f", a["mttr_s"].get<double>());
        out << ", mean time to recover " << pct << "s";
      }
      out << "\n";
    }
  }
  for (const auto& note : j["notes"]) out << "  note: " << note.get<std::string>() << "\n";
  if (j["actions"].empty()) {
    out << "  actions now: none\n";
  } else {
    out << "  actions now:\n";
    for (const auto& a : j["actions"]) {
      out << "    " << a["action"].get<std::string>() << " " << a["resource"].get<std::string>()
          << " on " << a["node"].get<std::string>() << "  (" << a["reason"].get<std::string>()
          << ")\n";
    }
  }
  return out.str();
}

std::expected<IntentCheck, std::string> check_intent(const ClusterConfig& config,
                                                     ClusterState state,
                                                     const std::string& resource,
                                                     const std::optional<std::string>& to,
                                                     bool must_run, RoleFilter role) {
  auto r = simulate(config, std::move(state), SimulateRequest{});
  if (!r) return std::unexpected(r.error());
  IntentCheck out;
  const auto prims = primitives_of(config.resources, resource);
  // Where the scheduler would place each primitive of the resource (its target).
  std::set<std::string> nodes;
  bool all_there = to.has_value();
  for (const auto& p : prims) {
    bool here = false;
    const auto it = r->transition.target.find(p);
    for (std::size_t i = 0; it != r->transition.target.end() && i < it->second.size(); ++i) {
      if (it->second[i] == ResourceRole::kStopped) continue;
      if (role == RoleFilter::kPromoted && it->second[i] != ResourceRole::kPromoted) continue;
      nodes.insert(config.nodes[i].name);
      here = here || (to && config.nodes[i].name == *to);
    }
    all_there = all_there && here;
  }
  out.nodes.assign(nodes.begin(), nodes.end());
  if (must_run && !(to ? all_there : !nodes.empty())) {
    // Why not: what excludes that node (explain's terms), else the scheduler's note. For the
    // promoted role, the promotion terms that hold its promotion score at 0 or below.
    const bool promotion = role == RoleFilter::kPromoted;
    std::string why;
    if (to) {
      if (const auto e = explain(config, r->state, resource, *to); e) {
        for (const auto& n : (*e)["nodes"]) {
          for (const auto& reason : n["reasons"]) {
            const bool promotion_term = reason["promotion"].get<bool>();
            if (promotion_term && !promotion) continue;
            if (reason["score"].get<int>() > (promotion_term ? 0 : -kInf)) continue;
            why += (why.empty() ? "" : "; ") + reason["text"].get<std::string>();
            if (reason["change"].is_string())
              why += " (`" + reason["change"].get<std::string>() + "`)";
          }
        }
      }
    }
    for (const auto& note : r->notes) {
      if (why.empty() && note.starts_with(resource + ":")) why = note;
    }
    if (why.empty()) why = "the scheduler would place it elsewhere (constraints or colocations)";
    const std::string what = promotion ? "the promoted role of " + resource : resource;
    out.refusal = "cannot move " + what + (to ? " to " + *to : " away from where it runs") + ": " +
                  why + "; nothing was changed";
  }
  out.result = std::move(*r);
  return out;
}

std::string action_why(const ClusterConfig& config, const ClusterState& state, const Transition& t,
                       const PlannedAction& action) {
  const auto unit_id = top_level_resource(config.resources, action.resource);
  if (!unit_id) return "";
  const UnitWhy* u = find_why(t, *unit_id);
  if (u == nullptr) return "";
  const std::size_t i = action.node.value;
  const bool promotion = action.kind == ActionKind::kPromote || action.kind == ActionKind::kDemote;
  auto summary = [&](std::size_t node) {
    std::string s;
    for (const auto& term : u->terms) {
      if (term.node != node) continue;
      if (term.promotion() != promotion) continue;
      const std::string v = term.kind == ScoreTerm::Kind::kHeldBack ||
                                    term.kind == ScoreTerm::Kind::kPromotionHeldBack
                                ? "cap " + total_text(term.value)
                                : signed_text(term.value);
      s += (s.empty() ? "" : "; ") + v + " " + term_text(config, state, *u, term).text;
    }
    return s;
  };
  const std::vector<int>& scores = promotion ? u->promotion_scores : u->scores;
  if (scores.size() <= i) return "";
  const std::string& name = config.nodes[i].name;
  std::string line =
      (promotion ? "promotion score on " : "score on ") + name + " " + total_text(scores[i]);
  if (const auto s = summary(i); !s.empty()) line += " (" + s + ")";
  // A recovery or restart in place stays where it is: no other node to compare with.
  const bool in_place =
      action.reason.rfind("recover", 0) == 0 || action.reason.rfind("restart", 0) == 0;
  if (!in_place && (action.kind == ActionKind::kStart || action.kind == ActionKind::kPromote)) {
    // The best node not chosen, for comparison.
    std::optional<std::size_t> next;
    const auto& chosen = u->roles;
    for (std::size_t j = 0; j < scores.size(); ++j) {
      const bool taken = promotion ? chosen[j] == ResourceRole::kPromoted : active(chosen[j]);
      if (j == i || taken) continue;
      if (!next || scores[j] > scores[*next]) next = j;
    }
    if (next && scores[*next] >= 0) {
      line += "; best other: " + config.nodes[*next].name + " " + total_text(scores[*next]);
      if (const auto s = summary(*next); !s.empty()) line += " (" + s + ")";
    } else {
      line += "; no other node can";
    }
  }
  return line;
}

}  // namespace hactl
