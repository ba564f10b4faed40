// Builds the `status` answer of the control socket from the core's NodeStatus. Pure, so its
// schema (docs/status.md) is unit-tested without a running agent.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/transport.hpp"
#include "common/config.hpp"
#include "coordinator/conductor.hpp"
#include "coordinator/election_core.hpp"

namespace hactl {

nlohmann::json status_json(const ClusterConfig& config, const NodeStatus& status, Instant now,
                           const TransportCounters& counters);

// The `resources` array (one object per primitive: id, type, nodes, role, state, fail_count,
// fail_counts) and the `scheduler` object, from what this node knows of every node.
// The node attributes in force (a reboot one while its node's agent runs with the incarnation
// it carries: `incarnations`, by NodeId, 0 for a node down), in the document's order.
nlohmann::json attributes_json(const ClusterConfig& config, const ClusterDoc& doc,
                               const std::vector<std::uint64_t>& incarnations);
void add_resources_json(nlohmann::json& status, const ClusterConfig& config, const Conductor& c,
                        const Membership& m, Instant now);

}  // namespace hactl
