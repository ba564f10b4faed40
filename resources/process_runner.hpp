// Runs one resource-agent process on the agent's libuv loop, never blocking it (Pacemaker's
// lib/services, keepalived's notify.c): the child gets its own session and process group, a
// clean environment built by the caller, /dev/null as stdin (or the caller's input, for a fence
// agent's name=value arguments) and bounded capture of stdout and stderr. On timeout the whole
// group gets SIGTERM, then SIGKILL after a grace period, so an agent that forked helpers cannot
// leave them behind. A result says how the call ended and, when it exited, with which code.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
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
  // SIGKILL to the child's group, if the child has not exited yet (libuv reaps a child and
  // reports its exit in one step, so its PID cannot have been reused).
  void kill_group() const;

 private:
  friend struct ProcessJobAccess;
  pid_t pid_ = 0;
  bool exited_ = true;
};
// Spawns a loop's processes a few milliseconds' worth per loop pass. uv_spawn holds the loop
// until the child has exec'd: about 2 ms each for the agent's locked memory (up to 19 ms seen),
// so the 100 probes of a 100-resource node at start held its loop 200 ms and more in one pass,
// and five such agents on one host lost their leases over and over
// (bench/coordinator_loss.py). What the budget leaves waits for the next pass, in order, after
// the loop has read its sockets and run its timers.
class SpawnPacer {
 public:
  explicit SpawnPacer(uv_loop_t* loop, Duration budget = std::chrono::milliseconds{4});
  ~SpawnPacer();
  SpawnPacer(const SpawnPacer&) = delete;
  SpawnPacer& operator=(const SpawnPacer&) = delete;
  void submit(std::function<void()> spawn);
  std::size_t queued() const { return queue_.size(); }
  // Spawns what is left at once and stops pacing (the agent is stopping: every call must
  // still reach a result).
  void close();

 private:
  void drain();
  uv_idle_t* idle_;  // runs once per loop pass while spawns wait; deleted after its close
  Duration budget_;
  std::deque<std::function<void()>> queue_;
  bool closed_ = false;
};

// With a pacer, the process is spawned when the pacer's budget allows (its timeout counts from
// then); the handle is returned at once and kills nothing before that.
std::shared_ptr<ProcessHandle> run_process(uv_loop_t* loop, const ProcessSpec& spec,
                                           ProcessDone done, SpawnPacer* pacer = nullptr);

}  // namespace hactl
