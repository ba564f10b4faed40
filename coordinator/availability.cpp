#include "coordinator/availability.hpp"

#include <algorithm>

namespace hactl {
namespace {

bool reachable(NodeCondition c) {
  return c == NodeCondition::kOnline || c == NodeCondition::kStandby ||
         c == NodeCondition::kMaintenance;
}

// Whether `primitive` is active on `node`, and that node can be reached.
bool active_on(const ClusterState& state, const std::string& primitive, const ClusterConfig& config,
               const std::string& node) {
  const auto id = config.find_node(node);
  if (!id || !reachable(state.nodes[id->value])) return false;
  return state.role(primitive, *id) != ResourceRole::kStopped;
}

}  // namespace

std::vector<AvailabilityChange> AvailabilityWatch::observe(
    const ClusterConfig& config, const ClusterState& state, std::int64_t now_us,
    const std::set<std::string>& unverified) {
  std::vector<AvailabilityChange> out;
  for (const auto& p : config.resources.primitives) {
    const auto roles = state.roles.find(p.id);
    std::string where;
    for (std::size_t i = 0; roles != state.roles.end() && i < roles->second.size(); ++i) {
      if (roles->second[i] == ResourceRole::kStopped || i >= state.nodes.size()) continue;
      if (!reachable(state.nodes[i])) continue;
      where = config.nodes[i].name;
      break;
    }
    Seen& s = seen_[p.id];
    // A vip on a new node is up once a peer confirmed it (a refresh of one up does not count).
    const bool up = !where.empty() && (!unverified.contains(p.id) || (s.up && s.node == where));
    // Why it is no longer where it was: that node out of reach, its monitor failed there, or
    // it was stopped.
    auto cause = [&]() -> std::string {
      if (const auto id = config.find_node(s.node)) {
        if (!reachable(state.nodes[id->value])) return "node_lost";
        if (state.is_failed(p.id, *id)) return "failed";
      }
      return "stopped";
    };
    if (up && (!s.up || first_)) {
      out.push_back({AvailabilityChange::Kind::kUp, p.id, where, first_ ? "initial" : "", now_us});
    } else if (!up && s.up) {
      out.push_back({AvailabilityChange::Kind::kDown, p.id, s.node, cause(), now_us});
    } else if (up && s.up && where != s.node && !active_on(state, p.id, config, s.node)) {
      // Gone from its node and already running on another between two looks (a vip starts
      // as soon as the lost node's lease is over, which is when this node sees it lost): a
      // down and an up at once, so the move is counted.
      out.push_back({AvailabilityChange::Kind::kDown, p.id, s.node, cause(), now_us});
      out.push_back({AvailabilityChange::Kind::kUp, p.id, where, "", now_us});
    }
    s.up = up;
    if (up) s.node = where;
  }
  first_ = false;
  return out;
}

std::vector<AvailabilityStats> availability(const std::vector<AvailabilityChange>& changes,
                                            const std::vector<std::string>& resources,
                                            std::int64_t now_us, std::int64_t window_us) {
  const std::int64_t from = now_us - window_us;
  std::int64_t observed_from = now_us;
  for (const auto& c : changes) observed_from = std::min(observed_from, c.time_us);
  observed_from = std::max(observed_from, from);
  std::vector<AvailabilityStats> out;
  for (const auto& id : resources) {
    AvailabilityStats st;
    st.resource = id;
    st.observed_s = (now_us - observed_from) / 1'000'000;
    bool up = false;
    std::int64_t since = observed_from;  // start of the current up or down stretch
    std::int64_t up_us = 0;
    std::optional<std::int64_t> fault_at;
    std::string fault_node;
    double recover_sum = 0;
    int recovered = 0;
    for (const auto& c : changes) {
      if (c.resource != id) continue;
      const std::int64_t t = std::clamp(c.time_us, observed_from, now_us);
      if (c.kind == AvailabilityChange::Kind::kUp) {
        if (!up) {
          since = t;
          up = true;
          if (fault_at && c.time_us >= from) {
            recover_sum += static_cast<double>(c.time_us - *fault_at) / 1e6;
            ++recovered;
            if (c.node != fault_node) ++st.failovers;
          }
          fault_at.reset();
        }
      } else if (up) {
        up_us += t - since;
        since = t;
        up = false;
        if (c.time_us >= from) ++st.outages;
        if (c.cause == "node_lost" || c.cause == "failed") {
          fault_at = c.time_us;
          fault_node = c.node;
        }
      }
    }
    if (up) up_us += now_us - since;
    const std::int64_t observed = now_us - observed_from;
    st.uptime_percent =
        observed > 0 ? 100.0 * static_cast<double>(up_us) / static_cast<double>(observed) : 0.0;
    st.up = up;
    if (recovered > 0) st.mttr_s = recover_sum / recovered;
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace hactl
