// The pure core of `hactl explain` (docs/scheduler.md): why a resource runs where it runs, or why
// it does not run, from the scheduler's own score terms (placement.hpp, ScoreTerm): per node its
// score, each thing that made it (constraints, stickiness, fail counts, bans, standby, holds)
// with its score and the command that would change it, the tie-break, and the actions the
// scheduler would run for it now. The same run of the scheduler as `hactl simulate` and the
// coordinator, so the explanation is of the decision actually taken.
#pragma once

#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"
#include "coordinator/scheduler.hpp"
#include "coordinator/simulate.hpp"

namespace hactl {

// What the live agent knows that a recorded state does not.
struct ExplainContext {
  std::optional<bool> quorum;  // unknown offline
  std::int64_t now_unix = 0;   // for the time left on moves and bans (0: not shown)
  // The unit's primitives' availability figures (the agent's availability_json), if known.
  nlohmann::json availability = nullptr;
};

// Explains `resource` (a primitive, group or clone; a group member or clone child is explained
// as the unit it is placed with) in `state`; `node`: that node's lines only. Errors: unknown
// resource or node, with a did-you-mean.
std::expected<nlohmann::json, std::string> explain(const ClusterConfig& config,
                                                   const ClusterState& state,
                                                   const std::string& resource,
                                                   const std::optional<std::string>& node,
                                                   const ExplainContext& context = {});

// The explanation as a person reads it (hactl explain without --json).
std::string format_explanation(const nlohmann::json& explanation);

// One line for an action of a transition scheduled with `explain` (what `hactl simulate`
// prints under each action): the score of the unit on the action's node and what made it,
// and, for a start or promote, the best node it beat.
std::string action_why(const ClusterConfig& config, const ClusterState& state, const Transition& t,
                       const PlannedAction& action);

// What an operator's move or ban would do (`hactl resource move/ban [--dry-run]`): the
// scheduler run on `state` under `config` (the effective configuration with the intent in it).
// With `must_run` (a move), a move the scheduler would not carry out (the resource would not
// run on `to`, or without `to` nowhere) gets a refusal naming why: the terms that exclude `to`
// (explain's), else the scheduler's note on the resource. With `role` kPromoted (a promotable
// clone's promoted role), "run" is "be promoted".
struct IntentCheck {
  SimulateResult result;
  std::vector<std::string> nodes;  // where the resource's primitives would run, sorted
  std::optional<std::string> refusal;
};
std::expected<IntentCheck, std::string> check_intent(
    const ClusterConfig& config, ClusterState state, const std::string& resource,
    const std::optional<std::string>& to, bool must_run, RoleFilter role = RoleFilter::kAny);

// The text of one score term, and the command that would change it ("" when none does).
struct TermText {
  TermText(std::string t, std::string c, std::string d = {})
      : text(std::move(t)), change(std::move(c)), detail(std::move(d)) {}
  std::string text;
  std::string change;
  std::string detail;  // more, for hactl explain only ("failures are forgotten ...")
};
TermText term_text(const ClusterConfig& config, const ClusterState& state, const UnitWhy& unit,
                   const ScoreTerm& term, std::int64_t now_unix = 0);

}  // namespace hactl
