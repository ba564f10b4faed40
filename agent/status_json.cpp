#include "agent/status_json.hpp"

#include <chrono>
#include <map>
#include <string_view>

#include "common/cluster_doc.hpp"

namespace hactl {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

nlohmann::json name_or_null(const ClusterConfig& config, std::optional<NodeId> id) {
  return id ? nlohmann::json(config.node(*id).name) : nlohmann::json(nullptr);
}

double ms_double(Duration d) { return static_cast<double>(d.count()) / 1000.0; }

nlohmann::json node_entry(const ClusterConfig& config, const NodeStatus& s, NodeId id,
                          Instant now) {
  const NodeConfig& n = config.node(id);
  nlohmann::json j;
  j["name"] = n.name;
  j["address"] = n.address.to_string();
  j["witness"] = n.witness;
  j["coordinator"] = s.coordinator == id;
  j["self"] = s.self == id;
  if (s.self == id) {
    j["state"] = "online";
    j["last_heard_ms"] = 0;
    j["rtt_ms"] = nullptr;
    j["reason"] = "";
    return j;
  }
  const auto it = std::find_if(s.peers.begin(), s.peers.end(),
                               [id](const PeerStatus& p) { return p.id == id; });
  const PeerStatus& p = *it;
  j["state"] = p.up ? "online" : "offline";
  j["last_heard_ms"] =
      p.last_heard ? nlohmann::json(duration_cast<milliseconds>(now - *p.last_heard).count())
                   : nlohmann::json(nullptr);
  j["rtt_ms"] = p.rtt ? nlohmann::json(ms_double(*p.rtt)) : nlohmann::json(nullptr);
  j["reason"] = p.down_reason;
  return j;
}

// The arbiter as this node sees it (docs/pairs.md): it matters only in a split, so an
// unreachable one changes nothing until then, and says so here.
nlohmann::json arbiter_entry(const ClusterConfig& config, const ArbiterView& a, Instant now) {
  const NodeConfig& n = config.node(a.id);
  nlohmann::json j;
  j["name"] = n.name;
  j["address"] = n.address.to_string();
  j["reachable"] = a.reachable;
  j["claiming"] = a.claiming;
  j["held"] = a.held;
  j["holder"] = a.holder.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.holder);
  j["last_answer_ms"] =
      a.last_answer ? nlohmann::json(duration_cast<milliseconds>(now - *a.last_answer).count())
                    : nlohmann::json(nullptr);
  j["rtt_ms"] = a.rtt ? nlohmann::json(ms_double(*a.rtt)) : nlohmann::json(nullptr);
  return j;
}

}  // namespace

nlohmann::json status_json(const ClusterConfig& config, const NodeStatus& s, Instant now,
                           const TransportCounters& counters) {
  nlohmann::json j;
  j["cluster"] = config.name;
  j["node"] = config.node(s.self).name;
  j["role"] = std::string(to_string(s.role));
  j["coordinator"] = name_or_null(config, s.coordinator);
  j["term"] = s.term.value;
  j["quorum"] = s.quorum;
  j["lease_remaining_ms"] = s.lease_until && *s.lease_until != Instant::max()
                                ? nlohmann::json(ms_double(*s.lease_until - now))
                                : nlohmann::json(nullptr);
  j["no_quorum_policy"] = std::string(to_string(config.no_quorum_policy));
  j["nodes"] = nlohmann::json::array();
  for (std::size_t i = 0; i < config.nodes.size(); ++i) {
    if (config.nodes[i].arbiter) continue;  // not a member: "arbiter" below
    j["nodes"].push_back(node_entry(config, s, NodeId{static_cast<std::uint16_t>(i)}, now));
  }
  if (s.arbiter) j["arbiter"] = arbiter_entry(config, *s.arbiter, now);
  nlohmann::json dropped;
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    dropped[std::string(to_string(static_cast<DropReason>(i)))] = counters.dropped[i];
  }
  j["transport"] = {{"sent", counters.sent},
                    {"send_failed", counters.send_failed},
                    {"received", counters.received},
                    {"dropped", dropped}};
  return j;
}

// Per primitive: where each instance runs and in which role, its clone (if any), and for a
// promotable clone's primitive the promotion scores its agent set (crm_master), by node.
void add_instances_json(nlohmann::json& list, const ClusterConfig& config,
                        const ClusterState& state) {
  // The clone of each primitive, found once (clone_of per primitive is quadratic).
  std::map<std::string_view, const GroupConfig*> groups;
  for (const auto& g : config.resources.groups) groups.emplace(g.id, &g);
  std::map<std::string_view, const CloneConfig*> clone_of;
  for (const auto& c : config.resources.clones) {
    clone_of.emplace(c.child, &c);
    if (const auto g = groups.find(c.child); g != groups.end()) {
      for (const auto& m : g->second->members) clone_of.emplace(m, &c);
    }
  }
  for (std::size_t k = 0; k < config.resources.primitives.size(); ++k) {
    const PrimitiveConfig& p = config.resources.primitives[k];
    const auto& roles = state.roles.at(p.id);
    nlohmann::json instances = nlohmann::json::array();
    for (std::size_t i = 0; i < config.nodes.size(); ++i) {
      if (roles[i] == ResourceRole::kStopped) continue;
      instances.push_back({{"node", config.nodes[i].name},
                           {"role", roles[i] == ResourceRole::kPromoted ? "promoted" : "started"}});
    }
    nlohmann::json& entry = list[k];
    entry["instances"] = std::move(instances);
    const auto found = clone_of.find(p.id);
    const CloneConfig* clone = found != clone_of.end() ? found->second : nullptr;
    entry["clone"] = clone != nullptr ? nlohmann::json(clone->id) : nlohmann::json(nullptr);
    entry["promotable"] = clone != nullptr && clone->promotable;
    if (clone == nullptr || !clone->promotable) continue;
    nlohmann::json scores = nlohmann::json::object();
    for (std::size_t i = 0; i < config.nodes.size(); ++i) {
      if (const auto s = state.promotion_score(p.id, NodeId{static_cast<std::uint16_t>(i)})) {
        scores[config.nodes[i].name] = *s;
      }
    }
    entry["promotion_scores"] = std::move(scores);
  }
}

nlohmann::json attributes_json(const ClusterConfig& config, const ClusterDoc& doc,
                               const std::vector<std::uint64_t>& incarnations) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : doc.attributes) {
    const auto id = config.find_node(a.node);
    if (!id) continue;
    if (!attribute_in_force(a, incarnations.at(id->value))) continue;
    out.push_back({{"node", a.node},
                   {"name", a.name},
                   {"value", a.value},
                   {"lifetime", a.reboot ? "reboot" : "forever"}});
  }
  return out;
}

void add_resources_json(nlohmann::json& status, const ClusterConfig& config, const Conductor& c,
                        const Membership& m, Instant now) {
  const ClusterState state = c.state(m, now);
  // Once for all: a lookup per primitive is a linear search (1.4 s for 20,000 on the loop).
  const std::vector<std::string> tops = top_level_resources(config.resources);
  const std::vector<std::optional<Failback>> failbacks = unit_failbacks(config, tops);
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t k = 0; k < config.resources.primitives.size(); ++k) {
    const PrimitiveConfig& p = config.resources.primitives[k];
    const auto& roles = state.roles.at(p.id);
    nlohmann::json nodes = nlohmann::json::array();
    nlohmann::json fail_counts = nlohmann::json::object();
    bool promoted = false, failed = false, busy = false, known = true, unclean = false;
    long total_failures = 0;
    for (std::size_t i = 0; i < config.nodes.size(); ++i) {
      const NodeView& v = c.views()[i];
      const ResourceEntry& e = v.entries[k];
      const int count = state.fail_count(p, NodeId{static_cast<std::uint16_t>(i)});
      if (count > 0) fail_counts[config.nodes[i].name] = count;
      total_failures += count;
      if (config.nodes[i].witness) continue;
      if (m.up[i]) {
        known = known && v.complete && e.probed;
        busy = busy || e.busy;
        failed = failed || e.failed;
      }
      if (roles[i] == ResourceRole::kStopped) continue;
      nodes.push_back(config.nodes[i].name);
      promoted = promoted || roles[i] == ResourceRole::kPromoted;
      unclean = unclean || !m.up[i];
    }
    // A vip's verification, as its holder reports it (coordinator/announcer.hpp).
    nlohmann::json verify = nullptr;
    const auto checks = c.vip_checks(k, m);
    for (std::size_t i = 0; i < checks.size(); ++i) {
      if (checks[i] == nullptr || roles[i] == ResourceRole::kStopped) continue;
      const ResourceEntry& e = *checks[i];
      verify = {{"node", config.nodes[i].name},
                {"state", std::string(to_string(e.check))},
                {"took_ms", e.check == VipCheck::kVerified ? nlohmann::json(e.check_ms)
                                                           : nlohmann::json(nullptr)},
                {"announcements", e.announcements}};
      break;
    }
    // The failback of what it moves with (docs/failback.md), and whether flap damping holds it.
    const std::string& top = tops[k];
    const std::optional<Failback>& failback = failbacks[k];
    const auto held = state.held.find(top);
    const char* role = promoted ? "promoted" : nodes.empty() ? "stopped" : "started";
    const char* st = !known    ? "unknown"
                     : failed  ? "failed"
                     : unclean ? "unclean"
                     : busy    ? "changing"
                               : role;
    list.push_back(
        {{"id", p.id},
         {"top", top},
         {"type",
          p.cls == ResourceClass::kOcf
              ? "ocf:" + p.provider + ":" + p.type
              : std::string(to_string(p.cls)) + (p.cls == ResourceClass::kVip ? "" : ":" + p.type)},
         {"nodes", nodes},
         {"role", role},
         {"state", st},
         {"fail_count", total_failures},
         {"fail_counts", fail_counts},
         {"on_quorum_loss", stops_without_quorum(p, config.no_quorum_policy) ? "stop" : "freeze"},
         {"failback", failback ? nlohmann::json(to_string(*failback)) : nlohmann::json(nullptr)},
         {"held",
          held != state.held.end() ? nlohmann::json(held->second) : nlohmann::json(nullptr)},
         {"verify", verify}});
  }
  add_instances_json(list, config, state);
  status["resources"] = list;
  status["scheduler"] = {
      {"active", c.active()}, {"waiting_for", c.waiting_for()}, {"notes", c.notes()}};
}

}  // namespace hactl
