// Reads a recorded cluster state (the STATE.yaml of `hactl simulate` and of the scheduler golden
// tests, documented in docs/scheduler.md) into a ClusterState. Pure: text in, value out.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"

namespace hactl {

std::expected<ClusterState, std::vector<ConfigError>> parse_state(const ClusterConfig& config,
                                                                  std::string_view yaml_text,
                                                                  std::string_view file);

}  // namespace hactl
