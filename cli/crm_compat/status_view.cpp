#include "cli/crm_compat/status_view.hpp"

namespace hactl::crm {
namespace {

using nlohmann::json;

std::string str(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool flag(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

const json& array_at(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

// A node lost while it may still run something is Pacemaker's "unclean" until fenced.
bool unclean(const json& n) {
  const auto it = n.find("fencing");
  if (it == n.end() || !it->is_object()) return false;
  const std::string stage = str(*it, "stage");
  return stage == "pending" || stage == "running" || stage == "failed";
}

std::vector<NodeView> read_nodes(const json& reply) {
  std::vector<NodeView> out;
  int position = 0;
  for (const auto& n : array_at(reply, "nodes")) {
    ++position;
    if (!n.is_object() || flag(n, "witness")) continue;
    const std::string state = str(n, "state");
    NodeView v{str(n, "name"), position};
    v.online = state == "online" || state == "standby" || state == "maintenance";
    v.standby = state == "standby";
    v.maintenance = state == "maintenance";
    v.unclean = !v.online && unclean(n);
    v.self = flag(n, "self");
    v.coordinator = flag(n, "coordinator");
    if (!v.name.empty()) out.push_back(std::move(v));
  }
  return out;
}

// "instances" when the agent gives them; before that, "nodes" with the resource's role.
std::vector<InstanceView> read_instances(const json& r) {
  std::vector<InstanceView> out;
  if (const auto it = r.find("instances"); it != r.end() && it->is_array()) {
    for (const auto& i : *it) {
      if (i.is_object() && !str(i, "node").empty())
        out.push_back({str(i, "node"), str(i, "role") == "promoted"});
    }
    return out;
  }
  const auto& nodes = array_at(r, "nodes");
  for (const auto& n : nodes) {
    if (n.is_string())
      out.push_back({n.get<std::string>(), nodes.size() == 1 && str(r, "role") == "promoted"});
  }
  return out;
}

PrimitiveView read_primitive(const json& r) {
  PrimitiveView p;
  p.id = str(r, "id");
  p.top = str(r, "top");
  p.type = str(r, "type");
  p.clone = str(r, "clone");
  if (p.top.empty()) p.top = p.id;
  p.instances = read_instances(r);
  p.failed = str(r, "state") == "failed";
  bool any_promoted = false;
  for (const auto& i : p.instances) any_promoted = any_promoted || i.promoted;
  p.promotable = flag(r, "promotable") || any_promoted || str(r, "role") == "promoted";
  // Without "clone", a promotable resource under another top is the clone's.
  if (p.clone.empty() && p.promotable && p.top != p.id) p.clone = p.top;
  return p;
}

std::vector<AttributeView> read_attributes(const json& reply) {
  std::vector<AttributeView> out;
  for (const auto& a : array_at(reply, "attributes")) {
    if (!a.is_object()) continue;
    AttributeView v{str(a, "node"), str(a, "name"), str(a, "value")};
    v.lifetime = str(a, "lifetime") == "forever" ? Lifetime::kForever : Lifetime::kReboot;
    if (!v.node.empty() && !v.name.empty()) out.push_back(std::move(v));
  }
  return out;
}

std::uint64_t read_epoch(const json& reply) {
  const auto d = reply.find("document");
  if (d == reply.end() || !d->is_object()) return 0;
  const auto v = d->find("config_version");
  return v != d->end() && v->is_number_unsigned() ? v->get<std::uint64_t>() : 0;
}

}  // namespace

const NodeView* StatusView::node(std::string_view name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

std::expected<StatusView, std::string> read_status(const json& reply) {
  if (!reply.is_object() || !reply.contains("nodes") || str(reply, "node").empty()) {
    return std::unexpected("the agent's status reply has no \"node\" or \"nodes\"");
  }
  StatusView s;
  s.local = str(reply, "node");
  if (const auto c = str(reply, "coordinator"); !c.empty()) s.coordinator = c;
  s.quorum = flag(reply, "quorum");
  s.epoch = read_epoch(reply);
  s.nodes = read_nodes(reply);
  for (const auto& r : array_at(reply, "resources")) {
    if (r.is_object() && !str(r, "id").empty()) s.primitives.push_back(read_primitive(r));
  }
  s.attributes = read_attributes(reply);
  return s;
}

}  // namespace hactl::crm
