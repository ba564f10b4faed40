// Shared by render.cpp and render_tools.cpp: the renderers of crm_mon, cibadmin, crm_resource.
#pragma once

#include <nlohmann/json.hpp>

#include "cli/crm_compat/command.hpp"
#include "cli/crm_compat/render.hpp"

namespace hactl::crm {

Output render_mon(const MonCommand& c, const nlohmann::json& reply);
Output render_cibadmin(const CibCommand& c, const nlohmann::json& reply);
Output render_resource(const ResourceCommand& c, const nlohmann::json& reply);

}  // namespace hactl::crm
