#include "cli/crm_compat/xml_render.hpp"

#include <algorithm>
#include <span>

#include "cli/crm_compat/xml_writer.hpp"

namespace hactl::crm {
namespace {

constexpr const char* kPacemakerVersion = "2.1.5";

// A top-level resource as Pacemaker shows it: a primitive, a group, or a clone.
struct TopView {
  enum class Kind { kPrimitive, kGroup, kClone };
  std::string id;
  Kind kind = Kind::kPrimitive;
  bool promotable = false;
  std::vector<const PrimitiveView*> members;
};

std::vector<TopView> tops_of(const StatusView& s) {
  std::vector<TopView> tops;
  for (const auto& p : s.primitives) {
    auto it =
        std::find_if(tops.begin(), tops.end(), [&](const TopView& t) { return t.id == p.top; });
    if (it == tops.end()) {
      it = tops.insert(tops.end(), TopView{});
      it->id = p.top;
    }
    it->members.push_back(&p);
  }
  for (auto& t : tops) {
    const bool alone = t.members.size() == 1 && t.members.front()->id == t.id;
    bool clone = false;
    for (const auto* m : t.members) {
      clone = clone || m->clone == t.id;
      t.promotable = t.promotable || m->promotable;
    }
    t.kind = alone   ? TopView::Kind::kPrimitive
             : clone ? TopView::Kind::kClone
                     : TopView::Kind::kGroup;
  }
  return tops;
}

std::string node_id(const StatusView& s, const std::string& name) {
  const NodeView* n = s.node(name);
  return n != nullptr ? std::to_string(n->id) : "";
}

int running_on(const StatusView& s, const std::string& node) {
  int count = 0;
  for (const auto& p : s.primitives) {
    for (const auto& i : p.instances) count += i.node == node ? 1 : 0;
  }
  return count;
}

std::string role_of(std::span<const InstanceView> where, bool in_promotable) {
  if (where.empty()) return "Stopped";
  for (const auto& i : where) {
    if (i.promoted) return "Promoted";
  }
  return in_promotable ? "Unpromoted" : "Started";
}

// <resource ...> in Pacemaker 2.1's attribute order (redis greps role, active, orphaned,
// failed in that order), with a <node> per place it runs.
void resource_xml(XmlWriter& w, const StatusView& s, const PrimitiveView& p,
                  std::span<const InstanceView> where, bool in_promotable) {
  const XmlAttrs attrs = {
      {"id", p.id},
      {"resource_agent", p.type},
      {"role", role_of(where, in_promotable)},
      {"active", xml_bool(!where.empty())},
      {"orphaned", "false"},
      {"blocked", "false"},
      {"maintenance", "false"},
      {"managed", "true"},
      {"failed", xml_bool(p.failed)},
      {"failure_ignored", "false"},
      {"nodes_running_on", std::to_string(where.size())},
  };
  if (where.empty()) return w.leaf("resource", attrs);
  w.open("resource", attrs);
  for (const auto& i : where) {
    w.leaf("node", {{"name", i.node}, {"id", node_id(s, i.node)}, {"cached", "true"}});
  }
  w.close("resource");
}

void clone_xml(XmlWriter& w, const StatusView& s, const TopView& t) {
  bool failed = false;
  for (const auto* m : t.members) failed = failed || m->failed;
  w.open("clone", {{"id", t.id},
                   {"multi_state", xml_bool(t.promotable)},
                   {"unique", "false"},
                   {"maintenance", "false"},
                   {"managed", "true"},
                   {"disabled", "false"},
                   {"failed", xml_bool(failed)},
                   {"failure_ignored", "false"}});
  // Anonymous clone instances carry the primitive's id, as in Pacemaker's output.
  for (const auto* m : t.members) {
    if (m->instances.empty()) resource_xml(w, s, *m, {}, t.promotable);
    for (const auto& i : m->instances) resource_xml(w, s, *m, std::span(&i, 1), t.promotable);
  }
  w.close("clone");
}

void resources_xml(XmlWriter& w, const StatusView& s) {
  w.open("resources");
  for (const auto& t : tops_of(s)) {
    if (t.kind == TopView::Kind::kClone) {
      clone_xml(w, s, t);
      continue;
    }
    const bool group = t.kind == TopView::Kind::kGroup;
    if (group) {
      w.open("group", {{"id", t.id},
                       {"number_resources", std::to_string(t.members.size())},
                       {"maintenance", "false"},
                       {"managed", "true"},
                       {"disabled", "false"}});
    }
    for (const auto* m : t.members) resource_xml(w, s, *m, m->instances, false);
    if (group) w.close("group");
  }
  w.close("resources");
}

void summary_xml(XmlWriter& w, const StatusView& s) {
  w.open("summary");
  w.leaf("stack", {{"type", "hactl"}});
  if (s.coordinator) {
    w.leaf("current_dc", {{"present", "true"},
                          {"version", kPacemakerVersion},
                          {"name", *s.coordinator},
                          {"id", node_id(s, *s.coordinator)},
                          {"with_quorum", xml_bool(s.quorum)}});
  } else {
    w.leaf("current_dc", {{"present", "false"}});
  }
  std::size_t instances = 0;
  for (const auto& p : s.primitives) instances += std::max<std::size_t>(1, p.instances.size());
  w.leaf("nodes_configured", {{"number", std::to_string(s.nodes.size())}});
  w.leaf("resources_configured",
         {{"number", std::to_string(instances)}, {"disabled", "0"}, {"blocked", "0"}});
  w.close("summary");
}

void nodes_xml(XmlWriter& w, const StatusView& s) {
  w.open("nodes");
  for (const auto& n : s.nodes) {
    w.leaf("node", {{"name", n.name},
                    {"id", std::to_string(n.id)},
                    {"online", xml_bool(n.online)},
                    {"standby", xml_bool(n.standby)},
                    {"standby_onfail", "false"},
                    {"maintenance", xml_bool(n.maintenance)},
                    {"pending", "false"},
                    {"unclean", xml_bool(n.unclean)},
                    {"shutdown", "false"},
                    {"expected_up", "true"},
                    {"is_dc", xml_bool(n.coordinator)},
                    {"resources_running", std::to_string(running_on(s, n.name))},
                    {"type", "member"}});
  }
  w.close("nodes");
}

void node_attributes_xml(XmlWriter& w, const StatusView& s) {
  w.open("node_attributes");
  for (const auto& n : s.nodes) {
    if (!n.online) continue;
    w.open("node", {{"name", n.name}});
    for (const auto& a : s.attributes) {
      if (a.node == n.name) w.leaf("attribute", {{"name", a.name}, {"value", a.value}});
    }
    w.close("node");
  }
  w.close("node_attributes");
}

}  // namespace

std::string render_mon_xml(const StatusView& s, const std::string& request_line) {
  XmlWriter w;
  w.open("pacemaker-result", {{"api-version", "2.25"}, {"request", request_line}});
  summary_xml(w, s);
  nodes_xml(w, s);
  resources_xml(w, s);
  node_attributes_xml(w, s);
  w.leaf("status", {{"code", "0"}, {"message", "OK"}});
  w.close("pacemaker-result");
  return "<?xml version=\"1.0\"?>\n" + w.text();
}

}  // namespace hactl::crm
