// The guard's second half, with a real forked guard and a real exec-class script: resources
// the agent may run are stopped at the lease deadline + restart grace when the agent is gone
// and no new agent holds the lock, or when the agent has fallen silent; never while a live
// agent speaks, nor when a new agent is in charge.
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "resources/resource_guard.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class GuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hactl-guard-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const fs::path script = dir_ / "job.sh";
    std::ofstream(script) << "#!/bin/sh\n[ \"$1\" = stop ] && touch \"$HACTL_PARAM_dir/stopped\"\n"
                             "exit 0\n";
    fs::permissions(script, fs::perms::owner_all);
    PrimitiveConfig p;
    p.id = "job";
    p.cls = ResourceClass::kExec;
    p.type = script.string();
    p.params = {{"dir", dir_.string()}};
    p.stop.timeout = 5s;
    options_.resources.primitives = {p};
    options_.restart_grace = 100ms;
    options_.alive_window = 150ms;
    options_.lock_file = (dir_ / "agent.lock").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  ResourceGuard spawn() {
    auto g = ResourceGuard::spawn(options_);
    EXPECT_TRUE(g.has_value());
    return std::move(*g);
  }
  bool stopped() const { return fs::exists(dir_ / "stopped"); }
  bool wait_stopped(std::chrono::milliseconds within) const {
    const auto end = std::chrono::steady_clock::now() + within;
    while (!stopped() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
    return stopped();
  }
  // The guard exits by itself once nothing is left to do.
  static bool exits(pid_t pid) {
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) return true;
      std::this_thread::sleep_for(10ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return false;
  }

  fs::path dir_;
  GuardOptions options_;
};

TEST_F(GuardTest, AGoneAgentsResourcesAreStoppedAfterItsDeadlineAndGrace) {
  pid_t pid = 0;
  {
    ResourceGuard g = spawn();
    pid = g.pid();
    g.hold_resource("job");
    g.set_deadline(now_us() + 200'000);
  }  // the agent is gone: EOF
  EXPECT_FALSE(wait_stopped(150ms)) << "stopped before the deadline + grace";
  EXPECT_TRUE(wait_stopped(3s));
  EXPECT_TRUE(exits(pid));
}

// The deadline is a word in memory shared with the guard: a later one reaches it without a
// line (the guard looks when it wakes at the one it had), an earlier one wakes it at once.
TEST_F(GuardTest, TheGuardKeepsTheLatestDeadlineWithoutALineForIt) {
  pid_t pid = 0;
  {
    ResourceGuard g = spawn();
    pid = g.pid();
    g.hold_resource("job");
    g.set_deadline(now_us() + 100'000);
    std::this_thread::sleep_for(50ms);
    g.set_deadline(now_us() + 450'000);  // later: no line
  }  // the agent is gone: EOF, then the latest deadline + grace (550 ms from here)
  EXPECT_FALSE(wait_stopped(400ms)) << "stopped at the first deadline, not the latest";
  EXPECT_TRUE(wait_stopped(3s));
  EXPECT_TRUE(exits(pid));
}

TEST_F(GuardTest, AnEarlierDeadlineReachesTheGuardAtOnce) {
  ResourceGuard g = spawn();
  g.hold_resource("job");
  g.set_deadline(now_us() + 10'000'000);
  std::this_thread::sleep_for(20ms);  // the guard now sleeps towards 10 s + grace
  g.set_deadline(now_us());           // earlier: a line wakes it; the agent falls silent
  EXPECT_TRUE(wait_stopped(3s)) << "the guard slept on towards the first deadline";
  g.release_resource("job");
}

TEST_F(GuardTest, ANewAgentHoldingTheLockIsLeftInCharge) {
  const int lock = ::open(options_.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_EQ(::flock(lock, LOCK_EX | LOCK_NB), 0);
  pid_t pid = 0;
  {
    ResourceGuard g = spawn();
    pid = g.pid();
    g.hold_resource("job");
    g.set_deadline(now_us());
  }
  EXPECT_TRUE(exits(pid));
  EXPECT_FALSE(stopped());
  ::close(lock);
}

TEST_F(GuardTest, ASilentAgentsResourcesAreStoppedAndASpeakingOnesAreNot) {
  ResourceGuard g = spawn();
  g.hold_resource("job");
  g.set_deadline(now_us());  // the lease is over; the agent itself is stopping things
  for (int i = 0; i < 40; ++i) {
    g.keepalive();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(stopped()) << "stopped while the agent still speaks";
  EXPECT_TRUE(wait_stopped(3s)) << "not stopped after the agent fell silent";
  g.release_resource("job");
}

TEST_F(GuardTest, ReleasedResourcesAreNotStopped) {
  pid_t pid = 0;
  {
    ResourceGuard g = spawn();
    pid = g.pid();
    g.hold_resource("job");
    g.release_resource("job");
    g.set_deadline(now_us());
  }
  EXPECT_TRUE(exits(pid));
  EXPECT_FALSE(stopped());
}

// A configuration applied at run time reaches the guard as a file, parsed on a thread of the
// guard's at normal priority while it goes on watching: a resource only that file defines is
// still stopped when the agent goes at once after it (the parse is waited for, not skipped).
TEST_F(GuardTest, AResourceOnlyAReloadedFileDefinesIsStoppedToo) {
  const fs::path file = dir_ / "applied.yaml";
  std::ofstream(file) << "cluster:\n  name: c\n  auth_key_file: /etc/hactl/authkey\nnodes:\n"
                         "  - {name: n1, address: \"10.213.0.11:5405\"}\n"
                         "  - {name: n2, address: \"10.213.0.12:5405\"}\n"
                         "  - {name: n3, address: \"10.213.0.13:5405\"}\n"
                         "resources:\n  - id: fresh\n    type: exec:"
                      << (dir_ / "job.sh").string() << "\n    params: {dir: " << dir_.string()
                      << "}\n";
  pid_t pid = 0;
  {
    ResourceGuard g = spawn();
    pid = g.pid();
    g.reload_definitions(file.string());
    g.hold_resource("fresh");
    g.set_deadline(now_us() + 200'000);
  }  // the agent is gone: EOF
  EXPECT_TRUE(wait_stopped(3s));
  EXPECT_TRUE(exits(pid));
}

// The guard stops everything it holds at once, each resource within its own timeouts, as the
// agent's own lapse does: a resource's stop does not wait for the stops taken before it. Here
// the promotable OCF instance `db` (taken last, so stopped first one after another) stops only
// once `job` has been stopped: one after another it would give up (after 3 s, before its own
// timeout) and `job` would be stopped only after it. Its demote runs first, with hactl's
// Pacemaker commands told not to wait on the silent agent (HACTL_CRM_OFFLINE).
TEST_F(GuardTest, ResourcesAreStoppedAtOnceEachWithinItsOwnTimeouts) {
  const fs::path agent_dir = dir_ / "ocf" / "resource.d" / "test";
  fs::create_directories(agent_dir);
  const fs::path agent = agent_dir / "slow";
  std::ofstream(agent) << R"(#!/bin/sh
d="$OCF_RESKEY_dir"
case "$1" in
  demote) printf %s "$HACTL_CRM_OFFLINE" > "$d/demoted" ;;
  stop) i=0
    while [ ! -f "$d/stopped" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
    [ -f "$d/stopped" ] || exit 1
    [ -f "$d/demoted" ] && touch "$d/db-stopped" ;;
esac
exit 0
)";
  fs::permissions(agent, fs::perms::owner_all);
  PrimitiveConfig db;
  db.id = "db";
  db.cls = ResourceClass::kOcf;
  db.provider = "test";
  db.type = "slow";
  db.params = {{"dir", dir_.string()}};
  db.stop.timeout = 5s;
  db.demote.timeout = 5s;
  options_.resources.primitives.push_back(db);
  options_.resources.clones.push_back(CloneConfig{"db-clone", "db", std::nullopt, true, 1, false});
  options_.ocf.ocf_root = (dir_ / "ocf").string();
  pid_t pid = 0;
  {
    ResourceGuard g = spawn();
    pid = g.pid();
    g.hold_resource("job");
    g.hold_resource("db");
    g.set_deadline(now_us() + 100'000);
  }  // the agent is gone: EOF
  const auto end = std::chrono::steady_clock::now() + 8s;
  while (!fs::exists(dir_ / "db-stopped") && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(stopped());
  EXPECT_TRUE(fs::exists(dir_ / "db-stopped")) << "db's stop waited for job's, or ran undemoted";
  std::ifstream demoted(dir_ / "demoted");
  std::string why((std::istreambuf_iterator<char>(demoted)), std::istreambuf_iterator<char>());
  EXPECT_NE(why.find("silent or gone"), std::string::npos) << why;
  EXPECT_TRUE(exits(pid));
}

}  // namespace
}  // namespace hactl
