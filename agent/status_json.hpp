// Builds the `status` answer of the control socket from the core's NodeStatus. Pure, so its
// schema (docs/status.md) is unit-tested without a running agent.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/transport.hpp"
#include "common/config.hpp"
#include "coordinator/node.hpp"

namespace hactl {

nlohmann::json status_json(const ClusterConfig& config, const NodeStatus& status, Instant now,
                           const TransportCounters& counters);

}  // namespace hactl
