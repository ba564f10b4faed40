#include "resources/process_runner.hpp"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "common/assert.hpp"
#include "common/limits.hpp"
#include "resources/realtime.hpp"

namespace hactl {

void ProcessHandle::kill_group() const {
  if (!exited_ && pid_ > 0) ::kill(-pid_, SIGKILL);
}

struct ProcessJobAccess {
  static void started(ProcessHandle& h, pid_t pid) {
    h.pid_ = pid;
    h.exited_ = false;
  }
  static void exited(ProcessHandle& h) { h.exited_ = true; }
};

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::uint64_t kDrainMs = 100;  // after exit, how long to wait for the pipes to close

std::uint64_t to_ms(Duration d) {
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(1, duration_cast<milliseconds>(d).count()));
}

// One running process: owns its handles, deletes itself after the last one closed.
struct Job {
  uv_loop_t* loop = nullptr;
  ProcessSpec spec;
  ProcessDone done;
  uv_process_t process{};
  uv_pipe_t in{}, out{}, err{};
  uv_write_t write_req{};
  uv_shutdown_t shutdown_req{};
  bool has_input = false;
  bool via_chrt = false;  // exec'd through chrt (a realtime caller)
  uv_timer_t timer{};
  std::string captured_out, captured_err;
  ProcessResult result;
  std::uint64_t started_ns = 0;
  int open_handles = 0;
  int open_pipes = 0;
  bool exited = false;
  bool timed_out = false;
  bool killed = false;
  bool reported = false;
  std::weak_ptr<ProcessHandle> control;  // the caller's handle

  void close(uv_handle_t* h) {
    if (uv_is_closing(h) != 0) return;
    uv_close(h, [](uv_handle_t* handle) {
      auto* job = static_cast<Job*>(handle->data);
      if (--job->open_handles == 0) delete job;
    });
  }

  void report() {
    if (reported) return;
    reported = true;
    result.took = Duration{static_cast<Duration::rep>((uv_hrtime() - started_ns) / 1000)};
    std::string all = captured_out + captured_err;
    if (all.size() > limits::kMaxCapturedOutput)
      all.erase(0, all.size() - limits::kMaxCapturedOutput);
    result.output = std::move(all);
    if (via_chrt) recognise_chrt_exec_failure();
    uv_timer_stop(&timer);
    close(reinterpret_cast<uv_handle_t*>(&timer));
    if (has_input) close(reinterpret_cast<uv_handle_t*>(&in));
    close(reinterpret_cast<uv_handle_t*>(&out));
    close(reinterpret_cast<uv_handle_t*>(&err));
    close(reinterpret_cast<uv_handle_t*>(&process));
    done(result);
  }

  // The program was exec'd by `chrt --other 0`: when chrt could not exec it, chrt exits 126
  // (not executable) or 127 (not found) with "chrt: failed to execute PROGRAM: REASON" as its
  // only output, and that is the same exec failure a direct spawn reports.
  void recognise_chrt_exec_failure() {
    if (result.ended != ProcessResult::Ended::kExited) return;
    if (result.exit_code != 126 && result.exit_code != 127) return;
    const std::string prefix = "chrt: ";
    if (captured_err.rfind(prefix, 0) != 0 || !captured_out.empty()) return;
    if (captured_err.find(spec.program) == std::string::npos) return;
    std::string reason = captured_err;
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r')) reason.pop_back();
    const auto colon = reason.rfind(": ");
    reason = colon == std::string::npos ? reason.substr(prefix.size()) : reason.substr(colon + 2);
    result.ended = ProcessResult::Ended::kExecFailed;
    result.error = "cannot run " + spec.program + ": " + reason;
  }

  void kill_group(int sig) {
    // The child leads its own process group (UV_PROCESS_DETACHED -> setsid).
    ::kill(-process.pid, sig);
  }

  void on_timer() {
    if (exited) return report();  // drain period over
    if (!timed_out) {
      timed_out = true;
      kill_group(SIGTERM);
      uv_timer_start(
          &timer, [](uv_timer_t* t) { static_cast<Job*>(t->data)->on_timer(); },
          to_ms(spec.kill_grace), 0);
      return;
    }
    killed = true;
    kill_group(SIGKILL);
  }

  void on_exit(int64_t status, int term_signal) {
    exited = true;
    if (auto h = control.lock()) ProcessJobAccess::exited(*h);
    if (timed_out) {
      result.ended = ProcessResult::Ended::kTimedOut;
      kill_group(SIGKILL);  // whatever of the group is left
    } else if (term_signal != 0) {
      result.ended = ProcessResult::Ended::kSignaled;
    } else {
      result.ended = ProcessResult::Ended::kExited;
    }
    result.exit_code = static_cast<int>(status);
    result.signal = term_signal;
    if (open_pipes == 0) return report();
    uv_timer_stop(&timer);
    uv_timer_start(
        &timer, [](uv_timer_t* t) { static_cast<Job*>(t->data)->on_timer(); }, kDrainMs, 0);
  }

  void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    std::string& sink = s == reinterpret_cast<uv_stream_t*>(&out) ? captured_out : captured_err;
    if (n > 0) {
      sink.append(buf->base, static_cast<std::size_t>(n));
      // Keep only the tail: an agent that floods its output cannot grow our memory.
      if (sink.size() > 2 * limits::kMaxCapturedOutput)
        sink.erase(0, sink.size() - limits::kMaxCapturedOutput);
    }
    delete[] buf->base;
    if (n < 0) {
      uv_read_stop(s);
      --open_pipes;
      if (exited && open_pipes == 0) report();
    }
  }

  // Hands the input to the child and closes its standard input after it. A child that exits
  // without reading it fails the write (EPIPE; SIGPIPE is ignored by the agent): its exit says
  // what happened.
  void write_input() {
    auto buf = uv_buf_init(spec.input->data(), static_cast<unsigned>(spec.input->size()));
    auto* stream = reinterpret_cast<uv_stream_t*>(&in);
    const int rc = uv_write(&write_req, stream, &buf, 1, [](uv_write_t* req, int status) {
      if (status != 0) return;
      auto* job = static_cast<Job*>(req->handle->data);
      uv_shutdown(&job->shutdown_req, req->handle, [](uv_shutdown_t* s, int) {
        auto* j = static_cast<Job*>(s->handle->data);
        j->close(reinterpret_cast<uv_handle_t*>(&j->in));
      });
    });
    if (rc != 0) close(reinterpret_cast<uv_handle_t*>(&in));
  }
};

void start_reading(uv_pipe_t* pipe) {
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* b) {
        *b = uv_buf_init(new char[suggested], static_cast<unsigned>(suggested));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        static_cast<Job*>(s->data)->on_read(s, n, b);
      });
}

constexpr const char* kChrt = kChrtPath;

bool chrt_usable() {
  static const bool usable = ::access(kChrt, X_OK) == 0;
  return usable;
}

bool caller_is_realtime() {
  const int policy = ::sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
  return policy == SCHED_RR || policy == SCHED_FIFO;
}

}  // namespace

std::string_view to_string(ProcessResult::Ended e) {
  switch (e) {
    case ProcessResult::Ended::kExited:
      return "exited";
    case ProcessResult::Ended::kTimedOut:
      return "timed_out";
    case ProcessResult::Ended::kSignaled:
      return "signaled";
    case ProcessResult::Ended::kExecFailed:
      return "exec_failed";
  }
  return "unknown";
}

SpawnPacer::SpawnPacer(uv_loop_t* loop, Duration budget) : idle_(new uv_idle_t{}), budget_(budget) {
  uv_idle_init(loop, idle_);
  idle_->data = this;
}

SpawnPacer::~SpawnPacer() { close(); }

void SpawnPacer::close() {
  if (closed_) return;
  closed_ = true;
  while (!queue_.empty()) {
    auto spawn = std::move(queue_.front());
    queue_.pop_front();
    spawn();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(idle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
}

void SpawnPacer::submit(std::function<void()> spawn) {
  if (closed_) {
    spawn();
    return;
  }
  queue_.push_back(std::move(spawn));
  // An idle handle runs once per loop pass (a timer re-armed at 0 would run again in the same
  // timer phase, before any socket is read), and keeps the loop from blocking in its poll.
  if (queue_.size() == 1) {
    uv_idle_start(idle_, [](uv_idle_t* h) { static_cast<SpawnPacer*>(h->data)->drain(); });
  }
}

void SpawnPacer::drain() {
  const std::uint64_t until =
      uv_hrtime() + static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(budget_).count());
  // At least one per pass, however slow, so the queue always moves.
  do {
    auto spawn = std::move(queue_.front());
    queue_.pop_front();
    spawn();
  } while (!queue_.empty() && uv_hrtime() < until);
  if (queue_.empty()) uv_idle_stop(idle_);
}

namespace {

// Spawns a prepared job (run_process); its timeout counts from here.
void spawn_job(Job* job, const std::shared_ptr<ProcessHandle>& handle);

}  // namespace

std::shared_ptr<ProcessHandle> run_process(uv_loop_t* loop, const ProcessSpec& spec,
                                           ProcessDone done, SpawnPacer* pacer) {
  auto handle = std::make_shared<ProcessHandle>();
  auto* job = new Job;
  job->loop = loop;
  job->spec = spec;
  job->done = std::move(done);
  if (pacer != nullptr) {
    pacer->submit([job, handle] { spawn_job(job, handle); });
  } else {
    spawn_job(job, handle);
  }
  return handle;
}

namespace {

// The job's pipes and timer, and the child's standard streams: input from the caller or
// /dev/null, output and error captured.
void init_handles(Job* job, uv_stdio_container_t (&stdio)[3]) {
  uv_loop_t* loop = job->loop;
  job->has_input = job->spec.input.has_value();
  for (auto* h :
       {reinterpret_cast<uv_handle_t*>(&job->in), reinterpret_cast<uv_handle_t*>(&job->out),
        reinterpret_cast<uv_handle_t*>(&job->err), reinterpret_cast<uv_handle_t*>(&job->timer),
        reinterpret_cast<uv_handle_t*>(&job->process)}) {
    h->data = job;
  }
  uv_pipe_init(loop, &job->out, 0);
  uv_pipe_init(loop, &job->err, 0);
  uv_timer_init(loop, &job->timer);
  job->open_handles = 3;
  stdio[0].flags = UV_IGNORE;
  if (job->has_input) {
    uv_pipe_init(loop, &job->in, 0);
    ++job->open_handles;
    stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&job->in);
  }
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&job->out);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&job->err);
}

void spawn_job(Job* job, const std::shared_ptr<ProcessHandle>& handle) {
  uv_loop_t* loop = job->loop;
  const ProcessSpec& spec = job->spec;
  job->started_ns = uv_hrtime();
  uv_stdio_container_t stdio[3];
  init_handles(job, stdio);

  // A realtime caller (the agent's loop, resources/realtime.hpp) keeps its policy across fork:
  // uv_spawn waits (reading a pipe) until the child has exec'd, and a child at normal priority
  // may wait 100 ms and more for a CPU on a loaded machine, with the loop blocked. So the child
  // stays realtime just long enough to exec chrt, which puts it back to SCHED_OTHER and execs
  // the program. A program that cannot be run is spawned directly, so that uv_spawn reports it
  // as before (an exec failure, not chrt's exit code).
  // Nothing here touches the disk on the loop: whether chrt can be run is asked once per
  // process, and a program chrt cannot exec is recognised from chrt's own exit (126 or 127 and
  // its message) when the job ends, not by looking the program up first (an access() of the
  // program stalled the loop 56 ms in a path lookup under disk load, tests/integration/
  // test_load.py).
  const bool via_chrt = caller_is_realtime() && chrt_usable();
  job->via_chrt = via_chrt;
  std::vector<char*> argv;
  if (via_chrt) {
    for (const char* a : {kChrt, "--other", "0"}) argv.push_back(const_cast<char*>(a));
  }
  argv.push_back(const_cast<char*>(spec.program.c_str()));
  for (const auto& a : job->spec.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : job->spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  uv_process_options_t opts{};
  opts.file = argv[0];
  opts.args = argv.data();
  opts.env = envp.data();
  opts.cwd = "/";
  opts.flags = UV_PROCESS_DETACHED;
  opts.stdio_count = 3;
  opts.stdio = stdio;
  opts.exit_cb = [](uv_process_t* p, int64_t status, int sig) {
    static_cast<Job*>(p->data)->on_exit(status, sig);
  };
  const int rc = uv_spawn(loop, &job->process, &opts);
  ++job->open_handles;  // uv_spawn initialises the handle even when it fails
  if (rc != 0) {
    job->result.ended = ProcessResult::Ended::kExecFailed;
    job->result.error = "cannot run " + spec.program + ": " + uv_strerror(rc);
    job->report();
    return;
  }
  ProcessJobAccess::started(*handle, job->process.pid);
  job->control = handle;
  job->open_pipes = 2;
  if (job->has_input) job->write_input();
  start_reading(&job->out);
  start_reading(&job->err);
  uv_timer_start(
      &job->timer, [](uv_timer_t* t) { static_cast<Job*>(t->data)->on_timer(); },
      to_ms(spec.timeout), 0);
}

}  // namespace

}  // namespace hactl
