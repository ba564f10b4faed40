// RequestWorker (agent/request_worker.hpp): heavy control requests run on a worker thread; the
// loop only hands them over and takes the answers back, refuses beyond the queue's capacity and
// answers "expired" at the deadline.
#include "agent/request_worker.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "tests/unit/skip.hpp"

namespace hactl {
namespace {

using std::chrono::milliseconds;

class Worker : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);  // the closes
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  // Runs the loop until `done` or 5 s (a bound, not a timing assumption).
  template <typename Pred>
  void run_until(Pred done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < until) uv_run(&loop_, UV_RUN_NOWAIT);
  }
  uv_loop_t loop_{};
};

TEST_F(Worker, WorkRunsOffTheLoopAndTheAnswerComesBackOnIt) {
  RequestWorker w(&loop_, 2, milliseconds(5000));
  const auto loop_thread = std::this_thread::get_id();
  std::thread::id worked_on, answered_on;
  bool answered = false;
  ASSERT_TRUE(w.submit([&] { worked_on = std::this_thread::get_id(); },
                       [&] {
                         answered_on = std::this_thread::get_id();
                         answered = true;
                       },
                       [] { FAIL() << "expired"; }));
  EXPECT_EQ(w.pending(), 1U);
  run_until([&] { return answered; });
  ASSERT_TRUE(answered);
  EXPECT_NE(worked_on, loop_thread);
  EXPECT_EQ(answered_on, loop_thread);
  EXPECT_EQ(w.pending(), 0U);
  w.close();
}

// The agent's loop thread runs SCHED_RR and its worker at normal priority. With a uv_async
// for the answer, libuv 1.44's loop spun (sched_yield, which never yields to a lower class)
// while the worker it had just preempted on the same CPU was inside uv_async_send, until RT
// throttling stopped it 950 ms later (here: 950 ms of CPU on the loop thread before the fix).
TEST_F(Worker, ARealtimeLoopIsNeverHeldUpByItsNormalPriorityWorker) {
  cpu_set_t one, before;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  sched_param rr{};
  rr.sched_priority = 10;
  if (pthread_setschedparam(pthread_self(), SCHED_RR, &rr) != 0) {
    HACTL_SKIP("SCHED_RR needs root (CAP_SYS_NICE)");
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // the worker inherits CPU 0 alone
  // The loop thread's own CPU time: spinning burns it, waiting in epoll does not (and a busy
  // machine does not add to it).
  const auto cpu_ms = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1'000'000;
  };
  const auto cpu_before = cpu_ms();
  int answered = 0;
  {
    RequestWorker w(&loop_, 1, std::chrono::seconds(60));
    // A bound on the whole, not a timing assumption.
    uv_timer_t guard;
    uv_timer_init(&loop_, &guard);
    uv_timer_start(
        &guard, [](uv_timer_t*) {}, 10'000, 0);
    for (int k = 0; k < 20; ++k) {
      bool done = false;
      ASSERT_TRUE(w.submit([] {}, [&] { done = true; }, [] {}));
      while (!done && uv_is_active(reinterpret_cast<uv_handle_t*>(&guard))) {
        uv_run(&loop_, UV_RUN_ONCE);  // blocks in epoll, as the agent's loop does
      }
      answered += done ? 1 : 0;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    w.close();
    uv_run(&loop_, UV_RUN_DEFAULT);  // the closes, while `guard` is still here
  }
  sched_param other{};
  pthread_setschedparam(pthread_self(), SCHED_OTHER, &other);
  sched_setaffinity(0, sizeof before, &before);
  const auto spent = cpu_ms() - cpu_before;
  EXPECT_EQ(answered, 20);
  EXPECT_LT(spent, 300) << "ms of CPU on the loop thread for 20 trivial jobs";
}

TEST_F(Worker, BeyondCapacityARequestIsRefusedAtOnce) {
  RequestWorker w(&loop_, 2, milliseconds(5000));
  std::atomic<bool> release{false};
  int answered = 0;
  auto block = [&] {
    while (!release.load()) std::this_thread::sleep_for(milliseconds(1));
  };
  EXPECT_TRUE(w.submit(
      block, [&] { ++answered; }, [] {}));
  EXPECT_TRUE(w.submit(
      block, [&] { ++answered; }, [] {}));
  EXPECT_FALSE(w.submit([] {}, [] {}, [] {}));  // two waiting or running: the third is refused
  release = true;
  run_until([&] { return answered == 2; });
  EXPECT_EQ(answered, 2);
  EXPECT_TRUE(w.submit([] {}, [&] { ++answered; }, [] {}));  // room again
  run_until([&] { return answered == 3; });
  w.close();
}

// A job still running at its deadline is answered "expired"; the one queued behind it is
// expired too and never runs; the late result is dropped.
TEST_F(Worker, AJobPastItsDeadlineIsAnsweredExpiredAndItsResultDropped) {
  RequestWorker w(&loop_, 4, milliseconds(50));
  std::atomic<bool> release{false};
  std::atomic<bool> second_ran{false};
  int expired = 0, done = 0;
  ASSERT_TRUE(w.submit(
      [&] {
        while (!release.load()) std::this_thread::sleep_for(milliseconds(1));
      },
      [&] { ++done; }, [&] { ++expired; }));
  ASSERT_TRUE(w.submit([&] { second_ran = true; }, [&] { ++done; }, [&] { ++expired; }));
  run_until([&] { return expired == 2; });
  EXPECT_EQ(expired, 2);
  EXPECT_EQ(w.pending(), 0U);
  release = true;
  bool third = false;
  ASSERT_TRUE(w.submit([] {}, [&] { third = true; }, [&] { ++expired; }));
  run_until([&] { return third; });
  EXPECT_TRUE(third);
  EXPECT_EQ(done, 0);  // the first's late result was dropped
  EXPECT_FALSE(second_ran.load());
  w.close();
}

}  // namespace
}  // namespace hactl
