// RequestWorker (agent/request_worker.hpp): heavy control requests run on a worker thread; the
// loop only hands them over and takes the answers back, refuses beyond the queue's capacity and
// answers "expired" at the deadline.
#include "agent/request_worker.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <thread>

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
