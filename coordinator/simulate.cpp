#include "coordinator/simulate.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include "common/known_names.hpp"
#include "common/suggest.hpp"
#include "coordinator/explain.hpp"

namespace hactl {
namespace {

bool active(ResourceRole r) { return r != ResourceRole::kStopped; }

bool reachable(NodeCondition c) {
  return c == NodeCondition::kOnline || c == NodeCondition::kStandby;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

std::optional<std::string> check_shape(const ClusterConfig& config, const ClusterState& state) {
  const std::size_t n = config.nodes.size();
  if (state.nodes.size() != n) {
    return "the state has " + std::to_string(state.nodes.size()) + " nodes, the configuration " +
           std::to_string(n);
  }
  auto check = [&](const auto& map, const char* what) -> std::optional<std::string> {
    for (const auto& [id, v] : map) {
      if (config.resources.primitive(id) == nullptr)
        return std::string("the state's ") + what + " name '" + id + "', not a primitive";
      if (v.size() != n)
        return std::string("the state's ") + what + " of '" + id + "' do not cover every node";
    }
    return std::nullopt;
  };
  if (auto e = check(state.roles, "roles")) return e;
  if (auto e = check(state.failed, "failed monitors")) return e;
  if (auto e = check(state.settling, "settling marks")) return e;
  if (auto e = check(state.failures, "failures")) return e;
  return std::nullopt;
}

// Applies the request; returns every error found (unknown names, nothing to fail).
std::vector<std::string> apply_request(const ClusterConfig& config, ClusterState& state,
                                       const SimulateRequest& request) {
  std::vector<std::string> errors;
  const std::size_t n = config.nodes.size();
  for (const auto& name : request.kill) {
    const auto id = config.find_node(name);
    if (!id) {
      errors.push_back(unknown_name_message("node", name, node_names(config)));
      continue;
    }
    const std::size_t i = id->value;
    state.nodes[i] = NodeCondition::kOffline;
    for (auto& [_, roles] : state.roles) roles[i] = ResourceRole::kStopped;
    for (auto& [_, flags] : state.failed) flags[i] = false;
    for (auto& [_, flags] : state.settling) flags[i] = false;
  }
  for (const auto& id : request.fail) {
    const auto prims = primitives_of(config.resources, id);
    if (prims.empty()) {
      errors.push_back(unknown_name_message("resource", id, resource_ids(config.resources)));
      continue;
    }
    bool any = false;
    for (const auto& p : prims) {
      const auto roles = state.roles.find(p);
      if (roles == state.roles.end()) continue;
      for (std::size_t i = 0; i < n; ++i) {
        if (!active(roles->second[i]) || !reachable(state.nodes[i])) continue;
        any = true;
        auto& failed = state.failed[p];
        failed.resize(n, false);
        failed[i] = true;
        auto& failures = state.failures[p];
        failures.resize(n, FailureRecord{0, state.now});
        ++failures[i].count;
        failures[i].last = state.now;
      }
    }
    if (!any) {
      errors.push_back("resource '" + id +
                       "' is not active on any online or standby node: there is no monitor to "
                       "fail");
    }
  }
  return errors;
}

std::string roles_text(const std::vector<std::pair<std::string, ResourceRole>>& roles) {
  std::string promoted, started;
  for (const auto& [node, role] : roles) {
    std::string& list = role == ResourceRole::kPromoted ? promoted : started;
    list += (list.empty() ? "" : ", ") + node;
  }
  if (promoted.empty() && started.empty()) return "stopped";
  if (promoted.empty()) return "started on " + started;
  return "promoted on " + promoted + (started.empty() ? "" : "; started on " + started);
}

// For each primitive: every stop of it (each clone instance on its own) or demote (the promoted
// role, on whichever node) of something active, and the first later start (promote) that brings
// it back. Downs before that comeback are part of the same interruption.
std::vector<Interruption> interruptions(
    const ClusterConfig& config, const Transition& t,
    const std::vector<std::tuple<std::string, std::string, ResourceRole>>& lost) {
  std::vector<Interruption> out;
  for (const auto& p : config.resources.primitives) {
    const bool cloned = config.resources.clone_of(p.id) != nullptr;
    std::map<std::string, std::size_t> open;  // instance key -> index in `out`
    for (const auto& [id, node, role] : lost) {
      if (id != p.id) continue;
      // Down since its node died: the instance there, and the promoted role if it had it.
      const std::string key = "instance/" + (cloned ? node : std::string());
      if (!open.contains(key)) {
        open[key] = out.size();
        out.push_back(Interruption{p.id, cloned ? node : std::string(), ActionKind::kStop,
                                   std::nullopt, node, std::nullopt, std::string()});
      }
      if (role == ResourceRole::kPromoted && !open.contains("promoted/")) {
        open["promoted/"] = out.size();
        out.push_back(Interruption{p.id, std::string(), ActionKind::kDemote, std::nullopt, node,
                                   std::nullopt, std::string()});
      }
    }
    for (std::size_t k = 0; k < t.actions.size(); ++k) {
      const PlannedAction& a = t.actions[k];
      if (a.resource != p.id) continue;
      const std::string& node = config.nodes[a.node.value].name;
      const bool promotion = a.kind == ActionKind::kDemote || a.kind == ActionKind::kPromote;
      const std::string key = std::string(promotion ? "promoted" : "instance") + "/" +
                              (cloned && !promotion ? node : std::string());
      if (a.kind == ActionKind::kStop || a.kind == ActionKind::kDemote) {
        if (open.contains(key)) continue;
        open[key] = out.size();
        out.push_back(Interruption{p.id, cloned ? node : std::string(), a.kind, k, std::string(),
                                   std::nullopt, std::string()});
      } else if (const auto it = open.find(key); it != open.end()) {
        out[it->second].until = k;
        out[it->second].back_on = node;
        open.erase(it);
      }
    }
  }
  // Those lost with a node first (nullopt sorts first), then by the action that takes them down.
  std::stable_sort(out.begin(), out.end(),
                   [](const Interruption& a, const Interruption& b) { return a.from < b.from; });
  return out;
}

}  // namespace

std::expected<SimulateResult, std::string> simulate(const ClusterConfig& config, ClusterState state,
                                                    const SimulateRequest& request) {
  if (const auto e = check_shape(config, state)) {
    return std::unexpected("the state does not fit the configuration: " + *e);
  }
  // What ran on the nodes to kill: the interruptions start there, before any action.
  std::vector<std::tuple<std::string, std::string, ResourceRole>> lost;  // primitive, node, role
  for (const auto& name : request.kill) {
    const auto id = config.find_node(name);
    if (!id) continue;
    for (const auto& [p, roles] : state.roles) {
      if (id->value < roles.size() && active(roles[id->value]))
        lost.emplace_back(p, name, roles[id->value]);
    }
  }
  if (const auto errors = apply_request(config, state, request); !errors.empty()) {
    return std::unexpected(join_lines(errors));
  }
  SimulateResult r;
  r.transition = schedule(config, state, true);
  const Transition& t = r.transition;
  const std::size_t n = config.nodes.size();
  r.notes = t.notes;
  for (const auto& a : t.actions) {
    r.actions.push_back(SimulatedAction{a.resource,
                                        config.nodes[a.node.value].name,
                                        a.kind,
                                        a.reason,
                                        {},
                                        action_why(config, state, t, a)});
  }
  for (const auto& [before, after] : t.order) r.actions[after].after.push_back(before);
  r.interruptions = interruptions(config, t, lost);

  // The placement after: what runs now (a lost node runs nothing unless it may still: its
  // lease is not over, or the resource is still settling there), then each action in turn.
  std::map<std::string, std::vector<ResourceRole>> roles;
  for (const auto& p : config.resources.primitives) {
    auto& v = roles[p.id];
    v.assign(n, ResourceRole::kStopped);
    for (std::size_t i = 0; i < n; ++i) {
      const NodeId id{static_cast<std::uint16_t>(i)};
      const bool may_run = state.nodes[i] != NodeCondition::kOffline || state.is_settling(p.id, id);
      if (may_run) v[i] = state.role(p.id, id);
    }
  }
  for (const auto& a : t.actions) {
    ResourceRole& role = roles.at(a.resource)[a.node.value];
    switch (a.kind) {
      case ActionKind::kDemote:
        role = ResourceRole::kStarted;
        break;
      case ActionKind::kStop:
        role = ResourceRole::kStopped;
        break;
      case ActionKind::kStart:
        role = ResourceRole::kStarted;
        break;
      case ActionKind::kPromote:
        role = ResourceRole::kPromoted;
        break;
    }
  }
  for (const auto& p : config.resources.primitives) {
    r.resources.push_back(p.id);
    if (const CloneConfig* c = config.resources.clone_of(p.id); c != nullptr && c->promotable)
      r.promotable.insert(p.id);
    const auto& v = roles.at(p.id);
    for (std::size_t i = 0; i < n; ++i) {
      if (active(v[i])) r.placement.push_back(PlacedResource{p.id, config.nodes[i].name, v[i]});
    }
  }
  r.state = std::move(state);
  return r;
}

std::string format_transition(const SimulateResult& r) {
  std::ostringstream out;
  out << "actions:\n";
  if (r.actions.empty()) out << "  (none)\n";
  for (std::size_t i = 0; i < r.actions.size(); ++i) {
    const auto& a = r.actions[i];
    out << "  " << i + 1 << ". " << to_string(a.kind) << " " << a.resource << " on " << a.node;
    std::string after;
    for (const std::size_t x : a.after) after += (after.empty() ? "" : ",") + std::to_string(x + 1);
    if (!after.empty()) out << " after " << after;
    out << "  (" << a.reason << ")\n";
    if (!a.why.empty()) out << "       why: " << a.why << "\n";
  }
  if (!r.interruptions.empty()) {
    out << "interruptions:\n";
    for (const auto& x : r.interruptions) {
      const bool demote = x.down == ActionKind::kDemote;
      out << "  " << x.resource;
      if (!demote && !x.node.empty()) out << " on " << x.node;
      out << (demote ? ": no promoted instance" : ": down");
      if (x.from) {
        out << " from " << *x.from + 1 << " (" << to_string(x.down) << " on "
            << r.actions[*x.from].node << ")";
      } else {
        out << " since " << x.lost_on << " died";
      }
      if (x.until) {
        out << " until " << *x.until + 1 << " (" << to_string(r.actions[*x.until].kind) << " on "
            << x.back_on << ")\n";
      } else {
        out << ", not brought back\n";
      }
    }
  }
  out << "placement:\n";
  std::map<std::string, std::vector<std::pair<std::string, ResourceRole>>> by_resource;
  for (const auto& p : r.placement) by_resource[p.resource].emplace_back(p.node, p.role);
  for (const auto& id : r.resources) {
    const auto it = by_resource.find(id);
    out << "  " << id << ": " << (it == by_resource.end() ? "stopped" : roles_text(it->second))
        << "\n";
  }
  for (const auto& note : r.notes) out << "note: " << note << "\n";
  return out.str();
}

nlohmann::json to_json(const SimulateResult& r) {
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : r.actions) {
    actions.push_back({{"resource", a.resource},
                       {"action", std::string(to_string(a.kind))},
                       {"node", a.node},
                       {"reason", a.reason},
                       {"why", a.why},
                       {"after", a.after}});
  }
  nlohmann::json downs = nlohmann::json::array();
  for (const auto& x : r.interruptions) {
    downs.push_back(
        {{"resource", x.resource},
         {"node", x.node.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.node)},
         {"down", std::string(to_string(x.down))},
         {"from", x.from ? nlohmann::json(*x.from) : nlohmann::json(nullptr)},
         {"lost_on", x.lost_on.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.lost_on)},
         {"until", x.until ? nlohmann::json(*x.until) : nlohmann::json(nullptr)},
         {"back_on", x.back_on.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.back_on)}});
  }
  nlohmann::json placement = nlohmann::json::array();
  for (const auto& p : r.placement) {
    const bool unpromoted = p.role == ResourceRole::kStarted && r.promotable.contains(p.resource);
    placement.push_back({{"resource", p.resource},
                         {"node", p.node},
                         {"role", unpromoted ? "unpromoted" : std::string(to_string(p.role))}});
  }
  return {{"actions", std::move(actions)},
          {"interruptions", std::move(downs)},
          {"placement", std::move(placement)},
          {"notes", r.notes}};
}

}  // namespace hactl
