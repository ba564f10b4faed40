// What applying a configuration would do to each resource (`hactl config diff`
// and `apply`): nothing, update in place, restart, move, start or stop. Pure: the current and
// the next (effective) configurations and the cluster state in, one row per primitive out, from
// the scheduler's own run on the state as the apply leaves it (what is removed or redefined is
// stopped first, agent_doc.cpp), so the plan is what the coordinator then does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"

namespace hactl {

struct ResourcePlan {
  enum class Definition { kSame, kUpdated, kRedefined, kAdded, kRemoved };
  enum class Outcome { kNothing, kUpdate, kRestart, kMove, kStart, kStop };
  std::string resource;  // a primitive
  Definition definition = Definition::kSame;
  Outcome outcome = Outcome::kNothing;
  // Where it is active now and after the apply, as "n1" or "n1 (promoted)".
  std::vector<std::string> from, to;
  bool operator==(const ResourcePlan&) const = default;
};

std::string_view to_string(ResourcePlan::Definition d);
std::string_view to_string(ResourcePlan::Outcome o);

// One row per primitive of `current` (in its order), then per primitive only in `next`.
std::vector<ResourcePlan> plan_apply(const ClusterConfig& current, const ClusterConfig& next,
                                     const ClusterState& state);

}  // namespace hactl
