#include "agent/reconcile_watch.hpp"

namespace hactl {

std::string placement_summary(const ClusterConfig& config, const ClusterState& state,
                              std::size_t max_bytes) {
  std::string out;
  const auto& prims = config.resources.primitives;
  for (std::size_t k = 0; k < prims.size(); ++k) {
    std::string item = prims[k].id + "@";
    bool any = false;
    const auto it = state.roles.find(prims[k].id);
    if (it != state.roles.end()) {
      for (std::size_t i = 0; i < it->second.size() && i < config.nodes.size(); ++i) {
        if (it->second[i] == ResourceRole::kStopped) continue;
        if (any) item += ',';
        item += config.nodes[i].name;
        if (it->second[i] == ResourceRole::kPromoted) item += '*';
        any = true;
      }
    }
    if (!any) item += '-';
    const std::string more = " +" + std::to_string(prims.size() - k) + " more";
    // Room for this item, and for the " +N more" of the next ones if it is not the last.
    const std::size_t need =
        (out.empty() ? 0 : 1) + item.size() + (k + 1 < prims.size() ? more.size() : std::size_t{0});
    if (out.size() + need > max_bytes) {
      out += out.empty() ? more.substr(1) : more;
      break;
    }
    if (!out.empty()) out += ' ';
    out += item;
  }
  return out;
}

bool ReconcileWatch::due(bool complete, std::uint64_t term, std::size_t actions, Instant now) {
  if (!complete || term == term_) return false;
  if (seen_term_ != term) {
    seen_term_ = term;
    first_complete_ = now;
  }
  return actions == 0 || now - first_complete_ >= kMaxSettleWait;
}

Event ReconcileWatch::event(std::uint64_t term, std::size_t actions, const ClusterConfig& config,
                            std::string_view self, const ClusterState& state) {
  term_ = term;
  return Event(EventKind::kReconciled)
      .add("term", term)
      .add("coordinator", self)
      .add("resources", config.resources.primitives.size())
      .add("actions", actions)
      .text("placement", placement_summary(config, state));
}

std::optional<Event> ReconcileWatch::check(const ClusterConfig& config, NodeId self,
                                           const ResourceHost& host, const ElectionCore& core,
                                           Instant now, std::span<const Event> log) {
  const Conductor& conductor = host.conductor();
  // Conductor::tick leaves waiting_for empty only when its view was complete (and nothing in
  // flight); it is active only while this node leads.
  const bool complete = conductor.active() && conductor.waiting_for().empty();
  std::size_t actions = 0;
  for (const Event& e : log) actions += e.kind == EventKind::kDispatch ? 1 : 0;
  if (!due(complete, core.term().value, actions, now)) return std::nullopt;
  const Membership m = host.membership(core, now);
  return event(m.term.value, actions, config, config.node(self).name, conductor.state(m, now));
}

std::optional<Event> ReconcileWatch::check(bool complete, std::uint64_t term, std::size_t actions,
                                           Instant now, const ClusterConfig& config,
                                           std::string_view self, const ClusterState& state) {
  if (!due(complete, term, actions, now)) return std::nullopt;
  return event(term, actions, config, self, state);
}

}  // namespace hactl
