#include "agent/agent.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "agent/status_json.hpp"
#include "common/assert.hpp"
#include "common/known_names.hpp"
#include "common/limits.hpp"
#include "common/suggest.hpp"
#include "resources/process_runner.hpp"

namespace hactl {
namespace {

std::uint64_t realtime_us() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

Agent::Agent(uv_loop_t* loop, AgentOptions options)
    : loop_(loop),
      options_(std::move(options)),
      store_(options_.config, options_.state_dir, options_.config.node(options_.self).name),
      spawner_(loop),
      doc_store_(options_.state_dir, options_.config.node(options_.self).name) {}

Instant Agent::now() const {
  // uv_hrtime is CLOCK_MONOTONIC: immune to wall-clock steps, as the lease arithmetic needs.
  return Instant{Duration{static_cast<Duration::rep>(uv_hrtime() / 1000)}};
}

std::expected<void, std::string> Agent::start() {
  // First, before this process opens anything the guard should not inherit.
  GuardOptions g;
  g.resources = config().resources;
  g.ocf = ocf_context();
  g.restart_grace = restart_grace(config().timing);
  g.alive_window = config().timing.node_timeout;
  g.lock_file = options_.lock_file;
  g.realtime_priority = options_.realtime_priority;
  g.no_quorum_policy = config().no_quorum_policy;
  auto guard = ResourceGuard::spawn(g);
  if (!guard) return std::unexpected(guard.error());
  guard_ = std::move(*guard);
  // One agent per host: the lock also tells a dead agent's guard that a new agent is in charge.
  std::error_code dir_error;
  std::filesystem::create_directories(std::filesystem::path(options_.lock_file).parent_path(),
                                      dir_error);
  lock_fd_ = ::open(options_.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return std::unexpected("cannot lock " + options_.lock_file + " (" + std::strerror(errno) +
                           "): is another hactl-agent running on this host?");
  }
  if (auto r = store_.prepare(); !r) return r;
  start_events();
  auto loaded = store_.load();
  if (!loaded) return std::unexpected(loaded.error());
  persisted_ = *loaded;
  persisted_.incarnation = next_incarnation(persisted_.incarnation, realtime_us());
  if (auto r = store_.save(persisted_); !r) return r;
  // The cluster's document decides which configuration the resources run on.
  auto initial = initial_doc();
  if (!initial) return std::unexpected(initial.error());
  RuntimeOptions ro;
  ro.self = options_.self;
  ro.timing = make_timing(options_.config.timing);
  ro.hard = persisted_.hard;
  ro.incarnation = persisted_.incarnation;
  ro.previous_lease_end = open_lease_file();
  paired_marked_ = std::filesystem::exists(options_.paired_file);
  ro.paired_this_boot = paired_marked_;
  ro.document = *initial;
  ro.doc_resend = std::max<Duration>(5 * options_.config.timing.heartbeat_interval,
                                     std::chrono::milliseconds(100));
  rt_ = std::make_unique<NodeRuntime>(options_.config, std::move(ro), rng_, now());
  doc_loaded(*initial);
  start_alerts();
  open_executor();
  tell_macs();
  vip_checker_ = std::make_unique<VipChecker>(loop_);
  loop_monitor_ = std::make_unique<LoopMonitor>(loop_, [this](double busy) {
    if (const auto unlogged = stalls_.admit("loop_stalled", now())) {
      emit_event(Event(EventKind::kLoopStalled, EventLevel::kWarn)
                     .add("busy_ms", std::llround(busy * 1000))
                     .add("unlogged", *unlogged));
    }
  });
  worker_ = std::make_unique<RequestWorker>(loop_, kWorkerCapacity, kWorkerDeadline);
  parse_worker_ = std::make_unique<RequestWorker>(loop_, NodeRuntime::kMaxParsing, kParseDeadline);
  file_writer_ = std::make_unique<RequestWorker>(loop_, 2, std::chrono::seconds{60});
  doc_writer_ = std::make_unique<DocWriter>(
      loop_, doc_store_,
      [this](DocVersion v, const std::expected<void, std::string>& r) { doc_stored(v, r); });
  // Standby and maintenance reach the resource host (and the guard) from the document at the
  // first process(), before its keeper's first tick (refresh_effective).
  transport_ = std::make_unique<Transport>(loop_, config(), options_.self, options_.key,
                                           persisted_.incarnation);
  auto started = transport_->start([this](const Envelope& e) { on_message(e); },
                                   [this](NodeId from, std::uint64_t incarnation) {
                                     rt_->peer_restarted(from, incarnation, now());
                                     process();
                                   });
  if (!started) return started;
  control_ = std::make_unique<ControlServer>(
      loop_, options_.socket_path,
      [this](const ControlRequest& req, const PeerCredentials& cred, ControlServer::Reply reply) {
        handle_request(req, cred, std::move(reply));
      },
      [this](const PeerCredentials& cred) {
        const bool admin = may_write(cred);
        return ControlServer::CallerPolicy{
            admin ? limits::kMaxAdminControlRequest : limits::kMaxControlRequest, admin};
      });
  control_->set_group(config().read_group);
  control_->parse_large_with([this](std::function<void()> work, std::function<void()> done,
                                    std::function<void()> expired) {
    return worker_->submit(std::move(work), std::move(done), std::move(expired));
  });
  if (auto r = control_->start(); !r) return r;
  last_beat_.assign(config().nodes.size(), std::nullopt);
  missed_beats_.assign(config().nodes.size(), 0);
  if (!config().metrics_address.empty()) {
    HttpServer::Routes routes;
    routes["/metrics"] = {std::string(kPrometheusContentType), [this] { return metrics_text(); }};
    metrics_ = std::make_unique<HttpServer>(loop_, config().metrics_address, "hactl agent",
                                            std::move(routes));
    if (auto r = metrics_->start(); !r) {
      // Monitoring is not worth refusing to keep services up for: say so, run on.
      emit_event(
          Event(EventKind::kMetricsUnavailable, EventLevel::kError).text("error", r.error()));
      metrics_.reset();
    }
  }
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_check_init(loop_, &advance_check_);
  advance_check_.data = this;
  timer_open_ = true;
  emit_event(Event(EventKind::kAgentStarted)
                 .add("node", config().node(options_.self).name)
                 .add("cluster", config().name)
                 .add("term", persisted_.hard.term.value)
                 .add("incarnation", persisted_.incarnation)
                 .add("address", config().node(options_.self).address.to_string()));
  std::uint64_t watchdog_us = 0;
  if (sd_watchdog_enabled(0, &watchdog_us) > 0 && watchdog_us > 0) {
    watchdog_every_ = Duration{static_cast<Duration::rep>(watchdog_us / 2)};
  }
  sd_notifyf(0, "READY=1\nSTATUS=node %s of cluster %s", config().node(options_.self).name.c_str(),
             config().name.c_str());
  on_timer();
  return {};
}

void Agent::notify_watchdog(Instant t) {
  if (!watchdog_every_ || t - last_watchdog_ < *watchdog_every_) return;
  last_watchdog_ = t;
  sd_notify(0, "WATCHDOG=1");
}

void Agent::notify_status(Instant t) {
  const auto coordinator = core().coordinator();
  const NotifiedStatus now{core().role(), coordinator, core().term(), core().has_quorum(t)};
  if (notified_status_ == now) return;  // called on every turn of the loop: no text unless new
  notified_status_ = now;
  std::string s = now.role == Role::kCoordinator ? "coordinator"
                  : coordinator                  ? "follower of " + config().node(*coordinator).name
                                                 : "no coordinator";
  s += ", term " + std::to_string(now.term.value);
  s += now.quorum ? ", quorum" : ", no quorum";
  sd_notifyf(0, "STATUS=%s (node %s of cluster %s)", s.c_str(),
             config().node(options_.self).name.c_str(), config().name.c_str());
}

void Agent::shutdown(std::function<void()> stopped) {
  const bool again = on_stopped_ != nullptr;
  on_stopped_ = std::move(stopped);
  const std::string& self = config().node(options_.self).name;
  if (!again && rt_ && core().role() == Role::kCoordinator) {
    // SIGTERM, `systemctl stop/restart`, a package upgrade: the role goes first.
    hand_over_role(std::nullopt);
    process();
  }
  if (again || !rt_ || guard_maintenance_ || config().node(options_.self).witness) {
    emit_event(Event(EventKind::kAgentStopping)
                   .add("node", self)
                   .add("resources", again                ? "left as they are (second signal)"
                                     : guard_maintenance_ ? "left as they are (maintenance)"
                                                          : "none"));
    stop();
    return;
  }
  // Bounded by the longest stop (and demote) timeout of what may run here, and a margin.
  Duration longest{0};
  for (const auto& p : config().resources.primitives) {
    longest = std::max(longest, p.stop.timeout + p.demote.timeout);
  }
  shutdown_deadline_ = now() + longest + std::chrono::seconds(5);
  emit_event(
      Event(EventKind::kAgentStopping).add("node", self).text("resources", "given up first"));
  rt_->leave();
  process();
}

void Agent::check_shutdown() {
  if (!shutdown_deadline_ || !timer_open_) return;
  const Instant t = now();
  if (linger_until_) {
    if (t >= *linger_until_) {
      shutdown_deadline_.reset();
      stop();
    }
    return;
  }
  if (rt_->left()) {
    // The report that says so goes to every peer (twice), and the agent lingers a few
    // heartbeats so it arrives: the coordinator then places the resources elsewhere at once
    // instead of waiting out this node's lease and takeover delays.
    emit_own(Event(EventKind::kResourcesGivenUp));
    rt_->report_now();
    linger_until_ = t + 3 * config().timing.heartbeat_interval;
    return;
  }
  if (t >= *shutdown_deadline_) {
    emit_event(Event(EventKind::kShutdownTimeout, EventLevel::kWarn)
                   .text("effect", "exits with resources still running; its guard stops them"));
    shutdown_deadline_.reset();
    stop();
  }
}

OcfContext Agent::ocf_context() const {
  OcfContext c;
  c.tools_dir = options_.tools_dir;
  c.socket = options_.socket_path;
  c.node = config().node(options_.self).name;
  c.clone_env = ocf_clone_env(config().resources, config().resource_nodes());
  const auto arbiter = config().arbiter();
  for (std::size_t i = 0; i < config().nodes.size(); ++i) {
    c.node_names.push_back(config().nodes[i].name);
    if (!config().nodes[i].witness && (!arbiter || arbiter->value != i))
      c.resource_nodes.push_back(static_cast<std::uint16_t>(i));
  }
  return c;
}

void Agent::open_executor() {
  prim_index_.clear();
  for (const auto& p : config().resources.primitives) prim_index_.emplace(p.id, prim_index_.size());
  // Results from an executor of an earlier configuration are not this one's.
  executor_ = std::make_unique<Executor>(
      spawner_, config().resources,
      [this, g = executor_generation_](const OpResult& r) {
        if (g == executor_generation_) on_op_result(r);
      },
      ocf_context());
  executor_->set_guard(&guard_);
}

void Agent::tell_macs(std::optional<std::size_t> only) {
  const auto& prims = config().resources.primitives;
  std::set<std::string> told;
  for (std::size_t i = 0; i < prims.size(); ++i) {
    if (prims[i].cls != ResourceClass::kVip || (only && *only != i)) continue;
    const auto it = prims[i].params.find("interface");
    if (it == prims[i].params.end() || !told.insert(it->second).second) continue;
    // An interface missing now may appear later: asked again at each start of a vip on it.
    if (const auto mac = interface_mac(it->second)) rt_->set_mac(it->second, *mac);
  }
}

void Agent::stop() {
  sd_notify(0, "STOPPING=1");
  if (vip_checker_) vip_checker_->close();
  waiting_.clear();  // their clients are closed with the socket
  status_waiting_.clear();
  install_event_recorder(nullptr);
  if (alerts_) alerts_->close();
  if (events_) events_->close();
  if (audit_) audit_->close();
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
  if (worker_) worker_->close();
  if (parse_worker_) parse_worker_->close();
  if (loop_monitor_) loop_monitor_->close();
  if (doc_writer_) doc_writer_->close();
  if (file_writer_) file_writer_->close();
  if (executor_) executor_->close();
  spawner_.close();
  if (transport_) transport_->close();
  if (control_) control_->close();
  if (metrics_) metrics_->close();
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&advance_check_), nullptr);
  }
  if (on_stopped_) std::exchange(on_stopped_, [] {})();
}

void Agent::on_message(const Envelope& env) {
  const Instant t = now();
  rt_->step(env.sender, env.incarnation, env.message, t);
  if (const auto* h = std::get_if<Heartbeat>(&env.message); h != nullptr && !h->reply) {
    count_heartbeat(env.sender, t);
  }
  // Advanced once the loop has read every datagram that is there (its check phase follows
  // the reads in the same turn), unless something else advances first.
  if (!stepped_ && timer_open_) {
    stepped_ = true;
    uv_check_start(&advance_check_, [](uv_check_t* c) {
      auto* self = static_cast<Agent*>(c->data);
      uv_check_stop(c);
      if (self->stepped_) self->process();
    });
  }
}

void Agent::run_fence(const FenceOp& op) {
  const FenceDevice* d = config().fencing.device(op.device);
  const std::string& target = config().node(op.target).name;
  if (d == nullptr) {  // the configuration changed under it
    rt_->on_fence_done(op.id, false, "no device " + op.device, now());  // heard next time
    return;
  }
  ProcessSpec spec;
  spec.program = d->agent;
  spec.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
  spec.input = d->stdin_for(target, op.action);
  spec.timeout = d->timeout;
  emit_event(Event(EventKind::kFenceRun, EventLevel::kWarn)
                 .add("node", config().node(options_.self).name)
                 .add("target", target)
                 .add("device", op.device)
                 .add("action", op.action)
                 .add("agent", d->agent));
  run_process(spawner_, spec, [this, op, target, g = executor_generation_](const ProcessResult& r) {
    const bool ok = r.ended == ProcessResult::Ended::kExited && r.exit_code == 0;
    const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.took).count();
    std::string detail =
        r.ended == ProcessResult::Ended::kExited
            ? "exit " + std::to_string(r.exit_code)
            : std::string(to_string(r.ended)) + (r.error.empty() ? "" : ": " + r.error);
    const std::string out = log_text(r.output, 300);
    emit_event(Event(EventKind::kFenceResult, ok ? EventLevel::kWarn : EventLevel::kError)
                   .add("node", config().node(options_.self).name)
                   .add("target", target)
                   .add("device", op.device)
                   .add("action", op.action)
                   .add("ok", ok)
                   .text("ended", detail)
                   .add("took_ms", took_ms)
                   .text("output", out));
    if (fatal_ || g != executor_generation_ || !rt_) return;
    if (!ok && !out.empty()) detail += " (" + out.substr(0, 120) + ")";
    rt_->on_fence_done(op.id, ok, detail, now());
    process();
  });
}

void Agent::on_op_result(const OpResult& r) {
  if (fatal_) return;
  const bool ran = r.ended == ProcessResult::Ended::kExited;
  const int code = static_cast<int>(r.code);
  const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.took).count();
  const bool as_expected = ran && (r.code == OcfCode::kSuccess || r.code == OcfCode::kNotRunning ||
                                   r.code == OcfCode::kRunningPromoted);
  emit_own(Event(EventKind::kActionFinished, as_expected ? EventLevel::kInfo : EventLevel::kWarn)
               .add("resource", r.resource)
               .add("action", r.action)
               .add("recurring", r.call_id == 0)
               .add("ended", to_string(r.ended))
               .add("code", code)
               .add("took_ms", took_ms));
  if (r.call_id == 0) {
    rt_->on_monitor(prim_index_.at(r.resource), code, now());
  } else {
    // A probe finding a resource not running is news, not a warning.
    const bool not_running = r.action == "monitor" && r.code == OcfCode::kNotRunning;
    if (!ran || (r.code != OcfCode::kSuccess && !not_running)) {
      emit_event(Event(EventKind::kActionOutput, EventLevel::kWarn)
                     .add("resource", r.resource)
                     .add("action", r.action)
                     .add("ended", to_string(r.ended))
                     .add("code", code)
                     .text("output", r.output.substr(0, 300)));
    }
    if (r.action == "start") tell_macs(prim_index_.at(r.resource));
    rt_->on_call_done(r.call_id, code, ran, now());
  }
  process();
}

// The previous agent's lease end (what it leaves running is kept for restart_grace after it),
// and the file this agent's goes to (agent/lease_file.hpp).
std::optional<Instant> Agent::open_lease_file() {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options_.lease_file).parent_path(), ec);
  if (auto error = lease_file_.open(options_.lease_file)) {
    emit_event(
        Event(EventKind::kLeaseFileUnwritable, EventLevel::kWarn)
            .text("error", *error)
            .text("effect",
                  "a restarted agent keeps what it finds for restart_grace after its own start"));
  }
  const auto end = lease_file_.previous();
  if (end) {
    emit_event(
        Event(EventKind::kPreviousLeaseFound)
            .add("ended_ago_ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(now() - *end).count()));
  }
  return end;
}

void Agent::keep_lease_end(std::optional<Instant> end) {
  if (end) lease_file_.write(*end);
  if (!paired_marked_ && config().two_node && !rt_->waiting_for_all()) mark_paired();
}

// An empty file in /run (tmpfs: microseconds, and gone at reboot, which is what wait_for_all is
// about): an agent restarted in this boot does not wait for its peer again.
void Agent::mark_paired() {
  paired_marked_ = true;
  std::ofstream f(options_.paired_file);
  if (!f) {
    emit_event(Event(EventKind::kPairedMarkUnwritable, EventLevel::kWarn)
                   .add("path", options_.paired_file)
                   .text("effect", "a restarted agent waits for its peer again"));
  }
}

void Agent::carry_out_resources(RuntimeOutput& out) {
  const Instant t = now();
  keep_lease_end(out.lease_end);
  tell_guard_deadline(out.vip_deadline);
  guard_.keepalive();  // the guard takes a long silence for a stopped or hung agent
  if (out.maintenance != guard_maintenance_) {
    guard_maintenance_ = out.maintenance;
    guard_.set_maintenance(guard_maintenance_);
  }
  for (const Event& e : out.host_log) emit_own(e);
  if (auto e = reconciled_.check(config(), options_.self, host(), core(), t, out.host_log)) {
    emit_event(*e);
  }
  for (const auto& [index, on] : out.monitors) {
    const std::string& id = config().resources.primitives[index].id;
    if (on) {
      executor_->start_monitor(id);
    } else {
      executor_->stop_monitor(id);
    }
  }
  for (const FenceOp& op : out.fence_ops) run_fence(op);
  for (const std::size_t index : out.announces) {
    const PrimitiveConfig& p = config().resources.primitives[index];
    const auto spec = parse_vip(p.params);
    const VipResult v =
        spec ? vip_announce(*spec) : VipResult{OcfCode::kErrConfigured, spec.error()};
    if (v.code != OcfCode::kSuccess) {
      emit_own(Event(EventKind::kVipAnnounceFailed, EventLevel::kWarn)
                   .add("resource", p.id)
                   .text("error", v.message));
    }
  }
  for (auto& [asker, request] : out.vip_checks) {
    vip_checker_->check(request, [this, asker](VipCheckResult result) {
      if (fatal_ || !rt_) return;
      rt_->on_vip_check_done(asker, std::move(result));
      process();
    });
  }
  for (const KeeperCall& c : out.calls) {
    OpRequest request{c.call_id, config().resources.primitives[c.index].id, c.action, Duration{0}};
    request.notification = c.notification;
    executor_->submit(std::move(request));
  }
}

void Agent::tell_guard_deadline(std::optional<Instant> vip_deadline) {
  // now() is CLOCK_MONOTONIC in microseconds, the guard's clock.
  std::optional<std::int64_t> deadline;
  if (vip_deadline) deadline = vip_deadline->time_since_epoch().count();
  if (deadline == guard_deadline_) return;
  guard_deadline_ = deadline;
  guard_.set_deadline(deadline);  // a word in memory shared with the guard (resource_guard.hpp)
}

void Agent::on_timer() {
  rt_->tick(now());
  process();
  if (!status_waiting_.empty() && now() >= last_status_ + kStatusEvery) {
    flush_status();
    arm_timer();
  }
}

void Agent::process() {
  stepped_ = false;
  if (fatal_) return;
  RuntimeOutput out =
      rt_->advance(now(), static_cast<std::int64_t>(realtime_us()), executor_->busy() == 0);
  if (out.hard_state) {
    // Raft: the vote and term reach the disk before any message that depends on them leaves.
    persisted_.hard = *out.hard_state;
    if (auto r = store_.save(persisted_); !r) {
      emit_event(Event(EventKind::kPersistFailed, EventLevel::kCritical)
                     .text("error", r.error())
                     .add("action", "exit"));
      fatal_ = true;
      stop();
      return;
    }
  }
  carry_out_docs(out);
  if (fatal_) return;
  for (ParseRequest& p : out.parses) parse_off_loop(std::move(p));
  for (HostCheckAsk& a : out.host_check_asks) host_check_off_loop(std::move(a));
  if (out.reconfigured) reconfigured(*out.reconfigured);
  for (const auto& [to, msg] : out.messages) transport_->send(to, msg);
  for (const auto& e : out.events) emit_election_event(e);
  for (const auto& n : out.notes) emit_own(n);
  carry_out_resources(out);
  for (const auto& c : out.availability) log_availability(c);
  if (!out.host_checks_done.empty()) host_checks_done(std::move(out.host_checks_done));
  check_shutdown();
  notify_watchdog(now());
  notify_status(now());
  arm_timer();
}

void Agent::answer_status(ControlServer::Reply reply) {
  // One status is built per kStatusEvery at most, for every request waiting then: its cost
  // grows with the configuration (20 ms for 2,000 primitives), and readers may ask at any rate.
  status_waiting_.push_back(std::move(reply));
  if (now() < last_status_ + kStatusEvery) return arm_timer();  // on_timer answers it
  flush_status();
}

void Agent::flush_status() {
  last_status_ = now();
  const std::string text = ControlServer::dump(status());
  ++status_built_;
  status_answered_ += status_waiting_.size();
  for (auto& r : std::exchange(status_waiting_, {})) r.text(text);
}

void Agent::arm_timer() {
  if (!timer_open_) return;
  Instant next = rt_->next_deadline(now());
  if (watchdog_every_) next = std::min(next, last_watchdog_ + *watchdog_every_);
  if (!status_waiting_.empty()) next = std::min(next, last_status_ + kStatusEvery);
  const Instant t = now();
  const Duration wait = std::clamp(next - t, Duration{1000}, config().timing.heartbeat_interval);
  // libuv counts the timeout from its loop time, in whole milliseconds (truncated): counted
  // from now() the timer would fire up to a millisecond before the deadline, find nothing due
  // and wake the loop again for it. So it is counted from the loop time, brought up to date
  // first (it is cached when a loop turn begins, and a turn may have been long or stopped).
  uv_update_time(loop_);
  const auto loop_us = static_cast<Duration::rep>(uv_now(loop_)) * 1000;
  const Duration::rep from_loop =
      std::max<Duration::rep>((t + wait).time_since_epoch().count() - loop_us, wait.count());
  const auto ms = static_cast<std::uint64_t>((from_loop + 999) / 1000);
  uv_timer_start(
      &timer_, [](uv_timer_t* h) { static_cast<Agent*>(h->data)->on_timer(); }, ms, 0);
}

void Agent::emit_own(Event e) const {
  e.add("node", config().node(options_.self).name);
  emit_event(e);
}

void Agent::emit_election_event(const ElectionEvent& e) const {
  const auto& nodes = config().nodes;
  const bool notable = e.kind == EventKind::kNodeDown || e.kind == EventKind::kQuorumLost ||
                       e.kind == EventKind::kSteppedDown;
  Event out(e.kind, notable ? EventLevel::kWarn : EventLevel::kInfo);
  out.add("node", nodes[options_.self.value].name).add("term", e.term.value);
  if (e.node) out.add("peer", nodes[e.node->value].name);
  out.fields.insert(out.fields.end(), e.fields.begin(), e.fields.end());
  emit_event(out);
}

nlohmann::json Agent::status() const {
  const Instant t = now();
  auto j = status_json(config(), core().status(t), t, transport_->counters());
  add_resources_json(j, config(), host().conductor(), rt_->membership(t), t);
  j["document"] = doc_json();
  j["attributes"] = attributes_json(config(), doc(), rt_->incarnations(t));
  j["properties"] = doc().properties;
  j["availability"] = availability_json();
  j["failures"] = failures_json(host().conductor().state(rt_->membership(t), t), t);
  const Membership mem = rt_->membership(t);
  const Fencer& fencer = host().fencer();
  if (config().two_node) {
    // The pair's own safety (docs/pairs.md): whether this node may fence alone yet, and the
    // peer standing in for its vote (fenced in its boot, or gone after leaving cleanly).
    const auto stand_ins = rt_->stand_ins(t);
    nlohmann::json who = nlohmann::json::array();
    for (std::size_t i = 0; i < stand_ins.size(); ++i) {
      if (stand_ins[i]) who.push_back(config().nodes[i].name);
    }
    j["two_node"] = {
        {"wait_for_all", config().wait_for_all},
        {"waiting_for_peer", rt_->waiting_for_all()},
        {"stand_ins", who},
        {"last_resort", config().last_resort_unsafe ? nlohmann::json("unsafe_take_over")
                                                    : nlohmann::json(nullptr)}};
  }
  for (std::size_t i = 0; i < j["nodes"].size(); ++i) {
    // What fencing does about this node, when anything: pending (lost, to be fenced by the
    // coordinator), running, fenced or failed (retried).
    const NodeId id{static_cast<std::uint16_t>(i)};
    const NodeFencing& f = fencer.state(id);
    const bool pending = mem.fence_of(i) == NodeFence::kPending;
    if (f.stage == FenceStage::kNone && !pending) {
      j["nodes"][i]["fencing"] = nullptr;
      continue;
    }
    nlohmann::json fj{{"stage", f.stage == FenceStage::kNone ? "pending" : to_string(f.stage)}};
    if (f.stage != FenceStage::kNone) {
      fj["since_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(t - f.since).count();
    }
    if (f.stage == FenceStage::kRunning) fj["level"] = f.level + 1;
    if (!f.by.empty()) fj["by"] = f.by;
    if (!f.error.empty() && f.stage != FenceStage::kFenced) fj["error"] = f.error;
    if (f.rounds > 0) fj["failed_rounds"] = f.rounds;
    if (f.stage == FenceStage::kFailed && f.retry_at) {
      fj["retry_in_ms"] =
          std::chrono::duration_cast<std::chrono::milliseconds>(*f.retry_at - t).count();
    }
    j["nodes"][i]["fencing"] = fj;
  }
  for (auto& n : j["nodes"]) {
    const auto name = n["name"].get<std::string>();
    const bool maintenance = std::find(doc().maintenance.begin(), doc().maintenance.end(), name) !=
                             doc().maintenance.end();
    n["maintenance"] = maintenance;
    if (n["state"] == "online" && maintenance) {
      n["state"] = "maintenance";
    } else if (n["state"] == "online" &&
               std::find(doc().standby.begin(), doc().standby.end(), name) != doc().standby.end()) {
      n["state"] = "standby";
    }
  }
  return j;
}

void Agent::handle_request(const ControlRequest& parsed, const PeerCredentials& cred,
                           ControlServer::Reply reply) {
  const std::string& cmd = parsed.cmd;
  const nlohmann::json& request = parsed.body;
  const bool write = parsed.access == ControlAccess::kWrite;
  if (write && !may_write(cred)) {
    // An audit record, at most one per caller and 10 s (with the count of those left out), so
    // a reader refused in a loop cannot push older records out.
    if (const auto unlogged = refused_writes_.admit("uid " + std::to_string(cred.uid), now())) {
      Event e(EventKind::kControlRefused, EventLevel::kWarn);
      e.add("cmd", cmd).text("caller", caller(cred)).add("reason", "not_an_admin");
      if (*unlogged > 0) e.add("unlogged_before", *unlogged);
      emit_event(e);
    }
    reply({{"error", "permission denied: '" + cmd + "' changes the cluster and needs root" +
                         (config().admin_group.empty() ? std::string()
                                                       : " or group " + config().admin_group)}});
    return;
  }
  if (!may_read(cred)) {
    reply({{"error", "permission denied: needs root or group " + config().read_group}});
    return;
  }
  if (write) {
    emit_event(Event(EventKind::kControlWrite)
                   .add("cmd", cmd)
                   .text("caller", caller(cred))
                   .add("request", request.dump().substr(0, 300)));
  }
  switch (parsed.verb) {
    case ControlVerb::kStatus:
      return answer_status(std::move(reply));
    case ControlVerb::kSimulate:
      return simulate_off_loop(request, std::move(reply));
    case ControlVerb::kExplain:
      return explain_off_loop(request, std::move(reply));
    case ControlVerb::kEvents:
      return reply(events_json(request));
    case ControlVerb::kCleanup:
      return cleanup(request, std::move(reply));
    case ControlVerb::kCoordinatorHandover:
      return reply(handover(request));
    case ControlVerb::kClusterUnblock:
      return reply(unblock());
    default:
      return handle_doc_request(parsed.verb, request, cred, std::move(reply));
  }
}

namespace {

// "no node NAME (did you mean ...?)" for a name the configuration does not have.
std::string unknown_node(const ClusterConfig& config, const std::string& name) {
  return unknown_name_message("node", name, node_names(config));
}

}  // namespace

std::optional<NodeId> Agent::hand_over_role(std::optional<NodeId> target) {
  const auto& nodes = config().nodes;
  const auto to = rt_->hand_over(target, now());
  if (!to) {
    emit_event(Event(EventKind::kHandoverImpossible, EventLevel::kWarn)
                   .add("node", nodes[options_.self.value].name)
                   .text("reason",
                         target ? nodes[target->value].name + " is not an online voter heard lately"
                                : "no online voter outside standby or maintenance heard lately"));
  }
  return to;
}

nlohmann::json Agent::handover(const nlohmann::json& request) {
  std::optional<NodeId> target;
  if (const auto name = request.value("to", std::string()); !name.empty()) {
    target = config().find_node(name);
    if (!target) return {{"error", unknown_node(config(), name)}};
  }
  const auto coordinator = core().coordinator();
  if (!coordinator) return {{"error", "no coordinator to hand over from: an election is going on"}};
  if (target == coordinator) {
    return {{"error", config().node(*target).name + " is the coordinator already"}};
  }
  const auto& nodes = config().nodes;
  nlohmann::json answer = {{"from", nodes[coordinator->value].name}, {"term", core().term().value}};
  if (*coordinator != options_.self) {
    rt_->hand_over(target, now());  // asks the coordinator
    process();
    answer["ok"] = true;
    answer["asked"] = nodes[coordinator->value].name;
    return answer;
  }
  const auto to = hand_over_role(target);
  process();
  if (!to) return {{"error", "no voter can take over: none online outside standby or maintenance"}};
  answer["ok"] = true;
  answer["to"] = nodes[to->value].name;
  return answer;
}

// `hactl cluster unblock`: a pair member that booted alone (two_node with wait_for_all) may
// fence its peer and then run everything by itself. The operator says the peer is not coming
// back soon; the fence still comes first.
nlohmann::json Agent::unblock() {
  if (!config().two_node) return {{"error", "this cluster is not two_node: nothing waits"}};
  if (!rt_->unblock(now())) {
    return {{"ok", true}, {"was_waiting", false}, {"message", "this node was not waiting"}};
  }
  process();
  return {{"ok", true}, {"was_waiting", true}};
}

void Agent::cleanup(const nlohmann::json& request, ControlServer::Reply reply) {
  const auto id = request.value("resource", std::string());
  const ResourceConfig& rc = config().resources;
  const auto prims = primitives_of(rc, id);
  if (prims.empty()) {
    return reply({{"error", unknown_name_message("resource", id, resource_ids(rc))}});
  }
  std::optional<NodeId> only;
  if (const auto node = request.value("node", std::string()); !node.empty()) {
    only = config().find_node(node);
    if (!only) return reply({{"error", unknown_node(config(), node)}});
  }
  for (const auto& p : prims) {
    rt_->cleanup(static_cast<std::uint32_t>(prim_index_.at(p)), now(), only);
  }
  nlohmann::json answer = {{"ok", true}, {"resource", id}, {"primitives", prims}};
  // A hold of flap damping goes with the failures (not with a cleanup of one node only).
  const auto top = top_level_resource(rc, id);
  ClusterDoc next = doc();
  if (!only && top &&
      std::erase_if(next.held, [&](const FlapHold& h) { return h.resource == *top; }) > 0) {
    emit_own(
        Event(EventKind::kFlapReleased).add("resource", *top).add("by", "hactl_resource_cleanup"));
    answer["released"] = *top;
    return propose(next, std::move(reply), answer);
  }
  process();
  reply(answer);
}

}  // namespace hactl
