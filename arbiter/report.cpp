// hactl-arbiter's metrics and status (see report.hpp).
#include "arbiter/report.hpp"

#include <nlohmann/json.hpp>

#include "agent/prometheus_text.hpp"
#include "version.hpp"

namespace hactl {
namespace {

using nlohmann::json;

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

void declare_families(MetricsText& m) {
  m.family("hactl_arbiter_clusters", MetricType::kGauge, "Clusters this arbiter has heard from.");
  m.family("hactl_arbiter_keys", MetricType::kGauge, "Clusters with a key file.");
  m.family("hactl_arbiter_datagrams_received_total", MetricType::kCounter,
           "Datagrams read off the socket.");
  m.family("hactl_arbiter_datagrams_sent_total", MetricType::kCounter, "Answers sent.");
  m.family("hactl_arbiter_send_failed_total", MetricType::kCounter, "Answers the socket refused.");
  m.family("hactl_arbiter_dropped_total", MetricType::kCounter,
           "Datagrams not answered, by reason (every cluster's, and those of no known cluster).");
  m.family("hactl_arbiter_key_reloads_total", MetricType::kCounter, "Key directory reloads.");
  m.family("hactl_arbiter_unreadable_states", MetricType::kGauge,
           "Clusters not served because their state file did not parse at start.");
  m.family("hactl_arbiter_cluster_last_contact_seconds", MetricType::kGauge,
           "Seconds since a node of the cluster was last heard.");
  m.family("hactl_arbiter_node_last_contact_seconds", MetricType::kGauge,
           "Seconds since the node was last heard.");
  m.family("hactl_arbiter_holder", MetricType::kGauge,
           "1 for the node the arbiter backs in the cluster now.");
  m.family("hactl_arbiter_hold_left_seconds", MetricType::kGauge, "Until the holder's hold ends.");
  m.family("hactl_arbiter_term", MetricType::kGauge, "The cluster's term as the arbiter knows it.");
  m.family("hactl_arbiter_hold_changes_total", MetricType::kCounter,
           "Times the hold went to another node since the arbiter started.");
  m.family("hactl_arbiter_claims_total", MetricType::kCounter,
           "Requests that asked for the hold (claims that are not probes, pre-votes, votes).");
  m.family("hactl_arbiter_grants_total", MetricType::kCounter, "Requests granted.");
  m.family("hactl_arbiter_cluster_received_total", MetricType::kCounter,
           "The cluster's authentic datagrams.");
  m.family("hactl_arbiter_cluster_answered_total", MetricType::kCounter,
           "Answers sealed for the cluster's nodes (challenges included).");
  m.family("hactl_arbiter_cluster_dropped_total", MetricType::kCounter,
           "The cluster's datagrams not answered, by reason.");
  m.family("hactl_arbiter_state_write_failures_total", MetricType::kCounter,
           "State writes that failed (the answers waiting for them are held back).");
}

void cluster_metrics(MetricsText& m, const ServedCluster& c, Instant now) {
  const MetricLabels l{{"cluster", c.name()}};
  const auto st = c.voter().status(now);
  if (const auto last = c.last_contact()) {
    m.sample("hactl_arbiter_cluster_last_contact_seconds", l, seconds(now - *last));
  }
  for (const auto& v : st.nodes) {
    if (!v.last_contact) continue;
    m.sample("hactl_arbiter_node_last_contact_seconds", {{"cluster", c.name()}, {"node", v.name}},
             seconds(now - *v.last_contact));
  }
  if (!st.holder.empty()) {
    m.sample("hactl_arbiter_holder", {{"cluster", c.name()}, {"node", st.holder}}, 1);
  }
  m.sample("hactl_arbiter_hold_left_seconds", l, seconds(st.hold_left));
  m.sample("hactl_arbiter_term", l, static_cast<double>(st.term.value));
  m.sample("hactl_arbiter_hold_changes_total", l, static_cast<double>(st.hold_changes));
  m.sample("hactl_arbiter_cluster_received_total", l, static_cast<double>(c.counters().received));
  m.sample("hactl_arbiter_cluster_answered_total", l, static_cast<double>(c.counters().answered));
  m.sample("hactl_arbiter_claims_total", l, static_cast<double>(c.counters().claims));
  m.sample("hactl_arbiter_grants_total", l, static_cast<double>(c.counters().grants));
  m.sample("hactl_arbiter_state_write_failures_total", l,
           static_cast<double>(c.counters().write_failures));
  for (const auto& [reason, n] : c.counters().dropped) {
    m.sample("hactl_arbiter_cluster_dropped_total", {{"cluster", c.name()}, {"reason", reason}},
             static_cast<double>(n));
  }
}

json cluster_status(const ServedCluster& c, Instant now) {
  const auto st = c.voter().status(now);
  const auto peers = c.peer_views();
  json nodes = json::array();
  for (const auto& v : st.nodes) {
    json n = {{"name", v.name}, {"claims", v.claims}, {"granted", v.granted}};
    n["last_contact_s"] = v.last_contact ? json(seconds(now - *v.last_contact)) : json(nullptr);
    if (const auto p = peers.find(v.name); p != peers.end()) n["address"] = p->second.address;
    nodes.push_back(std::move(n));
  }
  const auto& k = c.counters();
  json j = {{"name", c.name()},
            {"term", st.term.value},
            {"voted_for", st.voted_for},
            {"holder", st.holder},
            {"hold_left_s", seconds(st.hold_left)},
            {"promise_s", seconds(st.promise)},
            {"ready", st.ready},
            {"hold_changes", st.hold_changes},
            {"claims", k.claims},
            {"grants", k.grants},
            {"received", k.received},
            {"answered", k.answered},
            {"answers_waiting_for_disk", c.pending()},
            {"state_write_failures", k.write_failures},
            {"dropped", k.dropped},
            {"nodes", std::move(nodes)}};
  const auto last = c.last_contact();
  j["last_contact_s"] = last ? json(seconds(now - *last)) : json(nullptr);
  return j;
}

}  // namespace

std::string render_metrics(const DaemonSnapshot& s) {
  MetricsText m;
  declare_families(m);
  m.sample("hactl_arbiter_clusters", static_cast<double>(s.clusters.size()));
  m.sample("hactl_arbiter_keys", static_cast<double>(s.keys));
  m.sample("hactl_arbiter_datagrams_received_total", static_cast<double>(s.counters.received));
  m.sample("hactl_arbiter_datagrams_sent_total", static_cast<double>(s.counters.sent));
  m.sample("hactl_arbiter_send_failed_total", static_cast<double>(s.counters.send_failed));
  m.sample("hactl_arbiter_key_reloads_total", static_cast<double>(s.counters.key_reloads));
  m.sample("hactl_arbiter_unreadable_states", static_cast<double>(s.unreadable.size()));
  for (const auto& [reason, n] : s.counters.dropped) {
    m.sample("hactl_arbiter_dropped_total", {{"reason", reason}}, static_cast<double>(n));
  }
  for (const auto& [name, c] : s.clusters) cluster_metrics(m, *c, s.now);
  return m.str();
}

std::string render_status(const DaemonSnapshot& s) {
  json clusters = json::array();
  for (const auto& [name, c] : s.clusters) clusters.push_back(cluster_status(*c, s.now));
  json j = {{"version", kVersion},
            {"listen", s.listen},
            {"incarnation", s.incarnation},
            {"uptime_s", seconds(s.uptime)},
            {"keys", s.keys},
            {"received", s.counters.received},
            {"sent", s.counters.sent},
            {"send_failed", s.counters.send_failed},
            {"dropped", s.counters.dropped},
            {"unreadable_state", s.unreadable},
            {"clusters", std::move(clusters)}};
  return j.dump(2) + "\n";
}

}  // namespace hactl
