// The systemd class against a real systemd: PID 1 of a private PID + mount namespace with its
// own /run, /tmp and /var/tmp (docs: ../shared/GUIDE.md 2b), reached over its system bus.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "resources/executor.hpp"
#include "resources/host_facts.hpp"
#include "resources/resource_guard.hpp"

extern char** environ;

namespace hactl {
namespace {

using namespace std::chrono_literals;

class PrivateSystemd : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* script =
        "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /var/tmp "
        "&& "
        "mount -t proc proc /proc && exec /lib/systemd/systemd --system --unit=basic.target";
    const char* argv[] = {"unshare", "--pid", "--fork", "--mount", "--propagation",
                          "private", "sh",    "-c",     script,    nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    ASSERT_EQ(posix_spawnp(&unshare_, "unshare", &fa, nullptr, const_cast<char**>(argv), environ),
              0);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 200 && systemd_ <= 0; ++i) {
      std::ifstream children("/proc/" + std::to_string(unshare_) + "/task/" +
                             std::to_string(unshare_) + "/children");
      children >> systemd_;
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_GT(systemd_, 0) << "systemd did not start";
    root_ = "/proc/" + std::to_string(systemd_) + "/root";
    bool up = false;
    for (int i = 0; i < 150 && !up; ++i) {
      up = std::filesystem::exists(root_ + "/run/dbus/system_bus_socket") &&
           nsenter(
               "systemctl is-system-running --quiet || systemctl is-system-running | grep -q "
               "degraded");
      if (!up) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(up) << "the private systemd never finished booting";
    write_unit("hactl-ok.service", "[Service]\nExecStart=/bin/sleep 1000\n");
    write_unit("hactl-fail.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n");
    ASSERT_TRUE(nsenter("systemctl daemon-reload"));
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS",
             ("unix:path=" + root_ + "/run/dbus/system_bus_socket").c_str(), 1);
    uv_loop_init(&loop_);
    spawner_.emplace(&loop_);
  }

  void TearDown() override {
    executor_.reset();
    if (spawner_) spawner_->close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    spawner_.reset();
    uv_loop_close(&loop_);
    ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
    if (systemd_ > 0) ::kill(systemd_, SIGKILL);  // the whole namespace goes with it
    if (unshare_ > 0) ::waitpid(unshare_, nullptr, 0);
  }

  bool nsenter(const std::string& cmd) const {
    const std::string full =
        "nsenter -t " + std::to_string(systemd_) + " -m -p -- sh -c '" + cmd + "' >/dev/null 2>&1";
    return std::system(full.c_str()) == 0;
  }
  void write_unit(const std::string& name, const std::string& text) {
    std::ofstream(root_ + "/run/systemd/system/" + name) << text;
  }
  PrimitiveConfig unit(const std::string& id, const std::string& name) {
    PrimitiveConfig p;
    p.id = id;
    p.cls = ResourceClass::kSystemd;
    p.type = name;
    return p;
  }
  OpResult act(const std::string& rsc, const char* action) {
    std::optional<OpResult> got;
    if (!executor_) {
      executor_ =
          std::make_unique<Executor>(*spawner_, rc_, [this](const OpResult& r) { last_ = r; });
    }
    last_.reset();
    executor_->submit(OpRequest{++calls_, rsc, action, 10s});
    for (int i = 0; i < 2000 && !last_; ++i) uv_run(&loop_, UV_RUN_ONCE);
    EXPECT_TRUE(last_.has_value()) << rsc << " " << action << " never finished";
    return last_.value_or(OpResult{});
  }

  pid_t unshare_ = -1;
  pid_t systemd_ = -1;
  std::string root_;
  uv_loop_t loop_{};
  std::optional<Spawner> spawner_;
  ResourceConfig rc_;
  std::unique_ptr<Executor> executor_;
  std::optional<OpResult> last_;
  std::uint64_t calls_ = 0;
};

TEST_F(PrivateSystemd, StartMonitorStopAndAFailingUnit) {
  rc_.primitives = {unit("ok", "hactl-ok.service"), unit("bad", "hactl-fail.service"),
                    unit("none", "hactl-nope.service")};
  EXPECT_EQ(act("ok", "monitor").code, OcfCode::kNotRunning);
  const auto started = act("ok", "start");
  EXPECT_EQ(started.code, OcfCode::kSuccess) << started.output;
  EXPECT_EQ(act("ok", "monitor").code, OcfCode::kSuccess);
  EXPECT_TRUE(nsenter("systemctl is-active --quiet hactl-ok.service"));
  EXPECT_EQ(act("ok", "stop").code, OcfCode::kSuccess);
  EXPECT_EQ(act("ok", "monitor").code, OcfCode::kNotRunning);
  EXPECT_FALSE(nsenter("systemctl is-active --quiet hactl-ok.service"));
  const auto failed = act("bad", "start");
  EXPECT_EQ(failed.code, OcfCode::kErrGeneric);
  EXPECT_NE(failed.output.find("failed"), std::string::npos) << failed.output;
  EXPECT_EQ(act("bad", "monitor").code, OcfCode::kNotRunning);
  EXPECT_EQ(act("none", "stop").code, OcfCode::kSuccess);  // not there: stopped
  EXPECT_EQ(act("none", "start").code, OcfCode::kErrInstalled);
}

// A dead agent's guard stops the units it may have run, over the same D-Bus API.
TEST_F(PrivateSystemd, ADeadAgentsGuardStopsItsUnits) {
  rc_.primitives = {unit("ok", "hactl-ok.service")};
  GuardOptions o;
  o.resources = rc_;
  o.restart_grace = 100ms;
  o.lock_file = root_ + "/run/hactl-agent.lock";
  auto guard = ResourceGuard::spawn(o);
  ASSERT_TRUE(guard.has_value()) << guard.error();
  const pid_t pid = guard->pid();
  executor_ = std::make_unique<Executor>(*spawner_, rc_, [this](const OpResult& r) { last_ = r; });
  executor_->set_guard(&*guard);
  EXPECT_EQ(act("ok", "start").code, OcfCode::kSuccess);
  EXPECT_TRUE(nsenter("systemctl is-active --quiet hactl-ok.service"));
  guard->set_deadline(std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count());
  executor_.reset();
  *guard = ResourceGuard{};  // the agent's end of the pipe closes, as when it dies
  bool inactive = false;
  for (int i = 0; i < 100 && !inactive; ++i) {
    std::this_thread::sleep_for(100ms);
    inactive = !nsenter("systemctl is-active --quiet hactl-ok.service");
  }
  EXPECT_TRUE(inactive) << "the guard did not stop the unit";
  int status = 0;
  for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) != pid; ++i) {
    std::this_thread::sleep_for(50ms);
  }
}

// The host check asks systemd whether units exist (LoadState over D-Bus, from a thread that may
// block): one that is not started yet is found, a missing one is not-found, a masked one masked;
// with no bus to ask, one answer says so, fast, and systemd is not asked again.
TEST_F(PrivateSystemd, TheHostCheckAsksSystemdWhetherUnitsExist) {
  std::filesystem::create_symlink("/dev/null", root_ + "/run/systemd/system/hactl-masked.service");
  ASSERT_TRUE(nsenter("systemctl daemon-reload"));
  {
    const SystemHostFacts facts;
    EXPECT_EQ(facts.systemd_unit("hactl-ok.service").state, UnitState::kFound);
    EXPECT_EQ(facts.systemd_unit("hactl-nope.service").state, UnitState::kNotFound);
    const UnitCheck masked = facts.systemd_unit("hactl-masked.service");
    EXPECT_EQ(masked.state, UnitState::kMasked) << masked.detail;
  }
  EXPECT_FALSE(nsenter("systemctl is-active --quiet hactl-ok.service"));  // only looked at
  ::setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/hactl-test-bus", 1);
  const SystemHostFacts facts;
  const auto begin = std::chrono::steady_clock::now();
  const UnitCheck none = facts.systemd_unit("hactl-ok.service");
  EXPECT_EQ(none.state, UnitState::kUnknown);
  EXPECT_NE(none.detail, "");
  EXPECT_EQ(facts.systemd_unit("hactl-nope.service").detail, none.detail);  // not asked again
  EXPECT_LT(std::chrono::steady_clock::now() - begin, SystemHostFacts::kSystemdTimeout);
}

}  // namespace
}  // namespace hactl
