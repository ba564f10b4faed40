// The loop's busy time (agent/loop_monitor.hpp): the histogram counts each iteration in every
// bucket at or above it, and a real loop whose callback blocks for 30 ms shows one iteration
// of at least that long, while its waits are not counted as busy; its CPU time counts a callback
// that computes, not one that sleeps.
#include "agent/loop_monitor.hpp"

#include <gtest/gtest.h>
#include <time.h>

#include <thread>

#include "agent/prometheus_text.hpp"

namespace hactl {
namespace {

TEST(LoopBusy, CumulativeBucketsSumAndLongest) {
  LoopBusy b;
  b.record(0.0005);
  b.record(0.003);
  b.record(2.0);
  EXPECT_EQ(b.count(), 3u);
  EXPECT_EQ(b.cumulative()[0], 1u);      // <= 1 ms
  EXPECT_EQ(b.cumulative()[1], 1u);      // <= 2 ms
  EXPECT_EQ(b.cumulative()[2], 2u);      // <= 5 ms
  EXPECT_EQ(b.cumulative().back(), 2u);  // <= 1 s: the 2 s one only in +Inf
  EXPECT_DOUBLE_EQ(b.longest(), 2.0);
  EXPECT_NEAR(b.sum(), 2.0035, 1e-12);
}

TEST(LoopMonitor, ABlockingCallbackIsBusyAndAWaitIsNot) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  std::vector<double> stalls;
  auto* monitor = new LoopMonitor(&loop, [&](double s) { stalls.push_back(s); });
  uv_timer_t wait, block, spin;
  uv_timer_init(&loop, &wait);
  uv_timer_init(&loop, &block);
  uv_timer_init(&loop, &spin);
  // Then one that computes for 60 ms.
  uv_timer_start(
      &spin,
      [](uv_timer_t*) {  // 60 ms of this thread's CPU, however busy the machine
        auto cpu = [] {
          timespec ts{};
          clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
          return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
        };
        const double end = cpu() + 0.06;
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        volatile std::uint64_t x = 0;
        while (cpu() < end && std::chrono::steady_clock::now() < give_up) x = x + 1;
      },
      400, 0);
  // 200 ms of waiting, then one callback that blocks 150 ms.
  uv_timer_start(
      &block, [](uv_timer_t*) { std::this_thread::sleep_for(std::chrono::milliseconds(150)); }, 200,
      0);
  uv_timer_start(
      &wait, [](uv_timer_t*) {}, 100, 0);
  const auto began = std::chrono::steady_clock::now();
  uv_run(&loop, UV_RUN_DEFAULT);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  const LoopBusy& b = monitor->busy();
  EXPECT_GE(b.longest(), 0.15);
  EXPECT_LT(b.longest(), 5.0);
  EXPECT_GE(b.count(), 2u);
  // The 200 ms wait before the block is not busy.
  EXPECT_LT(b.sum(), elapsed - 0.15);
  // The block is a stall (so is the spin, when a busy machine stretches it past 100 ms).
  ASSERT_GE(stalls.size(), 1u);
  EXPECT_LE(stalls.size(), 2u);
  EXPECT_GE(stalls[0], 0.15);
  // CPU time counts the spin, not the sleep.
  EXPECT_GE(monitor->cpu().longest(), 0.05);
  EXPECT_LT(monitor->cpu().longest(), 0.15);  // the 150 ms sleep is not in it
  monitor->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&spin), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&wait), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&block), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  delete monitor;
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(MetricsText, AHistogramHasBucketsInfSumAndCount) {
  MetricsText m;
  m.family("x_seconds", MetricType::kHistogram, "X.");
  m.histogram("x_seconds", {{"a", "b"}}, {{0.5, 1}, {1, 3}}, 2.5, 4);
  EXPECT_EQ(m.str(),
            "# HELP x_seconds X.\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{a=\"b\",le=\"0.5\"} 1\nx_seconds_bucket{a=\"b\",le=\"1\"} 3\n"
            "x_seconds_bucket{a=\"b\",le=\"+Inf\"} 4\nx_seconds_sum{a=\"b\"} 2.5\n"
            "x_seconds_count{a=\"b\"} 4\n");
  EXPECT_EQ(m.dropped(), 0u);
  m.histogram("x_seconds", {}, {{1, 3}, {0.5, 4}}, 1, 4);  // bounds out of order
  m.histogram("x_seconds", {}, {{1, 5}}, 1, 4);            // a bucket above the count
  m.histogram("x_seconds", {{"le", "1"}}, {}, 1, 4);       // le is the histogram's
  m.sample("x_seconds", 1);                                // not a plain sample
  EXPECT_EQ(m.dropped(), 4u);
}

}  // namespace
}  // namespace hactl
