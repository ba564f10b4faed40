// Requests and the text the attribute tools, crm_node and pacemakerd print (render_tools.cpp
// has crm_mon, cibadmin and crm_resource).
#include "cli/crm_compat/render.hpp"

#include "cli/crm_compat/crm_exit.hpp"
#include "cli/crm_compat/render_internal.hpp"
#include "cli/crm_compat/status_view.hpp"
#include "common/control_request.hpp"
#include "version.hpp"

namespace hactl::crm {

using nlohmann::json;

namespace {

constexpr int kReadMs = 5000;
constexpr int kWriteMs = 10000;

Request status_request() { return {control_body(ControlVerb::kStatus), kReadMs}; }

Request attribute_request(const AttributeCommand& c) {
  using A = AttributeCommand::Action;
  if (c.action == A::kQuery && c.all_nodes) return status_request();
  json body = control_body(c.action == A::kUpdate   ? ControlVerb::kAttributeSet
                           : c.action == A::kDelete ? ControlVerb::kAttributeDelete
                                                    : ControlVerb::kAttributeQuery);
  body["name"] = c.name;
  if (c.cluster) {
    body["scope"] = "cluster";
  } else {
    body["lifetime"] = std::string(lifetime_name(c.lifetime));
    if (c.node) body["node"] = *c.node;
  }
  if (c.action == A::kUpdate) body["value"] = c.value;
  return {body, c.action == A::kQuery ? kReadMs : kWriteMs};
}

Request resource_request(const ResourceCommand& c) {
  using A = ResourceCommand::Action;
  switch (c.action) {
    case A::kBan: {
      // Pacemaker's -B without --lifetime is a ban until cleared: lifetime_s -1.
      json body = control_body(ControlVerb::kResourceBan);
      body["resource"] = c.resource;
      body["node"] = c.node;
      body["lifetime_s"] = -1;
      body["dry_run"] = false;
      return {body, kWriteMs};
    }
    case A::kGetParameter:
      return {control_body(ControlVerb::kConfigShow), kReadMs};
    case A::kLocate:
      return status_request();
  }
  return status_request();
}

// An attrd_updater -Q line: name="NAME" host="NODE" value="VALUE".
std::string attrd_line(const std::string& name, const std::string& node, const std::string& value) {
  return "name=\"" + shell_quoted(name) + "\" host=\"" + shell_quoted(node) + "\" value=\"" +
         shell_quoted(value) + "\"\n";
}

Output missing_attribute(const AttributeCommand& c, const std::string& node) {
  const std::string who = std::string(program_name(c.program));
  if (c.program == Program::kAttrdUpdater) {
    return {"",
            who + ": Could not query value of " + c.name + ": attribute does not exist on " + node +
                "\n",
            kExitNoSuch};
  }
  const std::string where =
      c.cluster ? "as a cluster property"
                : "on " + node + ", lifetime " + std::string(lifetime_name(c.lifetime));
  return {"",
          who + ": Error performing operation: No such device or address (" + c.name +
              " is not set " + where + ")\n",
          kExitNoSuch};
}

Output attribute_value(const AttributeCommand& c, const std::string& node,
                       const std::string& value) {
  if (c.program == Program::kAttrdUpdater) return {attrd_line(c.name, node, value), "", kExitOk};
  if (c.quiet) return {value + "\n", "", kExitOk};
  const char* scope = c.cluster                         ? "crm_config"
                      : c.lifetime == Lifetime::kReboot ? "status"
                                                        : "nodes";
  return {std::string("scope=") + scope + "  name=" + c.name + " value=" + value + "\n", "",
          kExitOk};
}

// attrd_updater -Q -A: the attribute on every node that has it.
Output all_nodes_query(const AttributeCommand& c, const json& reply) {
  auto s = read_status(reply);
  if (!s) return {"", "attrd_updater: " + s.error() + "\n", kExitError};
  Output o;
  for (const auto& a : s->attributes) {
    if (a.name == c.name && a.lifetime == Lifetime::kReboot)
      o.out += attrd_line(a.name, a.node, a.value);
  }
  if (o.out.empty()) return missing_attribute(c, "any node");
  return o;
}

Output render_attribute(const AttributeCommand& c, const json& reply) {
  if (c.action != AttributeCommand::Action::kQuery) return {};
  if (c.all_nodes) return all_nodes_query(c, reply);
  const std::string node = reply.contains("node") && reply["node"].is_string()
                               ? reply["node"].get<std::string>()
                               : c.node.value_or("the local node");
  const auto v = reply.find("value");
  if (v != reply.end() && v->is_string()) return attribute_value(c, node, v->get<std::string>());
  if (v != reply.end() && !v->is_null()) return attribute_value(c, node, v->dump());
  if (c.default_value) return attribute_value(c, node, *c.default_value);
  return missing_attribute(c, node);
}

Output node_error(const std::string& what) { return {"", "crm_node: " + what + "\n", kExitNoSuch}; }

Output render_node_list(const NodeCommand& c, const StatusView& s) {
  using A = NodeCommand::Action;
  Output o;
  if (c.action == A::kList) {
    for (const auto& n : s.nodes) {
      o.out += std::to_string(n.id) + " " + n.name + " " + (n.online ? "member" : "lost") + "\n";
    }
    return o;
  }
  std::string line;
  for (const auto& n : s.nodes) {
    if (n.online) line += (line.empty() ? "" : " ") + n.name;
  }
  o.out = line + "\n";
  return o;
}

Output render_node(const NodeCommand& c, const json& reply) {
  using A = NodeCommand::Action;
  auto s = read_status(reply);
  if (!s) return {"", "crm_node: " + s.error() + "\n", kExitError};
  switch (c.action) {
    case A::kName:
      return {s->local + "\n", "", kExitOk};
    case A::kQuorum:
      return {s->quorum ? "1\n" : "0\n", "", kExitOk};
    case A::kList:
    case A::kPartition:
      return render_node_list(c, *s);
    case A::kId: {
      const NodeView* self = s->local_node();
      if (self == nullptr)
        return node_error("this node (" + s->local + ") is a witness: it has no node id");
      return {std::to_string(self->id) + "\n", "", kExitOk};
    }
    case A::kNameForId:
      for (const auto& n : s->nodes) {
        if (std::to_string(n.id) == c.id) return {n.name + "\n", "", kExitOk};
      }
      return node_error("no node with id '" + c.id.substr(0, 64) + "'");
  }
  return {};
}

Output render_version() {
  // ocf-shellfuncs' ocf_local_nodename runs `pacemakerd -$ | grep "Pacemaker .*"` and compares
  // the second word with 1.1.8: only the first line may hold "Pacemaker " (capital P).
  return {std::string("Pacemaker 2.1.5\nhactl-crm ") + kVersion +
              ": hactl's stand-in for the pacemaker tools; no pacemaker daemons run here\n",
          "", kExitOk};
}

}  // namespace

std::string shell_quoted(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
    out += c;
  }
  return out;
}

std::optional<Request> request_for(const Command& c) {
  if (const auto* a = std::get_if<AttributeCommand>(&c)) return attribute_request(*a);
  if (const auto* r = std::get_if<ResourceCommand>(&c)) return resource_request(*r);
  if (std::holds_alternative<VersionCommand>(c)) return std::nullopt;
  return status_request();
}

Output render(const Command& c, const json& reply) {
  if (const auto* a = std::get_if<AttributeCommand>(&c)) return render_attribute(*a, reply);
  if (const auto* n = std::get_if<NodeCommand>(&c)) return render_node(*n, reply);
  if (const auto* m = std::get_if<MonCommand>(&c)) return render_mon(*m, reply);
  if (const auto* b = std::get_if<CibCommand>(&c)) return render_cibadmin(*b, reply);
  if (const auto* r = std::get_if<ResourceCommand>(&c)) return render_resource(*r, reply);
  return render_version();
}

}  // namespace hactl::crm
