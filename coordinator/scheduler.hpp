// The scheduler: a pure function from (configuration, cluster state) to a transition, the
// actions to run and the order to run them in (Pacemaker's pcmk__schedule_actions, in named
// stages: units -> scores -> placement -> actions -> orderings). The same input always gives
// the same output, byte for byte: ties break by node name, then resource id.
//
// Rules kept: a primitive is never started on a node while it may still be active on another
// (stops and demotes come first, and nothing moves away from a node whose lease may still be
// valid); groups start in order and stop in reverse; promotable clones never exceed
// promoted_max (demotions before promotions).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"
#include "coordinator/placement.hpp"

namespace hactl {

struct PlannedAction {
  std::string resource;  // a primitive
  NodeId node;
  ActionKind kind;
  std::string reason;
  bool operator==(const PlannedAction&) const = default;
};

struct Transition {
  std::vector<PlannedAction> actions;                       // in a valid execution order
  std::vector<std::pair<std::size_t, std::size_t>> order;   // (before, after) action indexes
  std::map<std::string, std::vector<ResourceRole>> target;  // primitive -> role on each node
  std::vector<std::string> notes;  // resources that cannot run or must wait, and why
  std::optional<Instant> recheck;  // Placement::recheck
  std::vector<UnitWhy> why;        // with `explain`: what made each unit's scores
};

Transition schedule(const ClusterConfig& config, const ClusterState& state, bool explain = false);

// A person-readable rendering (also the golden-test format).
std::string describe(const ClusterConfig& config, const Transition& t);

// Scores saturate at +-limits::kInfinity; -inf wins over +inf.
int add_scores(int a, int b);

}  // namespace hactl
