// The process runner with real processes: exit codes, captured output, a clean environment,
// a hung agent and its forked helper killed as a group on timeout, a program that is missing;
// and real OCF agents from Debian's resource-agents run through their actions.
#include "resources/process_runner.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "resources/ocf_agent.hpp"
#include "resources/realtime.hpp"
#include "tests/unit/skip.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

// A loop with a spawner, closed (and checked for handles left open) at the end.
struct TestLoop {
  uv_loop_t loop{};
  std::optional<Spawner> spawner;
  explicit TestLoop(SpawnerOptions options = {}) {
    uv_loop_init(&loop);
    spawner.emplace(&loop, std::move(options));
  }
  ~TestLoop() {
    spawner->close();
    uv_run(&loop, UV_RUN_DEFAULT);
    spawner.reset();
    EXPECT_EQ(uv_loop_close(&loop), 0) << "a handle was left open";
  }
  // Runs the loop until `done` or 10 s.
  void run_until(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < until) uv_run(&loop, UV_RUN_ONCE);
  }
};

ProcessResult run_sync(const ProcessSpec& spec) {
  TestLoop t;
  ProcessResult out;
  int calls = 0;
  run_process(*t.spawner, spec, [&](const ProcessResult& r) {
    out = r;
    ++calls;
  });
  t.run_until([&] { return calls > 0; });
  EXPECT_EQ(calls, 1);
  return out;
}

ProcessSpec sh(const std::string& script, Duration timeout = 5s) {
  ProcessSpec s;
  s.program = "/bin/sh";
  s.args = {"-c", script};
  s.env = {"PATH=/usr/bin:/bin", "ONLY_THIS=1"};
  s.timeout = timeout;
  s.kill_grace = 300ms;
  return s;
}

TEST(ProcessRunner, ExitCodeAndOutput) {
  const auto r = run_sync(sh("echo out; echo err >&2; exit 7"));
  EXPECT_EQ(r.ended, ProcessResult::Ended::kExited);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.output, "out\nerr\n");
}

TEST(ProcessRunner, EnvironmentIsExactlyWhatWasGiven) {
  const auto r = run_sync(sh("env | sort"));
  EXPECT_EQ(r.output, "ONLY_THIS=1\nPATH=/usr/bin:/bin\nPWD=/\n");
}

TEST(ProcessRunner, StandardInputIsDevNullByDefault) {
  const auto r = run_sync(sh("cat; echo end"));
  EXPECT_EQ(r.output, "end\n");
}

TEST(ProcessRunner, InputIsWrittenToStandardInputAndClosed) {
  auto spec = sh("while IFS= read -r line; do echo \"got $line\"; done; echo eof");
  spec.input = "action=off\nplug=n1\n";
  const auto r = run_sync(spec);
  EXPECT_EQ(r.ended, ProcessResult::Ended::kExited);
  EXPECT_EQ(r.output, "got action=off\ngot plug=n1\neof\n");
}

TEST(ProcessRunner, InputLargerThanAPipeBuffer) {
  auto spec = sh("wc -c");
  spec.input = std::string(1 << 20, 'x');
  const auto r = run_sync(spec);
  EXPECT_EQ(r.output, std::to_string(1 << 20) + "\n");
}

TEST(ProcessRunner, InputToAChildThatNeverReadsIt) {
  ::signal(SIGPIPE, SIG_IGN);  // as hactl-agent does
  auto spec = sh("exit 3");
  spec.input = std::string(1 << 20, 'x');  // the write fails (EPIPE) once it is gone
  const auto r = run_sync(spec);
  EXPECT_EQ(r.ended, ProcessResult::Ended::kExited);
  EXPECT_EQ(r.exit_code, 3);
}

TEST(ProcessRunner, InputToAMissingProgram) {
  ProcessSpec spec;
  spec.program = "/nonexistent/fence_nothing";
  spec.input = "action=off\n";
  const auto r = run_sync(spec);
  EXPECT_EQ(r.ended, ProcessResult::Ended::kExecFailed);
}

TEST(ProcessRunner, OwnProcessGroupAndSession) {
  const auto r = run_sync(sh("ps -o pid=,pgid=,sid= -p $$"));
  std::istringstream in(r.output);
  long pid = 0, pgid = 0, sid = 0;
  in >> pid >> pgid >> sid;
  EXPECT_EQ(pid, pgid);
  EXPECT_EQ(pid, sid);
}

TEST(ProcessRunner, HungAgentAndItsHelpersAreKilledOnTimeout) {
  const auto pidfile =
      std::filesystem::temp_directory_path() / ("hactl-helper-" + std::to_string(getpid()));
  // The agent forks a helper that ignores SIGTERM, then hangs itself.
  const auto r = run_sync(sh("(trap '' TERM; echo $$ > /dev/null; sleep 30) & echo $! > " +
                                 pidfile.string() + "; trap '' TERM; sleep 30",
                             300ms));
  EXPECT_EQ(r.ended, ProcessResult::Ended::kTimedOut);
  EXPECT_LT(r.took, 3s);
  std::ifstream in(pidfile);
  pid_t helper = 0;
  in >> helper;
  ASSERT_GT(helper, 0);
  // SIGKILL went to the whole group: the helper is gone (or a zombie about to be reaped by init).
  for (int i = 0; i < 100 && ::kill(helper, 0) == 0; ++i) {
    std::ifstream stat("/proc/" + std::to_string(helper) + "/stat");
    std::string skip, state;
    stat >> skip >> skip >> state;
    if (state == "Z") break;
    usleep(10'000);
  }
  std::ifstream stat("/proc/" + std::to_string(helper) + "/stat");
  std::string skip, state;
  stat >> skip >> skip >> state;
  EXPECT_TRUE(state.empty() || state == "Z") << "helper still running, state " << state;
  std::filesystem::remove(pidfile);
}

TEST(ProcessRunner, MissingProgramIsAnExecFailure) {
  ProcessSpec s;
  s.program = "/nonexistent/agent";
  const auto r = run_sync(s);
  EXPECT_EQ(r.ended, ProcessResult::Ended::kExecFailed);
  EXPECT_NE(r.error.find("/nonexistent/agent"), std::string::npos);
}

TEST(ProcessRunner, ARealtimeCallersChildrenRunAtNormalPriority) {
  // The agent's loop runs SCHED_RR without reset-on-fork (resources/realtime.hpp): what it runs
  // must not inherit that. In a thread of its own, so the test binary's main thread is untouched;
  // the spawner is made there too, so its threads start realtime and must leave it.
  ProcessResult r, missing, refused_exec;
  std::string refused;
  const std::string not_executable =
      (std::filesystem::temp_directory_path() / ("hactl-noexec-" + std::to_string(::getpid())))
          .string();
  { std::ofstream(not_executable) << "#!/bin/sh\n"; }
  std::thread t([&] {
    if (auto rt = enter_realtime(5, false); !rt) {
      refused = rt.error();
      return;
    }
    r = run_sync(sh("/usr/bin/chrt -p $$"));
    ProcessSpec s;
    s.program = "/nonexistent/agent";
    missing = run_sync(s);
    s.program = not_executable;
    refused_exec = run_sync(s);
  });
  t.join();
  if (!refused.empty()) HACTL_SKIP("cannot go realtime here: " << refused);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("SCHED_OTHER"), std::string::npos) << r.output;
  EXPECT_EQ(missing.ended, ProcessResult::Ended::kExecFailed);
  EXPECT_EQ(missing.error, "cannot run /nonexistent/agent: No such file or directory");
  EXPECT_EQ(refused_exec.ended, ProcessResult::Ended::kExecFailed);
  EXPECT_EQ(refused_exec.error, "cannot run " + not_executable + ": Permission denied");
  std::filesystem::remove(not_executable);
}

// The loop never waits for an exec: the spawn happens on the spawner's thread, so a call
// returns at once and the loop keeps running its timers while the exec is slow; every call
// still reaches its result, in whatever order the children exit.
TEST(Spawner, TheLoopRunsWhileAnExecIsSlow) {
  // The spawn does not finish until the loop has ticked 10 times (at most 10 s): were the
  // spawn on the loop, the loop could not tick and the spawn would end on the bound.
  std::atomic<int> ticks{0};
  std::atomic<bool> bound_hit{false};
  TestLoop t(SpawnerOptions{.threads = 1, .before_each_spawn = [&] {
                              const auto until = std::chrono::steady_clock::now() + 10s;
                              while (ticks < 10 && std::chrono::steady_clock::now() < until)
                                std::this_thread::sleep_for(1ms);
                              bound_hit = ticks < 10;
                            }});
  std::vector<int> done;
  const auto record = [&done](const ProcessResult& r) { done.push_back(r.exit_code); };
  run_process(*t.spawner, sh("exit 3"), record);
  EXPECT_TRUE(done.empty()) << "nothing is started from inside the call";
  uv_timer_t tick;
  uv_timer_init(&t.loop, &tick);
  tick.data = &ticks;
  uv_timer_start(
      &tick, [](uv_timer_t* h) { ++*static_cast<std::atomic<int>*>(h->data); }, 1, 1);
  t.run_until([&] { return !done.empty(); });
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  EXPECT_EQ(done, std::vector<int>{3});
  EXPECT_FALSE(bound_hit.load()) << "the loop was held while the child was started";
}

// A child whose exec does not finish within its timeout still reaches a result (timed out),
// and is killed and reaped when its start does come back. The spawn is held until the result
// is in, so the order does not depend on time.
TEST(Spawner, AnExecSlowerThanTheTimeoutTimesOut) {
  std::atomic<bool> reported{false};
  TestLoop t(SpawnerOptions{.threads = 1, .before_each_spawn = [&] {
                              const auto until = std::chrono::steady_clock::now() + 10s;
                              while (!reported && std::chrono::steady_clock::now() < until)
                                std::this_thread::sleep_for(1ms);
                            }});
  const auto pidfile =
      std::filesystem::temp_directory_path() / ("hactl-late-" + std::to_string(getpid()));
  std::optional<ProcessResult> got;
  std::size_t pending_then = 0;
  run_process(*t.spawner, sh("echo $$ > " + pidfile.string() + "; exec sleep 30", 100ms),
              [&](const ProcessResult& r) {
                got = r;
                pending_then = t.spawner->pending();
                reported = true;
              });
  t.run_until([&] { return got.has_value(); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->ended, ProcessResult::Ended::kTimedOut);
  EXPECT_NE(got->error.find("not started within the timeout"), std::string::npos) << got->error;
  EXPECT_EQ(pending_then, 1u) << "the result came before the start";
  // The late child is killed and reaped: the loop runs until then, and ends by itself.
  uv_run(&t.loop, UV_RUN_DEFAULT);
  EXPECT_EQ(t.spawner->pending(), 0u);
  pid_t late = 0;
  std::ifstream(pidfile) >> late;
  std::filesystem::remove(pidfile);
  if (late > 0) {  // it may be killed before its shell wrote the file
    EXPECT_NE(::kill(late, 0), 0) << "the late child " << late << " is still there";
  }
}

// A kill asked for before the child has started kills it as soon as it has.
TEST(Spawner, AKillBeforeTheStartKillsTheChild) {
  TestLoop t(SpawnerOptions{.threads = 1,
                            .before_each_spawn = [] { std::this_thread::sleep_for(100ms); }});
  std::optional<ProcessResult> got;
  auto handle = run_process(*t.spawner, sh("sleep 30"), [&](const ProcessResult& r) { got = r; });
  handle->kill_group();
  t.run_until([&] { return got.has_value(); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->ended, ProcessResult::Ended::kSignaled);
  EXPECT_EQ(got->signal, SIGKILL);
}

// Closing the spawner lets the starts under way reach the loop; what is started after it
// closed is started on the loop itself, and reaches its result too.
TEST(Spawner, CloseKeepsEveryCallsResult) {
  TestLoop t(
      SpawnerOptions{.threads = 2, .before_each_spawn = [] { std::this_thread::sleep_for(20ms); }});
  std::vector<int> done;
  const auto record = [&done](const ProcessResult& r) { done.push_back(r.exit_code); };
  for (int i = 0; i < 5; ++i) run_process(*t.spawner, sh("exit " + std::to_string(i)), record);
  t.spawner->close();
  t.run_until([&] { return done.size() == 5; });
  run_process(*t.spawner, sh("exit 7"), record);
  t.run_until([&] { return done.size() == 6; });
  std::sort(done.begin(), done.begin() + 5);
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2, 3, 4, 7}));
}

TEST(ProcessRunner, FloodedOutputIsBounded) {
  const auto r = run_sync(sh("yes hactl | head -c 1000000"));
  EXPECT_EQ(r.ended, ProcessResult::Ended::kExited);
  EXPECT_EQ(r.output.size(), 4096u);
}

class OcfDummy : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(kDefaultOcfRoot) + "/resource.d/heartbeat/Dummy")) {
      FAIL() << "resource-agents is not installed (scripts/setup.sh installs it)";
    }
    state_ = std::filesystem::temp_directory_path() / ("hactl-dummy-" + std::to_string(getpid()));
    p_.id = "web-app";
    p_.cls = ResourceClass::kOcf;
    p_.provider = "heartbeat";
    p_.type = "Dummy";
    p_.params["state"] = state_.string();
  }
  void TearDown() override { std::filesystem::remove(state_); }
  OcfCode act(const char* action) {
    const auto r = run_sync(ocf_spec(p_, action, 10s));
    EXPECT_EQ(r.ended, ProcessResult::Ended::kExited) << action << ": " << r.error;
    return ocf_code(r.exit_code);
  }
  std::filesystem::path state_;
  PrimitiveConfig p_;
};

TEST_F(OcfDummy, EveryAction) {
  EXPECT_EQ(act("monitor"), OcfCode::kNotRunning);
  EXPECT_EQ(act("validate-all"), OcfCode::kSuccess);
  EXPECT_EQ(act("start"), OcfCode::kSuccess);
  EXPECT_TRUE(std::filesystem::exists(state_));
  EXPECT_EQ(act("monitor"), OcfCode::kSuccess);
  EXPECT_EQ(act("start"), OcfCode::kSuccess);  // idempotent, as the OCF API requires
  EXPECT_EQ(act("stop"), OcfCode::kSuccess);
  EXPECT_EQ(act("monitor"), OcfCode::kNotRunning);
  EXPECT_EQ(act("stop"), OcfCode::kSuccess);
  const auto meta = run_sync(ocf_spec(p_, "meta-data", 5s));
  EXPECT_EQ(meta.exit_code, 0);
  EXPECT_NE(meta.output.find("<resource-agent name=\"Dummy\""), std::string::npos);
  EXPECT_EQ(ocf_code(run_sync(ocf_spec(p_, "no-such-action", 5s)).exit_code),
            OcfCode::kErrUnimplemented);
}

TEST(OcfCodes, Meanings) {
  EXPECT_EQ(describe(ocf_code(7)), "not running");
  EXPECT_EQ(describe(ocf_code(8)), "running promoted");
  EXPECT_EQ(describe(ocf_code(9)), "failed promoted");
  EXPECT_EQ(ocf_code(42), OcfCode::kErrGeneric);
  EXPECT_EQ(exec_code("monitor", 3), OcfCode::kNotRunning);
  EXPECT_EQ(exec_code("start", 3), OcfCode::kErrGeneric);
}

// A notify call's lists, as Pacemaker gives them: instances as PRIMITIVE:N, nodes by name,
// " " for an empty list, promoted and unpromoted under their old names too.
TEST(OcfEnvironment, NotifyListsFollowPacemaker) {
  CloneNotification n;
  n.type = NotifyType::kPre;
  n.operation = NotifyOperation::kPromote;
  n.promote = {2};
  n.active = {0, 2};
  n.promoted = {};
  n.available = {0, 1, 2};
  const std::vector<std::string> names = {"n1", "n2", "n3", "w"};
  const auto env = ocf_notify_env(n, "db", names, {0, 1, 2});
  const std::vector<std::string> expected = {
      "OCF_RESKEY_CRM_meta_notify_type=pre",
      "OCF_RESKEY_CRM_meta_notify_operation=promote",
      "OCF_RESKEY_CRM_meta_notify_start_resource= ",
      "OCF_RESKEY_CRM_meta_notify_start_uname= ",
      "OCF_RESKEY_CRM_meta_notify_stop_resource= ",
      "OCF_RESKEY_CRM_meta_notify_stop_uname= ",
      "OCF_RESKEY_CRM_meta_notify_promote_resource=db:2",
      "OCF_RESKEY_CRM_meta_notify_promote_uname=n3",
      "OCF_RESKEY_CRM_meta_notify_demote_resource= ",
      "OCF_RESKEY_CRM_meta_notify_demote_uname= ",
      "OCF_RESKEY_CRM_meta_notify_active_resource=db:0 db:2",
      "OCF_RESKEY_CRM_meta_notify_active_uname=n1 n3",
      "OCF_RESKEY_CRM_meta_notify_promoted_resource= ",
      "OCF_RESKEY_CRM_meta_notify_promoted_uname= ",
      "OCF_RESKEY_CRM_meta_notify_master_resource= ",
      "OCF_RESKEY_CRM_meta_notify_master_uname= ",
      "OCF_RESKEY_CRM_meta_notify_unpromoted_resource=db:0 db:2",
      "OCF_RESKEY_CRM_meta_notify_unpromoted_uname=n1 n3",
      "OCF_RESKEY_CRM_meta_notify_slave_resource=db:0 db:2",
      "OCF_RESKEY_CRM_meta_notify_slave_uname=n1 n3",
      "OCF_RESKEY_CRM_meta_notify_inactive_resource=db:1",
      "OCF_RESKEY_CRM_meta_notify_all_uname=n1 n2 n3",
      "OCF_RESKEY_CRM_meta_notify_available_uname=n1 n2 n3",
  };
  EXPECT_EQ(env, expected);
  n.type = NotifyType::kPost;
  n.operation = NotifyOperation::kDemote;
  n.demote = {0};
  n.promote = {};
  n.promoted = {0};
  const auto post = ocf_notify_env(n, "db", names, {0, 1, 2});
  EXPECT_EQ(post[0], "OCF_RESKEY_CRM_meta_notify_type=post");
  EXPECT_EQ(post[1], "OCF_RESKEY_CRM_meta_notify_operation=demote");
  EXPECT_EQ(post[8], "OCF_RESKEY_CRM_meta_notify_demote_resource=db:0");
  EXPECT_EQ(post[12], "OCF_RESKEY_CRM_meta_notify_promoted_resource=db:0");
  EXPECT_EQ(post[17], "OCF_RESKEY_CRM_meta_notify_unpromoted_uname=n3");
}

TEST(OcfEnvironment, FollowsTheApi) {
  PrimitiveConfig p;
  p.id = "db";
  p.provider = "heartbeat";
  p.type = "Stateful";
  p.params["state"] = "/run/x";
  const auto s = ocf_spec(p, "monitor", 5s, 1s);
  EXPECT_EQ(s.program, "/usr/lib/ocf/resource.d/heartbeat/Stateful");
  EXPECT_EQ(s.args, std::vector<std::string>{"monitor"});
  for (const char* v :
       {"OCF_ROOT=/usr/lib/ocf", "OCF_RA_VERSION_MAJOR=1", "OCF_RESOURCE_INSTANCE=db",
        "OCF_RESOURCE_TYPE=Stateful", "OCF_RESOURCE_PROVIDER=heartbeat", "OCF_RESKEY_state=/run/x",
        "OCF_RESKEY_CRM_meta_timeout=5000", "OCF_RESKEY_CRM_meta_interval=1000"}) {
    EXPECT_NE(std::find(s.env.begin(), s.env.end(), v), s.env.end()) << v;
  }
}

}  // namespace
}  // namespace hactl
