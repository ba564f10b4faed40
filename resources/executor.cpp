#include "resources/executor.hpp"

#include <algorithm>
#include <utility>

#include "common/assert.hpp"
#include "common/config.hpp"
#include "resources/vip.hpp"

namespace hactl {

struct Executor::Lane {
  bool guarded = false;  // the guard was told this resource may run here
  std::string resource;
  const PrimitiveConfig* primitive = nullptr;
  std::deque<OpRequest> queue;
  bool running = false;
  bool running_recurring = false;          // the running action is a recurring monitor
  std::shared_ptr<ProcessHandle> process;  // the running action's, for OCF and exec
  bool cancelled = false;                  // killed for a stop: its result means nothing
  // recurring monitor; the timer is heap-allocated so closing it never outlives its memory
  Executor* owner = nullptr;
  uv_timer_t* timer = nullptr;
  Duration interval{0};
  std::optional<OcfCode> last_monitor;
  bool counted = false;  // in Executor::busy_
};

Executor::Executor(Spawner& spawner, const ResourceConfig& resources, OnResult on_result,
                   OcfContext context)
    : loop_(spawner.loop()),
      resources_(resources),
      on_result_(std::move(on_result)),
      context_(std::move(context)),
      spawner_(spawner),
      alive_(std::make_shared<bool>(true)) {
  for (const auto& p : resources.primitives) {
    auto lane = std::make_unique<Lane>();
    lane->resource = p.id;
    lane->primitive = &p;
    lane->owner = this;
    lanes_[p.id] = std::move(lane);
  }
}

Executor::~Executor() {
  *alive_ = false;
  close();
}

void Executor::close() {
  for (auto& [id, lane] : lanes_) stop_monitor(id);
}

void Executor::recount(Lane& lane) {
  const bool busy = lane.running || !lane.queue.empty();
  if (busy == lane.counted) return;
  lane.counted = busy;
  HACTL_ASSERT(busy || busy_ > 0);
  busy_ = busy ? busy_ + 1 : busy_ - 1;
}

ProcessSpec Executor::ocf_request_spec(const PrimitiveConfig& p, const OpRequest& request,
                                       Duration interval) const {
  ProcessSpec spec = ocf_spec(p, request.action, request.timeout, interval, context_);
  if (request.notification) {
    const auto env =
        ocf_notify_env(*request.notification, p.id, context_.node_names, context_.resource_nodes);
    spec.env.insert(spec.env.end(), env.begin(), env.end());
  }
  return spec;
}

Duration Executor::timeout_for(const PrimitiveConfig& p, const std::string& action) const {
  if (action == "start") return p.start.timeout;
  if (action == "stop") return p.stop.timeout;
  if (action == "promote") return p.promote.timeout;
  if (action == "demote") return p.demote.timeout;
  if (action == "monitor") return p.monitor.timeout;
  if (action == "notify") return p.notify.timeout;
  return std::chrono::seconds{20};
}

void Executor::submit(OpRequest request) {
  const auto it = lanes_.find(request.resource);
  if (it == lanes_.end()) {
    on_result_(OpResult{request.call_id, request.resource, request.action,
                        ProcessResult::Ended::kExecFailed, OcfCode::kErrConfigured,
                        "no resource called '" + request.resource + "'", Duration{0}});
    return;
  }
  if (request.timeout == Duration{0})
    request.timeout = timeout_for(*it->second->primitive, request.action);
  it->second->queue.push_back(std::move(request));
  pump(*it->second);
}

// Every change of a lane's queue or running action ends here (or in stop_monitor).
void Executor::pump(Lane& lane) {
  if (lane.running || lane.queue.empty()) return recount(lane);
  OpRequest next = std::move(lane.queue.front());
  lane.queue.pop_front();
  lane.running = true;
  lane.running_recurring = next.call_id == 0 && next.action == "monitor";
  recount(lane);
  run(lane, next);  // may finish at once (and pump again)
}

void Executor::guard(Lane& lane, bool may_run) {
  const ResourceClass cls = lane.primitive->cls;
  if (guard_ == nullptr || lane.guarded == may_run || cls == ResourceClass::kVip) {
    return;
  }
  lane.guarded = may_run;
  if (may_run) {
    guard_->hold_resource(lane.resource);
  } else {
    guard_->release_resource(lane.resource);
  }
}

void Executor::run(Lane& lane, const OpRequest& request) {
  const PrimitiveConfig& p = *lane.primitive;
  // From the moment a start or promote begins, the resource may run here, whatever the
  // agent hears of it afterwards.
  if (request.action == "start" || request.action == "promote") guard(lane, true);
  std::weak_ptr<bool> alive = alive_;
  auto done = [this, alive, &lane, request](const ProcessResult& r, OcfCode code) {
    if (auto a = alive.lock(); !a || !*a) return;
    finished(lane, request,
             OpResult{request.call_id, request.resource, request.action, r.ended, code,
                      r.error.empty() ? r.output : r.error, r.took});
  };
  switch (p.cls) {
    case ResourceClass::kOcf:
      lane.process = run_process(
          spawner_, ocf_request_spec(p, request, lane.interval), [done](const ProcessResult& r) {
            done(r, r.ended == ProcessResult::Ended::kExited ? ocf_code(r.exit_code)
                                                             : OcfCode::kErrGeneric);
          });
      return;
    case ResourceClass::kExec:
      lane.process = run_process(spawner_, exec_spec(p, request.action, request.timeout),
                                 [done, action = request.action](const ProcessResult& r) {
                                   done(r, r.ended == ProcessResult::Ended::kExited
                                               ? exec_code(action, r.exit_code)
                                               : OcfCode::kErrGeneric);
                                 });
      return;
    case ResourceClass::kVip: {
      // Netlink calls to the local kernel return at once; the result is still delivered from
      // the loop like every other class, never from inside submit().
      const auto spec = parse_vip(p.params);
      VipResult v{OcfCode::kErrConfigured, spec ? "" : spec.error()};
      bool wait_dad = false;
      if (spec) {
        // The guard hears of the address before it exists: vip_start adds it and then announces
        // it (the packet socket's close alone can take 20 ms), and an agent killed in between
        // must not leave it behind. Removing an address that is not there is harmless.
        if (guard_ != nullptr && request.action == "start") guard_->hold(*spec);
        v = request.action == "start"  ? vip_start(*spec)
            : request.action == "stop" ? vip_stop(*spec)
            : request.action == "monitor"
                ? vip_monitor(*spec)
                : VipResult{OcfCode::kErrUnimplemented, "vip has no " + request.action};
        if (guard_ != nullptr) {
          const bool present = v.code == OcfCode::kSuccess && request.action != "stop";
          const bool absent = (v.code == OcfCode::kSuccess && request.action == "stop") ||
                              v.code == OcfCode::kNotRunning;
          if (present) guard_->hold(*spec);
          if (absent) guard_->release(*spec);
        }
        wait_dad = request.action == "start" && v.code == OcfCode::kSuccess &&
                   spec->family == AF_INET6 && !spec->nodad;
      }
      if (wait_dad) {
        wait_for_dad(*spec, timeout_for(p, "start"), std::move(done));
        return;
      }
      ProcessResult r;
      r.ended = ProcessResult::Ended::kExited;
      r.output = v.message;
      after(Duration{0}, [done, r, code = v.code] { done(r, code); });
      return;
    }
    case ResourceClass::kSystemd: {
      const std::uint64_t begun = uv_hrtime();
      run_systemd(p, request, [done, begun](OcfCode code, std::string message) {
        ProcessResult r;
        r.ended = ProcessResult::Ended::kExited;
        r.output = std::move(message);
        r.took = Duration{static_cast<Duration::rep>((uv_hrtime() - begun) / 1000)};
        done(r, code);
      });
      return;
    }
  }
}

void Executor::after(Duration delay, std::function<void()> fn) {
  auto* timer = new uv_timer_t;
  uv_timer_init(loop_, timer);
  timer->data = new std::function<void()>(std::move(fn));
  uv_timer_start(
      timer,
      [](uv_timer_t* t) {
        auto* f = static_cast<std::function<void()>*>(t->data);
        (*f)();
        delete f;
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      },
      static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()),
      0);
}

void Executor::wait_for_dad(const VipSpec& spec, Duration timeout,
                            std::function<void(const ProcessResult&, OcfCode)> done) {
  // Duplicate address detection runs in the kernel (about a second by default): the address
  // is tentative until it passed, and is not "started" before. Checked every 50 ms until the
  // start timeout; the announcement goes out once it is usable.
  struct Poll {
    VipSpec spec;
    std::uint64_t begun = 0;
    Duration timeout{0};
    std::function<void(const ProcessResult&, OcfCode)> done;
  };
  auto poll = std::make_shared<Poll>(Poll{spec, uv_hrtime(), timeout, std::move(done)});
  auto step = std::make_shared<std::function<void()>>();
  std::weak_ptr<bool> alive = alive_;
  *step = [this, poll, alive, weak = std::weak_ptr<std::function<void()>>(step)] {
    if (auto a = alive.lock(); !a || !*a) return;
    const Duration took{static_cast<Duration::rep>((uv_hrtime() - poll->begun) / 1000)};
    VipResult v = vip_monitor(poll->spec);
    if (v.code == OcfCode::kNotRunning && took < poll->timeout &&
        v.message.find("tentative") != std::string::npos) {
      // The pending timer holds the only strong reference: the chain frees itself at the end.
      if (auto s = weak.lock()) after(std::chrono::milliseconds{50}, [s] { (*s)(); });
      return;
    }
    if (v.code == OcfCode::kSuccess) {
      v = vip_announce(poll->spec);
    } else if (v.code == OcfCode::kNotRunning) {
      v.code = OcfCode::kErrGeneric;  // still tentative at the timeout, or gone meanwhile
      v.message += " (waited " + format_duration(took) + " for duplicate address detection)";
    }
    ProcessResult r;
    r.ended = ProcessResult::Ended::kExited;
    r.output = v.message;
    r.took = took;
    poll->done(r, v.code);
  };
  after(std::chrono::milliseconds{50}, [step] { (*step)(); });
}

void Executor::run_systemd(const PrimitiveConfig& p, const OpRequest& request,
                           std::function<void(OcfCode, std::string)> done) {
  if (!systemd_) {
    auto client = SystemdClient::connect(loop_);
    if (!client) return done(OcfCode::kErrGeneric, client.error());
    systemd_ = std::move(*client);
  }
  if (request.action == "start") return systemd_->start(p.type, request.timeout, std::move(done));
  if (request.action == "stop") return systemd_->stop(p.type, request.timeout, std::move(done));
  if (request.action == "monitor") return systemd_->monitor(p.type, std::move(done));
  done(OcfCode::kErrUnimplemented, "systemd units have no " + request.action + " action");
}

void Executor::finished(Lane& lane, const OpRequest& request, OpResult result) {
  lane.running = false;
  lane.running_recurring = false;
  lane.process.reset();
  if (std::exchange(lane.cancelled, false)) return pump(lane);
  const bool exited = result.ended == ProcessResult::Ended::kExited;
  const bool running = result.code == OcfCode::kSuccess ||
                       result.code == OcfCode::kRunningPromoted ||
                       result.code == OcfCode::kFailedPromoted;
  if (request.action == "monitor" && exited && running) guard(lane, true);
  const bool gone = exited && (result.code == OcfCode::kNotRunning ||
                               (request.action == "stop" && result.code == OcfCode::kSuccess));
  if ((request.action == "monitor" || request.action == "stop") && gone) guard(lane, false);
  const bool recurring = request.call_id == 0 && request.action == "monitor";
  const bool changed = !lane.last_monitor || *lane.last_monitor != result.code;
  if (recurring) lane.last_monitor = result.code;
  // After an action the resource may be another: the next monitor's result is news, even if it
  // repeats the one before (running, started, failed again: "not running" twice).
  if (!recurring) lane.last_monitor.reset();
  if (!recurring || changed) on_result_(result);
  pump(lane);
}

void Executor::start_monitor(const std::string& resource, Duration interval) {
  auto it = lanes_.find(resource);
  HACTL_ASSERT(it != lanes_.end());
  Lane& lane = *it->second;
  stop_monitor(resource);
  lane.interval = interval > Duration{0} ? interval : lane.primitive->monitor.interval;
  if (lane.interval <= Duration{0}) return;
  lane.last_monitor.reset();
  lane.timer = new uv_timer_t;
  uv_timer_init(loop_, lane.timer);
  lane.timer->data = &lane;
  const auto ms = static_cast<std::uint64_t>(std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(lane.interval).count()));
  uv_timer_start(
      lane.timer,
      [](uv_timer_t* t) {
        auto* l = static_cast<Lane*>(t->data);
        // A monitor still queued or running is not doubled up.
        const bool pending = std::any_of(l->queue.begin(), l->queue.end(), [](const OpRequest& r) {
          return r.call_id == 0 && r.action == "monitor";
        });
        if (pending) return;
        l->queue.push_back(OpRequest{0, l->resource, "monitor", l->primitive->monitor.timeout});
        l->owner->pump(*l);
      },
      ms, ms);
}

void Executor::stop_monitor(const std::string& resource) {
  auto it = lanes_.find(resource);
  if (it == lanes_.end() || it->second->timer == nullptr) return;
  Lane& lane = *it->second;
  uv_timer_stop(lane.timer);
  uv_close(reinterpret_cast<uv_handle_t*>(lane.timer),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  lane.timer = nullptr;
  std::erase_if(lane.queue,
                [](const OpRequest& r) { return r.call_id == 0 && r.action == "monitor"; });
  recount(lane);
  // A recurring monitor still running (hung, maybe) must not hold up what comes next: a stop
  // when the lease lapsed has to begin now, not when the monitor times out. Its group is
  // killed and its result dropped.
  if (lane.running && lane.running_recurring && lane.process && !lane.cancelled) {
    lane.cancelled = true;
    lane.process->kill_group();
  }
}

}  // namespace hactl
