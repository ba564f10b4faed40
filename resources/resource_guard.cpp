#include "resources/resource_guard.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <expected>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "common/event.hpp"
#include "resources/process_runner.hpp"
#include "resources/realtime.hpp"
#include "resources/systemd_unit.hpp"

namespace hactl {

struct ResourceGuard::Shared {
  // Lock-free, so the same words work across the fork: plain loads and stores, no lock.
  static_assert(std::atomic<std::int64_t>::is_always_lock_free);
  std::atomic<std::int64_t> deadline_us{-1};  // -1: none
  std::atomic<std::int64_t> alive_us{0};      // when the agent last said it runs
};

namespace {

// The guard is a process of its own (forked from the agent, its stderr the agent's): its events
// are lines for people only, in the agent's format.
void guard_log(const Event& e) { std::fprintf(stderr, "%s\n", format_event(e).c_str()); }

// "10.0.0.1/24 eth0" -> a spec, through the same parser the resource class uses.
std::optional<VipSpec> parse_line(const std::string& line) {
  const auto space = line.find(' ');
  if (space == std::string::npos) return std::nullopt;
  auto spec =
      parse_vip({{"address", line.substr(0, space)}, {"interface", line.substr(space + 1)}});
  return spec ? std::optional{*spec} : std::nullopt;
}

std::int64_t monotonic_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
}

void remove_all(std::set<std::string>& held) {
  for (const auto& line : held) {
    if (auto spec = parse_line(line)) vip_stop(*spec);
  }
  held.clear();
}

// One resource's way down: for a promotable OCF instance a demote first (agents stop only what
// is not promoted; a demote of one that is not does nothing), then its stop, each within its
// own timeout. `how` says how the last step ended.
struct StopChain {
  const PrimitiveConfig* p = nullptr;
  std::vector<const char*> actions;
  std::size_t next = 0;
  std::string how = "not run";
  bool done = false;
};

std::vector<const char*> stop_actions(const GuardOptions& o, const PrimitiveConfig& p) {
  if (p.cls == ResourceClass::kSystemd) return {"stop"};
  if (p.cls != ResourceClass::kOcf && p.cls != ResourceClass::kExec) return {};
  const CloneConfig* clone = o.resources.clone_of(p.id);
  if (clone != nullptr && clone->promotable && p.cls == ResourceClass::kOcf)
    return {"demote", "stop"};
  return {"stop"};
}

struct GuardStopper {
  const GuardOptions& o;
  uv_loop_t* loop;
  Spawner& spawner;
  std::unique_ptr<SystemdClient> systemd;  // connected for the first unit
  bool systemd_tried = false;
  std::string systemd_error;

  // Runs chain c's next step; its end runs the one after.
  void advance(StopChain& c) {
    if (c.next >= c.actions.size()) {
      c.done = true;
      return;
    }
    const char* action = c.actions[c.next++];
    const PrimitiveConfig& p = *c.p;
    if (p.cls == ResourceClass::kSystemd) return stop_unit(c);
    const Duration timeout =
        std::string_view(action) == "demote" ? p.demote.timeout : p.stop.timeout;
    const ProcessSpec spec = p.cls == ResourceClass::kOcf
                                 ? ocf_spec(p, action, timeout, Duration{0}, o.ocf)
                                 : exec_spec(p, action, timeout);
    run_process(spawner, spec, [this, &c, action](const ProcessResult& r) {
      c.how = std::string(action) + " " + std::string(to_string(r.ended)) +
              " code=" + std::to_string(r.exit_code);
      advance(c);
    });
  }

  void stop_unit(StopChain& c) {
    if (!systemd_tried) {
      systemd_tried = true;
      auto client = SystemdClient::connect(loop);
      if (client) systemd = std::move(*client);
      if (!client) systemd_error = "no systemd: " + client.error();
    }
    if (!systemd) {
      c.how = systemd_error;
      c.done = true;
      return;
    }
    systemd->stop(c.p->type, c.p->stop.timeout, [&c](OcfCode code, const std::string& why) {
      c.how = "code=" + std::to_string(static_cast<int>(code)) + (why.empty() ? "" : " " + why);
      c.done = true;
    });
  }
};

// Stops every resource still held, all at once, on a loop of the guard's own, as the agent's
// own lapse does (Keeper::lapse): each is down within its own demote and stop timeouts of the
// instant the guard acts, which is what its takeover_delay counts on. (One after another, a
// resource waited for every stop before it: with a promotable instance whose demote called a
// Pacemaker command of the stopped agent, a plain resource was stopped 4 s late and ran on two
// nodes, the nemesis with 'link@app:0.53&pause@app:5.01+0.08', 2 nodes and a witness.)
void stop_resources(const GuardOptions& o, std::vector<std::string>& held) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return;
  {
    // One spawning thread is enough (it only forks and execs; the stops run side by side), and
    // the fewest threads are best in a process forked from one that may have had others (a
    // test's: two threads of this child once waited forever on a lock of ASan's allocator).
    SpawnerOptions one_thread;
    one_thread.threads = 1;
    Spawner spawner(&loop, one_thread);
    GuardStopper stopper{o, &loop, spawner, nullptr, false, {}};
    std::vector<StopChain> chains;
    chains.reserve(held.size());
    for (const std::string& id : held) {
      const PrimitiveConfig* p = o.resources.primitive(id);
      if (p == nullptr) continue;
      chains.push_back(StopChain{p, stop_actions(o, *p), 0, "not run", false});
    }
    for (StopChain& c : chains) stopper.advance(c);
    const auto all_done = [&chains] {
      return std::all_of(chains.begin(), chains.end(), [](const StopChain& c) { return c.done; });
    };
    // Each step ends by its timeout (and the kill grace after it); the count only bounds a loop
    // that would otherwise spin on a broken handle.
    for (int i = 0; i < 1'000'000 && !all_done(); ++i) uv_run(&loop, UV_RUN_ONCE);
    for (const StopChain& c : chains) {
      guard_log(Event(EventKind::kGuardStopped, EventLevel::kWarn)
                    .add("resource", c.p->id)
                    .text("how", c.how));
    }
    held.clear();
    stopper.systemd.reset();
    spawner.close();
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
}

// What the lease deadline takes away: the held VIPs and resources whose primitive stops without
// quorum (a VIP line not matching any primitive too: removing is the safe side).
bool stops(const GuardOptions& o, const std::string& vip_line) {
  for (const PrimitiveConfig& p : o.resources.primitives) {
    if (p.cls != ResourceClass::kVip) continue;
    const auto a = p.params.find("address");
    const auto i = p.params.find("interface");
    if (a != p.params.end() && i != p.params.end() && vip_line == a->second + " " + i->second) {
      return stops_without_quorum(p, o.no_quorum_policy);
    }
  }
  return true;
}

std::set<std::string> stopping_vips(const GuardOptions& o, const std::set<std::string>& held) {
  std::set<std::string> out;
  for (const auto& line : held) {
    if (stops(o, line)) out.insert(line);
  }
  return out;
}

std::vector<std::string> stopping_resources(const GuardOptions& o,
                                            const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    const PrimitiveConfig* p = o.resources.primitive(id);
    if (p == nullptr || stops_without_quorum(*p, o.no_quorum_policy)) out.push_back(id);
  }
  return out;
}

// True when another process (a new agent) holds the lock file.
bool lock_held_by_another(const std::string& path) {
  if (path.empty()) return false;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // releases our lock, if we took it
  return held;
}

// The definitions of a configuration applied at run time ("F" line): the file's, plus the old
// definition of anything still held that the new file no longer has. The file is parsed on a
// thread of normal priority (1 MB took 0.2 s of CPU: three guards at SCHED_RR at once kept the
// agents' loops from a CPU, and this one from its deadline), while the guard goes on watching;
// the definitions are taken up on the guard's thread once parsed, or waited for before it stops
// resources (a resource only the new file defines is then stopped too).
class Reloader {
 public:
  Reloader() {
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
  }
  int fd() const { return wake_[0]; }
  bool busy() const { return thread_.joinable(); }
  void start(const std::string& path) {
    if (busy()) {
      next_ = path;  // after this one, the newest
      return;
    }
    path_ = path;
    done_.store(false);
    result_.reset();
    thread_ = std::thread([this] {
      leave_realtime();
      result_ = load_config_file(path_);
      done_.store(true);
      [[maybe_unused]] const ssize_t n = ::write(wake_[1], "x", 1);
    });
  }
  // Takes the parsed definitions up, if the parse is done (or once it is, with `wait`).
  void collect(GuardOptions& o, const std::vector<std::string>& held_ids, bool wait) {
    while (busy() && (wait || done_.load())) {
      thread_.join();
      char drain[16];
      while (::read(wake_[0], drain, sizeof drain) > 0) {
      }
      take_up(o, held_ids);
      if (next_) start(*std::exchange(next_, std::nullopt));
    }
  }

 private:
  void take_up(GuardOptions& o, const std::vector<std::string>& held_ids) {
    if (!result_ || !*result_) {
      guard_log(Event(EventKind::kGuardReloadFailed, EventLevel::kError).add("path", path_));
      return;
    }
    ResourceConfig next = (*result_)->config.resources;
    for (const auto& id : held_ids) {
      if (next.primitive(id) == nullptr) {
        if (const PrimitiveConfig* old = o.resources.primitive(id)) next.primitives.push_back(*old);
      }
    }
    o.resources = std::move(next);
    o.no_quorum_policy = (*result_)->config.no_quorum_policy;
    o.ocf.clone_env = ocf_clone_env(o.resources, (*result_)->config.resource_nodes());
  }

  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::string path_;
  std::optional<std::expected<LoadedConfig, std::vector<ConfigError>>> result_;
  std::optional<std::string> next_;
};

[[noreturn]] void guard_main(int fd, const GuardOptions& options,
                             const ResourceGuard::Shared& shared) {
  GuardOptions o = options;
  // When the guard runs an agent, its own agent is stopped, hung or gone: hactl's Pacemaker
  // commands must not wait on its socket (a demote calling crm_master held every stop after it).
  o.ocf.tools_offline = "the hactl agent is silent or gone; its guard is stopping resources";
  setsid();
  // It enforces the lease deadline: it must not wait behind a busy machine either (it is forked
  // before the agent goes realtime). What it stops resources with runs at normal priority.
  if (o.realtime_priority > 0 && enter_realtime(o.realtime_priority, true)) (void)lock_memory();
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
  std::set<std::string> held;          // VIP lines
  std::vector<std::string> resources;  // ids, in the order they were taken
  std::int64_t deadline = -1;          // none
  bool maintenance = false;
  const std::int64_t grace =
      std::chrono::duration_cast<std::chrono::microseconds>(o.restart_grace).count();
  const std::int64_t window =
      std::chrono::duration_cast<std::chrono::microseconds>(o.alive_window).count();
  std::int64_t heard = monotonic_us();
  bool eof = false;
  std::string buffer;
  char chunk[512];
  Reloader reloader;
  for (;;) {
    // Gone: nothing to watch for but the deadline, so the newest definitions are waited for.
    reloader.collect(o, resources, eof);
    const std::int64_t now = monotonic_us();
    deadline = shared.deadline_us.load(std::memory_order_acquire);
    heard = std::max(heard, shared.alive_us.load(std::memory_order_acquire));
    // Only what stops without quorum: a VIP or resource with on_quorum_loss freeze stays.
    std::set<std::string> due_vips = stopping_vips(o, held);
    if (deadline >= 0 && !due_vips.empty() && now >= deadline) {
      guard_log(Event(EventKind::kVipGuardDeadline, EventLevel::kWarn)
                    .add("action", "remove")
                    .add("vips", due_vips.size()));
      for (const auto& line : due_vips) held.erase(line);
      remove_all(due_vips);
    }
    const std::vector<std::string> due = stopping_resources(o, resources);
    if (eof && held.empty() && (due.empty() || deadline < 0)) break;
    // The others: at the deadline + restart_grace, unless a live agent is in charge.
    std::int64_t wake = -1;
    if (!due.empty() && deadline >= 0) {
      const std::int64_t at = deadline + grace;
      const bool silent = eof || (window > 0 && now - heard > window);
      if (now >= at && silent && reloader.busy()) {
        reloader.collect(o, resources, true);  // what to stop, and how, from the newest file
        continue;
      }
      if (now >= at && silent) {
        if (eof && lock_held_by_another(o.lock_file)) break;  // a new agent is in charge
        guard_log(Event(EventKind::kGuardStopsResources, EventLevel::kWarn)
                      .add("reason", eof ? "agent_gone" : "agent_silent")
                      .add("count", due.size()));
        std::vector<std::string> stopping = due;
        stop_resources(o, stopping);
        std::erase_if(resources, [&](const std::string& id) {
          return std::find(due.begin(), due.end(), id) != due.end();
        });
        if (eof) break;
        continue;
      }
      wake = now >= at ? now + (window > 0 ? window : 1'000'000) / 4 : at;
    }
    if (deadline >= 0 && !due_vips.empty() && now < deadline) {
      wake = wake < 0 ? deadline : std::min(wake, deadline);
    }
    if (eof) {
      if (wake < 0) break;
      usleep(static_cast<useconds_t>(std::clamp<std::int64_t>(wake - now, 1000, 1'000'000)));
      continue;
    }
    const int wait_ms =
        wake < 0 ? -1
                 : static_cast<int>(std::clamp<std::int64_t>((wake - now + 999) / 1000, 1, 60'000));
    pollfd p[2] = {{fd, POLLIN, 0}, {reloader.fd(), POLLIN, 0}};
    const int ready = poll(p, reloader.fd() >= 0 ? 2 : 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (maintenance) {
        guard_log(Event(EventKind::kGuardExits)
                      .add("reason", "agent_gone_in_maintenance")
                      .add("action", "none"));
        break;
      }
      // EOF: the agent is gone. Its VIPs go at once; the rest wait for the deadline + grace.
      eof = true;
      remove_all(held);
      continue;
    }
    heard = monotonic_us();
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      const std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (line.empty() || held.size() > 4096 || resources.size() > 4096) continue;
      if (line[0] == '+') held.insert(line.substr(1));
      if (line[0] == '-') held.erase(line.substr(1));
      if (line.starts_with("R+")) {
        const std::string id = line.substr(2);
        if (std::find(resources.begin(), resources.end(), id) == resources.end())
          resources.push_back(id);
      }
      if (line.starts_with("R-")) std::erase(resources, line.substr(2));
      if (line[0] == 'F') reloader.start(line.substr(1));
      if (line[0] == 'M') maintenance = line == "M1";
    }
  }
  _exit(0);
}

}  // namespace

std::expected<ResourceGuard, std::string> ResourceGuard::spawn(const GuardOptions& options) {
  void* page =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED)
    return std::unexpected(std::string("vip guard: mmap: ") + std::strerror(errno));
  auto* shared = new (page) Shared;
  shared->alive_us.store(monotonic_us());
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    munmap(page, sizeof(Shared));
    return std::unexpected(std::string("vip guard: pipe: ") + std::strerror(errno));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    munmap(page, sizeof(Shared));
    return std::unexpected(std::string("vip guard: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(fds[1]);
    guard_main(fds[0], options, *shared);
  }
  close(fds[0]);
  ResourceGuard g;
  g.fd_ = fds[1];
  g.pid_ = pid;
  g.shared_ = shared;
  return g;
}

ResourceGuard& ResourceGuard::operator=(ResourceGuard&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    if (shared_ != nullptr) munmap(shared_, sizeof(Shared));
    fd_ = o.fd_;
    pid_ = o.pid_;
    shared_ = o.shared_;
    deadline_ = o.deadline_;
    o.fd_ = -1;
    o.shared_ = nullptr;
  }
  return *this;
}

ResourceGuard::~ResourceGuard() {
  if (fd_ >= 0) close(fd_);  // the guard removes what is held and exits
  if (shared_ != nullptr) munmap(shared_, sizeof(Shared));
}

void ResourceGuard::hold(const VipSpec& vip) { send('+', vip); }
void ResourceGuard::release(const VipSpec& vip) { send('-', vip); }

void ResourceGuard::set_deadline(std::optional<std::int64_t> deadline_us) {
  if (shared_ == nullptr) return;
  shared_->deadline_us.store(deadline_us.value_or(-1), std::memory_order_release);
  // A later deadline waits until the guard wakes at the one it has; an earlier one, or none,
  // must reach it now.
  const bool later = deadline_ && deadline_us && *deadline_us >= *deadline_;
  deadline_ = deadline_us;
  if (!later) write_line("L");
}

void ResourceGuard::keepalive() {
  if (shared_ != nullptr) shared_->alive_us.store(monotonic_us(), std::memory_order_release);
}

void ResourceGuard::send(char op, const VipSpec& vip) {
  write_line(std::string(1, op) + vip.text + " " + vip.interface);
}

void ResourceGuard::write_line(std::string line) {
  if (fd_ < 0) return;
  line += '\n';
  // Lines are far below PIPE_BUF, so each write is atomic; the guard reads as fast as we write.
  [[maybe_unused]] const ssize_t n = write(fd_, line.data(), line.size());
}

}  // namespace hactl
