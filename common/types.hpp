// Strong types shared by every layer: node ids, terms and the monotonic time the core is given.
// The core never reads a clock; the shell converts its monotonic clock to Instant and passes it in.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>

namespace hactl {

// Index of a node in the configured node list (ClusterConfig::nodes). Only valid together with
// that list; on the wire nodes are named, never numbered.
struct NodeId {
  std::uint16_t value = 0;
  constexpr auto operator<=>(const NodeId&) const = default;
};

// Raft-style election term: strictly increasing, persisted before a vote is sent.
struct Term {
  std::uint64_t value = 0;
  constexpr auto operator<=>(const Term&) const = default;
  [[nodiscard]] constexpr Term next() const { return Term{value + 1}; }
};

using Duration = std::chrono::microseconds;

// A monotonic clock with no now(): time is always handed in.
struct MonoClock {
  using duration = Duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<MonoClock, duration>;
  static constexpr bool is_steady = true;
};
using Instant = MonoClock::time_point;

}  // namespace hactl

template <>
struct std::hash<hactl::NodeId> {
  std::size_t operator()(const hactl::NodeId& n) const noexcept { return n.value; }
};
