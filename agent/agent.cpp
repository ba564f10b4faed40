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
  if (auto r = store_.prepare(); !r) return r;
  auto loaded = store_.load();
  if (!loaded) return std::unexpected(loaded.error());
  persisted_ = *loaded;
  persisted_.incarnation = next_incarnation(persisted_.incarnation, realtime_us());
  if (auto r = store_.save(persisted_); !r) return r;

  core_ = std::make_unique<Node>(options_.config, options_.self,
                                 make_timing(options_.config.timing), rng_, persisted_.hard, now());
  transport_ = std::make_unique<Transport>(loop_, options_.config, options_.self, options_.key,
                                           persisted_.incarnation);
  auto started = transport_->start([this](const Envelope& e) { on_message(e); },
                                   [this](NodeId from) {
                                     core_->peer_restarted(from, now());
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
  if (transport_) transport_->close();
  if (control_) control_->close();
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  }
}

void Agent::on_message(const Envelope& env) {
  core_->step(env.sender, env.message, now());
  process();
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
  arm_timer();
}

void Agent::arm_timer() {
  if (!timer_open_) return;
  const Duration wait = std::clamp(core_->next_deadline() - now(), Duration{1000},
                                   options_.config.timing.heartbeat_interval);
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
    return status_json(options_.config, core_->status(t), t, transport_->counters());
  }
  return {{"error", "unknown command '" + cmd + "'"}};
}

}  // namespace hactl
