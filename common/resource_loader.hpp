// Loads and checks the resource sections of a cluster file (resources, groups, clones,
// constraints). Errors carry the file position and field path like the rest of the loader.
#pragma once

#include <yaml-cpp/yaml.h>

#include "common/config.hpp"
#include "common/yaml_reader.hpp"

namespace hactl {

void load_resources(YamlReader& reader, const YAML::Node& root, ResourceConfig& out);
// Cross-checks that need the whole file: references, membership, roles, cycles.
void check_resources(YamlReader& reader, const YAML::Node& root, const ClusterConfig& config);

}  // namespace hactl
