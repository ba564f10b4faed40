// What a "did you mean ...?" (common/suggest.hpp) chooses from: the names a configuration
// knows, in configuration order.
#pragma once

#include <string>
#include <vector>

#include "common/config.hpp"

namespace hactl {

// Every node's name (the arbiter's too, when the cluster names one).
std::vector<std::string> node_names(const ClusterConfig& config);
// Every resource id an operator may give: primitives, then groups, then clones.
std::vector<std::string> resource_ids(const ResourceConfig& resources);

}  // namespace hactl
