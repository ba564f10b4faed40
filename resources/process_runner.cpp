#include "resources/process_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>

#include "common/assert.hpp"
#include "common/limits.hpp"
#include "resources/realtime.hpp"

namespace hactl {

void ProcessHandle::kill_group() {
  if (ended_) return;
  if (started_) {
    ::kill(-pid_, SIGKILL);
  } else {
    kill_wanted_ = true;
  }
}

struct ProcessJobAccess {
  static void started(ProcessHandle& h, pid_t pid) {
    h.pid_ = pid;
    h.started_ = true;
  }
  static void ended(ProcessHandle& h) { h.ended_ = true; }
  static bool kill_wanted(const ProcessHandle& h) { return h.kill_wanted_; }
};

// What a spawning thread is asked to start and what it hands back: the child's PID, a pidfd
// that becomes readable when it exits, and the parent's ends of its pipes (close-on-exec).
struct SpawnRequest {
  std::string program;
  std::vector<std::string> args;
  std::vector<std::string> env;
  bool with_input = false;
  pid_t pid = -1;
  int pidfd = -1, in = -1, out = -1, err = -1;
  int error = 0;            // errno of the failure, 0 when the child runs
  std::string failed_call;  // which call failed; empty for posix_spawn (the exec itself)
  std::function<void(SpawnRequest&)> on_spawned;  // on the loop
};

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::uint64_t kDrainMs = 100;  // after exit, how long to wait for the pipes to close

std::uint64_t to_ms(Duration d) {
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(1, duration_cast<milliseconds>(d).count()));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void close_parent_ends(SpawnRequest& r) {
  close_fd(r.in);
  close_fd(r.out);
  close_fd(r.err);
}

// A child that was started but that nobody takes (its job timed out before, or the spawner is
// gone): its group is killed and the child reaped, here, off the loop.
void kill_and_reap(SpawnRequest& r) {
  if (r.pid <= 0) return;
  ::kill(-r.pid, SIGKILL);
  ::waitpid(r.pid, nullptr, 0);
  close_fd(r.pidfd);
  close_parent_ends(r);
}

// The file actions and attributes of every child: its own session (setsid), stdin from the
// caller's pipe or /dev/null, stdout and stderr into pipes, "/" as its directory, no signal
// blocked and every signal at its default (the agent ignores SIGPIPE; a child must not).
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  SpawnSetup(int in, int out, int err) {
    posix_spawn_file_actions_init(&actions);
    if (in >= 0) {
      posix_spawn_file_actions_adddup2(&actions, in, 0);
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&actions, out, 1);
    posix_spawn_file_actions_adddup2(&actions, err, 2);
    posix_spawn_file_actions_addchdir_np(&actions, "/");
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// Starts the child and waits for its exec: on a spawning thread, or on the loop once the
// spawner has closed.
void spawn_now(SpawnRequest& r) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      (r.with_input && ::pipe2(in, O_CLOEXEC) != 0)) {
    r.error = errno;
    r.failed_call = "pipe2";
    for (int* fd : {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1]}) close_fd(*fd);
    return;
  }
  std::vector<char*> argv{const_cast<char*>(r.program.c_str())};
  for (const auto& a : r.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : r.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int rc = 0;
  {
    SpawnSetup setup(in[0], out[1], err[1]);
    rc = ::posix_spawn(&r.pid, r.program.c_str(), &setup.actions, &setup.attr, argv.data(),
                       envp.data());
  }
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  r.in = in[1];
  r.out = out[0];
  r.err = err[0];
  if (rc != 0) {  // glibc reports the exec's own failure here, and has reaped that child
    r.error = rc;
    r.pid = -1;
    close_parent_ends(r);
    return;
  }
  // The system call itself: glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++ callers.
  r.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, r.pid, 0));
  if (r.pidfd < 0) {
    r.error = errno;
    r.failed_call = "pidfd_open";
    kill_and_reap(r);
    r.pid = -1;
  }
}

// One running process: owns its handles, deletes itself after the last one closed and once
// its spawn has come back.
struct Job {
  uv_loop_t* loop = nullptr;
  ProcessSpec spec;
  ProcessDone done;
  std::weak_ptr<ProcessHandle> control;  // the caller's handle
  uv_timer_t timer{};
  uv_poll_t exit_poll{};  // the child's pidfd
  uv_pipe_t in{}, out{}, err{};
  uv_write_t write_req{};
  uv_shutdown_t shutdown_req{};
  pid_t pid = 0;
  int pidfd = -1;
  std::string captured_out, captured_err;
  ProcessResult result;
  std::uint64_t started_ns = 0;
  int open_handles = 0;
  int open_pipes = 0;
  bool spawn_pending = true;
  bool pipes_open = false;
  bool has_input = false;
  bool reaped = false;
  bool exited = false;
  bool timed_out = false;
  bool reported = false;

  static void handle_closed(uv_handle_t* handle) {
    auto* job = static_cast<Job*>(handle->data);
    --job->open_handles;
    job->delete_if_done();
  }
  void delete_if_done() {
    if (open_handles == 0 && !spawn_pending) delete this;
  }
  void close(uv_handle_t* h) {
    if (uv_is_closing(h) == 0) uv_close(h, &Job::handle_closed);
  }

  void report() {
    if (reported) return;
    reported = true;
    result.took = Duration{static_cast<Duration::rep>((uv_hrtime() - started_ns) / 1000)};
    std::string all = captured_out + captured_err;
    if (all.size() > limits::kMaxCapturedOutput)
      all.erase(0, all.size() - limits::kMaxCapturedOutput);
    result.output = std::move(all);
    uv_timer_stop(&timer);
    close(reinterpret_cast<uv_handle_t*>(&timer));
    if (pipes_open) {
      if (has_input) close(reinterpret_cast<uv_handle_t*>(&in));
      close(reinterpret_cast<uv_handle_t*>(&out));
      close(reinterpret_cast<uv_handle_t*>(&err));
    }
    if (auto h = control.lock(); h && (spawn_pending || pid <= 0)) ProcessJobAccess::ended(*h);
    done(result);
  }

  // The child leads its own process group (setsid); its PID is ours until it is reaped.
  void kill_group(int sig) const {
    if (pid > 0 && !reaped) ::kill(-pid, sig);
  }

  void on_timer() {
    if (spawn_pending) {  // its exec has not finished in all that time
      timed_out = true;
      result.ended = ProcessResult::Ended::kTimedOut;
      result.error =
          "not started within the timeout: the exec of " + spec.program + " did not finish";
      return report();
    }
    if (exited) return report();  // drain period over
    if (!timed_out) {
      timed_out = true;
      kill_group(SIGTERM);
      uv_timer_start(
          &timer, [](uv_timer_t* t) { static_cast<Job*>(t->data)->on_timer(); },
          to_ms(spec.kill_grace), 0);
      return;
    }
    kill_group(SIGKILL);
  }

  void on_spawned(SpawnRequest& r);
  void open_pipes_of(SpawnRequest& r);
  void on_pidfd();
  void on_exit(int status);

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

void Job::on_spawned(SpawnRequest& r) {
  spawn_pending = false;
  if (r.error != 0) {
    if (!reported) {
      result.ended = ProcessResult::Ended::kExecFailed;
      result.error = "cannot run " + spec.program + ": " +
                     (r.failed_call.empty() ? "" : r.failed_call + ": ") + std::strerror(r.error);
      report();
    }
    return delete_if_done();
  }
  pid = r.pid;
  pidfd = std::exchange(r.pidfd, -1);
  exit_poll.data = this;
  uv_poll_init(loop, &exit_poll, pidfd);
  ++open_handles;
  uv_poll_start(&exit_poll, UV_READABLE,
                [](uv_poll_t* p, int, int) { static_cast<Job*>(p->data)->on_pidfd(); });
  const auto handle = control.lock();
  if (reported || (handle && ProcessJobAccess::kill_wanted(*handle))) kill_group(SIGKILL);
  if (reported) return close_parent_ends(r);  // reaped when its pidfd says it has exited
  if (handle) ProcessJobAccess::started(*handle, pid);
  open_pipes_of(r);
}

void Job::open_pipes_of(SpawnRequest& r) {
  has_input = r.in >= 0;
  for (auto [pipe, fd] :
       {std::pair{&out, &r.out}, std::pair{&err, &r.err}, std::pair{&in, &r.in}}) {
    if (*fd < 0) continue;
    pipe->data = this;
    uv_pipe_init(loop, pipe, 0);
    uv_pipe_open(pipe, std::exchange(*fd, -1));
    ++open_handles;
  }
  pipes_open = true;
  open_pipes = 2;
  if (has_input) write_input();
  start_reading(&out);
  start_reading(&err);
}

void Job::on_pidfd() {
  // What is left of its group goes before the leader is reaped (a reaped PID can be reused).
  if (timed_out || reported) kill_group(SIGKILL);
  int status = 0;
  const pid_t got = ::waitpid(pid, &status, WNOHANG);
  if (got == 0 || (got < 0 && errno == EINTR)) return;  // not exited after all
  reaped = true;
  if (auto h = control.lock()) ProcessJobAccess::ended(*h);
  uv_poll_stop(&exit_poll);
  // The pidfd is closed only after the handle (libuv drops the descriptor from epoll on close).
  uv_close(reinterpret_cast<uv_handle_t*>(&exit_poll), [](uv_handle_t* handle) {
    auto* job = static_cast<Job*>(handle->data);
    close_fd(job->pidfd);
    handle_closed(handle);
  });
  if (reported) return;
  if (got < 0) {  // someone else reaped it (SIGCHLD ignored?): how it ended is unknown
    result.error = std::string("cannot learn how it ended: waitpid: ") + std::strerror(errno);
    status = SIGKILL;  // reported as killed: not a success
  }
  on_exit(status);
}

void Job::on_exit(int status) {
  exited = true;
  if (timed_out) {
    result.ended = ProcessResult::Ended::kTimedOut;
  } else if (WIFSIGNALED(status)) {
    result.ended = ProcessResult::Ended::kSignaled;
  } else {
    result.ended = ProcessResult::Ended::kExited;
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (open_pipes == 0) return report();
  uv_timer_stop(&timer);
  uv_timer_start(
      &timer, [](uv_timer_t* t) { static_cast<Job*>(t->data)->on_timer(); }, kDrainMs, 0);
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

// Shared by the loop and the spawning threads, under `mu`.
struct Spawner::Shared {
  std::mutex mu;
  std::condition_variable wake;
  std::deque<std::shared_ptr<SpawnRequest>> to_start;
  std::deque<std::shared_ptr<SpawnRequest>> spawned;
  bool stopping = false;   // threads end once `to_start` is empty
  bool abandoned = false;  // nobody takes children any more: kill them
  int wake_fd = -1;        // the loop's eventfd, closed only after the threads have ended
  std::function<void()> before_each_spawn;

  void run() {
    leave_realtime();  // started by a realtime loop: its children must not inherit that
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);  // signals are the loop's
    for (;;) {
      std::unique_lock lock(mu);
      wake.wait(lock, [&] { return stopping || !to_start.empty(); });
      if (to_start.empty()) return;
      auto r = std::move(to_start.front());
      to_start.pop_front();
      const bool skip = abandoned;
      lock.unlock();
      if (!skip) {
        if (before_each_spawn) before_each_spawn();
        spawn_now(*r);
      }
      lock.lock();
      if (abandoned) {
        lock.unlock();
        kill_and_reap(*r);
        continue;
      }
      spawned.push_back(std::move(r));
      lock.unlock();
      const std::uint64_t one = 1;  // one write(2): nothing waits on this thread
      [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof one);
    }
  }
};

struct Spawner::Waker {
  uv_poll_t poll{};
  int fd = -1;
  Spawner* owner = nullptr;
  static void close(Waker* w) {
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), [](uv_handle_t* h) {
      auto* waker = static_cast<Waker*>(h->data);
      ::close(waker->fd);
      delete waker;
    });
  }
};

Spawner::Spawner(uv_loop_t* loop, SpawnerOptions options)
    : loop_(loop), shared_(std::make_shared<Shared>()), waker_(new Waker) {
  HACTL_ASSERT(options.threads > 0);
  waker_->fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  HACTL_ASSERT(waker_->fd >= 0);
  HACTL_ASSERT(uv_poll_init(loop, &waker_->poll, waker_->fd) == 0);
  waker_->poll.data = waker_;
  waker_->owner = this;
  uv_poll_start(&waker_->poll, UV_READABLE, [](uv_poll_t* h, int, int) {
    auto* w = static_cast<Waker*>(h->data);
    std::uint64_t count = 0;
    while (::read(w->fd, &count, sizeof count) > 0) {
    }
    w->owner->take_spawned();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(&waker_->poll));  // referenced while starts are under way
  shared_->wake_fd = waker_->fd;
  shared_->before_each_spawn = std::move(options.before_each_spawn);
  for (std::size_t i = 0; i < options.threads; ++i) {
    threads_.emplace_back([shared = shared_] { shared->run(); });
  }
}

Spawner::~Spawner() {
  if (finished_) return;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
    shared_->abandoned = true;
  }
  shared_->wake.notify_all();
  for (auto& t : threads_) t.join();
  for (auto& r : shared_->spawned) kill_and_reap(*r);
  Waker::close(waker_);
}

void Spawner::close() {
  closing_ = true;
  if (pending_ == 0 && !finished_) finish();
}

void Spawner::finish() {
  finished_ = true;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
  }
  shared_->wake.notify_all();
  for (auto& t : threads_) t.join();
  take_spawned();  // whatever came back between the last wake-up and the threads' end
  Waker::close(waker_);
}

void Spawner::submit(std::shared_ptr<SpawnRequest> request) {
  if (finished_) {  // stopping: started here, on the loop
    spawn_now(*request);
    request->on_spawned(*request);
    return;
  }
  // The loop stays alive while a start is under way (a timed-out job has no handle left, and
  // its late child must still be killed and reaped).
  if (pending_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&waker_->poll));
  {
    std::lock_guard lock(shared_->mu);
    shared_->to_start.push_back(std::move(request));
  }
  shared_->wake.notify_one();
}

void Spawner::take_spawned() {
  std::deque<std::shared_ptr<SpawnRequest>> batch;
  {
    std::lock_guard lock(shared_->mu);
    batch.swap(shared_->spawned);
  }
  for (auto& r : batch) {
    HACTL_ASSERT(pending_ > 0);
    if (--pending_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&waker_->poll));
    r->on_spawned(*r);
  }
  if (closing_ && pending_ == 0 && !finished_) finish();
}

std::shared_ptr<ProcessHandle> run_process(Spawner& spawner, const ProcessSpec& spec,
                                           ProcessDone done) {
  auto handle = std::make_shared<ProcessHandle>();
  auto* job = new Job;
  job->loop = spawner.loop();
  job->spec = spec;
  job->done = std::move(done);
  job->control = handle;
  job->started_ns = uv_hrtime();
  job->timer.data = job;
  uv_timer_init(job->loop, &job->timer);
  job->open_handles = 1;
  uv_timer_start(
      &job->timer, [](uv_timer_t* t) { static_cast<Job*>(t->data)->on_timer(); },
      to_ms(spec.timeout), 0);
  auto request = std::make_shared<SpawnRequest>();
  request->program = spec.program;
  request->args = spec.args;
  request->env = spec.env;
  request->with_input = spec.input.has_value();
  request->on_spawned = [job](SpawnRequest& r) { job->on_spawned(r); };
  spawner.submit(std::move(request));
  return handle;
}

}  // namespace hactl
