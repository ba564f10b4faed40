// "The coordinator has reconciled": once per term, when this node, as coordinator, has a
// complete view of every node's resources in that term (every online node reported in this
// term, nothing probing or in flight, what lost nodes run known) and that view needs no action,
// the agent logs one event,
//
//   event=reconciled term=7 coordinator=n1 resources=3 actions=0 placement="vip@n2 db@n1* web@-"
//
// so that alert hooks see where everything runs at least once per term, even if they missed
// transitions. If the cluster keeps needing actions (a resource failing over and over), it is
// logged anyway at the first complete view kMaxSettleWait after the first one, with
// `actions` > 0: the actions the coordinator sent in that step, which the placement does not
// show yet. `placement`: each primitive in configuration order as id@node[,node...], a `*`
// after a node where it is promoted, `-` where it runs nowhere; cut at kMaxPlacementBytes
// (" +N more").
//
// The conductor does not say when its view is complete; this tells it from the outside: after
// ResourceHost::run, an active conductor with nothing to wait for (Conductor::waiting_for) has
// just found the view complete in its last tick, and the run's dispatch events are the actions
// that view needed. Pure: the agent logs the event.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"
#include "coordinator/conductor.hpp"
#include "coordinator/election_core.hpp"
#include "coordinator/resource_host.hpp"

namespace hactl {

constexpr std::size_t kMaxPlacementBytes = 900;
constexpr Duration kMaxSettleWait = std::chrono::seconds{10};

// "vip@n2 db@n1* web@-" (see above), at most max_bytes.
std::string placement_summary(const ClusterConfig& config, const ClusterState& state,
                              std::size_t max_bytes = kMaxPlacementBytes);

class ReconcileWatch {
 public:
  // After each ResourceHost::run: the event to log, if the coordinator has reconciled in a term
  // not reported yet. `log` is what the run returned. Cheap when there is nothing to report
  // (the membership and the state are only worked out for the event).
  std::optional<Event> check(const ClusterConfig& config, NodeId self, const ResourceHost& host,
                             const ElectionCore& core, Instant now, std::span<const Event> log);
  // The same from plain facts (tests): `complete`, the conductor is active in `term` and waits
  // for nothing; `actions`, what it sent in that step.
  std::optional<Event> check(bool complete, std::uint64_t term, std::size_t actions, Instant now,
                             const ClusterConfig& config, std::string_view self,
                             const ClusterState& state);
  std::uint64_t last_term() const { return term_; }

 private:
  bool due(bool complete, std::uint64_t term, std::size_t actions, Instant now);
  Event event(std::uint64_t term, std::size_t actions, const ClusterConfig& config,
              std::string_view self, const ClusterState& state);

  std::uint64_t term_ = 0;       // the last term reported
  std::uint64_t seen_term_ = 0;  // the term of first_complete_
  Instant first_complete_{};     // the first complete view in seen_term_
};

}  // namespace hactl
