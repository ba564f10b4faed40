// What crm_mon, cibadmin and crm_resource print from the agent's reply.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>

#include "cli/crm_compat/crm_exit.hpp"
#include "cli/crm_compat/render_internal.hpp"
#include "cli/crm_compat/status_view.hpp"
#include "cli/crm_compat/xml_render.hpp"

namespace hactl::crm {

using nlohmann::json;

namespace {

Output status_error(Program p, const std::string& why) {
  return {"", std::string(program_name(p)) + ": " + why + "\n", kExitError};
}

Output not_found(const std::string& what) {
  return {"", "crm_resource: " + what + "\n", kExitNoSuch};
}

// Pacemaker 2.1: "resource RSC is running on: NODE", " Promoted" after a promoted instance.
Output locate(const ResourceCommand& c, const StatusView& s) {
  std::vector<InstanceView> where;
  bool known = false;
  for (const auto& p : s.primitives) {
    if (p.id != c.resource && p.top != c.resource) continue;
    known = true;
    for (const auto& i : p.instances) {
      auto it =
          std::find_if(where.begin(), where.end(), [&](const auto& w) { return w.node == i.node; });
      if (it == where.end()) {
        where.push_back(i);
      } else {
        it->promoted = it->promoted || i.promoted;
      }
    }
  }
  if (!known) return not_found("resource '" + c.resource + "' not found");
  Output o;
  if (where.empty() && !c.quiet) o.out = "resource " + c.resource + " is NOT running\n";
  for (const auto& w : where) {
    const std::string role = w.promoted ? " Promoted" : "";
    o.out += c.quiet ? w.node + role + "\n"
                     : "resource " + c.resource + " is running on: " + w.node + role + "\n";
  }
  return o;
}

// yaml-cpp hands out an invalid node for a missing key, which throws when asked its type.
bool is(const YAML::Node& n, YAML::NodeType::value type) {
  return n.IsDefined() && n.Type() == type;
}

// The resource's entry among resources:, groups: and clones: of cluster.yaml.
std::optional<YAML::Node> find_resource(const YAML::Node& root, const std::string& id) {
  for (const char* section : {"resources", "groups", "clones"}) {
    const YAML::Node list = root[section];
    if (!is(list, YAML::NodeType::Sequence)) continue;
    for (const auto& r : list) {
      if (is(r, YAML::NodeType::Map) && is(r["id"], YAML::NodeType::Scalar) &&
          r["id"].Scalar() == id)
        return r;
    }
  }
  return std::nullopt;
}

Output lookup_parameter(const ResourceCommand& c, const YAML::Node& root) {
  const auto r = is(root, YAML::NodeType::Map) ? find_resource(root, c.resource) : std::nullopt;
  if (!r) return not_found("resource '" + c.resource + "' not found");
  const YAML::Node values = (*r)[c.meta ? "meta" : "params"];
  if (is(values, YAML::NodeType::Map) && is(values[c.parameter], YAML::NodeType::Scalar)) {
    return {values[c.parameter].Scalar() + "\n", "", kExitOk};
  }
  return not_found(std::string(c.meta ? "meta attribute '" : "parameter '") + c.parameter +
                   "' is not set for resource '" + c.resource + "'");
}

// -g NAME: the parameter (params:) or, with --meta, the meta attribute (meta:) as configured.
Output get_parameter(const ResourceCommand& c, const json& reply) {
  if (!reply.contains("text") || !reply["text"].is_string()) {
    return status_error(Program::kCrmResource, "the agent's config-show reply has no \"text\"");
  }
  try {
    return lookup_parameter(c, YAML::Load(reply["text"].get<std::string>()));
  } catch (const YAML::Exception& e) {
    return status_error(Program::kCrmResource,
                        std::string("the configuration does not parse: ") + e.what());
  }
}

}  // namespace

Output render_mon(const MonCommand& c, const json& reply) {
  auto s = read_status(reply);
  if (!s) return status_error(Program::kCrmMon, s.error());
  return {c.xml ? render_mon_xml(*s, c.request_line) : render_mon_text(*s), "", kExitOk};
}

Output render_cibadmin(const CibCommand& c, const json& reply) {
  auto s = read_status(reply);
  if (!s) return status_error(Program::kCibadmin, s.error());
  auto xml = render_cib(*s, c.scope);
  if (!xml) return {"", "cibadmin: " + xml.error() + "\n", kExitNoSuch};
  return {*xml, "", kExitOk};
}

Output render_resource(const ResourceCommand& c, const json& reply) {
  using A = ResourceCommand::Action;
  switch (c.action) {
    case A::kBan:
      if (c.quiet) return {};
      return {"WARNING: " + c.resource + " is banned from " + c.node +
                  " until cleared (hactl resource clear " + c.resource + ")\n",
              "", kExitOk};
    case A::kGetParameter:
      return get_parameter(c, reply);
    case A::kLocate: {
      auto s = read_status(reply);
      if (!s) return status_error(Program::kCrmResource, s.error());
      return locate(c, *s);
    }
  }
  return {};
}

}  // namespace hactl::crm
