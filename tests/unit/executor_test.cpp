// The local executor with real agents: actions on one resource run one at a time and in order,
// different resources run at once, recurring monitors report changes only.
#include "resources/executor.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace hactl {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hactl-exec-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    uv_loop_init(&loop_);
    spawner_.emplace(&loop_);
  }
  void TearDown() override {
    executor_.reset();
    spawner_->close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    spawner_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    fs::remove_all(dir_);
  }
  PrimitiveConfig dummy(const std::string& id) {
    PrimitiveConfig p;
    p.id = id;
    p.cls = ResourceClass::kOcf;
    p.provider = "heartbeat";
    p.type = "Dummy";
    p.params["state"] = (dir_ / (id + ".state")).string();
    return p;
  }
  // An exec script that logs begin/end around a short sleep.
  PrimitiveConfig slow(const std::string& id) {
    const auto script = dir_ / (id + ".sh");
    std::ofstream(script) << "#!/bin/sh\necho \"$1 begin\" >> " << (dir_ / "log").string()
                          << "\nsleep 0.2\necho \"$1 end\" >> " << (dir_ / "log").string() << "\n";
    fs::permissions(script, fs::perms::owner_all);
    PrimitiveConfig p;
    p.id = id;
    p.cls = ResourceClass::kExec;
    p.type = script.string();
    return p;
  }
  void make(std::vector<PrimitiveConfig> prims) {
    rc_.primitives = std::move(prims);
    executor_ = std::make_unique<Executor>(*spawner_, rc_,
                                           [this](const OpResult& r) { results_.push_back(r); });
  }
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
  void run_until_idle() {
    for (int i = 0; i < 200 && (executor_->busy() > 0); ++i) run_for(10ms);
  }
  fs::path dir_;
  uv_loop_t loop_{};
  std::optional<Spawner> spawner_;
  ResourceConfig rc_;
  std::unique_ptr<Executor> executor_;
  std::vector<OpResult> results_;
};

TEST_F(ExecutorTest, ActionsOnOneResourceRunInOrder) {
  make({dummy("a")});
  std::uint64_t id = 0;
  for (const char* action : {"start", "monitor", "stop", "monitor"}) {
    executor_->submit(OpRequest{++id, "a", action, 0s});
  }
  run_until_idle();
  ASSERT_EQ(results_.size(), 4u);
  const OcfCode expected[] = {OcfCode::kSuccess, OcfCode::kSuccess, OcfCode::kSuccess,
                              OcfCode::kNotRunning};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(results_[i].call_id, i + 1);
    EXPECT_EQ(results_[i].code, expected[i]) << results_[i].action << ": " << results_[i].output;
  }
}

TEST_F(ExecutorTest, OneAtATimePerResourceButResourcesInParallel) {
  make({slow("x"), slow("y")});
  const auto begin = std::chrono::steady_clock::now();
  executor_->submit(OpRequest{1, "x", "start", 5s});
  executor_->submit(OpRequest{2, "x", "stop", 5s});
  executor_->submit(OpRequest{3, "y", "start", 5s});
  run_until_idle();
  const auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_EQ(results_.size(), 3u);
  std::ifstream log(dir_ / "log");
  std::vector<std::string> lines;
  for (std::string l; std::getline(log, l);) {
    if (l.find("start") == 0 || l.find("stop") == 0) lines.push_back(l);
  }
  // x's start ends before x's stop begins; y ran beside x.
  const auto pos = [&](const std::string& s) {
    return std::find(lines.begin(), lines.end(), s) - lines.begin();
  };
  EXPECT_LT(pos("start end"), static_cast<long>(lines.size()));
  EXPECT_LT(took, 1s);  // 3 x 0.2 s in series would be 0.6 s; x and y overlap
  int x_start_end = 0, x_stop_begin = 0;
  int seen = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == "stop begin") x_stop_begin = static_cast<int>(i);
    if (lines[i] == "start end" && seen++ == 0) x_start_end = static_cast<int>(i);
  }
  EXPECT_LT(x_start_end, x_stop_begin);
}

TEST_F(ExecutorTest, RecurringMonitorReportsChangesOnly) {
  make({dummy("m")});
  executor_->submit(OpRequest{1, "m", "start", 0s});
  run_until_idle();
  executor_->start_monitor("m", 50ms);
  run_for(300ms);
  ASSERT_EQ(results_.size(), 2u);  // the start, then the first monitor (running)
  EXPECT_EQ(results_[1].code, OcfCode::kSuccess);
  fs::remove(dir_ / "m.state");  // the resource dies behind our back
  run_for(300ms);
  ASSERT_EQ(results_.size(), 3u);
  EXPECT_EQ(results_[2].action, "monitor");
  EXPECT_EQ(results_[2].code, OcfCode::kNotRunning);
  executor_->stop_monitor("m");
  run_for(150ms);
  EXPECT_EQ(results_.size(), 3u);
}

// Found by the nemesis: a recurring monitor that hangs held up the stop a lost lease queued
// behind it until the monitor's timeout, past the takeover delay. Switching the monitor off
// kills it (its result is dropped) and the stop runs at once.
TEST_F(ExecutorTest, AHungRecurringMonitorIsKilledWhenTheMonitorIsSwitchedOff) {
  const auto script = dir_ / "hang.sh";
  std::ofstream(script) << "#!/bin/sh\ncase \"$1\" in\n  status) [ -f " << (dir_ / "hang").string()
                        << " ] && exec sleep 60; exit 0 ;;\n  stop) echo stopped >> "
                        << (dir_ / "log").string() << " ;;\nesac\nexit 0\n";
  fs::permissions(script, fs::perms::owner_all);
  PrimitiveConfig p;
  p.id = "h";
  p.cls = ResourceClass::kExec;
  p.type = script.string();
  p.monitor.timeout = 30s;
  make({p});
  executor_->start_monitor("h", 50ms);
  run_for(200ms);
  ASSERT_EQ(results_.size(), 1u);  // running
  std::ofstream(dir_ / "hang").close();
  run_for(200ms);  // the next monitor hangs
  ASSERT_EQ(executor_->busy(), 1u);
  const auto begin = std::chrono::steady_clock::now();
  executor_->stop_monitor("h");
  executor_->submit(OpRequest{7, "h", "stop", 5s});
  run_until_idle();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s) << "not the monitor's 30 s timeout";
  ASSERT_EQ(results_.size(), 2u) << "the killed monitor reports nothing";
  EXPECT_EQ(results_[1].call_id, 7u);
  EXPECT_EQ(results_[1].code, OcfCode::kSuccess);
}

// A notify call runs the agent's `notify` action with the notification's lists (an OCF agent
// of the test's own, under an OCF root of its own, that writes what it was given).
TEST_F(ExecutorTest, NotifyRunsTheAgentWithItsLists) {
  const auto root = dir_ / "ocf";
  fs::create_directories(root / "resource.d" / "hactltest");
  const auto agent = root / "resource.d" / "hactltest" / "envdump";
  std::ofstream(agent) << "#!/bin/sh\n[ \"$1\" = notify ] || exit 0\nenv | grep "
                          "'^OCF_RESKEY_CRM_meta_notify_' | sort > \"$OCF_RESKEY_out\"\n";
  fs::permissions(agent, fs::perms::owner_all);
  PrimitiveConfig p;
  p.id = "db";
  p.cls = ResourceClass::kOcf;
  p.provider = "hactltest";
  p.type = "envdump";
  p.params["out"] = (dir_ / "env").string();
  rc_.primitives = {p};
  OcfContext context;
  context.ocf_root = root.string();
  context.node_names = {"n1", "n2"};
  context.resource_nodes = {0, 1};
  executor_ = std::make_unique<Executor>(
      *spawner_, rc_, [this](const OpResult& r) { results_.push_back(r); }, context);
  CloneNotification n;
  n.type = NotifyType::kPost;
  n.operation = NotifyOperation::kStart;
  n.start = {1};
  n.active = {0};
  n.available = {0, 1};
  OpRequest request{1, "db", "notify", 5s};
  request.notification = n;
  executor_->submit(request);
  run_until_idle();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].code, OcfCode::kSuccess) << results_[0].output;
  std::ifstream in(dir_ / "env");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* line :
       {"OCF_RESKEY_CRM_meta_notify_type=post\n", "OCF_RESKEY_CRM_meta_notify_operation=start\n",
        "OCF_RESKEY_CRM_meta_notify_start_uname=n2\n",
        "OCF_RESKEY_CRM_meta_notify_start_resource=db:1\n",
        "OCF_RESKEY_CRM_meta_notify_active_uname=n1\n", "OCF_RESKEY_CRM_meta_notify_stop_uname= \n",
        "OCF_RESKEY_CRM_meta_notify_available_uname=n1 n2\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
  }
}

// A notify that hangs ends at the primitive's ops.notify timeout (a request without a timeout
// of its own, as the keeper sends it), not at the 20 s default: a late notification holds the
// instance's next operation no longer than that.
TEST_F(ExecutorTest, ANotifyEndsAtItsConfiguredTimeout) {
  const auto root = dir_ / "ocf";
  fs::create_directories(root / "resource.d" / "hactltest");
  const auto agent = root / "resource.d" / "hactltest" / "slownotify";
  std::ofstream(agent) << "#!/bin/sh\n[ \"$1\" = notify ] && exec sleep 30\nexit 0\n";
  fs::permissions(agent, fs::perms::owner_all);
  PrimitiveConfig p;
  p.id = "db";
  p.cls = ResourceClass::kOcf;
  p.provider = "hactltest";
  p.type = "slownotify";
  p.notify.timeout = 300ms;
  rc_.primitives = {p};
  OcfContext context;
  context.ocf_root = root.string();
  executor_ = std::make_unique<Executor>(
      *spawner_, rc_, [this](const OpResult& r) { results_.push_back(r); }, context);
  OpRequest request{1, "db", "notify", Duration{0}};
  request.notification = CloneNotification{};
  executor_->submit(request);
  run_until_idle();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].ended, ProcessResult::Ended::kTimedOut) << results_[0].output;
  EXPECT_LT(results_[0].took, 5s);
}

TEST_F(ExecutorTest, UnknownResource) {
  make({dummy("a")});
  executor_->submit(OpRequest{1, "ghost", "start", 0s});
  run_until_idle();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].code, OcfCode::kErrConfigured);
}

}  // namespace
}  // namespace hactl
