// Runs one resource-agent process for the agent's libuv loop, never blocking it (Pacemaker's
// lib/services, keepalived's notify.c): the child gets its own session and process group, a
// clean environment built by the caller, /dev/null as stdin (or the caller's input, for a fence
// agent's name=value arguments) and bounded capture of stdout and stderr. On timeout the whole
// group gets SIGTERM, then SIGKILL after a grace period, so an agent that forked helpers cannot
// leave them behind. A result says how the call ended and, when it exited, with which code.
//
// The fork and exec happen on a Spawner's threads, not on the loop: posix_spawn returns only
// once the child has exec'd, and an exec can wait for the disk (a program or its libraries read
// back in under memory pressure, a path on a slow file system: 174 ms seen under load, which
// cost a node its lease, tests/integration/test_load.py). The loop gets the child's PID, a
// pidfd that says when it exits and the pipes of its output, and does the rest itself.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/types.hpp"

namespace hactl {

struct ProcessSpec {
  std::string program;            // absolute path
  std::vector<std::string> args;  // without argv[0]
  std::vector<std::string> env;   // "NAME=value", the child's whole environment
  // Written to the child's standard input, which is then closed; without it, /dev/null.
  std::optional<std::string> input;
  Duration timeout = std::chrono::seconds{20};
  Duration kill_grace = std::chrono::seconds{5};  // SIGTERM to SIGKILL
};

struct ProcessResult {
  enum class Ended {
    kExited,      // ran to completion: see exit_code
    kTimedOut,    // killed for running past its timeout
    kSignaled,    // killed by a signal nobody here sent
    kExecFailed,  // could not be started (missing, not executable, ...)
  };
  Ended ended = Ended::kExecFailed;
  int exit_code = -1;
  int signal = 0;
  std::string output;  // stdout then stderr, the last limits::kMaxCapturedOutput bytes
  std::string error;   // why it could not be started
  Duration took{0};
};
std::string_view to_string(ProcessResult::Ended e);

using ProcessDone = std::function<void(const ProcessResult&)>;

// Starts the process; `done` runs exactly once, on the loop (also when the start fails). There
// is no way to abandon a run: every call reaches a result, so a stop never ends half way.
// The returned handle lets the caller kill the child's process group early (a recurring
// monitor cancelled for a stop); `done` still runs, with how it ended.
class ProcessHandle {
 public:
  // SIGKILL to the child's group, if the child has not been reaped yet (the loop reaps it, so
  // its PID cannot have been reused). Asked before the child has started, it is killed as soon
  // as it has.
  void kill_group();

 private:
  friend struct ProcessJobAccess;
  pid_t pid_ = 0;
  bool started_ = false;
  bool ended_ = false;
  bool kill_wanted_ = false;
};

struct SpawnRequest;  // one start, handed between the loop and a spawning thread

struct SpawnerOptions {
  std::size_t threads = 2;  // one exec stuck on a hung file system does not hold up the next
  // Runs on the spawning thread before each spawn (tests make a spawn slow with it).
  std::function<void()> before_each_spawn;
};

// Starts processes for one loop on threads of its own and hands each child back to the loop
// through an eventfd the loop polls (not a uv_async: see agent/request_worker.hpp). Its threads
// run at normal priority, so a realtime loop's children do too.
class Spawner {
 public:
  explicit Spawner(uv_loop_t* loop, SpawnerOptions options = {});
  ~Spawner();  // waits for spawns under way; children nobody can take any more are killed
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;
  uv_loop_t* loop() const { return loop_; }
  // Starts under way still reach the loop; once they have, the threads end and what is
  // started later is started on the loop itself (the agent is stopping).
  void close();
  // Started on a thread, not yet handed back to the loop.
  std::size_t pending() const { return pending_; }

 private:
  friend std::shared_ptr<ProcessHandle> run_process(Spawner&, const ProcessSpec&, ProcessDone);
  struct Shared;
  struct Waker;  // the eventfd and its uv_poll; on the heap, deleted after its close
  void submit(std::shared_ptr<SpawnRequest> request);
  void take_spawned();  // on the loop
  void finish();

  uv_loop_t* loop_;
  std::shared_ptr<Shared> shared_;
  Waker* waker_;
  std::vector<std::thread> threads_;
  std::size_t pending_ = 0;
  bool closing_ = false;
  bool finished_ = false;
};

// The process's timeout counts from this call, so it includes the wait for its exec.
std::shared_ptr<ProcessHandle> run_process(Spawner& spawner, const ProcessSpec& spec,
                                           ProcessDone done);

}  // namespace hactl
