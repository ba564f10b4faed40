// The agent's event history: what it logs as "event=..." is kept (agent/event_log), counted
// for the metrics, and served to `hactl events`.
#include <spdlog/spdlog.h>

#include "agent/agent.hpp"

namespace hactl {

void Agent::start_events() {
  events_ = std::make_unique<EventLog>(options_.state_dir + "/events");
  if (auto r = events_->open(); !r) {
    spdlog::warn("event=event_log_unavailable error=\"{}\" effect=\"events kept in memory only\"",
                 r.error());
  }
  events_->set_listener([this](const LoggedEvent& e) {
    if (alerts_) alerts_->notify(e, core_ ? core_->term().value : 0);
  });
  event_sink_ = std::make_shared<EventSink>(
      [this](std::string kind, std::map<std::string, std::string> fields) {
        on_logged_event(std::move(kind), std::move(fields));
      });
  spdlog::default_logger()->sinks().push_back(event_sink_);
}

void Agent::start_alerts() {
  // A new configuration brings new hooks: the old runner lets its running hooks end.
  if (alerts_) alerts_->close();
  alerts_ = std::make_unique<AlertRunner>(
      loop_, base_.nodes.empty() ? options_.config.alerts : base_.alerts,
      AlertRunnerOptions{.node = options_.config.node(options_.self).name,
                         .cluster = options_.config.name});
}

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
  fields.emplace("agent", options_.config.node(options_.self).name);
  if (core_) fields.emplace("term", std::to_string(core_->term().value));
  events_->append(kind, std::move(fields), wall_clock_us());
}

nlohmann::json Agent::events_json(const nlohmann::json& request) const {
  const auto since = request.value("since", std::uint64_t{0});
  const auto limit = std::min<std::size_t>(request.value("limit", std::size_t{50}), 1000);
  std::vector<LoggedEvent> list = since > 0 ? events_->since(since) : events_->recent(limit);
  if (list.size() > limit) list.erase(list.begin(), list.end() - static_cast<long>(limit));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : list) {
    nlohmann::json j;
    to_json(j, e);
    out.push_back(std::move(j));
  }
  return {{"events", out}, {"last_seq", events_->last_seq()}};
}

}  // namespace hactl
