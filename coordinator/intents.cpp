#include "coordinator/intents.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string_view>

#include "common/assert.hpp"
#include "common/known_names.hpp"
#include "common/suggest.hpp"
#include "coordinator/explain.hpp"
#include "coordinator/simulate.hpp"

namespace hactl {
namespace {

using Unexpected = std::unexpected<IntentRefusal>;

Unexpected refuse(std::string why, std::vector<std::string> details = {}) {
  return Unexpected(IntentRefusal{std::move(why), std::move(details)});
}

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string joined(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Any change drops the intents that have expired.
ClusterDoc without_expired(ClusterDoc doc, std::int64_t now_unix) {
  std::erase_if(doc.placements,
                [&](const PlacementIntent& p) { return p.expires != 0 && p.expires <= now_unix; });
  return doc;
}

// A node the configuration names; a witness refused where it would run resources.
std::expected<std::string, IntentRefusal> node_operand(const ClusterConfig& base,
                                                       const std::optional<std::string>& given,
                                                       bool runs_resources) {
  const std::string name = given.value_or("");
  const auto id = base.find_node(name);
  if (!id) return refuse(unknown_name_message("node", name, node_names(base)));
  if (runs_resources && base.node(*id).witness) {
    return refuse("node '" + name + "' is a witness: it never runs resources");
  }
  return name;
}

// The top-level resource a name stands for (a group member: its group).
std::expected<std::string, IntentRefusal> resource_operand(const ResourceConfig& rc,
                                                           const std::string& name) {
  const auto top = top_level_resource(rc, name);
  if (!top) return refuse(unknown_name_message("resource", name, resource_ids(rc)));
  return *top;
}

// When a move or ban made now ends: 0 (until cleared) for a negative lifetime, else the
// default for 0, and never later than kMaxIntentLifetimeSeconds from now.
std::int64_t expires_at(std::int64_t lifetime_s, std::int64_t now_unix) {
  if (lifetime_s < 0) return 0;
  return now_unix + std::min(lifetime_s > 0 ? lifetime_s : kDefaultIntentLifetimeSeconds,
                             kMaxIntentLifetimeSeconds);
}

std::uint64_t next_sequence_id(const ClusterDoc& doc) {
  std::uint64_t last = doc.last_sequence ? doc.last_sequence->id : 0;
  if (doc.sequence) last = std::max(last, doc.sequence->id);
  return last + 1;
}

// One sequence at a time: a second would find the first's resources disabled.
IntentRefusal busy(const OperatorSequence& s, std::int64_t now_unix) {
  return IntentRefusal{"a " + std::string(to_string(s.kind)) + " is under way (sequence " +
                           std::to_string(s.id) + " by " + s.by + ", stopping " +
                           joined(s.stopping) + ", its deadline in " +
                           std::to_string(std::max<std::int64_t>(0, s.deadline - now_unix)) +
                           " s); nothing was changed: try again once it has ended",
                       {}};
}

IntentResult node_state(const IntentContext& c, const Intent& i, ClusterDoc next) {
  const bool online = i.verb == ControlVerb::kNodeOnline;
  const auto node = node_operand(c.base, i.node, !online);
  if (!node) return Unexpected(node.error());
  if (online && contains(next.maintenance, *node) && !i.force) {
    // It leaves everything alone until it hears it is out of maintenance: unreachable, it
    // cannot hear it, and its resources could then be started elsewhere as well.
    const std::size_t id = c.base.find_node(*node)->value;
    if (id >= c.reachable.size() || !c.reachable[id]) {
      return refuse("'" + *node +
                    "' is in maintenance and not reachable: what it runs would "
                    "be started elsewhere while it still runs there. Bring it back first, or, if "
                    "it is powered off and runs nothing, use --force");
    }
  }
  std::erase(next.standby, *node);
  std::erase(next.maintenance, *node);
  if (!online) {
    auto& list = i.verb == ControlVerb::kNodeStandby ? next.standby : next.maintenance;
    list.push_back(*node);
    std::sort(list.begin(), list.end());
  }
  return IntentDecision{std::move(next), {{"node", *node}}};
}

IntentResult enabling(const IntentContext& c, const Intent& i, ClusterDoc next) {
  std::vector<std::string> ids;
  for (const auto& name : i.resources) {
    const auto top = resource_operand(c.base.resources, name);
    if (!top) return Unexpected(top.error());
    ids.push_back(*top);
  }
  if (ids.empty()) return refuse("no resource given");
  const bool disable = i.verb == ControlVerb::kResourceDisable;
  for (const auto& id : ids) {
    std::erase(next.disabled, id);
    if (!disable) continue;
    next.disabled.push_back(id);
    // The operator's disable outlasts a sequence under way: it does not enable it at its end.
    if (next.sequence) std::erase(next.sequence->enable, id);
  }
  std::sort(next.disabled.begin(), next.disabled.end());
  return IntentDecision{std::move(next), {{"resources", ids}}};
}

// The cluster state with the document's standby and maintenance on the nodes that are online
// (the coordinator's state has them already; a recorded one may not).
ClusterState with_node_intents(const IntentContext& c, const ClusterDoc& next) {
  ClusterState state = c.state;
  for (std::size_t i = 0; i < state.nodes.size() && i < c.base.nodes.size(); ++i) {
    if (state.nodes[i] != NodeCondition::kOnline) continue;
    if (contains(next.standby, c.base.nodes[i].name)) state.nodes[i] = NodeCondition::kStandby;
    if (contains(next.maintenance, c.base.nodes[i].name)) {
      state.nodes[i] = NodeCondition::kMaintenance;
    }
  }
  return state;
}

// A move or ban: what it would do (a dry run answers with that and writes nothing); a move the
// scheduler would not carry out is refused with why, and nothing is written.
IntentResult place(const IntentContext& c, ClusterDoc next, const std::string& resource,
                   const std::optional<std::string>& to, bool must_run, nlohmann::json answer,
                   const Intent& i) {
  const ClusterConfig config = effective_config(c.base, next, c.now_unix);
  const RoleFilter role = i.promoted ? RoleFilter::kPromoted : RoleFilter::kAny;
  if (i.promoted) answer["role"] = "promoted";
  auto r = check_intent(config, with_node_intents(c, next), resource, to, must_run, role);
  if (!r) return refuse(r.error());
  nlohmann::json plan = to_json(r->result);
  plan["text"] = format_transition(r->result);
  plan["nodes"] = r->nodes;
  if (r->refusal) return refuse(*r->refusal, {plan["text"].get<std::string>()});
  if (!i.dry_run) return IntentDecision{std::move(next), std::move(answer)};
  answer["ok"] = true;
  answer["dry_run"] = true;
  answer["changed"] = false;
  answer["plan"] = std::move(plan);
  return IntentDecision{std::nullopt, std::move(answer)};
}

// The role a move or ban is about, refused for --promoted on what is not a promotable clone.
std::expected<RoleFilter, IntentRefusal> intent_role(const IntentContext& c, const Intent& i,
                                                     const std::string& res) {
  if (!i.promoted) return RoleFilter::kAny;
  const auto* clone = c.base.resources.clone(res);
  if (clone == nullptr || !clone->promotable) {
    return refuse("'" + res +
                  "' is not a promotable clone: --promoted moves or bans the promoted role of "
                  "one");
  }
  return RoleFilter::kPromoted;
}

PlacementIntent placement(const IntentContext& c, const Intent& i, PlacementIntent::Kind kind,
                          const std::string& res, const std::string& node, RoleFilter role) {
  return PlacementIntent{kind, res, node, c.now_unix, expires_at(i.lifetime_s, c.now_unix),
                         i.by, role};
}

IntentResult ban(const IntentContext& c, const Intent& i, ClusterDoc next, const std::string& res) {
  const auto node = node_operand(c.base, i.node, true);
  if (!node) return Unexpected(node.error());
  const auto role = intent_role(c, i, res);
  if (!role) return Unexpected(role.error());
  std::erase_if(next.placements, [&](const PlacementIntent& p) {
    return p.resource == res && p.node == *node && p.role == *role;
  });
  next.placements.push_back(placement(c, i, PlacementIntent::Kind::kBan, res, *node, *role));
  // A ban may leave a resource nowhere to run: that is the operator's call, shown by --dry-run.
  return place(c, std::move(next), res, std::nullopt, false, {{"resource", res}, {"node", *node}},
               i);
}

// Where a resource runs now (promoted, for the promoted role): the nodes running one of its
// primitives, in the configuration's order.
std::vector<std::string> running_on(const IntentContext& c, const std::string& res,
                                    RoleFilter role) {
  std::vector<bool> on(c.base.nodes.size(), false);
  for (const auto& id : primitives_of(c.base.resources, res)) {
    const auto it = c.state.roles.find(id);
    if (it == c.state.roles.end()) continue;
    for (std::size_t n = 0; n < it->second.size() && n < on.size(); ++n) {
      const auto r = it->second[n];
      on[n] = on[n] || (role == RoleFilter::kPromoted ? r == ResourceRole::kPromoted
                                                      : r != ResourceRole::kStopped);
    }
  }
  std::vector<std::string> out;
  for (std::size_t n = 0; n < on.size(); ++n) {
    if (on[n]) out.push_back(c.base.nodes[n].name);
  }
  return out;
}

IntentResult move(const IntentContext& c, const Intent& i, ClusterDoc next,
                  const std::string& res) {
  using Kind = PlacementIntent::Kind;
  const auto role = intent_role(c, i, res);
  if (!role) return Unexpected(role.error());
  if (i.node) {
    const auto node = node_operand(c.base, i.node, true);
    if (!node) return Unexpected(node.error());
    std::erase_if(next.placements, [&](const PlacementIntent& p) {
      return p.resource == res && p.role == *role && (p.kind == Kind::kPrefer || p.node == *node);
    });
    next.placements.push_back(placement(c, i, Kind::kPrefer, res, *node, *role));
    return place(c, std::move(next), res, *node, true, {{"resource", res}, {"node", *node}}, i);
  }
  // No node: away from where it runs now (where it is promoted, for the promoted role).
  if (!i.promoted && c.base.resources.clone(res) != nullptr) {
    return refuse("'" + res +
                  "' is a clone and runs on several nodes: name the node to move it away from "
                  "with `hactl resource ban " +
                  res + " NODE`");
  }
  const auto where = running_on(c, res, *role);
  if (where.empty()) {
    return refuse("'" + res + "' is not " + (i.promoted ? "promoted" : "running") +
                  " anywhere; name the node to move it to");
  }
  if (i.promoted && where.size() > 1) {
    std::string nodes;
    for (const auto& n : where) nodes += (nodes.empty() ? "" : ", ") + n;
    return refuse("'" + res + "' is promoted on " + nodes +
                  ": name the node to move it away from with `hactl resource ban " + res +
                  " NODE --promoted`");
  }
  std::erase_if(next.placements, [&](const PlacementIntent& p) {
    return p.resource == res && p.role == *role && (p.node == where[0] || p.kind == Kind::kPrefer);
  });
  next.placements.push_back(placement(c, i, Kind::kBan, res, where[0], *role));
  return place(c, std::move(next), res, std::nullopt, true,
               {{"resource", res}, {"away_from", where[0]}}, i);
}

IntentResult restart(const IntentContext& c, const Intent& i, ClusterDoc next,
                     const std::string& res) {
  if (contains(next.disabled, res)) {
    return refuse(res + " is disabled: `hactl resource enable " + res + "` starts it");
  }
  if (next.sequence) return Unexpected(busy(*next.sequence, c.now_unix));
  OperatorSequence s;
  s.kind = OperatorSequence::Kind::kRestart;
  s.id = next_sequence_id(next);
  s.stopping = {res};
  s.enable = {res};
  s.started = c.now_unix;
  s.deadline = c.now_unix + std::clamp<std::int64_t>(i.timeout_s, 0, kMaxSequenceTimeoutSeconds);
  s.by = i.by;
  next.disabled.push_back(res);
  std::sort(next.disabled.begin(), next.disabled.end());
  nlohmann::json answer = {
      {"resource", res}, {"resources", {res}}, {"sequence", sequence_json(s, c.now_unix)}};
  next.sequence = std::move(s);
  return IntentDecision{std::move(next), std::move(answer)};
}

IntentResult resource_intent(const IntentContext& c, const Intent& i, ClusterDoc next) {
  const auto res = resource_operand(c.base.resources, i.resource);
  if (!res) return Unexpected(res.error());
  switch (i.verb) {
    case ControlVerb::kResourceClear: {
      const std::string node = i.node.value_or("");
      std::erase_if(next.placements, [&](const PlacementIntent& p) {
        return p.resource == *res && (node.empty() || p.node == node);
      });
      return IntentDecision{std::move(next), {{"resource", *res}}};
    }
    case ControlVerb::kResourceBan:
      return ban(c, i, std::move(next), *res);
    case ControlVerb::kResourceMove:
      return move(c, i, std::move(next), *res);
    default:
      return restart(c, i, std::move(next), *res);
  }
}

// lifetime_s: absent or 0, the default lifetime; negative, until cleared. A float or a number
// beyond int64 is refused: converting one was undefined behaviour.
std::expected<std::int64_t, std::string> lifetime_member(const nlohmann::json& body) {
  const auto it = body.find("lifetime_s");
  if (it == body.end()) return 0;
  if (!it->is_number_integer())
    return std::unexpected("lifetime_s must be a whole number of seconds");
  if (it->is_number_unsigned() &&
      it->get<std::uint64_t>() >
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::unexpected("lifetime_s is too large");
  }
  return it->get<std::int64_t>();
}

// The members each verb reads, and only those.
std::expected<void, std::string> read_members(Intent& i, const nlohmann::json& body) {
  using V = ControlVerb;
  const V v = i.verb;
  if (v != V::kResourceEnable && v != V::kResourceDisable && v != V::kResourceRestart) {
    if (const auto n = body.find("node"); n != body.end()) i.node = n->get<std::string>();
  }
  if (v == V::kResourceMove || v == V::kResourceBan || v == V::kResourceClear ||
      v == V::kResourceRestart) {
    i.resource = body.value("resource", std::string());
  }
  if (v == V::kResourceEnable || v == V::kResourceDisable) {
    for (const auto& r : body.value("resources", nlohmann::json::array())) {
      i.resources.push_back(r.get<std::string>());
    }
  }
  if (v == V::kNodeOnline) i.force = body.value("force", false);
  if (v == V::kResourceMove || v == V::kResourceBan) {
    i.dry_run = body.value("dry_run", false);
    i.promoted = body.value("promoted", false);
    const auto lifetime = lifetime_member(body);
    if (!lifetime) return std::unexpected(lifetime.error());
    i.lifetime_s = *lifetime;
  }
  if (v == V::kResourceRestart) {
    const auto timeout = sequence_timeout(body.value("timeout_s", nlohmann::json()));
    if (!timeout) return std::unexpected(timeout.error());
    i.timeout_s = *timeout;
  }
  return {};
}

// What an undone sequence tells the operator: its last step refused (what it stops had
// stopped), or a stop that outlasted the deadline.
std::string undone_note(const OperatorSequence& s, bool stopped, const std::string& refused) {
  const std::string what = joined(s.stopping);
  const std::string again =
      s.kind == OperatorSequence::Kind::kRestart
          ? (s.enable.empty() ? "" : "; it is enabled again")
          : "; nothing was applied" +
                (s.enable.empty() ? std::string() : "; enabled again: " + joined(s.enable));
  if (stopped && !refused.empty()) return "its last step was refused: " + refused + again;
  return what + " did not stop within " + std::to_string(s.deadline - s.started) + " s" + again;
}

bool stopped_everywhere(const OperatorSequence& s, const ResourceConfig& rc,
                        const std::set<std::string>& possibly_active) {
  for (const auto& top : s.stopping) {
    for (const auto& p : primitives_of(rc, top)) {
      if (possibly_active.contains(p)) return false;
    }
  }
  return true;
}

}  // namespace

std::expected<std::int64_t, std::string> sequence_timeout(const nlohmann::json& value) {
  if (value.is_null()) return kDefaultSequenceTimeoutSeconds;
  if (!value.is_number()) return std::unexpected("timeout_s must be a number of seconds");
  const double s = value.get<double>();
  if (!(s >= 0) || s > static_cast<double>(kMaxSequenceTimeoutSeconds)) {
    return std::unexpected("timeout_s must be between 0 and " +
                           std::to_string(kMaxSequenceTimeoutSeconds));
  }
  return static_cast<std::int64_t>(std::ceil(s));
}

bool is_intent(ControlVerb v) {
  using V = ControlVerb;
  return v == V::kNodeStandby || v == V::kNodeOnline || v == V::kNodeMaintenance ||
         v == V::kResourceMove || v == V::kResourceBan || v == V::kResourceClear ||
         v == V::kResourceEnable || v == V::kResourceDisable || v == V::kResourceRestart;
}

std::expected<Intent, std::string> intent_from_request(ControlVerb verb, const nlohmann::json& body,
                                                       std::string by) {
  if (!is_intent(verb)) {
    return std::unexpected("'" + std::string(wire_name(verb)) + "' is not an operator intent");
  }
  Intent i;
  i.verb = verb;
  i.by = std::move(by);
  try {
    if (auto r = read_members(i, body); !r)
      return std::unexpected("malformed request: " + r.error());
  } catch (const nlohmann::json::exception& e) {  // {"node": 1}
    return std::unexpected(std::string("malformed request: ") + e.what());
  }
  return i;
}

IntentResult decide_intent(const IntentContext& c, const Intent& intent) {
  ClusterDoc next = without_expired(c.doc, c.now_unix);
  switch (intent.verb) {
    case ControlVerb::kNodeStandby:
    case ControlVerb::kNodeOnline:
    case ControlVerb::kNodeMaintenance:
      return node_state(c, intent, std::move(next));
    case ControlVerb::kResourceEnable:
    case ControlVerb::kResourceDisable:
      return enabling(c, intent, std::move(next));
    case ControlVerb::kResourceMove:
    case ControlVerb::kResourceBan:
    case ControlVerb::kResourceClear:
    case ControlVerb::kResourceRestart:
      return resource_intent(c, intent, std::move(next));
    default:
      return refuse("'" + std::string(wire_name(intent.verb)) + "' is not an operator intent");
  }
}

IntentResult decide_apply(const IntentContext& c, const ApplyIntent& a) {
  if (c.doc.config_version != a.checked_version) {
    return refuse("the configuration changed (now version " + std::to_string(c.doc.config_version) +
                  ") while this one was checked; nothing was changed: check and apply it again");
  }
  if (c.doc.sequence) return Unexpected(busy(*c.doc.sequence, c.now_unix));
  ClusterDoc next = without_expired(c.doc, c.now_unix);
  for (const auto& id : a.enable) std::erase(next.disabled, id);
  if (a.stop_first.empty()) {
    next = adopt_config(std::move(next), a.text, a.by, c.now_unix, a.removed);
    return IntentDecision{next, {{"config_version", next.config_version}}};
  }
  // What is active and removed or redefined is stopped first, so that its old and new
  // definitions never run at once; what the operator had disabled stays so.
  OperatorSequence s;
  s.kind = OperatorSequence::Kind::kConfigApply;
  s.id = next_sequence_id(next);
  s.stopping = a.stop_first;
  std::sort(s.stopping.begin(), s.stopping.end());
  for (const auto& id : s.stopping) {
    if (!contains(next.disabled, id)) s.enable.push_back(id);
  }
  s.started = c.now_unix;
  s.deadline = c.now_unix + std::clamp<std::int64_t>(a.timeout_s, 0, kMaxSequenceTimeoutSeconds);
  s.by = a.by;
  s.config_text = a.text;
  s.over_version = c.doc.config_version;
  s.removed = a.removed;
  next.disabled.insert(next.disabled.end(), s.enable.begin(), s.enable.end());
  std::sort(next.disabled.begin(), next.disabled.end());
  nlohmann::json answer = {{"sequence", sequence_json(s, c.now_unix)}};
  next.sequence = std::move(s);
  return IntentDecision{std::move(next), std::move(answer)};
}

ClusterDoc adopt_config(ClusterDoc doc, std::string text, std::string by, std::int64_t now_unix,
                        const std::vector<std::string>& removed) {
  auto gone = [&](const std::string& id) {
    return std::binary_search(removed.begin(), removed.end(), id);
  };
  HACTL_ASSERT(std::is_sorted(removed.begin(), removed.end()));
  doc = without_expired(std::move(doc), now_unix);
  std::erase_if(doc.placements, [&](const PlacementIntent& p) { return gone(p.resource); });
  std::erase_if(doc.disabled, gone);
  doc.config_version += 1;
  doc.config_text = std::move(text);
  doc.config_applied = now_unix;
  doc.config_by = std::move(by);
  return doc;
}

std::vector<std::string> removed_resources(const ResourceConfig& current,
                                           const ResourceConfig& next) {
  const auto ids = resource_ids(next);
  const std::set<std::string> kept(ids.begin(), ids.end());
  std::set<std::string> out;
  for (const auto& id : resource_ids(current)) {
    if (!kept.contains(id)) out.insert(id);
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> stop_first(const ResourceConfig& current, const ResourceConfig& next,
                                    const std::set<std::string>& active) {
  // By id, once: ResourceConfig::primitive() is a linear search (quadratic over 20,000).
  std::map<std::string_view, const PrimitiveConfig*> after;
  for (const auto& q : next.primitives) after.emplace(q.id, &q);
  const std::vector<std::string> tops = top_level_resources(current);
  std::set<std::string> out;
  for (std::size_t k = 0; k < current.primitives.size(); ++k) {
    const PrimitiveConfig& p = current.primitives[k];
    const auto q = after.find(p.id);
    if (q != after.end() && same_definition(p, *q->second)) continue;
    if (active.contains(p.id)) out.insert(tops[k]);
  }
  return {out.begin(), out.end()};
}

std::optional<SequenceStep> advance_sequence(const ClusterDoc& doc, const ResourceConfig& rc,
                                             const std::set<std::string>& possibly_active,
                                             std::int64_t now_unix, const std::string& refused) {
  if (!doc.sequence) return std::nullopt;
  const OperatorSequence& s = *doc.sequence;
  const bool late = now_unix >= s.deadline;
  // A last step refused (something else became active) is tried again until the deadline.
  const bool stopped = stopped_everywhere(s, rc, possibly_active);
  const bool finish = stopped && (refused.empty() || !late);
  if (!finish && !late) return std::nullopt;
  ClusterDoc next = without_expired(doc, now_unix);
  next.sequence.reset();
  for (const auto& id : s.enable) std::erase(next.disabled, id);
  SequenceEnd end{s.id, s.kind, finish, "", now_unix, 0};
  if (!finish) {
    end.note = undone_note(s, stopped, refused);
  } else if (s.kind == OperatorSequence::Kind::kConfigApply) {
    if (doc.config_version != s.over_version) {
      end.done = false;
      end.note = "the configuration changed (now version " + std::to_string(doc.config_version) +
                 ") while this one waited; nothing was applied";
    } else {
      next = adopt_config(std::move(next), s.config_text, s.by, now_unix, s.removed);
      end.config_version = next.config_version;
    }
  }
  next.last_sequence = end;
  return SequenceStep{std::move(next), std::move(end)};
}

nlohmann::json sequence_json(const OperatorSequence& s, std::int64_t now_unix) {
  return {{"id", s.id},
          {"kind", std::string(to_string(s.kind))},
          {"stopping", s.stopping},
          {"enable", s.enable},
          {"started", s.started},
          {"deadline", s.deadline},
          {"deadline_in_s", s.deadline - now_unix},
          {"by", s.by}};
}

nlohmann::json sequence_end_json(const SequenceEnd& e) {
  return {{"id", e.id},       {"kind", std::string(to_string(e.kind))},
          {"done", e.done},   {"note", e.note},
          {"ended", e.ended}, {"config_version", e.config_version}};
}

}  // namespace hactl
