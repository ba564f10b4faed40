// Alert hooks with real processes on a real libuv loop: the environment a hook gets, the kinds
// filter, retries of a failing hook, a hung hook killed at its timeout, the pending-queue and
// concurrency bounds, and close() with hooks still running. Every wait is bounded in time.
#include "agent/alert_runner.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace hactl {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kWaitLimit = 10s;
constexpr std::int64_t kT0 = 1'795'000'000'123'456;  // 2026-11-18T11:06:40.123456Z

LoggedEvent event(std::uint64_t seq, std::string kind,
                  std::map<std::string, std::string> fields = {}) {
  return LoggedEvent{seq, kT0, std::move(kind), std::move(fields)};
}

class AlertRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("hactl-alert-" + std::to_string(getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ASSERT_EQ(uv_loop_init(&loop_), 0);
  }

  void TearDown() override {
    if (runner_) runner_->close();
    // Running hooks end by themselves (or at their timeout); bounded either way.
    const auto deadline = Clock::now() + kWaitLimit;
    while (uv_loop_alive(&loop_) != 0 && Clock::now() < deadline) run_for(20ms);
    runner_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
    fs::remove_all(dir_);
  }

  // An executable /bin/sh script in the test's directory.
  std::string script(const std::string& name, const std::string& body) {
    const auto path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(path, fs::perms::owner_all);
    return path.string();
  }

  AlertConfig alert(std::string id, std::string path) {
    AlertConfig a;
    a.id = std::move(id);
    a.path = std::move(path);
    a.timeout = 5s;
    a.retries = 0;
    a.retry_delay = 0s;
    return a;
  }

  AlertRunner& make(std::vector<AlertConfig> alerts, AlertRunnerOptions o = {}) {
    if (o.node.empty()) o.node = "n1";
    if (o.cluster.empty()) o.cluster = "demo";
    o.kill_grace = 300ms;
    runner_ = std::make_unique<AlertRunner>(&loop_, std::move(alerts), std::move(o));
    return *runner_;
  }

  // Runs the loop for about d (the timer stops it), then lets closed handles finish.
  void run_for(std::chrono::milliseconds d) {
    uv_timer_t t;
    uv_timer_init(&loop_, &t);
    t.data = &loop_;
    uv_timer_start(
        &t, [](uv_timer_t* h) { uv_stop(static_cast<uv_loop_t*>(h->data)); },
        static_cast<std::uint64_t>(d.count()), 0);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }

  // Runs the loop until pred() holds, at most kWaitLimit; `each` is called every turn.
  bool run_until(const std::function<bool()>& pred, const std::function<void()>& each = {}) {
    const auto deadline = Clock::now() + kWaitLimit;
    while (!pred() && Clock::now() < deadline) {
      run_for(5ms);
      if (each) each();
    }
    return pred();
  }

  bool idle() const { return runner_->running() == 0 && runner_->pending() == 0; }

  std::vector<std::string> lines(const std::string& name) const {
    std::ifstream in(dir_ / name);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  std::map<std::string, std::string> env_file(const std::string& name) const {
    std::map<std::string, std::string> out;
    for (const auto& l : lines(name)) {
      const auto eq = l.find('=');
      if (eq != std::string::npos) out[l.substr(0, eq)] = l.substr(eq + 1);
    }
    return out;
  }

  fs::path dir_;
  uv_loop_t loop_{};
  std::unique_ptr<AlertRunner> runner_;
};

TEST(AlertEnvironment, FieldNamesAreSanitized) {
  EXPECT_EQ(alert_field_variable("peer"), "HACTL_FIELD_PEER");
  EXPECT_EQ(alert_field_variable("exit_code"), "HACTL_FIELD_EXIT_CODE");
  EXPECT_EQ(alert_field_variable("peer-name.v6"), "HACTL_FIELD_PEER_NAME_V6");
  EXPECT_EQ(alert_field_variable("_seq"), "HACTL_FIELD__SEQ");
  EXPECT_EQ(alert_field_variable("caf\xc3\xa9 x=1"), "HACTL_FIELD_CAF___X_1");
}

TEST(AlertEnvironment, ExactlyTheDocumentedVariables) {
  AlertConfig a;
  a.id = "pager";
  a.path = "/x";
  AlertRunnerOptions o;
  o.node = "n2";
  o.cluster = "prod";
  const auto env =
      alert_environment(a, event(9, "node_down", {{"a.b", "1"}, {"a-b", "2"}}), 4, 3, o);
  EXPECT_EQ(env, (std::vector<std::string>{
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "HACTL_ALERT_ID=pager", "HACTL_ALERT_ATTEMPT=3", "HACTL_EVENT_KIND=node_down",
                     "HACTL_EVENT_SEQ=9", "HACTL_EVENT_TIME=" + format_time_us(kT0),
                     "HACTL_EVENT_TIME_US=" + std::to_string(kT0), "HACTL_TERM=4", "HACTL_NODE=n2",
                     "HACTL_CLUSTER=prod",
                     // "a-b" < "a.b": the first key in sorted order wins the name
                     "HACTL_FIELD_A_B=2"}));
}

TEST_F(AlertRunnerTest, HookGetsTheEventInItsEnvironmentAndNothingElse) {
  ASSERT_EQ(::setenv("HACTL_TEST_SECRET", "leaked", 1), 0);
  const auto hook = script("env.sh", "env > " + (dir_ / "env.$HACTL_EVENT_SEQ").string());
  auto& r = make({alert("envdump", hook)}, {.node = "n2", .cluster = "prod"});
  r.notify(event(42, "node_down", {{"peer", "n3"}, {"reason-text", "no heartbeat"}}), 7);
  EXPECT_EQ(r.pending(), 1u);  // queued only: started on the loop
  EXPECT_EQ(r.running(), 0u);
  ASSERT_TRUE(run_until([&] { return idle(); }));
  ::unsetenv("HACTL_TEST_SECRET");

  const auto env = env_file("env.42");
  EXPECT_EQ(env.at("HACTL_ALERT_ID"), "envdump");
  EXPECT_EQ(env.at("HACTL_ALERT_ATTEMPT"), "1");
  EXPECT_EQ(env.at("HACTL_EVENT_KIND"), "node_down");
  EXPECT_EQ(env.at("HACTL_EVENT_SEQ"), "42");
  EXPECT_EQ(env.at("HACTL_EVENT_TIME"), "2026-11-18T11:06:40.123456Z");
  EXPECT_EQ(env.at("HACTL_EVENT_TIME_US"), std::to_string(kT0));
  EXPECT_EQ(env.at("HACTL_TERM"), "7");
  EXPECT_EQ(env.at("HACTL_NODE"), "n2");
  EXPECT_EQ(env.at("HACTL_CLUSTER"), "prod");
  EXPECT_EQ(env.at("HACTL_FIELD_PEER"), "n3");
  EXPECT_EQ(env.at("HACTL_FIELD_REASON_TEXT"), "no heartbeat");
  EXPECT_EQ(env.at("PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (const auto& [k, v] : env) {
    // The shell adds PWD (and may add SHLVL / _); nothing comes from this process.
    EXPECT_TRUE(k.starts_with("HACTL_") || k == "PATH" || k == "PWD" || k == "SHLVL" || k == "_")
        << k << "=" << v;
  }
  EXPECT_FALSE(env.contains("HACTL_TEST_SECRET"));
  EXPECT_FALSE(env.contains("HOME"));
  const auto s = r.stats();
  EXPECT_EQ(s.total, (AlertCounters{.runs = 1, .succeeded = 1}));
  EXPECT_EQ(s.by_alert.at("envdump"), s.total);
}

TEST_F(AlertRunnerTest, KindsFilter) {
  const auto log = (dir_ / "log").string();
  auto only = alert("only", script("only.sh", "echo \"only $HACTL_EVENT_KIND\" >> " + log));
  only.kinds = {"node_down", "action"};
  auto all = alert("all", script("all.sh", "echo \"all $HACTL_EVENT_KIND\" >> " + log));
  auto& r = make({only, all});
  r.notify(event(1, "node_down"), 1);
  r.notify(event(2, "node_up"), 1);
  r.notify(event(3, "action"), 1);
  EXPECT_EQ(r.pending(), 5u);
  ASSERT_TRUE(run_until([&] { return idle(); }));
  auto got = lines("log");
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"all action", "all node_down", "all node_up",
                                           "only action", "only node_down"}));
  const auto s = r.stats();
  EXPECT_EQ(s.by_alert.at("only").runs, 2u);
  EXPECT_EQ(s.by_alert.at("all").runs, 3u);
  EXPECT_EQ(s.total.succeeded, 5u);
}

TEST_F(AlertRunnerTest, FailingHookIsRetriedExactlyRetriesTimesThenGivenUp) {
  auto a = alert("flaky", script("fail.sh", "echo \"$HACTL_EVENT_SEQ $HACTL_ALERT_ATTEMPT\" >> " +
                                                (dir_ / "log").string() + "; exit 3"));
  a.retries = 2;
  a.retry_delay = 100ms;
  auto& r = make({a});
  const auto t0 = Clock::now();
  r.notify(event(5, "action"), 2);
  ASSERT_TRUE(run_until([&] { return r.stats().total.gave_up == 1; }));
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, 200ms);  // two retry delays
  run_for(300ms);          // nothing more comes
  EXPECT_EQ(lines("log"), (std::vector<std::string>{"5 1", "5 2", "5 3"}));
  EXPECT_EQ(r.stats().total, (AlertCounters{.runs = 3, .failures = 3, .retries = 2, .gave_up = 1}));
  EXPECT_TRUE(idle());
}

TEST_F(AlertRunnerTest, HookThatSucceedsOnRetryStops) {
  // Fails on the first attempt only.
  auto a = alert("second", script("second.sh", "echo x >> " + (dir_ / "log").string() +
                                                   "; [ \"$HACTL_ALERT_ATTEMPT\" -ge 2 ]"));
  a.retries = 5;
  auto& r = make({a});
  r.notify(event(1, "action"), 1);
  ASSERT_TRUE(run_until([&] { return r.stats().total.succeeded == 1; }));
  run_for(100ms);
  EXPECT_EQ(lines("log").size(), 2u);
  EXPECT_EQ(r.stats().total,
            (AlertCounters{.runs = 2, .succeeded = 1, .failures = 1, .retries = 1}));
}

TEST_F(AlertRunnerTest, MissingExecutableIsAFailure) {
  auto a = alert("ghost", (dir_ / "does-not-exist").string());
  a.retries = 1;
  auto& r = make({a});
  r.notify(event(1, "action"), 1);
  ASSERT_TRUE(run_until([&] { return r.stats().total.gave_up == 1; }));
  EXPECT_EQ(r.stats().total, (AlertCounters{.runs = 2, .failures = 2, .retries = 1, .gave_up = 1}));
}

TEST_F(AlertRunnerTest, HookPastItsTimeoutIsKilledAndCounted) {
  auto a = alert("slow", script("slow.sh", "echo $$ > " + (dir_ / "pid").string() + "; sleep 30"));
  a.timeout = 200ms;
  auto& r = make({a});
  const auto t0 = Clock::now();
  r.notify(event(1, "node_down"), 1);
  ASSERT_TRUE(run_until([&] { return r.stats().total.failures == 1; }));
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_EQ(r.stats().total,
            (AlertCounters{.runs = 1, .failures = 1, .timeouts = 1, .gave_up = 1}));
  const auto pid = lines("pid");
  ASSERT_EQ(pid.size(), 1u);
  // Killed (a zombie at most, until reaped).
  const int alive = ::kill(std::stoi(pid[0]), 0);
  if (alive == 0) {
    std::ifstream stat("/proc/" + pid[0] + "/stat");
    std::string s;
    std::getline(stat, s);
    EXPECT_NE(s.find(") Z"), std::string::npos) << s;
  }
}

TEST_F(AlertRunnerTest, FullQueueDropsTheOldestPendingRun) {
  const auto log = (dir_ / "log").string();
  auto& r = make({alert("q", script("q.sh", "echo $HACTL_EVENT_SEQ >> " + log + "; sleep 0.1"))},
                 {.max_running = 1, .max_pending = 3});
  r.notify(event(1, "action"), 1);
  run_for(10ms);  // seq 1 starts
  ASSERT_EQ(r.running(), 1u);
  for (std::uint64_t seq = 2; seq <= 10; ++seq) r.notify(event(seq, "action"), 1);
  EXPECT_EQ(r.pending(), 3u);
  EXPECT_EQ(r.stats().total.dropped, 6u);  // 2..7
  ASSERT_TRUE(run_until([&] { return idle(); }));
  EXPECT_EQ(lines("log"), (std::vector<std::string>{"1", "8", "9", "10"}));
  EXPECT_EQ(r.stats().total, (AlertCounters{.runs = 4, .succeeded = 4, .dropped = 6}));
}

TEST_F(AlertRunnerTest, AtMostMaxRunningHooksAtOnce) {
  const auto log = (dir_ / "log").string();
  auto& r = make({alert("c", script("c.sh", "echo + >> " + log + "; sleep 0.2; echo - >> " + log))},
                 {.max_running = 2});
  for (std::uint64_t seq = 1; seq <= 6; ++seq) r.notify(event(seq, "action"), 1);
  std::size_t most = 0;
  ASSERT_TRUE(run_until([&] { return idle(); }, [&] { most = std::max(most, r.running()); }));
  EXPECT_EQ(most, 2u);
  // As the hooks saw it: never more than two between a '+' and its '-'.
  int depth = 0, deepest = 0;
  const auto got = lines("log");
  ASSERT_EQ(got.size(), 12u);
  for (const auto& l : got) {
    depth += l == "+" ? 1 : -1;
    deepest = std::max(deepest, depth);
  }
  EXPECT_EQ(deepest, 2);
  EXPECT_EQ(r.stats().total.succeeded, 6u);
}

TEST_F(AlertRunnerTest, RetriesWaitingCountAsPending) {
  auto a = alert("f", script("f.sh", "exit 1"));
  a.retries = 3;
  a.retry_delay = 10s;  // never reached in this test
  auto& r = make({a}, {.max_pending = 2});
  for (std::uint64_t seq = 1; seq <= 3; ++seq) r.notify(event(seq, "action"), 1);
  ASSERT_TRUE(run_until([&] { return r.stats().total.failures == 2; }));
  // Seq 1 was dropped when seq 3 came; 2 and 3 failed once and wait for their retry.
  EXPECT_EQ(r.running(), 0u);
  EXPECT_EQ(r.pending(), 2u);
  r.notify(event(4, "action"), 1);  // drops the oldest: seq 2's retry
  const auto s = r.stats();
  EXPECT_EQ(s.total.dropped, 2u);
  EXPECT_EQ(s.pending, 2u);
}

TEST_F(AlertRunnerTest, CloseDropsPendingAndLetsRunningHooksEnd) {
  const auto log = (dir_ / "log").string();
  auto a = alert("c", script("c.sh", "sleep 0.2; echo $HACTL_EVENT_SEQ >> " + log + "; exit 1"));
  a.retries = 3;
  auto& r = make({a}, {.max_running = 1});
  r.notify(event(1, "action"), 1);
  run_for(20ms);
  ASSERT_EQ(r.running(), 1u);
  r.notify(event(2, "action"), 1);
  r.close();
  r.notify(event(3, "action"), 1);  // ignored
  EXPECT_EQ(r.pending(), 0u);
  ASSERT_TRUE(run_until([&] { return r.running() == 0; }));
  run_for(100ms);
  EXPECT_EQ(lines("log"), (std::vector<std::string>{"1"}));  // no retry after close
  // seq 2 dropped by close(), seq 1's retry dropped because closed.
  EXPECT_EQ(r.stats().total, (AlertCounters{.runs = 1, .failures = 1, .dropped = 2}));
}

TEST_F(AlertRunnerTest, DestroyedWhileHooksRunIsSafe) {
  auto& r = make({alert("d", script("d.sh", "sleep 0.2"))});
  r.notify(event(1, "action"), 1);
  run_for(20ms);
  ASSERT_EQ(r.running(), 1u);
  runner_.reset();  // the hook's result arrives later, to nobody
  const auto deadline = Clock::now() + kWaitLimit;
  while (uv_loop_alive(&loop_) != 0 && Clock::now() < deadline) run_for(20ms);
  EXPECT_EQ(uv_loop_alive(&loop_), 0);
}

}  // namespace
}  // namespace hactl
