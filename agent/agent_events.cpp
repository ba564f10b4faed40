// The agent's event history: every event it emits on its loop (agent/event_bus.hpp) is kept
// (agent/event_log), counted for the metrics by its typed values, and served to `hactl events`.
#include <spdlog/spdlog.h>

#include <cmath>

#include "agent/agent.hpp"
#include "agent/event_bus.hpp"
#include "resources/ocf_agent.hpp"

namespace hactl {

void Agent::start_events() {
  events_ = std::make_unique<EventLog>(options_.state_dir + "/events");
  if (auto r = events_->open(); !r) {
    emit_event(Event(EventKind::kEventLogUnavailable, EventLevel::kWarn)
                   .text("error", r.error())
                   .text("effect", "events kept in memory only"));
  }
  // Writes and refused writes are also kept apart, so that no flood of routine events can push
  // them out: `hactl events --audit`.
  audit_ = std::make_unique<EventLog>(options_.state_dir + "/audit");
  if (auto r = audit_->open(); !r) {
    emit_event(Event(EventKind::kAuditLogUnavailable, EventLevel::kWarn)
                   .text("error", r.error())
                   .text("effect", "audit kept in memory only"));
  }
  // Availability figures and failure reasons carry on from the history kept (as far back as it
  // reaches): its records, not log lines.
  for (const LoggedEvent& e : events_->recent(1'000'000)) {
    if (const auto typed = from_history(e)) {
      remember_availability(*typed, e.time_us);
      remember_failure(*typed);
    }
  }
  events_->set_listener([this](const LoggedEvent& e) {
    if (alerts_) alerts_->notify(e, rt_ ? core().term().value : 0);
  });
  install_event_recorder([this](const Event& e) { record_event(e); });
}

void Agent::start_alerts() {
  // A new configuration brings new hooks: the old runner lets its running hooks end, and the
  // new one takes its delivery record over and runs again what it had not done (pending,
  // waiting for a retry or running: at least once, so perhaps twice).
  std::shared_ptr<AlertLedger> ledger;
  if (alerts_) {
    alerts_->close();
    ledger = alerts_->ledger();
  }
  // The delivery record lives next to the event history; the runner queues again, from the
  // history, what a previous agent had not done (docs/alerts.md, "Delivery").
  alerts_ =
      std::make_unique<AlertRunner>(spawner_, rt_ ? base().alerts : options_.config.alerts,
                                    AlertRunnerOptions{.node = config().node(options_.self).name,
                                                       .cluster = config().name,
                                                       .history = events_.get(),
                                                       .record_dir = events_->dir(),
                                                       .ledger = std::move(ledger)});
}

namespace {

// An operator's write, or a write refused (a refusal by the socket itself, before any command,
// is routine: it is rate-limited, see ControlServer).
bool is_audit_record(const Event& e) {
  return e.kind == EventKind::kControlWrite ||
         (e.kind == EventKind::kControlRefused && e.find("cmd") != nullptr);
}

// A run of a resource agent that went as it should: exited 0, or a monitor's 7 (not running)
// or 8 (running promoted), which are answers, not failures.
bool action_ok(const Event& e) {
  const auto code = e.integer("code");
  return e.str("ended") == "exited" && code &&
         (*code == 0 || (e.str("action") == "monitor" && (*code == 7 || *code == 8)));
}

std::string code_text(const Event& e) {
  const std::string code = e.str("code");
  return std::string(describe(ocf_code(std::atoi(code.c_str())))) + " (" + code + ")";
}

}  // namespace

void Agent::record_event(const Event& e) {
  ++event_counts_[e.kind];
  if (e.kind == EventKind::kActionFinished) {
    auto& a = action_stats_[{e.str("resource"), e.str("action")}];
    ++(action_ok(e) ? a.ok : a.failed);
    a.seconds += static_cast<double>(e.integer("took_ms").value_or(0)) / 1000.0;
  }
  const std::int64_t t = wall_clock_us();
  remember_availability(e, t);
  remember_failure(e);
  std::map<std::string, std::string> fields = history_fields(e);
  fields.emplace("agent", config().node(options_.self).name);
  if (rt_) fields.emplace("term", std::to_string(core().term().value));
  if (audit_ && is_audit_record(e)) audit_->append(to_string(e.kind), fields, t);
  events_->append(to_string(e.kind), std::move(fields), t);
}

void Agent::remember_failure(const Event& e) {
  const std::string resource = e.str("resource");
  if (resource.empty()) return;
  const std::string& self = config().node(options_.self).name;
  if (e.kind == EventKind::kMonitorFailed) {
    set_failure_reason({resource, self}, "monitor: " + code_text(e));
  } else if (e.kind == EventKind::kActionFinished && e.warning()) {
    const std::string ended = e.str("ended");
    set_failure_reason({resource, self},
                       e.str("action") + ": " + (ended == "exited" ? code_text(e) : ended));
  } else if (e.kind == EventKind::kActionResult && e.str("ok") == "false") {
    set_failure_reason({resource, e.str("node")}, e.str("action") + ": " + code_text(e));
  }
}

// Bounded: past kFailureReasonsKept, the reason set longest ago goes.
void Agent::set_failure_reason(FailureKey key, std::string text) {
  auto [it, added] = failure_reasons_.try_emplace(std::move(key));
  if (!added) failure_order_.erase(it->second.seq);
  it->second = FailureReason{std::move(text), ++failure_seq_};
  failure_order_.emplace(it->second.seq, it->first);
  if (failure_reasons_.size() <= kFailureReasonsKept) return;
  const auto oldest = failure_order_.begin();
  failure_reasons_.erase(oldest->second);
  failure_order_.erase(oldest);
}

// At most every 20 ms: what the cluster state says of each primitive, logged when it changes
// (the event history is where the figures come from).
void Agent::log_availability(const AvailabilityChange& c) const {
  const bool up = c.kind == AvailabilityChange::Kind::kUp;
  Event e(up ? EventKind::kResourceUp : EventKind::kResourceDown,
          up || c.cause == "stopped" ? EventLevel::kInfo : EventLevel::kWarn);
  e.add("resource", c.resource).add("on", c.node);
  if (!up || !c.cause.empty()) e.add("cause", c.cause);
  emit_own(std::move(e));
}

void Agent::remember_availability(const Event& e, std::int64_t time_us) {
  if (e.kind != EventKind::kResourceUp && e.kind != EventKind::kResourceDown) return;
  availability_log_.push_back({e.kind == EventKind::kResourceUp ? AvailabilityChange::Kind::kUp
                                                                : AvailabilityChange::Kind::kDown,
                               e.str("resource"), e.str("on"), e.str("cause"), time_us});
  while (availability_log_.size() > 20'000) availability_log_.pop_front();
}

std::vector<AvailabilityStats> Agent::availability_stats() const {
  std::vector<std::string> ids;
  for (const auto& p : config().resources.primitives) ids.push_back(p.id);
  const std::vector<AvailabilityChange> changes(availability_log_.begin(), availability_log_.end());
  return availability(changes, ids, wall_clock_us(), std::int64_t{86'400} * 1'000'000);
}

nlohmann::json Agent::availability_json(const std::vector<std::string>& only) const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& s : availability_stats()) {
    if (!only.empty() && std::find(only.begin(), only.end(), s.resource) == only.end()) continue;
    list.push_back({{"resource", s.resource},
                    {"up", s.up},
                    {"uptime_percent", std::round(s.uptime_percent * 1000) / 1000},
                    {"observed_s", s.observed_s},
                    {"outages", s.outages},
                    {"failovers", s.failovers},
                    {"mttr_s", s.mttr_s ? nlohmann::json(std::round(*s.mttr_s * 1000) / 1000)
                                        : nlohmann::json(nullptr)}});
  }
  return {{"window_s", 86'400}, {"resources", std::move(list)}};
}

nlohmann::json Agent::failures_json(const ClusterState& state, Instant now) const {
  const auto& reasons = failure_reasons_;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : config().resources.primitives) {
    const auto it = state.failures.find(p.id);
    if (it == state.failures.end()) continue;
    for (std::size_t i = 0; i < it->second.size(); ++i) {
      const int count = state.fail_count(p, NodeId{static_cast<std::uint16_t>(i)});
      if (count <= 0) continue;
      const std::string& node = config().nodes[i].name;
      const auto r = reasons.find({p.id, node});
      out.push_back(
          {{"resource", p.id},
           {"node", node},
           {"count", count},
           {"last_ago_s",
            std::chrono::duration_cast<std::chrono::seconds>(now - it->second[i].last).count()},
           {"reason",
            r == reasons.end() ? nlohmann::json(nullptr) : nlohmann::json(r->second.text)}});
    }
  }
  return out;
}

nlohmann::json Agent::events_json(const nlohmann::json& request) const {
  const auto since = request.value("since", std::uint64_t{0});
  const auto limit = std::min<std::size_t>(request.value("limit", std::size_t{50}), 1000);
  const EventLog& log = request.value("audit", false) && audit_ ? *audit_ : *events_;
  std::vector<LoggedEvent> list = since > 0 ? log.since(since) : log.recent(limit);
  if (list.size() > limit) list.erase(list.begin(), list.end() - static_cast<long>(limit));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : list) {
    nlohmann::json j;
    to_json(j, e);
    out.push_back(std::move(j));
  }
  return {{"events", out}, {"last_seq", log.last_seq()}};
}

}  // namespace hactl
