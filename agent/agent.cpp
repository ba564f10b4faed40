#include "agent/agent.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "agent/status_json.hpp"
#include "common/assert.hpp"

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
      store_(options_.config, options_.state_dir, options_.config.node(options_.self).name) {}

Instant Agent::now() const {
  // uv_hrtime is CLOCK_MONOTONIC: immune to wall-clock steps, as the lease arithmetic needs.
  return Instant{Duration{static_cast<Duration::rep>(uv_hrtime() / 1000)}};
}

std::expected<void, std::string> Agent::start() {
  // First, before this process opens anything the guard should not inherit.
  auto guard = VipGuard::spawn();
  if (!guard) return std::unexpected(guard.error());
  vip_guard_ = std::move(*guard);
  if (auto r = store_.prepare(); !r) return r;
  auto loaded = store_.load();
  if (!loaded) return std::unexpected(loaded.error());
  persisted_ = *loaded;
  persisted_.incarnation = next_incarnation(persisted_.incarnation, realtime_us());
  if (auto r = store_.save(persisted_); !r) return r;

  core_ = std::make_unique<Node>(options_.config, options_.self,
                                 make_timing(options_.config.timing), rng_, persisted_.hard, now());
  for (const auto& p : options_.config.resources.primitives)
    prim_index_.emplace(p.id, prim_index_.size());
  executor_ = std::make_unique<Executor>(loop_, options_.config.resources,
                                         [this](const OpResult& r) { on_op_result(r); });
  executor_->set_vip_guard(&vip_guard_);
  keeper_ = std::make_unique<Keeper>(options_.config, options_.self, now());
  conductor_ = std::make_unique<Conductor>(options_.config, options_.self);
  transport_ = std::make_unique<Transport>(loop_, options_.config, options_.self, options_.key,
                                           persisted_.incarnation);
  auto started = transport_->start([this](const Envelope& e) { on_message(e); },
                                   [this](NodeId from) {
                                     core_->peer_restarted(from, now());
                                     conductor_->peer_restarted(from);
                                     process();
                                   });
  if (!started) return started;
  control_ = std::make_unique<ControlServer>(
      loop_, options_.socket_path, [this](const nlohmann::json& req, const PeerCredentials& cred) {
        return handle_request(req, cred);
      });
  if (auto r = control_->start(); !r) return r;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  timer_open_ = true;
  spdlog::info("event=agent_started node={} cluster={} term={} incarnation={} address={}",
               options_.config.node(options_.self).name, options_.config.name,
               persisted_.hard.term.value, persisted_.incarnation,
               options_.config.node(options_.self).address.to_string());
  on_timer();
  return {};
}

void Agent::stop() {
  if (executor_) executor_->close();
  if (transport_) transport_->close();
  if (control_) control_->close();
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  }
}

void Agent::on_message(const Envelope& env) {
  const Instant t = now();
  core_->step(env.sender, env.message, t);
  if (const auto* r = std::get_if<ResourceReport>(&env.message)) {
    conductor_->on_report(env.sender, *r);
  } else if (const auto* q = std::get_if<ActionRequest>(&env.message)) {
    keeper_->on_request(env.sender, *q, lease_view(t), t);
  } else if (const auto* a = std::get_if<ActionResult>(&env.message)) {
    conductor_->on_result(env.sender, *a);
  }
  process();
}

void Agent::on_op_result(const OpResult& r) {
  if (fatal_) return;
  const bool ran = r.ended == ProcessResult::Ended::kExited;
  const int code = static_cast<int>(r.code);
  if (r.call_id == 0) {
    keeper_->on_monitor(prim_index_.at(r.resource), code, now());
  } else {
    if (!ran || r.code != OcfCode::kSuccess) {
      spdlog::warn("event=action_output resource={} action={} ended={} code={} output=\"{}\"",
                   r.resource, r.action, to_string(r.ended), code, r.output.substr(0, 300));
    }
    keeper_->on_call_done(r.call_id, code, ran, now());
  }
  process();
}

LeaseView Agent::lease_view(Instant t) const {
  LeaseView v;
  v.term = core_->term();
  v.coordinator = core_->coordinator();
  if (core_->has_quorum(t)) v.lease_until = core_->lease_until();
  return v;
}

Membership Agent::membership(Instant t) const {
  Membership m;
  m.term = core_->term();
  m.leads = core_->role() == Role::kCoordinator && core_->holds_coordinator_lease(t);
  const std::size_t n = options_.config.nodes.size();
  m.up.assign(n, false);
  m.lease_bound.assign(n, std::nullopt);
  m.up[options_.self.value] = true;
  for (const PeerStatus& p : core_->status(t).peers) {
    m.up[p.id.value] = p.up;
    m.lease_bound[p.id.value] = core_->granted_lease_bound(p.id);
  }
  return m;
}

void Agent::run_resources(Instant t) {
  // Messages to ourselves are delivered here at once; a few rounds settle any chain of them.
  for (int round = 0; round < 8; ++round) {
    const LeaseView lease = lease_view(t);
    keeper_->tick(lease, t);
    conductor_->tick(membership(t), t);
    bool more = false;
    for (auto& [to, req] : conductor_->take_requests()) {
      if (to == options_.self) {
        keeper_->on_request(to, req, lease, t);
        more = true;
      } else {
        transport_->send(to, req);
      }
    }
    KeeperOutput out = keeper_->take(t);
    for (const auto& r : out.own_reports) conductor_->on_report(options_.self, r);
    for (auto& [to, msg] : out.messages) {
      if (to != options_.self) {
        transport_->send(to, msg);
      } else if (const auto* a = std::get_if<ActionResult>(&msg)) {
        conductor_->on_result(to, *a);
        more = true;
      }
    }
    more = more || !out.own_reports.empty();
    for (const auto& line : conductor_->take_events())
      spdlog::info("{} node={}", line, options_.config.node(options_.self).name);
    for (const auto& line : out.events)
      spdlog::info("{} node={}", line, options_.config.node(options_.self).name);
    for (const auto& [index, on] : out.monitors) {
      const std::string& id = options_.config.resources.primitives[index].id;
      if (on) {
        executor_->start_monitor(id);
      } else {
        executor_->stop_monitor(id);
      }
    }
    for (const KeeperCall& c : out.calls) {
      executor_->submit(OpRequest{c.call_id, options_.config.resources.primitives[c.index].id,
                                  c.action, Duration{0}});
    }
    if (!more) return;
  }
}

void Agent::on_timer() {
  core_->tick(now());
  process();
}

void Agent::process() {
  if (fatal_) return;
  Ready ready = core_->take_ready();
  if (ready.hard_state) {
    // Raft: the vote and term reach the disk before any message that depends on them leaves.
    persisted_.hard = *ready.hard_state;
    if (auto r = store_.save(persisted_); !r) {
      spdlog::critical("event=persist_failed error=\"{}\" action=exit", r.error());
      fatal_ = true;
      stop();
      return;
    }
  }
  for (const auto& out : ready.messages) transport_->send(out.to, out.message);
  for (const auto& e : ready.events) log_event(e);
  run_resources(now());
  arm_timer();
}

void Agent::arm_timer() {
  if (!timer_open_) return;
  Instant next = std::min(core_->next_deadline(), keeper_->next_deadline(lease_view(now())));
  if (const auto c = conductor_->next_deadline()) next = std::min(next, *c);
  const Duration wait =
      std::clamp(next - now(), Duration{1000}, options_.config.timing.heartbeat_interval);
  const auto ms = static_cast<std::uint64_t>((wait.count() + 999) / 1000);
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<Agent*>(t->data)->on_timer(); }, ms, 0);
}

void Agent::log_event(const Event& e) const {
  const auto& nodes = options_.config.nodes;
  const std::string peer = e.node ? " peer=" + nodes[e.node->value].name : "";
  const std::string detail = e.detail.empty() ? "" : " " + e.detail;
  const bool notable = e.kind == Event::Kind::kNodeDown || e.kind == Event::Kind::kQuorumLost ||
                       e.kind == Event::Kind::kSteppedDown;
  spdlog::log(notable ? spdlog::level::warn : spdlog::level::info, "event={} node={} term={}{}{}",
              to_string(e.kind), nodes[options_.self.value].name, e.term.value, peer, detail);
}

nlohmann::json Agent::handle_request(const nlohmann::json& request, const PeerCredentials&) {
  const auto cmd = request.value("cmd", std::string());
  if (cmd == "status") {
    const Instant t = now();
    auto j = status_json(options_.config, core_->status(t), t, transport_->counters());
    add_resources_json(j, options_.config, *conductor_, membership(t), t);
    return j;
  }
  if (cmd == "cleanup") return cleanup(request);
  return {{"error", "unknown command '" + cmd + "'"}};
}

nlohmann::json Agent::cleanup(const nlohmann::json& request) {
  const auto id = request.value("resource", std::string());
  const auto it = prim_index_.find(id);
  if (it == prim_index_.end()) return {{"error", "no primitive is called '" + id + "'"}};
  const Instant t = now();
  const ActionRequest r{core_->term(), options_.config.config_id, 0,
                        static_cast<std::uint32_t>(it->second), RequestKind::kCleanup};
  for (std::size_t i = 0; i < options_.config.nodes.size(); ++i) {
    const NodeId to{static_cast<std::uint16_t>(i)};
    if (to == options_.self) {
      keeper_->on_request(to, r, lease_view(t), t);
    } else {
      transport_->send(to, r);
    }
  }
  process();
  return {{"ok", true}, {"resource", id}};
}

}  // namespace hactl
