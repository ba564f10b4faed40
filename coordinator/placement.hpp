// Scheduler stages up to placement: the units to place (a primitive, a group, or a clone),
// their scores on each node, and where each unit and each primitive should run in which role.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"

namespace hactl {

struct Unit {
  enum class Kind { kPrimitive, kGroup, kClone };
  Kind kind = Kind::kPrimitive;
  std::string id;
  std::vector<const PrimitiveConfig*> members;  // in group order
  const CloneConfig* clone = nullptr;
};

struct Placement {
  std::map<std::string, std::vector<ResourceRole>> unit_roles;  // unit id -> role per node
  std::map<std::string, std::vector<ResourceRole>> target;      // primitive id -> role per node
  std::vector<std::string> notes;
  // When a decision held back by time (failback after) is due to change: schedule again then.
  std::optional<Instant> recheck;
};

// Units in placement order: what others are colocated with comes first, then by priority,
// then by id.
std::vector<Unit> make_units(const ResourceConfig& rc);
Placement place(const ClusterConfig& config, const ClusterState& state);

}  // namespace hactl
