// Availability accounting, pure: every agent watches, from the cluster state
// it knows, when each primitive stops being active anywhere it can be reached (down, with the
// cause: its node lost, its monitor failed, or stopped) and when it is active again (up, where);
// the agent logs those as events (resource_down, resource_up), and the figures are computed
// from its event history: uptime over a window, outages, failovers (back on another node after
// a fault) and the mean time to recover (fault detected -> running again).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"

namespace hactl {

// A change seen by AvailabilityWatch, or read back from the event history.
struct AvailabilityChange {
  enum class Kind { kUp, kDown };
  Kind kind = Kind::kUp;
  std::string resource;  // a primitive
  std::string node;      // up: where it runs (the first, by node order); down: where it ran
  std::string cause;     // down: "node_lost", "failed" or "stopped"; up: "" (or "initial")
  std::int64_t time_us = 0;
  bool operator==(const AvailabilityChange&) const = default;
};

// Remembers, per primitive, whether it was up at the last look. The first look reports every
// primitive that is up, with cause "initial" (so the history says where observation began).
// `unverified`: vips running but not yet confirmed by a peer (VipCheck::kPending, verified VIP
// moves): on a node where the vip was not up before, it is up only once verified.
class AvailabilityWatch {
 public:
  std::vector<AvailabilityChange> observe(const ClusterConfig& config, const ClusterState& state,
                                          std::int64_t now_us,
                                          const std::set<std::string>& unverified = {});

 private:
  struct Seen {
    bool up = false;
    std::string node;
  };
  std::map<std::string, Seen> seen_;
  bool first_ = true;
};

struct AvailabilityStats {
  std::string resource;
  double uptime_percent = 0;     // of the observed part of the window
  std::int64_t observed_s = 0;   // the part of the window the history covers
  int outages = 0;               // downs in the window (any cause)
  int failovers = 0;             // after a fault, up again on another node
  std::optional<double> mttr_s;  // mean of fault detected -> up again, over the window
  bool up = false;               // at `now_us`, as far as the history says
};

// From the changes (in time order, as logged), the figures over [now - window, now] for each
// primitive of `resources` (in that order). A primitive the history never saw up is 0% up over
// the time observed; observation starts at the first change of any primitive.
std::vector<AvailabilityStats> availability(const std::vector<AvailabilityChange>& changes,
                                            const std::vector<std::string>& resources,
                                            std::int64_t now_us, std::int64_t window_us);

}  // namespace hactl
