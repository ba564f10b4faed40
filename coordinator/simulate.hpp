// The pure core of `hactl simulate` (Pacemaker's crm_simulate): what transition the scheduler
// would run for a cluster state, optionally after killing nodes or failing resources, without
// running it. The scheduler golden tests (tests/scheduler/) go through exactly this path, so
// what the coordinator decides and what simulate prints cannot differ.
#pragma once

#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"
#include "coordinator/scheduler.hpp"
#include "coordinator/state_file.hpp"

namespace hactl {

struct SimulateRequest {
  // Nodes lost, their lease over and every takeover_delay after it over too: they become
  // offline and what they ran is gone (their roles, failed monitors and settling marks cleared).
  std::vector<std::string> kill;
  // Resource ids (a primitive, or a group or clone meaning each of its primitives) whose
  // monitor fails on every reachable (online or standby) node where they are active: marked
  // failed there, with one more failure counted at `now`. Applied after `kill`.
  std::vector<std::string> fail;
};

struct SimulatedAction {
  std::string resource;  // a primitive
  std::string node;
  ActionKind kind;
  std::string reason;
  std::vector<std::size_t> after;  // indexes (0-based) of the actions that must finish first
  // The score on its node and what made it (explain.hpp, action_why); for a start or promote
  // also the best node not chosen.
  std::string why;
  bool operator==(const SimulatedAction&) const = default;
};

// What the transition interrupts: a primitive (or one clone instance) that is active now and
// stopped, or demoted, by an action, or that ran on a node the request kills; down until a
// later action starts (promotes) it again, or for good.
struct Interruption {
  std::string resource;              // a primitive
  std::string node;                  // a clone instance's node; "" for a primitive not in a clone
  ActionKind down;                   // stop, or demote (the promoted role)
  std::optional<std::size_t> from;   // the action that takes it down (index); none: lost_on
  std::string lost_on;               // the killed node it ran on, when no action took it down
  std::optional<std::size_t> until;  // the action that brings it back, if any
  std::string back_on;               // where it comes back ("" if not)
  bool operator==(const Interruption&) const = default;
};

struct PlacedResource {
  std::string resource;  // a primitive
  std::string node;
  ResourceRole role;  // started or promoted (never stopped)
  bool operator==(const PlacedResource&) const = default;
};

struct SimulateResult {
  std::vector<SimulatedAction> actions;  // in the scheduler's execution order
  // Where each primitive runs once every action has run (and what lost nodes ran is gone):
  // primitives in configuration order, then nodes in configuration order.
  std::vector<PlacedResource> placement;
  std::vector<std::string> resources;  // every primitive, in configuration order
  // Children of promotable clones: their started instances are "unpromoted" in to_json.
  std::set<std::string> promotable;
  std::vector<std::string> notes;           // resources that cannot run or must wait, and why
  std::vector<Interruption> interruptions;  // in action order
  ClusterState state;                       // the input state with the request applied
  Transition transition;                    // the scheduler's output, as it gave it
};

// Applies the request to the state, runs the scheduler, and applies its actions to compute the
// placement after. Errors: an unknown node or resource (with a did-you-mean), a resource to fail
// that is active on no reachable node, a state that does not fit the configuration.
std::expected<SimulateResult, std::string> simulate(const ClusterConfig& config, ClusterState state,
                                                    const SimulateRequest& request);

// Person-readable: one numbered action a line ("after N,M" for its orderings, its reason in
// parentheses) with a "why:" line under it (the scores, SimulatedAction::why), then
// "interruptions:", then "placement:" with each primitive's roles after the transition, then any
// notes. The golden tests' format (describe() in scheduler.hpp) but for the placement: theirs is
// the scheduler's target, which for a unit held on a lost node names every member there, even
// one not running there (tests/scheduler/18: web-ip); this one is what runs after the actions.
std::string format_transition(const SimulateResult& r);

// {"actions": [{"resource", "action", "node", "reason", "why", "after": [indexes]}],
//  "interruptions": [{"resource", "node" (clone instances), "down", "from", "lost_on", "until",
//  "back_on"}] (indexes 0-based; from null: lost with the node lost_on; until null: not
//  brought back),
//  "placement": [{"resource", "node", "role"}], "notes": [...]}; a role is started, promoted,
// or unpromoted (a promotable clone's instance that is not promoted), as in STATE.yaml.
nlohmann::json to_json(const SimulateResult& r);

}  // namespace hactl
