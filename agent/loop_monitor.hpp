// How long the agent's event loop is busy between two waits ("the loop never
// waits", docs/design.md). Heartbeats are sent and read by this loop; an iteration that runs long
// delays them all. Every iteration's busy time is the wall time from one wait for events to the
// next minus the time spent waiting (libuv's idle-time metric, UV_METRICS_IDLE_TIME), so it counts
// what callbacks compute and what they block on (an fsync, a slow write) alike.
//
// Wall time also counts the time the loop thread was preempted (several agents on one machine
// in tests, each with a realtime loop); the loop thread's CPU time per iteration is kept
// beside it, which counts only what the loop computed.
//
// LoopBusy (pure) keeps a histogram of iteration times and the longest; LoopMonitor measures
// on a uv_prepare handle (run just before each wait). Exposed as hactl_loop_busy_seconds and
// hactl_loop_cpu_seconds; an iteration busy over kStallLog is logged (event=loop_stalled, at
// most one line per 10 s).
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>

#include "common/types.hpp"

namespace hactl {

class LoopBusy {
 public:
  // Upper bounds of the histogram's buckets, in seconds.
  static constexpr std::array<double, 8> kBounds = {0.001, 0.002, 0.005, 0.01,
                                                    0.02,  0.05,  0.1,   1.0};
  void record(double seconds);
  const std::array<std::uint64_t, kBounds.size()>& cumulative() const { return cumulative_; }
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double longest() const { return longest_; }

 private:
  std::array<std::uint64_t, kBounds.size()> cumulative_{};  // iterations <= each bound
  std::uint64_t count_ = 0;
  double sum_ = 0;
  double longest_ = 0;
};

class LoopMonitor {
 public:
  static constexpr double kStallLog = 0.1;  // seconds
  // `stalled` is called on the loop with an iteration's busy seconds when over kStallLog.
  LoopMonitor(uv_loop_t* loop, std::function<void(double)> stalled);
  LoopMonitor(const LoopMonitor&) = delete;
  LoopMonitor& operator=(const LoopMonitor&) = delete;
  ~LoopMonitor();
  void close();  // before the loop is closed
  const LoopBusy& busy() const { return busy_; }
  const LoopBusy& cpu() const { return cpu_; }

 private:
  void on_prepare();

  uv_loop_t* loop_;
  uv_prepare_t* prepare_ = nullptr;
  std::function<void(double)> stalled_;
  std::uint64_t last_ns_ = 0;       // uv_hrtime at the previous prepare
  std::uint64_t last_idle_ns_ = 0;  // uv_metrics_idle_time then
  std::uint64_t last_cpu_ns_ = 0;   // the loop thread's CPU time then
  bool measuring_ = false;          // the idle-time metric is on
  LoopBusy busy_;
  LoopBusy cpu_;
};

}  // namespace hactl
