// A recorded cluster state: the STATE.yaml of `hactl simulate` and of the scheduler golden
// tests (docs/scheduler.md), read into a ClusterState and written back from one (so a live agent
// can dump its state for an offline `hactl simulate --state`). Pure: text in, value out.
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

// The state as STATE.yaml, which parse_state reads back into the same state. Failure times are
// written as ages relative to state.now (a failure recorded after `now` is written as age 0);
// settling marks are kept where the primitive is active.
std::string write_state_yaml(const ClusterConfig& config, const ClusterState& state);

}  // namespace hactl
