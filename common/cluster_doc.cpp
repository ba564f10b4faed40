#include "common/cluster_doc.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "common/limits.hpp"

namespace hactl {

std::string_view to_string(PlacementIntent::Kind k) {
  return k == PlacementIntent::Kind::kPrefer ? "prefer" : "ban";
}

std::string_view to_string(OperatorSequence::Kind k) {
  return k == OperatorSequence::Kind::kConfigApply ? "config apply" : "restart";
}

namespace {

// Sequences are written only when there is one: a document without them keeps its bytes, and
// an agent of an earlier version reads it (it ignores members it does not know).
nlohmann::json sequence_bytes(const OperatorSequence& s) {
  return {{"kind", s.kind == OperatorSequence::Kind::kConfigApply ? "config_apply" : "restart"},
          {"id", s.id},
          {"stopping", s.stopping},
          {"enable", s.enable},
          {"started", s.started},
          {"deadline", s.deadline},
          {"by", s.by},
          {"config_text", s.config_text},
          {"over_version", s.over_version},
          {"removed", s.removed}};
}

OperatorSequence::Kind sequence_kind(const nlohmann::json& j) {
  const auto kind = j.at("kind").get<std::string>();
  if (kind != "config_apply" && kind != "restart") {
    throw std::invalid_argument("unknown sequence " + kind);
  }
  return kind == "restart" ? OperatorSequence::Kind::kRestart
                           : OperatorSequence::Kind::kConfigApply;
}

OperatorSequence sequence_from(const nlohmann::json& j) {
  OperatorSequence s;
  s.kind = sequence_kind(j);
  s.id = j.at("id").get<std::uint64_t>();
  s.stopping = j.at("stopping").get<std::vector<std::string>>();
  s.enable = j.at("enable").get<std::vector<std::string>>();
  s.started = j.at("started").get<std::int64_t>();
  s.deadline = j.at("deadline").get<std::int64_t>();
  s.by = j.at("by").get<std::string>();
  s.config_text = j.at("config_text").get<std::string>();
  s.over_version = j.at("over_version").get<std::uint64_t>();
  s.removed = j.at("removed").get<std::vector<std::string>>();
  return s;
}

nlohmann::json sequence_end_bytes(const SequenceEnd& e) {
  return {{"id", e.id},
          {"kind", e.kind == OperatorSequence::Kind::kConfigApply ? "config_apply" : "restart"},
          {"done", e.done},
          {"note", e.note},
          {"ended", e.ended},
          {"config_version", e.config_version}};
}

SequenceEnd sequence_end_from(const nlohmann::json& j) {
  SequenceEnd e;
  e.id = j.at("id").get<std::uint64_t>();
  e.kind = sequence_kind(j);
  e.done = j.at("done").get<bool>();
  e.note = j.at("note").get<std::string>();
  e.ended = j.at("ended").get<std::int64_t>();
  e.config_version = j.at("config_version").get<std::uint64_t>();
  return e;
}

}  // namespace

std::string doc_to_bytes(const ClusterDoc& doc) {
  nlohmann::json placements = nlohmann::json::array();
  for (const auto& p : doc.placements) {
    placements.push_back({{"kind", to_string(p.kind)},
                          {"resource", p.resource},
                          {"node", p.node},
                          {"created", p.created},
                          {"expires", p.expires},
                          {"by", p.by}});
    if (p.role == RoleFilter::kPromoted) placements.back()["role"] = "promoted";
  }
  nlohmann::json held = nlohmann::json::array();
  for (const auto& h : doc.held) {
    held.push_back({{"resource", h.resource},
                    {"node", h.node},
                    {"since", h.since},
                    {"moves", h.moves},
                    {"within", h.within}});
  }
  nlohmann::json j = {{"config_version", doc.config_version},
                      {"config_text", doc.config_text},
                      {"config_applied", doc.config_applied},
                      {"config_by", doc.config_by},
                      {"standby", doc.standby},
                      {"maintenance", doc.maintenance},
                      {"placements", placements},
                      {"disabled", doc.disabled},
                      {"held", held}};
  nlohmann::json attributes = nlohmann::json::array();
  for (const auto& a : doc.attributes) {
    attributes.push_back({{"node", a.node},
                          {"name", a.name},
                          {"value", a.value},
                          {"lifetime", a.reboot ? "reboot" : "forever"},
                          {"incarnation", a.incarnation}});
  }
  if (!attributes.empty()) j["attributes"] = std::move(attributes);
  if (!doc.properties.empty()) j["properties"] = doc.properties;
  if (doc.sequence) j["sequence"] = sequence_bytes(*doc.sequence);
  if (doc.last_sequence) j["last_sequence"] = sequence_end_bytes(*doc.last_sequence);
  return j.dump();
}

std::expected<ClusterDoc, std::string> doc_from_bytes(std::string_view bytes) {
  const auto j = nlohmann::json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected("not a JSON object");
  try {
    ClusterDoc d;
    d.config_version = j.at("config_version").get<std::uint64_t>();
    d.config_text = j.at("config_text").get<std::string>();
    d.config_applied = j.at("config_applied").get<std::int64_t>();
    d.config_by = j.at("config_by").get<std::string>();
    d.standby = j.at("standby").get<std::vector<std::string>>();
    d.maintenance = j.value("maintenance", std::vector<std::string>{});
    d.disabled = j.at("disabled").get<std::vector<std::string>>();
    for (const auto& p : j.at("placements")) {
      PlacementIntent i;
      const auto kind = p.at("kind").get<std::string>();
      if (kind != "prefer" && kind != "ban") return std::unexpected("unknown placement " + kind);
      i.kind = kind == "prefer" ? PlacementIntent::Kind::kPrefer : PlacementIntent::Kind::kBan;
      i.resource = p.at("resource").get<std::string>();
      i.node = p.at("node").get<std::string>();
      i.created = p.at("created").get<std::int64_t>();
      i.expires = p.at("expires").get<std::int64_t>();
      i.by = p.at("by").get<std::string>();
      const auto role = p.value("role", std::string());
      if (!role.empty() && role != "promoted")
        return std::unexpected("unknown placement role " + role);
      i.role = role.empty() ? RoleFilter::kAny : RoleFilter::kPromoted;
      d.placements.push_back(std::move(i));
    }
    for (const auto& h : j.value("held", nlohmann::json::array())) {
      FlapHold f;
      f.resource = h.at("resource").get<std::string>();
      f.node = h.at("node").get<std::string>();
      f.since = h.at("since").get<std::int64_t>();
      f.moves = h.at("moves").get<int>();
      f.within = h.at("within").get<std::int64_t>();
      d.held.push_back(std::move(f));
    }
    for (const auto& a : j.value("attributes", nlohmann::json::array())) {
      NodeAttribute x;
      x.node = a.at("node").get<std::string>();
      x.name = a.at("name").get<std::string>();
      x.value = a.at("value").get<std::string>();
      const auto lifetime = a.at("lifetime").get<std::string>();
      if (lifetime != "reboot" && lifetime != "forever") {
        return std::unexpected("unknown attribute lifetime " + lifetime);
      }
      x.reboot = lifetime == "reboot";
      x.incarnation = a.value("incarnation", std::uint64_t{0});
      d.attributes.push_back(std::move(x));
    }
    sort_attributes(d.attributes);  // find_attribute searches them
    d.properties = j.value("properties", std::map<std::string, std::string>{});
    if (const auto s = j.find("sequence"); s != j.end()) d.sequence = sequence_from(*s);
    if (const auto e = j.find("last_sequence"); e != j.end()) {
      d.last_sequence = sequence_end_from(*e);
    }
    return d;
  } catch (const nlohmann::json::exception& e) {
    return std::unexpected(std::string("malformed document: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return std::unexpected(std::string("malformed document: ") + e.what());
  }
}

void sort_attributes(std::vector<NodeAttribute>& list) {
  std::sort(list.begin(), list.end(), [](const NodeAttribute& a, const NodeAttribute& b) {
    return std::tie(a.node, a.name, a.reboot) < std::tie(b.node, b.name, b.reboot);
  });
}

const NodeAttribute* find_attribute(const ClusterDoc& doc, std::string_view node,
                                    std::string_view name, bool reboot) {
  const auto key = [](const NodeAttribute& a) {
    return std::tuple<std::string_view, std::string_view, bool>(a.node, a.name, a.reboot);
  };
  const std::tuple<std::string_view, std::string_view, bool> want(node, name, reboot);
  const auto it =
      std::lower_bound(doc.attributes.begin(), doc.attributes.end(), want,
                       [&](const NodeAttribute& a, const auto& w) { return key(a) < w; });
  return it != doc.attributes.end() && key(*it) == want ? &*it : nullptr;
}

NodeAttributes attributes_in_force(const ClusterConfig& config, const ClusterDoc& doc,
                                   const std::vector<std::uint64_t>& incarnations) {
  NodeAttributes out(config.nodes.size());
  std::map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < config.nodes.size(); ++i) index.emplace(config.nodes[i].name, i);
  // Sorted by (node, name, reboot): the reboot one of a name comes after its forever one.
  for (const auto& a : doc.attributes) {
    const auto it = index.find(a.node);
    if (it == index.end()) continue;
    const std::size_t i = it->second;
    if (!attribute_in_force(a, i < incarnations.size() ? incarnations[i] : 0)) continue;
    out[i][a.name] = a.value;
  }
  return out;
}

bool valid_attribute_name(std::string_view name) {
  return !name.empty() && name.size() <= limits::kMaxAttributeNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':';
         });
}

std::string promotion_attribute(std::string_view primitive) {
  return "master-" + std::string(primitive);
}

std::string FlapHold::why() const {
  return std::to_string(moves) + " moves within " + format_duration(std::chrono::seconds{within});
}

std::optional<std::string> top_level_resource(const ResourceConfig& rc, std::string_view id) {
  if (!rc.exists(id)) return std::nullopt;
  std::string top(id);
  for (const auto& g : rc.groups) {
    if (std::find(g.members.begin(), g.members.end(), top) != g.members.end()) top = g.id;
  }
  for (const auto& c : rc.clones) {
    if (c.child == top) top = c.id;
  }
  return top;
}

std::vector<std::string> top_level_resources(const ResourceConfig& rc) {
  // Last wins, as in top_level_resource: a member of two groups (refused by the loader) is in
  // the later one.
  std::unordered_map<std::string_view, std::string_view> group_of, clone_of;
  for (const auto& g : rc.groups) {
    for (const auto& m : g.members) group_of[m] = g.id;
  }
  for (const auto& c : rc.clones) clone_of[c.child] = c.id;
  std::vector<std::string> out;
  out.reserve(rc.primitives.size());
  for (const auto& p : rc.primitives) {
    std::string_view top = p.id;
    if (const auto g = group_of.find(top); g != group_of.end()) top = g->second;
    if (const auto c = clone_of.find(top); c != clone_of.end()) top = c->second;
    out.emplace_back(top);
  }
  return out;
}

std::vector<std::string> primitives_of(const ResourceConfig& rc, const std::string& id) {
  if (rc.primitive(id)) return {id};
  if (const GroupConfig* g = rc.group(id)) return g->members;
  if (const CloneConfig* c = rc.clone(id)) return primitives_of(rc, c->child);
  return {};
}

std::optional<Failback> failback_of(const ClusterConfig& config,
                                    std::span<const PrimitiveConfig* const> members) {
  for (const PrimitiveConfig* p : members) {
    if (p->failback) return p->failback;
  }
  return config.failback;
}

std::optional<Failback> unit_failback(const ClusterConfig& config, const std::string& unit) {
  std::vector<const PrimitiveConfig*> members;
  for (const auto& id : primitives_of(config.resources, unit)) {
    if (const PrimitiveConfig* p = config.resources.primitive(id)) members.push_back(p);
  }
  return failback_of(config, members);
}

std::vector<std::optional<Failback>> unit_failbacks(const ClusterConfig& config,
                                                    const std::vector<std::string>& tops) {
  const ResourceConfig& rc = config.resources;
  std::unordered_map<std::string_view, const PrimitiveConfig*> prims;
  for (const auto& p : rc.primitives) prims.emplace(p.id, &p);
  std::unordered_map<std::string_view, const GroupConfig*> groups;
  for (const auto& g : rc.groups) groups.emplace(g.id, &g);
  std::unordered_map<std::string_view, std::string_view> clone_child;
  for (const auto& c : rc.clones) clone_child.emplace(c.id, c.child);
  // As primitives_of: a primitive, a group's members in their order, a clone's child's.
  auto members = [&](std::string_view unit) {
    std::vector<const PrimitiveConfig*> out;
    if (const auto c = clone_child.find(unit); c != clone_child.end()) unit = c->second;
    if (const auto p = prims.find(unit); p != prims.end()) {
      out.push_back(p->second);
    } else if (const auto g = groups.find(unit); g != groups.end()) {
      for (const auto& m : g->second->members) {
        if (const auto q = prims.find(m); q != prims.end()) out.push_back(q->second);
      }
    }
    return out;
  };
  std::unordered_map<std::string_view, std::optional<Failback>> by_unit;
  std::vector<std::optional<Failback>> out;
  out.reserve(tops.size());
  for (const auto& top : tops) {
    auto [it, fresh] = by_unit.try_emplace(top);
    if (fresh) it->second = failback_of(config, members(top));
    out.push_back(it->second);
  }
  return out;
}

namespace {

bool in_force(const PlacementIntent& p, std::int64_t now_unix) {
  return p.expires == 0 || now_unix < p.expires;
}

}  // namespace

ClusterConfig effective_config(const ClusterConfig& base, const ClusterDoc& doc,
                               std::int64_t now_unix) {
  ClusterConfig c = base;
  auto& locs = c.resources.locations;
  for (const auto& p : doc.placements) {
    if (!in_force(p, now_unix) || !c.resources.exists(p.resource) || !c.find_node(p.node)) continue;
    const int score =
        p.kind == PlacementIntent::Kind::kPrefer ? limits::kInfinity : -limits::kInfinity;
    const bool move = p.kind == PlacementIntent::Kind::kPrefer;
    locs.push_back(LocationConstraint{
        p.resource, p.node, score, p.role,
        move ? LocationConstraint::Origin::kMove : LocationConstraint::Origin::kBan, p.expires});
  }
  for (const auto& id : doc.disabled) {
    if (!c.resources.exists(id)) continue;
    for (const auto& n : c.nodes) {
      locs.push_back(LocationConstraint{id, n.name, -limits::kInfinity, RoleFilter::kAny,
                                        LocationConstraint::Origin::kDisabled, 0});
    }
  }
  return c;
}

std::map<std::string, std::string> held_resources(const ResourceConfig& rc, const ClusterDoc& doc) {
  std::map<std::string, std::string> out;
  for (const auto& h : doc.held) {
    if (top_level_resource(rc, h.resource) == h.resource && rc.clone(h.resource) == nullptr)
      out[h.resource] = h.why();
  }
  return out;
}

std::vector<bool> standby_nodes(const ClusterConfig& config, const ClusterDoc& doc) {
  std::vector<bool> out(config.nodes.size(), false);
  for (const auto& name : doc.standby) {
    if (const auto id = config.find_node(name)) out[id->value] = true;
  }
  return out;
}

std::vector<bool> maintenance_nodes(const ClusterConfig& config, const ClusterDoc& doc) {
  std::vector<bool> out(config.nodes.size(), false);
  for (const auto& name : doc.maintenance) {
    if (const auto id = config.find_node(name)) out[id->value] = true;
  }
  return out;
}

std::optional<std::int64_t> next_expiry(const ClusterDoc& doc, std::int64_t now_unix) {
  std::optional<std::int64_t> next;
  for (const auto& p : doc.placements) {
    if (p.expires != 0 && p.expires > now_unix && (!next || p.expires < *next)) next = p.expires;
  }
  return next;
}

std::vector<std::string> static_differences(const ClusterConfig& current,
                                            const ClusterConfig& next) {
  std::vector<std::string> out;
  if (current.name != next.name) {
    out.push_back("cluster.name: '" + current.name + "' -> '" + next.name + "'");
  }
  if (current.auth_key_file != next.auth_key_file) out.push_back("cluster.auth_key_file changed");
  for (auto [key, a, b] :
       {std::tuple{"state_dir", &current.state_dir, &next.state_dir},
        std::tuple{"control_socket", &current.control_socket, &next.control_socket},
        std::tuple{"read_group", &current.read_group, &next.read_group},
        std::tuple{"admin_group", &current.admin_group, &next.admin_group},
        std::tuple{"metrics_address", &current.metrics_address, &next.metrics_address}}) {
    if (*a != *b) out.push_back(std::string("cluster.") + key + ": '" + *a + "' -> '" + *b + "'");
  }
  if (current.timing.heartbeat_interval != next.timing.heartbeat_interval) {
    out.push_back(
        "cluster.heartbeat_interval: " + format_duration(current.timing.heartbeat_interval) +
        " -> " + format_duration(next.timing.heartbeat_interval));
  }
  if (current.timing.node_timeout != next.timing.node_timeout) {
    out.push_back("cluster.node_timeout: " + format_duration(current.timing.node_timeout) + " -> " +
                  format_duration(next.timing.node_timeout));
  }
  if (current.no_quorum_policy != next.no_quorum_policy) {
    out.push_back("cluster.no_quorum_policy: " + std::string(to_string(current.no_quorum_policy)) +
                  " -> " + std::string(to_string(next.no_quorum_policy)));
  }
  if (current.nodes.size() != next.nodes.size()) {
    out.push_back("nodes: " + std::to_string(current.nodes.size()) + " -> " +
                  std::to_string(next.nodes.size()) + " nodes");
  } else {
    for (std::size_t i = 0; i < current.nodes.size(); ++i) {
      const auto& a = current.nodes[i];
      const auto& b = next.nodes[i];
      if (a.name != b.name || !(a.address == b.address) || a.witness != b.witness) {
        out.push_back("nodes[" + std::to_string(i) + "]: " + a.name + " " + a.address.to_string() +
                      (a.witness ? " witness" : "") + " -> " + b.name + " " +
                      b.address.to_string() + (b.witness ? " witness" : ""));
      }
    }
  }
  return out;
}

}  // namespace hactl
