// The agent's event history: what it logs as "event=..." is kept (agent/event_log), counted
// for the metrics, and served to `hactl events`.
#include <spdlog/spdlog.h>

#include <cmath>

#include "agent/agent.hpp"
#include "resources/ocf_agent.hpp"

namespace hactl {

void Agent::start_events() {
  events_ = std::make_unique<EventLog>(options_.state_dir + "/events");
  if (auto r = events_->open(); !r) {
    spdlog::warn("event=event_log_unavailable error=\"{}\" effect=\"events kept in memory only\"",
                 r.error());
  }
  // Writes and refused writes are also kept apart, so that no flood of routine events can push
  // them out (issue 20, 2): `hactl events --audit`.
  audit_ = std::make_unique<EventLog>(options_.state_dir + "/audit");
  if (auto r = audit_->open(); !r) {
    spdlog::warn("event=audit_log_unavailable error=\"{}\" effect=\"audit kept in memory only\"",
                 r.error());
  }
  // Availability figures carry on from the history kept (as far back as it reaches).
  for (const LoggedEvent& e : events_->recent(1'000'000))
    remember_availability(e.kind, e.fields, e.time_us);
  events_->set_listener([this](const LoggedEvent& e) {
    if (alerts_) alerts_->notify(e, rt_ ? core().term().value : 0);
  });
  event_sink_ = std::make_shared<EventSink>(
      [this](std::string kind, std::map<std::string, std::string> fields) {
        on_logged_event(std::move(kind), std::move(fields));
      });
  spdlog::default_logger()->sinks().push_back(event_sink_);
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
      std::make_unique<AlertRunner>(loop_, rt_ ? base().alerts : options_.config.alerts,
                                    AlertRunnerOptions{.node = config().node(options_.self).name,
                                                       .cluster = config().name,
                                                       .history = events_.get(),
                                                       .record_dir = events_->dir(),
                                                       .ledger = std::move(ledger)});
}

namespace {

// An operator's write, or a write refused (a refusal by the socket itself, before any command,
// is routine: it is rate-limited, see ControlServer).
bool is_audit_record(const std::string& kind, const std::map<std::string, std::string>& fields) {
  return kind == "control_write" || (kind == "control_refused" && fields.contains("cmd"));
}

}  // namespace

void Agent::on_logged_event(std::string kind, std::map<std::string, std::string> fields) {
  ++event_counts_[kind];
  if (kind == "action_finished" && fields.count("resource") && fields.count("action")) {
    auto& a = action_stats_[{fields["resource"], fields["action"]}];
    const bool ok = fields["ended"] == "exited" &&
                    (fields["code"] == "0" || (fields["action"] == "monitor" &&
                                               (fields["code"] == "7" || fields["code"] == "8")));
    ++(ok ? a.ok : a.failed);
    a.seconds += std::strtod(fields["took_ms"].c_str(), nullptr) / 1000.0;
  }
  fields.emplace("agent", config().node(options_.self).name);
  if (rt_) fields.emplace("term", std::to_string(core().term().value));
  const std::int64_t t = wall_clock_us();
  remember_availability(kind, fields, t);
  if (audit_ && is_audit_record(kind, fields)) audit_->append(kind, fields, t);
  events_->append(kind, std::move(fields), t);
}

// At most every 20 ms: what the cluster state says of each primitive, logged when it changes
// (the event history is where the figures come from).
void Agent::log_availability(const AvailabilityChange& c) const {
  const std::string& self = config().node(options_.self).name;
  if (c.kind == AvailabilityChange::Kind::kUp) {
    spdlog::info("event=resource_up resource={} on={}{} node={}", c.resource, c.node,
                 c.cause.empty() ? "" : " cause=" + c.cause, self);
  } else {
    spdlog::log(c.cause == "stopped" ? spdlog::level::info : spdlog::level::warn,
                "event=resource_down resource={} on={} cause={} node={}", c.resource, c.node,
                c.cause, self);
  }
}

void Agent::remember_availability(const std::string& kind,
                                  const std::map<std::string, std::string>& fields,
                                  std::int64_t time_us) {
  if (kind != "resource_up" && kind != "resource_down") return;
  auto field = [&](const char* k) {
    const auto it = fields.find(k);
    return it == fields.end() ? std::string() : it->second;
  };
  availability_log_.push_back(
      {kind == "resource_up" ? AvailabilityChange::Kind::kUp : AvailabilityChange::Kind::kDown,
       field("resource"), field("on"), field("cause"), time_us});
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
  const std::string& self = config().node(options_.self).name;
  // The latest reason known here for each (resource, node).
  std::map<std::pair<std::string, std::string>, std::string> reasons;
  for (const LoggedEvent& e : events_->recent(1000)) {
    auto field = [&](const char* k) {
      const auto it = e.fields.find(k);
      return it == e.fields.end() ? std::string() : it->second;
    };
    const std::string resource = field("resource");
    if (resource.empty()) continue;
    auto code_text = [&](const std::string& code) {
      const int c = std::atoi(code.c_str());
      return std::string(describe(ocf_code(c))) + " (" + code + ")";
    };
    if (e.kind == "monitor_failed") {
      reasons[{resource, self}] = "monitor: " + code_text(field("code"));
    } else if (e.kind == "action_finished" && field("level") == "warning") {
      const std::string ended = field("ended");
      reasons[{resource, self}] =
          field("action") + ": " + (ended == "exited" ? code_text(field("code")) : ended);
    } else if (e.kind == "action_result" && field("ok") == "false") {
      reasons[{resource, field("node")}] = field("action") + ": " + code_text(field("code"));
    }
  }
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
           {"reason", r == reasons.end() ? nlohmann::json(nullptr) : nlohmann::json(r->second)}});
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
