// cibadmin -Q's CIB, and crm_mon's short text (the XML is in xml_render.cpp).
#include "cli/crm_compat/xml_render.hpp"
#include "cli/crm_compat/xml_writer.hpp"

namespace hactl::crm {
namespace {

// <instance_attributes id="PREFIX-ID"> with an <nvpair> per attribute of `lifetime`.
void nvpairs_xml(XmlWriter& w, const StatusView& s, const NodeView& n, Lifetime lifetime,
                 const std::string& prefix) {
  const std::string set_id = prefix + "-" + std::to_string(n.id);
  w.open("instance_attributes", {{"id", set_id}});
  for (const auto& a : s.attributes) {
    if (a.node != n.name || a.lifetime != lifetime) continue;
    w.leaf("nvpair", {{"id", set_id + "-" + a.name}, {"name", a.name}, {"value", a.value}});
  }
  w.close("instance_attributes");
}

bool has_attributes(const StatusView& s, const NodeView& n, Lifetime lifetime) {
  for (const auto& a : s.attributes) {
    if (a.node == n.name && a.lifetime == lifetime) return true;
  }
  return false;
}

void nodes_section(XmlWriter& w, const StatusView& s) {
  w.open("nodes");
  for (const auto& n : s.nodes) {
    const XmlAttrs attrs = {{"id", std::to_string(n.id)}, {"uname", n.name}};
    if (!has_attributes(s, n, Lifetime::kForever)) {
      w.leaf("node", attrs);
      continue;
    }
    w.open("node", attrs);
    nvpairs_xml(w, s, n, Lifetime::kForever, "nodes");
    w.close("node");
  }
  w.close("nodes");
}

void configuration_section(XmlWriter& w, const StatusView& s) {
  w.open("configuration");
  w.leaf("crm_config");
  nodes_section(w, s);
  w.leaf("resources");
  w.leaf("constraints");
  w.close("configuration");
}

void status_section(XmlWriter& w, const StatusView& s) {
  w.open("status");
  for (const auto& n : s.nodes) {
    const std::string id = std::to_string(n.id);
    w.open("node_state", {{"id", id},
                          {"uname", n.name},
                          {"in_ccm", xml_bool(n.online)},
                          {"crmd", n.online ? "online" : "offline"},
                          {"join", n.online ? "member" : "down"},
                          {"expected", n.online ? "member" : "down"}});
    if (has_attributes(s, n, Lifetime::kReboot)) {
      w.open("transient_attributes", {{"id", id}});
      nvpairs_xml(w, s, n, Lifetime::kReboot, "status");
      w.close("transient_attributes");
    }
    w.close("node_state");
  }
  w.close("status");
}

std::string whole_cib(const StatusView& s) {
  XmlAttrs attrs = {{"crm_feature_set", "3.16.2"},
                    {"validate-with", "pacemaker-3.9"},
                    {"epoch", std::to_string(s.epoch)},
                    {"num_updates", "0"},
                    {"admin_epoch", "0"},
                    {"have-quorum", s.quorum ? "1" : "0"}};
  const NodeView* dc = s.coordinator ? s.node(*s.coordinator) : nullptr;
  if (dc != nullptr) attrs.emplace_back("dc-uuid", std::to_string(dc->id));
  XmlWriter w;
  w.open("cib", attrs);
  configuration_section(w, s);
  status_section(w, s);
  w.close("cib");
  return w.text();
}

}  // namespace

std::expected<std::string, std::string> render_cib(const StatusView& s,
                                                   const std::optional<std::string>& scope) {
  if (!scope) return whole_cib(s);
  XmlWriter w;
  if (*scope == "nodes") {
    nodes_section(w, s);
  } else if (*scope == "status") {
    status_section(w, s);
  } else if (*scope == "configuration") {
    configuration_section(w, s);
  } else if (*scope == "resources" || *scope == "constraints" || *scope == "crm_config") {
    w.leaf(*scope);
  } else {
    return std::unexpected("no such section '" + scope->substr(0, 64) +
                           "' (nodes, resources, constraints, crm_config, configuration, status)");
  }
  return w.text();
}

std::string render_mon_text(const StatusView& s) {
  std::string out = "Cluster Summary:\n  * Stack: hactl\n  * Current DC: ";
  out += s.coordinator ? *s.coordinator +
                             (s.quorum ? " - partition with quorum" : " - partition WITHOUT quorum")
                       : std::string("NONE");
  out += "\n  * " + std::to_string(s.nodes.size()) + " nodes configured\n\nNode List:\n";
  std::string online;
  std::string offline;
  for (const auto& n : s.nodes) (n.online ? online : offline) += " " + n.name;
  if (!online.empty()) out += "  * Online: [" + online + " ]\n";
  if (!offline.empty()) out += "  * OFFLINE: [" + offline + " ]\n";
  out += "\nFull List of Resources:\n";
  for (const auto& p : s.primitives) {
    out += "  * " + p.id + "\t(" + p.type + "):\t";
    if (p.instances.empty()) out += " Stopped";
    for (const auto& i : p.instances) {
      out += std::string(" ") +
             (i.promoted     ? "Promoted"
              : p.promotable ? "Unpromoted"
                             : "Started") +
             " " + i.node;
    }
    out += "\n";
  }
  return out;
}

}  // namespace hactl::crm
