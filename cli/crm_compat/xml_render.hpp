// crm_mon's and cibadmin's views of the cluster, built from the status reply: Pacemaker 2.1's
// XML shapes with the elements and attribute order the resource agents grep for (pgsql,
// redis, galera), and crm_mon's short text. Pure.
#pragma once

#include <expected>
#include <optional>
#include <string>

#include "cli/crm_compat/status_view.hpp"

namespace hactl::crm {

// <pacemaker-result request="..."> with summary, nodes, resources, node_attributes, status.
std::string render_mon_xml(const StatusView& s, const std::string& request_line);
std::string render_mon_text(const StatusView& s);

// <cib> with the nodes and their attributes, or only the section `scope` names (nodes,
// resources, constraints, crm_config, configuration, status); an unknown section is an error.
std::expected<std::string, std::string> render_cib(const StatusView& s,
                                                   const std::optional<std::string>& scope);

}  // namespace hactl::crm
