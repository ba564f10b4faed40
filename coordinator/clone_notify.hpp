// Clone notifications, planned by the coordinator (Conductor::notify_wave). A clone with
// `notify: true` has each operation on its instances (demote, stop, start, promote: Pacemaker's
// order) run in three waves: `notify` pre on every instance active before it, the operation's
// actions, `notify` post on every instance active after it. Every notification of one step
// carries the same lists (common/clone_notification.hpp). Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/clone_notification.hpp"
#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"
#include "coordinator/scheduler.hpp"

namespace hactl {

struct NotifyStep {
  // What was sent last: pre notifications, the operation's actions, post notifications.
  enum class Phase : std::uint8_t { kPre, kActions, kPost };
  std::uint32_t primitive = 0;  // the cloned primitive, by index
  NotifyOperation operation = NotifyOperation::kStart;
  std::vector<std::uint16_t> nodes;  // where the operation runs, ascending
  CloneNotification lists;           // type aside, what every notification of the step says
  Phase phase = Phase::kPre;
  bool operator==(const NotifyStep&) const = default;
};

// By primitive index: whether it is the primitive of a clone with notify.
std::vector<bool> notifying_primitives(const ClusterConfig& config);

// The step a transition begins with, if it begins with an operation on a notifying primitive:
// among the actions that wait for nothing (`waits` false), the first notifying primitive in
// configuration order, and its first operation in Pacemaker's order. Its lists hold every action
// of the transition on that primitive, where it is active and promoted in `state`, and the
// nodes online to run it.
std::optional<NotifyStep> next_notify_step(const ClusterConfig& config, const ClusterState& state,
                                           const Transition& t, const std::vector<bool>& waits,
                                           const std::vector<bool>& notifying);

// Whether `t` still begins with the step's operation, on the same nodes.
bool still_planned(const NotifyStep& step, const ClusterConfig& config, const Transition& t,
                   const std::vector<bool>& waits);
// Whether action `a` is one of the step's.
bool in_step(const NotifyStep& step, const ClusterConfig& config, const PlannedAction& a);

// Who is told: pre, the instances active before the operation; post, those active after it
// (a stop's nodes no longer, a start's nodes too).
std::vector<std::uint16_t> notify_targets(const NotifyStep& step, NotifyType type);

}  // namespace hactl
