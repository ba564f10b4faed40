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
    spawner_.emplace(&loop_);
  }

  void TearDown() override {
    if (runner_) runner_->close();
    // Running hooks end by themselves (or at their timeout); bounded either way.
    const auto deadline = Clock::now() + kWaitLimit;
    while (uv_loop_alive(&loop_) != 0 && Clock::now() < deadline) run_for(20ms);
    runner_.reset();
    history_.reset();
    spawner_->close();
    uv_run(&loop_, UV_RUN_NOWAIT);
    spawner_.reset();
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
    runner_ = std::make_unique<AlertRunner>(*spawner_, std::move(alerts), std::move(o));
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

  // The event history of the test's "agent" (dir_/events), read back from its files: what an
  // agent that starts finds. Events appended to it are told to the current runner, as the
  // agent's listener does.
  EventLog& reopen_history(EventLogLimits limits = {}) {
    history_.reset();
    history_ = std::make_unique<EventLog>((dir_ / "events").string(), limits);
    EXPECT_TRUE(history_->open().has_value());
    history_->set_listener([this](const LoggedEvent& e) {
      if (runner_) runner_->notify(e, event_term(e));
    });
    return *history_;
  }

  std::uint64_t log_event(const std::string& kind, std::int64_t time_us = 0) {
    return history_->append(kind, {{"term", "3"}}, time_us ? time_us : wall_clock_us());
  }

  // A runner with at-least-once delivery over history_ (as the agent makes it).
  AlertRunner& make_delivering(std::vector<AlertConfig> alerts, AlertRunnerOptions o = {}) {
    o.history = history_.get();
    o.record_dir = history_->dir();
    o.record_interval = 10ms;
    return make(std::move(alerts), std::move(o));
  }

  // Ends a runner as an agent that stops does: close(), its running hooks end, it is gone.
  void stop_runner() {
    runner_->close();
    ASSERT_TRUE(run_until([&] { return runner_->running() == 0; }));
    runner_.reset();
  }

  std::string record_text() const {
    std::ifstream in(dir_ / "events" / AlertLedger::kFile);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

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
  std::optional<Spawner> spawner_;     // before runner_: it outlives the runner
  std::unique_ptr<EventLog> history_;  // before runner_: it outlives the runner
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
                     "HACTL_ALERT_ID=pager", "HACTL_ALERT_ATTEMPT=3", "HACTL_ALERT_REDELIVERY=0",
                     "HACTL_EVENT_KIND=node_down", "HACTL_EVENT_SEQ=9",
                     "HACTL_EVENT_TIME=" + format_time_us(kT0),
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

// ---------------------------------------------------------------- at least once per event

TEST(AlertWants, CatchAllHooksSkipTheRunnersOwnEventsAndNoHookHearsOfItself) {
  AlertConfig all;
  all.id = "all";
  AlertConfig failures = all;
  failures.id = "failures";
  failures.kinds = {"alert_failed", "node_down"};
  const LoggedEvent mine{1, kT0, "alert_failed", {{"id", "failures"}}};
  const LoggedEvent other{2, kT0, "alert_failed", {{"id", "all"}}};
  const LoggedEvent down{3, kT0, "node_down", {}};
  EXPECT_FALSE(alert_wants(all, mine));
  EXPECT_FALSE(alert_wants(all, other));
  EXPECT_TRUE(alert_wants(all, down));
  EXPECT_FALSE(alert_wants(failures, mine));  // about itself
  EXPECT_TRUE(alert_wants(failures, other));
  EXPECT_TRUE(alert_wants(failures, down));
  EXPECT_EQ(event_term(LoggedEvent{1, kT0, "x", {{"term", "42"}}}), 42u);
  EXPECT_EQ(event_term(LoggedEvent{1, kT0, "x", {{"term", "4x"}}}), 0u);
  EXPECT_EQ(event_term(LoggedEvent{1, kT0, "x", {}}), 0u);
}

TEST(AlertLedgerText, RoundTripsAsRanges) {
  std::map<std::string, AlertLedger::Hook> hooks;
  hooks["a"] = {.mark = 20, .owed = {3, 4, 5, 9, 20}};
  hooks["b"] = {.mark = 7, .owed = {}};
  const std::string text = AlertLedger::to_text(hooks);
  EXPECT_EQ(text,
            "{\"hooks\":{\"a\":{\"mark\":20,\"owed\":[[3,5],[9,9],[20,20]]},\"b\":{\"mark\":7,"
            "\"owed\":[]}},\"version\":1}\n");
  EXPECT_EQ(AlertLedger::from_text(text), hooks);
  EXPECT_FALSE(AlertLedger::from_text("{\"version\":2,\"hooks\":{}}"));
  EXPECT_FALSE(
      AlertLedger::from_text("{\"version\":1,\"hooks\":{\"a\":{\"mark\":3,\"owed\":[[2,9]]}}}"));
  EXPECT_FALSE(
      AlertLedger::from_text("{\"version\":1,\"hooks\":{\"a\":{\"mark\":3,\"owed\":[[3,2]]}}}"));
  EXPECT_FALSE(AlertLedger::from_text("not json"));
}

TEST_F(AlertRunnerTest, RunsPendingAtCloseAreRunAfterARestart) {
  const auto log = (dir_ / "log").string();
  const auto hook = script("h.sh",
                           "echo \"$HACTL_EVENT_SEQ $HACTL_ALERT_ATTEMPT "
                           "$HACTL_ALERT_REDELIVERY $HACTL_TERM\" >> " +
                               log + "; sleep 0.2");
  reopen_history();
  auto& r = make_delivering({alert("h", hook)}, {.max_running = 1});
  const auto s1 = log_event("action");
  const auto s2 = log_event("action");
  const auto s3 = log_event("action");
  ASSERT_TRUE(run_until([&] { return r.running() == 1; }));
  EXPECT_EQ(r.pending(), 2u);
  stop_runner();  // s1 ends (and is done with); s2 and s3 are dropped, still owed
  EXPECT_EQ(lines("log"), (std::vector<std::string>{std::to_string(s1) + " 1 0 3"}));

  // The next agent: the history read from its files, a new runner.
  reopen_history();
  auto& r2 = make_delivering({alert("h", hook)}, {.max_running = 1});
  EXPECT_EQ(r2.pending(), 2u);  // queued at once, from the history
  const auto s4 = log_event("action");
  ASSERT_TRUE(run_until([&] { return idle(); }));
  EXPECT_EQ(lines("log"), (std::vector<std::string>{
                              std::to_string(s1) + " 1 0 3", std::to_string(s2) + " 1 1 3",
                              std::to_string(s3) + " 1 1 3", std::to_string(s4) + " 1 0 3"}));
  EXPECT_EQ(r2.stats().total, (AlertCounters{.runs = 3, .succeeded = 3, .redelivered = 2}));

  // And nothing again after one more restart.
  stop_runner();
  reopen_history();
  auto& r3 = make_delivering({alert("h", hook)});
  EXPECT_EQ(r3.pending(), 0u);
  run_for(300ms);
  EXPECT_EQ(lines("log").size(), 4u);
}

TEST_F(AlertRunnerTest, RunInterruptedByACrashIsRunAgain) {
  const auto log = (dir_ / "log").string();
  // Slow the first time, quick once a marker exists.
  const auto marker = (dir_ / "quick").string();
  auto a = alert("h", script("h.sh",
                             "echo \"$HACTL_EVENT_SEQ $HACTL_ALERT_ATTEMPT "
                             "$HACTL_ALERT_REDELIVERY\" >> " +
                                 log + "; [ -e " + marker + " ] || sleep 0.5"));
  a.retries = 3;
  reopen_history();
  auto& r = make_delivering({a});
  const auto seq = log_event("node_down");
  ASSERT_TRUE(run_until([&] { return r.running() == 1; }));
  // What is on disk while the hook runs is what a crash (kill -9) leaves.
  r.ledger()->flush();
  const std::string crashed = record_text();
  EXPECT_NE(crashed.find("\"owed\":[[" + std::to_string(seq) + "," + std::to_string(seq) + "]]"),
            std::string::npos)
      << crashed;
  runner_.reset();  // gone with the hook still running: its result reaches nobody
  std::ofstream(dir_ / "events" / AlertLedger::kFile) << crashed;
  std::ofstream(marker) << "";

  reopen_history();
  auto& r2 = make_delivering({a});
  ASSERT_TRUE(run_until([&] { return r2.stats().total.succeeded == 1 && idle(); }));
  EXPECT_EQ(lines("log"),
            (std::vector<std::string>{std::to_string(seq) + " 1 0", std::to_string(seq) + " 1 1"}));
  r2.ledger()->flush();
  EXPECT_NE(record_text().find("\"owed\":[]"), std::string::npos) << record_text();
}

TEST_F(AlertRunnerTest, RunGivenUpAfterItsLastAttemptIsNotRunAgain) {
  const auto log = (dir_ / "log").string();
  auto a = alert("f", script("f.sh", "echo $HACTL_EVENT_SEQ >> " + log + "; exit 1"));
  a.retries = 1;
  reopen_history();
  auto& r = make_delivering({a});
  log_event("action");
  ASSERT_TRUE(run_until([&] { return r.stats().total.gave_up == 1 && idle(); }));
  EXPECT_EQ(lines("log").size(), 2u);
  stop_runner();
  reopen_history();
  auto& r2 = make_delivering({a});
  EXPECT_EQ(r2.pending(), 0u);
  run_for(300ms);
  EXPECT_EQ(lines("log").size(), 2u);
  EXPECT_EQ(r2.stats().total, AlertCounters{});
}

TEST_F(AlertRunnerTest, FullQueueDefersRunsToTheHistoryAndLosesNone) {
  const auto log = (dir_ / "log").string();
  reopen_history();
  auto& r = make_delivering(
      {alert("q", script("q.sh", "echo $HACTL_EVENT_SEQ >> " + log + "; sleep 0.02"))},
      {.max_running = 1, .max_pending = 3});
  std::vector<std::string> want;
  for (int i = 0; i < 12; ++i) want.push_back(std::to_string(log_event("action")));
  EXPECT_EQ(r.pending(), 3u);
  EXPECT_EQ(r.stats().total.deferred, 9u);
  EXPECT_TRUE(r.stats().backlog);
  ASSERT_TRUE(run_until([&] { return idle() && !r.stats().backlog; }));
  EXPECT_EQ(lines("log"), want);  // each once, in order
  const auto s = r.stats().total;
  EXPECT_EQ(s.runs, 12u);
  EXPECT_EQ(s.redelivered, 9u);
  EXPECT_EQ(s.dropped, 0u);
}

TEST_F(AlertRunnerTest, RetryTakesThePlaceOfTheNewestFirstAttempt) {
  const auto log = (dir_ / "log").string();
  // Seq 1 fails its first attempt (slowly); everything else succeeds.
  auto a = alert("r", script("r.sh", "echo \"$HACTL_EVENT_SEQ $HACTL_ALERT_ATTEMPT\" >> " + log +
                                         "\nif [ $HACTL_EVENT_SEQ$HACTL_ALERT_ATTEMPT = 11 ]; then "
                                         "sleep 0.2; exit 1; fi"));
  a.retries = 1;
  reopen_history();
  auto& r = make_delivering({a}, {.max_running = 1, .max_pending = 2});
  log_event("action");
  log_event("action");
  log_event("action");  // the queue is full: deferred
  EXPECT_EQ(r.stats().total.deferred, 1u);
  // 1 runs, 3 comes back from the history, then 1's retry takes its place: deferred again.
  ASSERT_TRUE(run_until([&] { return idle() && !r.stats().backlog; }));
  EXPECT_EQ(lines("log"), (std::vector<std::string>{"1 1", "2 1", "1 2", "3 1"}));
  EXPECT_EQ(r.stats().total, (AlertCounters{.runs = 4,
                                            .succeeded = 3,
                                            .failures = 1,
                                            .retries = 1,
                                            .deferred = 2,
                                            .redelivered = 2}));
}

TEST_F(AlertRunnerTest, RedeliveryAtStartIsBoundedInNumberAndAge) {
  const auto log = (dir_ / "log").string();
  const auto hook = script("h.sh", "echo $HACTL_EVENT_SEQ >> " + log);
  reopen_history();
  make_delivering({alert("h", hook)}, {.max_running = 1});
  const std::int64_t day_ago = wall_clock_us() - std::int64_t{25} * 3600 * 1'000'000;
  log_event("action", day_ago);  // 1: too old when it is redelivered
  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < 9; ++i) seqs.push_back(log_event("action"));
  stop_runner();  // nothing ran: all ten owed
  EXPECT_TRUE(lines("log").empty());

  reopen_history();
  auto& r = make_delivering({alert("h", hook)}, {.max_redelivered = 4});
  ASSERT_TRUE(run_until([&] { return idle(); }));
  // The newest four; the one from a day ago and the five oldest others are skipped.
  std::vector<std::string> want;
  for (std::size_t i = 5; i < seqs.size(); ++i) want.push_back(std::to_string(seqs[i]));
  auto got = lines("log");
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(r.stats().total.skipped, 6u);
  EXPECT_EQ(r.stats().total.redelivered, 4u);
  // Skipped for good.
  stop_runner();
  reopen_history();
  auto& r2 = make_delivering({alert("h", hook)});
  EXPECT_EQ(r2.pending(), 0u);
}

TEST_F(AlertRunnerTest, NewHookStartsWithEventsLoggedFromThenOn) {
  const auto log = (dir_ / "log").string();
  reopen_history();
  make_delivering({alert("a", script("a.sh", "true"))});
  log_event("action");
  stop_runner();
  // "b" added by a configuration change: the runner it gets takes the record over.
  reopen_history();
  auto& r = make_delivering({alert("b", script("b.sh", "echo $HACTL_EVENT_SEQ >> " + log))});
  const auto seq = log_event("action");
  ASSERT_TRUE(run_until([&] { return r.stats().total.succeeded == 1 && idle(); }));
  EXPECT_EQ(lines("log"), (std::vector<std::string>{std::to_string(seq)}));
  r.ledger()->flush();
  EXPECT_EQ(record_text().find("\"a\""), std::string::npos) << "a removed hook is forgotten";
}

TEST_F(AlertRunnerTest, ConfigurationChangeTakesTheRecordOverAndRunsWhatWasPending) {
  const auto log = (dir_ / "log").string();
  const auto hook =
      script("h.sh", "echo \"$HACTL_EVENT_SEQ $HACTL_ALERT_REDELIVERY\" >> " + log + "; sleep 0.1");
  reopen_history();
  auto& r = make_delivering({alert("h", hook)}, {.max_running = 1});
  const auto s1 = log_event("action");
  const auto s2 = log_event("action");
  ASSERT_TRUE(run_until([&] { return r.running() == 1; }));
  // As Agent::start_alerts does: close the old runner, hand its record to the new one.
  r.close();
  auto ledger = r.ledger();
  AlertRunnerOptions o;
  o.ledger = ledger;
  o.max_running = 1;
  auto& r2 = make_delivering({alert("h", hook)}, o);  // the old runner is destroyed here
  ASSERT_TRUE(run_until([&] { return idle(); }));
  run_for(200ms);
  auto got = lines("log");
  std::sort(got.begin(), got.end());
  // s1 was running when its runner went: run again (at least once, so twice here).
  EXPECT_EQ(got, (std::vector<std::string>{std::to_string(s1) + " 0", std::to_string(s1) + " 1",
                                           std::to_string(s2) + " 1"}));
  EXPECT_EQ(r2.ledger(), ledger);
}

TEST_F(AlertRunnerTest, UnreadableRecordRunsTheHistoryAgainWithinTheBound) {
  const auto log = (dir_ / "log").string();
  reopen_history();
  for (int i = 0; i < 5; ++i) log_event("action");
  std::ofstream(dir_ / "events" / AlertLedger::kFile) << "{torn";
  auto& r = make_delivering({alert("h", script("h.sh", "echo $HACTL_EVENT_SEQ >> " + log))},
                            {.max_redelivered = 3});
  ASSERT_TRUE(run_until([&] { return idle(); }));
  auto got = lines("log");
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(r.stats().total.skipped, 2u);
}

TEST_F(AlertRunnerTest, OwedEventsThatLeftTheHistoryAreSkippedAndCounted) {
  const auto log = (dir_ / "log").string();
  const auto hook = script("h.sh", "echo $HACTL_EVENT_SEQ >> " + log);
  reopen_history({.memory_events = 5});
  make_delivering({alert("h", hook)});
  for (int i = 0; i < 3; ++i) log_event("action");   // 1..3
  stop_runner();                                     // owed, never run
  for (int i = 0; i < 10; ++i) log_event("action");  // 4..13, with no runner to tell
  reopen_history({.memory_events = 5});              // 9..13 in memory
  auto& r = make_delivering({alert("h", hook)});
  ASSERT_TRUE(run_until([&] { return idle(); }));
  auto got = lines("log");
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"10", "11", "12", "13", "9"}));
  EXPECT_EQ(r.stats().total.skipped, 3u);  // 1..3; 4..8 were never looked at
}

}  // namespace
}  // namespace hactl
