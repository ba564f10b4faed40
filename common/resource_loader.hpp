// Loads and checks the resource sections of a cluster file (resources, groups, clones,
// constraints). Errors carry the file position and field path like the rest of the loader.
#pragma once

#include <yaml-cpp/yaml.h>

#include "common/config.hpp"
#include "common/yaml_reader.hpp"

namespace hactl {

// map["failback"]: never | immediate | {after: DURATION}; map["flap_damping"]: off |
// {moves: N, within: DURATION}. Nullopt when absent or wrong (then an error is recorded).
std::optional<Failback> failback_field(YamlReader& reader, const YAML::Node& map,
                                       const std::string& path);
std::optional<FlapDamping> flap_damping_field(YamlReader& reader, const YAML::Node& map,
                                              const std::string& path);

void load_resources(YamlReader& reader, const YAML::Node& root, ResourceConfig& out);
// Cross-checks that need the whole file: references, membership, roles, cycles.
void check_resources(YamlReader& reader, const YAML::Node& root, const ClusterConfig& config);

}  // namespace hactl
