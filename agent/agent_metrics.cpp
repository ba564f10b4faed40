// The agent's Prometheus metrics, rendered from what it already keeps at each scrape.
#include <algorithm>
#include <cmath>

#include "agent/agent.hpp"
#include "agent/prometheus_text.hpp"
#include "version.hpp"

namespace hactl {
namespace {

double seconds(Duration d) { return static_cast<double>(d.count()) / 1e6; }

}  // namespace

void Agent::count_heartbeat(NodeId from, Instant t) {
  // A heartbeat that comes k intervals after the previous one means k - 1 were missed (lost,
  // late, or never sent by a stalled peer).
  auto& last = last_beat_[from.value];
  if (last) {
    const double gap = static_cast<double>((t - *last).count()) /
                       static_cast<double>(config().timing.heartbeat_interval.count());
    if (gap >= 1.5) missed_beats_[from.value] += static_cast<std::uint64_t>(std::lround(gap)) - 1;
  }
  last = t;
}

std::string Agent::metrics_text() const {
  const Instant t = now();
  const NodeStatus st = core().status(t);
  MetricsText m;
  metrics_membership(m, st, t);
  metrics_loop(m);
  metrics_peers(m, st, t);
  metrics_resources(m, t);
  metrics_history(m);
  return m.str();
}

// This node in the cluster: term, role, quorum, lease, arbiter, two_node.
void Agent::metrics_membership(MetricsText& m, const NodeStatus& st, Instant t) const {
  using enum MetricType;
  const auto& nodes = config().nodes;
  const std::string& self = nodes[options_.self.value].name;
  m.family("hactl_info", kGauge, "Constant 1, labelled with the cluster, node and version.");
  m.sample("hactl_info", {{"cluster", config().name}, {"node", self}, {"version", kVersion}}, 1);
  m.family("hactl_term", kGauge, "The election term this node is in.");
  m.sample("hactl_term", static_cast<double>(st.term.value));
  m.family("hactl_is_coordinator", kGauge, "1 if this node is the coordinator.");
  m.sample("hactl_is_coordinator", st.role == Role::kCoordinator ? 1 : 0);
  m.family("hactl_quorum", kGauge, "1 if this node has quorum (a valid lease).");
  m.sample("hactl_quorum", st.quorum ? 1 : 0);
  m.family("hactl_lease_remaining_seconds", kGauge, "What is left of this node's lease.");
  if (st.lease_until && *st.lease_until != Instant::max()) {
    m.sample("hactl_lease_remaining_seconds", seconds(*st.lease_until - t));
  }
  if (st.arbiter) {
    m.family(
        "hactl_arbiter_reachable", kGauge,
        "1 if the cluster's arbiter answered within the last 7 s (it matters only in a split).");
    m.sample("hactl_arbiter_reachable", st.arbiter->reachable ? 1 : 0);
    m.family("hactl_arbiter_claiming", kGauge,
             "1 while this node asks the arbiter for its vote (a peer is silent).");
    m.sample("hactl_arbiter_claiming", st.arbiter->claiming ? 1 : 0);
    m.family("hactl_arbiter_held", kGauge, "1 while the arbiter backs this node.");
    m.sample("hactl_arbiter_held", st.arbiter->held ? 1 : 0);
    m.family("hactl_arbiter_rtt_seconds", kGauge, "Smoothed round trip to the arbiter.");
    if (st.arbiter->rtt) m.sample("hactl_arbiter_rtt_seconds", seconds(*st.arbiter->rtt));
  }
  if (config().two_node) {
    // A pair kept safe by fencing (docs/pairs.md): alert on a node left waiting, and on a
    // node running alone (its peer fenced or gone: the pair has no redundancy left).
    m.family("hactl_two_node_waiting_for_peer", kGauge,
             "1 while this node has not run with its peer since it started (wait_for_all): it "
             "fences nobody and runs nothing by itself until `hactl cluster unblock`.");
    m.sample("hactl_two_node_waiting_for_peer", rt_->waiting_for_all() ? 1 : 0);
    const auto stand_ins = rt_->stand_ins(t);
    const bool alone = std::find(stand_ins.begin(), stand_ins.end(), true) != stand_ins.end();
    m.family(
        "hactl_two_node_alone", kGauge,
        "1 while this node runs without its peer, which is fenced or gone after a clean stop.");
    m.sample("hactl_two_node_alone", alone ? 1 : 0);
  }
}

// The agent's loop and what it answers.
void Agent::metrics_loop(MetricsText& m) const {
  using enum MetricType;
  if (loop_monitor_) {
    auto histogram = [&](const char* name, const char* help, const LoopBusy& b) {
      m.family(name, kHistogram, help);
      std::vector<std::pair<double, double>> buckets;
      for (std::size_t i = 0; i < LoopBusy::kBounds.size(); ++i) {
        buckets.emplace_back(LoopBusy::kBounds[i], static_cast<double>(b.cumulative()[i]));
      }
      m.histogram(name, {}, buckets, b.sum(), static_cast<double>(b.count()));
    };
    histogram("hactl_loop_busy_seconds",
              "Wall time the agent's event loop ran per iteration (from one wait to the next, "
              "less the wait).",
              loop_monitor_->busy());
    histogram("hactl_loop_cpu_seconds", "CPU time of the agent's event loop per iteration.",
              loop_monitor_->cpu());
    m.family("hactl_loop_busy_longest_seconds", kGauge,
             "The longest busy iteration of the agent's event loop since it started.");
    m.sample("hactl_loop_busy_longest_seconds", loop_monitor_->busy().longest());
  }
  m.family("hactl_status_answered_total", kCounter, "status requests answered.");
  m.sample("hactl_status_answered_total", static_cast<double>(status_answered_));
  m.family("hactl_status_built_total", kCounter,
           "status answers built (at most one per 100 ms, for every request waiting).");
  m.sample("hactl_status_built_total", static_cast<double>(status_built_));
  m.family("hactl_elections_total", kCounter, "Elections this agent started.");
  const auto count = [&](EventKind kind) {
    const auto it = event_counts_.find(kind);
    return it == event_counts_.end() ? 0.0 : static_cast<double>(it->second);
  };
  m.sample("hactl_elections_total", count(EventKind::kElectionStarted));
}

// Heartbeats and datagrams, by peer.
void Agent::metrics_peers(MetricsText& m, const NodeStatus& st, Instant t) const {
  using enum MetricType;
  const auto& nodes = config().nodes;
  m.family("hactl_peer_up", kGauge, "1 if the peer is heard within node_timeout.");
  m.family("hactl_peer_rtt_seconds", kGauge, "Smoothed heartbeat round trip to the peer.");
  m.family("hactl_peer_last_heard_seconds", kGauge, "Time since the peer was last heard.");
  m.family("hactl_heartbeats_missed_total", kCounter,
           "Heartbeats from the peer that did not arrive in their interval.");
  for (const PeerStatus& p : st.peers) {
    const MetricLabels l = {{"peer", nodes[p.id.value].name}};
    m.sample("hactl_peer_up", l, p.up ? 1 : 0);
    if (p.rtt) m.sample("hactl_peer_rtt_seconds", l, seconds(*p.rtt));
    if (p.last_heard) m.sample("hactl_peer_last_heard_seconds", l, seconds(t - *p.last_heard));
    m.sample("hactl_heartbeats_missed_total", l, static_cast<double>(missed_beats_[p.id.value]));
  }
  const TransportCounters& tc = transport_->counters();
  m.family("hactl_datagrams_sent_total", kCounter, "Datagrams sent.");
  m.sample("hactl_datagrams_sent_total", static_cast<double>(tc.sent));
  m.family("hactl_datagrams_send_failed_total", kCounter, "Datagrams the kernel refused.");
  m.sample("hactl_datagrams_send_failed_total", static_cast<double>(tc.send_failed));
  m.family("hactl_datagrams_received_total", kCounter, "Datagrams accepted.");
  m.sample("hactl_datagrams_received_total", static_cast<double>(tc.received));
  m.family("hactl_datagrams_dropped_total", kCounter,
           "Datagrams dropped, by reason (auth_failed: forged or sealed with another key).");
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    m.sample("hactl_datagrams_dropped_total",
             {{"reason", std::string(to_string(static_cast<DropReason>(i)))}},
             static_cast<double>(tc.dropped[i]));
  }
}

// Resources, VIP verification and availability, as this node knows them.
void Agent::metrics_resources(MetricsText& m, Instant t) const {
  using enum MetricType;
  const auto& nodes = config().nodes;
  // Resources, as this node knows them.
  const Membership mem = rt_->membership(t);
  const ClusterState cs = host().conductor().state(mem, t);
  m.family("hactl_resource_role", kGauge,
           "1 for each node a primitive is active on, by role (started or promoted).");
  m.family("hactl_resource_fail_count", kGauge, "Failures of a primitive on a node that count.");
  for (const auto& p : config().resources.primitives) {
    const auto& roles = cs.roles.at(p.id);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (roles[i] != ResourceRole::kStopped) {
        m.sample("hactl_resource_role",
                 {{"resource", p.id},
                  {"node", nodes[i].name},
                  {"role", std::string(to_string(roles[i]))}},
                 1);
      }
      const int fc = cs.fail_count(p, NodeId{static_cast<std::uint16_t>(i)});
      if (fc > 0) {
        m.sample("hactl_resource_fail_count", {{"resource", p.id}, {"node", nodes[i].name}}, fc);
      }
    }
  }
  // Verified VIP moves (coordinator/announcer.hpp), as each holder reports them.
  m.family("hactl_vip_verified", kGauge,
           "1 when another node confirmed a held vip's announcement and answer, else 0.");
  m.family("hactl_vip_verify_seconds", kGauge, "From a vip's start to its confirmation.");
  m.family("hactl_vip_announcements", kGauge, "Announcements of a held vip since its start.");
  for (std::size_t k = 0; k < config().resources.primitives.size(); ++k) {
    const PrimitiveConfig& p = config().resources.primitives[k];
    const auto checks = host().conductor().vip_checks(k, mem);
    for (std::size_t i = 0; i < checks.size(); ++i) {
      if (checks[i] == nullptr) continue;
      const ResourceEntry& e = *checks[i];
      const MetricLabels labels{{"resource", p.id}, {"node", nodes[i].name}};
      m.sample("hactl_vip_verified", labels, e.check == VipCheck::kVerified ? 1 : 0);
      if (e.check == VipCheck::kVerified) {
        m.sample("hactl_vip_verify_seconds", labels, e.check_ms / 1000.0);
      }
      m.sample("hactl_vip_announcements", labels, e.announcements);
    }
  }
  // Availability over the last 24 hours, from this node's event history.
  m.family("hactl_resource_uptime_ratio", kGauge,
           "Share of the last 24 h (as far as this node's history reaches) the resource ran.");
  m.family("hactl_resource_failovers", kGauge,
           "Times in the last 24 h the resource came back on another node after a fault.");
  m.family("hactl_resource_mttr_seconds", kGauge,
           "Mean time in the last 24 h from a fault detected to the resource running again.");
  for (const auto& s : availability_stats()) {
    const MetricLabels labels{{"resource", s.resource}};
    m.sample("hactl_resource_uptime_ratio", labels, s.uptime_percent / 100.0);
    m.sample("hactl_resource_failovers", labels, s.failovers);
    if (s.mttr_s) m.sample("hactl_resource_mttr_seconds", labels, *s.mttr_s);
  }
}

// Actions run here, events and alert hooks.
void Agent::metrics_history(MetricsText& m) const {
  using enum MetricType;
  m.family("hactl_actions_total", kCounter, "Resource agent runs on this node, by result.");
  m.family("hactl_action_seconds_total", kCounter, "Time resource agent runs took on this node.");
  for (const auto& [key, a] : action_stats_) {
    const auto& [resource, action] = key;
    m.sample("hactl_actions_total", {{"resource", resource}, {"action", action}, {"result", "ok"}},
             static_cast<double>(a.ok));
    m.sample("hactl_actions_total",
             {{"resource", resource}, {"action", action}, {"result", "failed"}},
             static_cast<double>(a.failed));
    m.sample("hactl_action_seconds_total", {{"resource", resource}, {"action", action}}, a.seconds);
  }
  m.family("hactl_config_version", kGauge, "The configuration version this node stores.");
  m.sample("hactl_config_version", static_cast<double>(doc().config_version));
  m.family("hactl_events_total", kCounter, "Events this agent logged, by kind.");
  for (const auto& [kind, n] : event_counts_) {
    m.sample("hactl_events_total", {{"kind", std::string(to_string(kind))}},
             static_cast<double>(n));
  }
  m.family("hactl_event_log_dropped_writes_total", kCounter,
           "Event history lines not written to disk (queue full or disk refused).");
  m.sample("hactl_event_log_dropped_writes_total",
           static_cast<double>(events_->dropped_writes() + events_->failed_writes()));
  if (alerts_) {
    const AlertStats as = alerts_->stats();
    m.family("hactl_alert_runs_total", kCounter, "Alert hook runs, retries included.");
    m.family("hactl_alert_failures_total", kCounter, "Alert hook runs that failed or timed out.");
    m.family("hactl_alert_dropped_total", kCounter,
             "Alert hook runs dropped from memory (shutdown, a displaced retry); still owed "
             "unless skipped.");
    m.family("hactl_alert_deferred_total", kCounter,
             "Alert hook runs deferred to the event history (queue full), run later.");
    m.family("hactl_alert_redelivered_total", kCounter,
             "Alert hook runs queued from the event history (after a restart or a deferral).");
    m.family("hactl_alert_skipped_total", kCounter,
             "Events an alert hook wanted but was not run for (too old, over the bound, gone).");
    for (const auto& [id, c] : as.by_alert) {
      m.sample("hactl_alert_runs_total", {{"alert", id}}, static_cast<double>(c.runs));
      m.sample("hactl_alert_failures_total", {{"alert", id}}, static_cast<double>(c.failures));
      m.sample("hactl_alert_dropped_total", {{"alert", id}}, static_cast<double>(c.dropped));
      m.sample("hactl_alert_deferred_total", {{"alert", id}}, static_cast<double>(c.deferred));
      m.sample("hactl_alert_redelivered_total", {{"alert", id}},
               static_cast<double>(c.redelivered));
      m.sample("hactl_alert_skipped_total", {{"alert", id}}, static_cast<double>(c.skipped));
    }
  }
}

}  // namespace hactl
