#include "coordinator/conductor.hpp"

#include <algorithm>
#include <unordered_map>

#include "common/assert.hpp"
#include "common/cluster_doc.hpp"
#include "coordinator/scheduler.hpp"

namespace hactl {
namespace {

bool is_active(ResourceRole r) { return r != ResourceRole::kStopped; }

std::string node_list(const ClusterConfig& config, const std::vector<std::size_t>& nodes) {
  std::string s;
  for (std::size_t i : nodes) s += (s.empty() ? "" : ",") + config.nodes[i].name;
  return s;
}

}  // namespace

RequestKind request_kind(ActionKind k) {
  switch (k) {
    case ActionKind::kStart:
      return RequestKind::kStart;
    case ActionKind::kStop:
      return RequestKind::kStop;
    case ActionKind::kPromote:
      return RequestKind::kPromote;
    case ActionKind::kDemote:
      return RequestKind::kDemote;
  }
  return RequestKind::kStop;
}

Conductor::Conductor(const ClusterConfig& config, NodeId self)
    : config_(config),
      self_(self),
      views_(config.nodes.size()),
      awaited_version_(config.nodes.size(), 0) {
  const std::size_t n = config.resources.primitives.size();
  const std::size_t pages =
      std::max<std::size_t>(1, (n + kReportPageEntries - 1) / kReportPageEntries);
  for (NodeView& v : views_) {
    v.entries.assign(n, ResourceEntry{});
    v.page_version.assign(pages, 0);
  }
  for (const auto& p : config.resources.primitives) {
    keeps_.push_back(!stops_without_quorum(p, config.no_quorum_policy));
    prim_index_.emplace(p.id, static_cast<std::uint32_t>(prim_index_.size()));
  }
  // Each primitive's top-level resource, once (a lookup per primitive is quadratic: seconds on
  // the loop for 20,000).
  const std::vector<std::string> tops = top_level_resources(config.resources);
  std::unordered_map<std::string_view, bool> promotable;  // clone id -> promotable
  for (const auto& c : config.resources.clones) promotable.emplace(c.id, c.promotable);
  // The most a node whose reports we lack may be running of each primitive.
  for (const auto& top : tops) {
    const auto c = promotable.find(top);
    could_be_.push_back(c != promotable.end() && c->second ? ResourceRole::kPromoted
                                                           : ResourceRole::kStarted);
  }
  for (std::size_t k = 0; k < n; ++k) {
    takeover_.push_back(config.resources.primitives[k].effective_takeover_delay(
        restart_grace(config.timing), could_be_[k] == ResourceRole::kPromoted));
    max_delay_ = std::max(max_delay_, takeover_.back());
  }
  online_since_.assign(config.nodes.size(), std::nullopt);
  notifying_ = notifying_primitives(config);
  any_notifying_ = std::find(notifying_.begin(), notifying_.end(), true) != notifying_.end();
  // Flap damping watches what moves as one (a primitive outside groups and clones, a group),
  // by its first member's starts.
  const auto damping = [&](const std::vector<std::string>& members) {
    for (const auto& id : members) {
      const auto k = prim_index_.find(id);
      if (k == prim_index_.end()) continue;
      const PrimitiveConfig& p = config.resources.primitives[k->second];
      if (p.flap_damping) return *p.flap_damping;
    }
    return config.flap_damping;
  };
  damped_of_.assign(n, -1);
  const auto watch = [&](const std::string& first, const std::string& unit, FlapDamping f) {
    if (!f.on()) return;
    damped_of_[prim_index_.at(first)] = static_cast<std::int32_t>(damped_.size());
    damped_.push_back(Damped{unit, f});
  };
  for (const auto& g : config.resources.groups) {
    const auto first = prim_index_.find(g.members.front());
    if (first == prim_index_.end() || tops[first->second] != g.id) continue;  // cloned
    watch(g.members.front(), g.id, damping(g.members));
  }
  for (std::size_t i = 0; i < tops.size(); ++i) {
    const auto& p = config.resources.primitives[i];
    if (tops[i] == p.id) watch(p.id, p.id, damping({p.id}));
  }
}

void Conductor::saw_active(std::uint32_t index, NodeId node) {
  const Damped& d = damped_[static_cast<std::size_t>(damped_of_[index])];
  const auto last = last_node_.find(d.unit);
  if (last != last_node_.end() && last->second == node.value) return;
  const bool moved = last != last_node_.end();
  last_node_[d.unit] = node.value;
  if (!moved) return;
  // An operator's move (hactl resource move) is not a flap.
  const std::string& to = config_.node(node).name;
  const bool asked =
      std::any_of(config_.resources.locations.begin(), config_.resources.locations.end(),
                  [&](const LocationConstraint& l) {
                    return l.is_move() && l.score > 0 && l.resource == d.unit && l.node == to;
                  });
  if (asked) return;
  auto& times = moves_[d.unit];
  times.push_back(last_tick_);
  while (last_tick_ - times.front() >= d.limit.within) times.pop_front();
  if (active_) hold_flapping(last_tick_);
}

void Conductor::hold_flapping(Instant now) {
  for (const Damped& d : damped_) {
    const auto it = moves_.find(d.unit);
    if (it == moves_.end()) continue;
    auto& times = it->second;
    while (!times.empty() && now - times.front() >= d.limit.within) times.pop_front();
    const int count = static_cast<int>(times.size());
    if (count <= d.limit.moves || held_.contains(d.unit) || pending_holds_.contains(d.unit))
      continue;
    const auto where = last_node_.find(d.unit);
    if (where == last_node_.end()) continue;
    const NodeId node{where->second};
    const std::string why =
        std::to_string(count) + " moves within " + format_duration(d.limit.within);
    pending_holds_[d.unit] = {why, now};
    holds_.push_back(HoldRequest{d.unit, node, count, d.limit.within});
    events_.push_back(
        Event(EventKind::kFlapHeld, EventLevel::kWarn)
            .add("resource", d.unit)
            .add("node", config_.node(node).name)
            .add("moves", count)
            .add("within", format_duration(d.limit.within))
            .text("note", "held where it runs until hactl resource cleanup " + d.unit));
  }
}

void Conductor::set_held(std::map<std::string, std::string> held) {
  last_dispatch_.reset();
  for (const auto& [unit, why] : held_) {
    if (!held.contains(unit)) moves_.erase(unit);  // released: count afresh
  }
  for (const auto& [unit, why] : held) pending_holds_.erase(unit);
  held_ = std::move(held);
}

void Conductor::inherit(const Conductor& old) {
  last_dispatch_.reset();
  if (old.online_since_.size() == online_since_.size()) online_since_ = old.online_since_;
  moves_ = old.moves_;
  last_node_ = old.last_node_;
  held_ = old.held_;
  pending_holds_ = old.pending_holds_;
}

void Conductor::on_report(NodeId from, const ResourceReport& r) {
  last_dispatch_.reset();
  NodeView& v = views_.at(from.value);
  if (r.config_id != config_.config_id || r.total != config_.resources.primitives.size()) {
    if (!v.config_mismatch) {
      events_.push_back(Event(EventKind::kConfigMismatch, EventLevel::kWarn)
                            .add("peer", config_.node(from).name)
                            .add("action", "ignore_its_reports"));
    }
    v.config_mismatch = true;
    return;
  }
  v.config_mismatch = false;
  const std::size_t page = r.first / kReportPageEntries;
  if (page >= v.page_version.size() || r.first % kReportPageEntries != 0) return;
  if (r.version < v.page_version[page]) return;  // reordered: an older page
  std::copy(r.entries.begin(), r.entries.end(), v.entries.begin() + r.first);
  for (std::size_t k = 0; k < r.entries.size(); ++k) {
    const std::size_t index = r.first + k;
    const ResourceEntry& e = r.entries[k];
    if (damped_of_[index] >= 0 && e.probed && e.role != ResourceRole::kStopped)
      saw_active(static_cast<std::uint32_t>(index), from);
  }
  v.page_version[page] = r.version;
  v.term = std::max(v.term, r.term);
  v.fresh = true;
  v.leaving = r.leaving;
  const bool same = std::all_of(v.page_version.begin(), v.page_version.end(),
                                [&](std::uint64_t x) { return x == r.version; });
  if (same) {
    v.complete = true;
    v.version = r.version;
    std::erase_if(answered_, [&](const auto& kv) {
      return kv.first.second == from.value && kv.second.second <= v.version;
    });
  }
}

void Conductor::on_result(NodeId from, const ActionResult& r) {
  last_dispatch_.reset();
  if (!active_ || r.term != term_) return;
  const auto it = inflight_.find(r.id);
  if (it == inflight_.end() || it->second.node != from) return;
  const std::string& id = config_.resources.primitives.at(it->second.index).id;
  static constexpr const char* kKinds[] = {"start",  "stop",    "promote",
                                           "demote", "cleanup", "notify"};
  events_.push_back(Event(EventKind::kActionResult, r.ok ? EventLevel::kInfo : EventLevel::kWarn)
                        .add("resource", id)
                        .add("node", config_.node(from).name)
                        .add("action", kKinds[static_cast<std::size_t>(it->second.kind)])
                        .add("ok", r.ok)
                        .add("code", r.code));
  awaited_version_[from.value] = std::max(awaited_version_[from.value], r.report_version);
  // Until a report shows it, what a start or promote left there is known only from this answer
  // (the report may be lost with the node): count it as running.
  const InFlight& f = it->second;
  if (f.kind == RequestKind::kStop && !r.ok) {
    // It may still run there, and a stop that fails may keep failing: with fencing, the node
    // is fenced (Pacemaker's on-fail=fence for stop).
    stop_failed_.insert({f.index, from.value});
    // Not again at once: a stop that failed is retried after 1 s, doubling to 30 s, so a
    // resource that cannot be stopped does not have its agent run in a loop.
    auto& [count, at] = stop_retry_[{f.index, from.value}];
    ++count;
    Duration wait = std::chrono::seconds{1};
    for (int k = 1; k < count && wait < std::chrono::seconds{30}; ++k) wait *= 2;
    at = last_tick_ + std::min<Duration>(wait, std::chrono::seconds{30});
    events_.push_back(Event(EventKind::kStopFailed, EventLevel::kError)
                          .add("resource", id)
                          .add("node", config_.node(from).name)
                          .add("code", r.code));
  }
  const NodeView& v = views_[from.value];
  const bool reported = v.complete && v.version >= r.report_version;  // the report came first
  if ((f.kind == RequestKind::kStart || f.kind == RequestKind::kPromote) && !reported) {
    answered_[{f.index, from.value}] = {
        f.kind == RequestKind::kPromote ? ResourceRole::kPromoted : ResourceRole::kStarted,
        r.report_version};
  }
  inflight_.erase(it);
}

void Conductor::peer_restarted(NodeId from) {
  last_dispatch_.reset();
  NodeView& v = views_.at(from.value);
  std::fill(v.page_version.begin(), v.page_version.end(), 0);
  std::fill(v.entries.begin(), v.entries.end(), ResourceEntry{});
  v.complete = false;
  v.version = 0;
  v.term = Term{};
  v.leaving = false;
  awaited_version_[from.value] = 0;
  std::erase_if(answered_, [&](const auto& kv) { return kv.first.second == from.value; });
  std::erase_if(stop_failed_, [&](const auto& kv) { return kv.second == from.value; });
  std::erase_if(stop_retry_, [&](const auto& kv) { return kv.first.second == from.value; });
}

bool Conductor::node_online(const Membership& m, std::size_t i) const {
  return m.up[i] && !(i < standby_.size() && standby_[i]) &&
         !(i < maintenance_.size() && maintenance_[i]) && !views_[i].leaving;
}

void Conductor::tick(const Membership& m, Instant now) {
  wake_.reset();
  last_tick_ = now;
  // Since when each node is online (failback after): watched on every node, so a new
  // coordinator knows it as far back as its own agent does.
  for (std::size_t i = 0; i < online_since_.size(); ++i) {
    if (!node_online(m, i)) {
      online_since_[i].reset();
    } else if (!online_since_[i]) {
      online_since_[i] = now;
    }
  }
  // What a node reported before it was lost is history once it is back: wait for a new report.
  for (std::size_t i = 0; i < views_.size(); ++i) {
    if (!m.up[i]) views_[i].fresh = false;
  }
  if (!m.leads) {
    if (active_) events_.push_back(Event(EventKind::kConductorStopped).add("reason", "no_lease"));
    active_ = false;
    last_dispatch_.reset();
    inflight_.clear();
    step_.reset();
    waiting_.clear();  // status: a node that does not lead waits for nothing (docs/status.md)
    return;
  }
  if (!active_ || m.term != term_) begin_term(m, now);
  drop_lost(m);
  if (!inflight_.empty()) {
    resend(m, now);
    waiting_ = "actions in flight";
    return;
  }
  if (!ready(m, now)) return;
  const ClusterState s = state(m, now);
  if (unchanged_since_dispatch(m, s, now)) {
    if (last_dispatch_->wake) wake_at(*last_dispatch_->wake);
    return;
  }
  dispatch(m, now, s);
  Membership seen = m;
  seen.echo.clear();
  last_dispatch_ = Dispatched{now, std::move(seen), s, wake_};
}

// The scheduler is a pure function of the configuration and the cluster state, so a tick that
// finds neither changed since the last dispatch (nor any input in between: each one forgets
// it) would plan the same: it is skipped, as the coordinator ticks on every datagram. What
// changes with time alone asks for a wake (takeover delays, failback, stop retries, failure
// expiry); a plan a second old is made again all the same (and the "due in" of status notes
// with it).
bool Conductor::unchanged_since_dispatch(const Membership& m, const ClusterState& s,
                                         Instant now) const {
  if (!last_dispatch_) return false;
  const Dispatched& d = *last_dispatch_;
  if (now - d.at >= kReplanEvery || (d.wake && now >= *d.wake)) return false;
  const Membership& o = d.membership;
  return m.term == o.term && m.leads == o.leads && m.up == o.up && m.lease_over == o.lease_over &&
         m.fence == o.fence && m.incarnation == o.incarnation && s.same_but_now(d.state);
}

void Conductor::begin_term(const Membership& m, Instant now) {
  last_dispatch_.reset();
  active_ = true;
  term_ = m.term;
  since_ = now;
  inflight_.clear();
  step_.reset();  // what an earlier term began is not known to be done: planned afresh
  std::fill(awaited_version_.begin(), awaited_version_.end(), 0);
  events_.push_back(Event(EventKind::kConductorStarted).add("term", m.term.value));
}

void Conductor::drop_lost(const Membership& m) {
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    const InFlight& f = it->second;
    if (m.up[f.node.value]) {
      ++it;
      continue;
    }
    // It may have run: a start or promote counts as done, so the node stays unclean for it.
    if (f.kind == RequestKind::kStart || f.kind == RequestKind::kPromote) {
      lost_actions_[{f.index, f.node.value}] =
          f.kind == RequestKind::kPromote ? ResourceRole::kPromoted : ResourceRole::kStarted;
    }
    events_.push_back(Event(EventKind::kActionLost, EventLevel::kWarn)
                          .add("resource", config_.resources.primitives[f.index].id)
                          .add("node", config_.node(f.node).name));
    it = inflight_.erase(it);
  }
}

ActionRequest Conductor::request(const Membership& m, std::uint64_t id, const InFlight& f) const {
  const std::uint64_t echo = f.node.value < m.echo.size() ? m.echo[f.node.value] : 0;
  const std::uint64_t inc =
      f.node.value < m.incarnation.size() && f.node != self_ ? m.incarnation[f.node.value] : 0;
  return ActionRequest{term_, config_.config_id, id, f.index, f.kind, echo, inc, f.notification};
}

void Conductor::resend(const Membership& m, Instant now) {
  const Duration retry = 2 * config_.timing.heartbeat_interval;
  for (auto& [id, f] : inflight_) {
    if (now - f.sent >= retry) {
      requests_.emplace_back(f.node, request(m, id, f));
      f.sent = now;
    }
    wake_at(f.sent + retry);
  }
}

bool Conductor::ready(const Membership& m, Instant now) {
  std::vector<std::size_t> silent, busy, unknown_down, unfenced;
  for (std::size_t i = 0; i < views_.size(); ++i) {
    if (config_.nodes[i].witness) continue;
    const NodeView& v = views_[i];
    if (!m.up[i]) {
      if (v.complete || m.fence_of(i) == NodeFence::kFenced) continue;
      (m.fence_of(i) == NodeFence::kPending ? unfenced : unknown_down).push_back(i);
      continue;
    }
    const bool fresh = v.complete && v.fresh && !v.config_mismatch && v.term == term_ &&
                       v.version >= awaited_version_[i];
    if (!fresh) {
      silent.push_back(i);
      continue;
    }
    const bool settled = std::all_of(v.entries.begin(), v.entries.end(),
                                     [](const auto& e) { return e.probed && !e.busy; });
    if (!settled) busy.push_back(i);
  }
  if (!silent.empty()) {
    waiting_ = "a report in this term from " + node_list(config_, silent);
  } else if (!busy.empty()) {
    waiting_ = "probes or actions to finish on " + node_list(config_, busy);
  } else if (!unfenced.empty()) {
    waiting_ = "fencing of " + node_list(config_, unfenced) + " (never reported)";
  } else if (!unknown_down.empty() && now < since_ + max_delay_) {
    // A node we never heard from may run anything until its lease and every takeover delay
    // are over; what it keeps without quorum (on_quorum_loss freeze) stays "possibly there"
    // for as long as it is away (state()).
    waiting_ = "what " + node_list(config_, unknown_down) + " runs (never reported)";
    wake_at(since_ + max_delay_);
  } else {
    waiting_.clear();
    // Reports from a node that is back are the truth now: forget what was assumed of it.
    std::erase_if(lost_actions_, [&](const auto& kv) { return m.up[kv.first.second]; });
    return true;
  }
  return false;
}

Instant Conductor::lost_base(const Membership& m, NodeId node) const {
  // Fenced: nothing runs there any more. To be fenced: everything stays until it is.
  if (m.fence_of(node.value) == NodeFence::kFenced) return Instant::min();
  if (m.fence_of(node.value) == NodeFence::kPending) return Instant::max();
  // Its quorum lease is over once releases from voters meeting every majority were in at once
  // (ElectionCore::lease_released_at); until then it may run whatever it ran, whoever leads.
  // Counted from this coordinator's start at the earliest, so what an earlier coordinator may have
  // told it (state(): unknown) settles from a point this coordinator saw.
  const auto& over = m.lease_over[node.value];
  return over ? std::max(*over, since_) : Instant::max();
}

bool Conductor::needs_fencing(NodeId node, const Membership& m) const {
  const std::size_t i = node.value;
  if (i >= views_.size() || config_.nodes[i].witness) return false;
  if (i < maintenance_.size() && maintenance_[i]) return false;
  const NodeView& v = views_[i];
  // two_node: a lost peer is fenced whatever it ran (the survivor needs it fenced to lead),
  // unless it left cleanly.
  if (config_.two_node && !m.up[i]) return !left_cleanly(node, m);
  if (m.up[i]) {
    // A stop this coordinator sent there failed and its report still shows it running.
    return std::any_of(stop_failed_.begin(), stop_failed_.end(), [&](const auto& kv) {
      return kv.second == i && (!v.complete || v.entries[kv.first].role != ResourceRole::kStopped);
    });
  }
  // m.term, not term_: asked before tick() begins a new term, it must already judge by it.
  if (!v.complete || v.term != m.term) return true;
  return may_run_something(i);
}

// What `i`'s last complete report and this node's own requests say it may run.
bool Conductor::may_run_something(std::size_t i) const {
  for (const ResourceEntry& e : views_[i].entries) {
    if (e.role != ResourceRole::kStopped || e.busy || !e.probed) return true;
  }
  for (const auto& [key, role] : lost_actions_)
    if (key.second == i) return true;
  for (const auto& [key, v2] : answered_)
    if (key.second == i) return true;
  // Sent and not answered yet (drop_lost moves it to lost_actions_ at the next tick).
  for (const auto& [id, f] : inflight_)
    if (f.node.value == i && (f.kind == RequestKind::kStart || f.kind == RequestKind::kPromote))
      return true;
  return false;
}

bool Conductor::left_cleanly(NodeId node, const Membership& m) const {
  const std::size_t i = node.value;
  if (i >= views_.size() || m.up.at(i)) return false;
  const NodeView& v = views_[i];
  return v.complete && v.leaving && !may_run_something(i);
}

bool Conductor::possibly_active(std::uint32_t index, const Membership& m) const {
  for (std::size_t i = 0; i < views_.size(); ++i) {
    if (config_.nodes[i].witness || !m.up[i]) continue;
    const NodeView& v = views_[i];
    if (!v.complete || index >= v.entries.size()) return true;
    const ResourceEntry& e = v.entries[index];
    if (e.role != ResourceRole::kStopped || e.busy || !e.probed) return true;
  }
  for (const auto& [id, f] : inflight_) {
    if (f.index == index && m.up[f.node.value]) return true;
  }
  for (const auto& [key, v] : answered_) {
    if (key.first == index && m.up[key.second]) return true;
  }
  return false;
}

ClusterState Conductor::state(const Membership& m, Instant now) const {
  ClusterState s;
  s.now = now;
  const std::size_t n = config_.nodes.size();
  s.nodes.assign(n, NodeCondition::kOnline);
  std::vector<Instant> base(n, Instant::min());
  // A lost node that has not reported in this coordinator's term may run what an earlier
  // coordinator (or itself, as one) told it, and its last report may have been lost on the way:
  // it is taken to run everything it could, until each resource's takeover delay is over. So
  // is a resource it had not probed yet or was acting on.
  std::vector<bool> unknown(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    if (i < maintenance_.size() && maintenance_[i]) {
      s.nodes[i] = NodeCondition::kMaintenance;  // up or not: left alone
      base[i] = Instant::max();                  // what it runs never settles elsewhere
      continue;
    }
    if (m.up[i]) {
      if ((i < standby_.size() && standby_[i]) || views_[i].leaving) {
        s.nodes[i] = NodeCondition::kStandby;
      }
      continue;
    }
    // A witness runs nothing: once out of reach it is simply offline (the arbiter always is).
    base[i] = config_.nodes[i].witness ? Instant::min()
                                       : lost_base(m, NodeId{static_cast<std::uint16_t>(i)});
    s.nodes[i] = now < base[i] ? NodeCondition::kUnclean : NodeCondition::kOffline;
    unknown[i] =
        active_ && !config_.nodes[i].witness && (!views_[i].complete || views_[i].term != term_);
  }
  for (std::size_t k = 0; k < config_.resources.primitives.size(); ++k) {
    const PrimitiveConfig& p = config_.resources.primitives[k];
    std::vector<ResourceRole> roles(n, ResourceRole::kStopped);
    std::vector<bool> failed(n, false), settling(n, false);
    std::vector<FailureRecord> failures(n);
    for (std::size_t i = 0; i < n; ++i) {
      // A witness (the arbiter among them, which never reports) runs nothing, up or not.
      if (config_.nodes[i].witness) continue;
      const ResourceEntry& e = views_[i].entries[k];
      ResourceRole role = views_[i].complete ? e.role : ResourceRole::kStopped;
      if (const auto it =
              lost_actions_.find({static_cast<std::uint32_t>(k), static_cast<std::uint16_t>(i)});
          it != lost_actions_.end() && !m.up[i]) {
        role = std::max(role, it->second);
      }
      if (const auto it =
              answered_.find({static_cast<std::uint32_t>(k), static_cast<std::uint16_t>(i)});
          it != answered_.end() && !m.up[i]) {
        role = std::max(role, it->second.first);
      }
      // Not probed yet, or an action running when the node was lost: it may run anything.
      if (unknown[i] || (!m.up[i] && (!e.probed || e.busy))) role = std::max(role, could_be_[k]);
      if (!m.up[i] && is_active(role)) {
        // Kept without quorum (on_quorum_loss freeze, or the cluster's freeze): it stays
        // there for as long as the node is away, unless the node was fenced.
        const bool kept = keeps_[k] && base[i] != Instant::min();
        const Instant settle =
            base[i] == Instant::max() || kept ? Instant::max() : base[i] + takeover_[k];
        if (now >= settle) role = ResourceRole::kStopped;
        settling[i] = now >= base[i] && now < settle;
      }
      roles[i] = role;
      failed[i] = e.failed;
      failures[i].count = static_cast<int>(e.fail_count);
      if (e.failure_age_ms != UINT32_MAX)
        failures[i].last = now - std::chrono::milliseconds{e.failure_age_ms};
    }
    s.roles[p.id] = std::move(roles);
    s.failed[p.id] = std::move(failed);
    s.settling[p.id] = std::move(settling);
    s.failures[p.id] = std::move(failures);
  }
  s.online_since.assign(n, Instant::min());
  for (std::size_t i = 0; i < n; ++i) {
    // Not seen online yet by this node: since now (it may have just come back).
    if (s.nodes[i] == NodeCondition::kOnline) s.online_since[i] = online_since_[i].value_or(now);
  }
  s.held = held_;
  for (const auto& [unit, pending] : pending_holds_) s.held.emplace(unit, pending.first);
  s.attributes = attributes_;
  return s;
}

void Conductor::dispatch(const Membership& m, Instant now, const ClusterState& s) {
  // Wake when a lost node's lease, or a resource's takeover delay on it, runs out.
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    if (m.up[i]) continue;
    const Instant base = lost_base(m, NodeId{static_cast<std::uint16_t>(i)});
    if (base == Instant::max()) continue;
    if (now < base) wake_at(base);
    for (std::size_t k = 0; k < config_.resources.primitives.size(); ++k) {
      if (keeps_[k]) continue;
      if (now < base + takeover_[k]) wake_at(base + takeover_[k]);
    }
  }
  wake_at_failure_expiry(s);
  const Transition t = schedule(config_, s);
  ++plans_;
  notes_ = t.notes;
  // A failed stop's retry waits (on_result); forget the failure once it is stopped there.
  std::erase_if(stop_retry_, [&](const auto& kv) {
    const NodeView& v = views_[kv.first.second];
    return v.complete && v.entries[kv.first.first].role == ResourceRole::kStopped;
  });
  std::vector<bool> waits(t.actions.size(), false);
  for (const auto& [before, after] : t.order) waits[after] = true;
  for (std::size_t i = 0; i < t.actions.size(); ++i) {
    const PlannedAction& a = t.actions[i];
    if (a.kind != ActionKind::kStop) continue;
    const auto it = stop_retry_.find({prim_index_.at(a.resource), a.node.value});
    if (it == stop_retry_.end() || now >= it->second.second) continue;
    waits[i] = true;
    wake_at(it->second.second);
    notes_.push_back("the stop of " + a.resource + " on " + config_.node(a.node).name + " failed " +
                     std::to_string(it->second.first) + " time(s); tried again in " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        it->second.second - now)
                                        .count()) +
                     "ms");
  }
  if (t.recheck) wake_at(*t.recheck);  // a failback after a delay
  // A hold the cluster document has not taken within 30 s is asked for again at the next move.
  std::erase_if(pending_holds_,
                [&](const auto& kv) { return now - kv.second.second >= std::chrono::seconds{30}; });
  hold_flapping(now);
  const std::vector<bool> held = notify_wave(m, now, s, t, waits);
  for (std::size_t i = 0; i < t.actions.size(); ++i) {
    if (waits[i] || held[i]) continue;
    const PlannedAction& a = t.actions[i];
    const std::uint32_t index = prim_index_.at(a.resource);
    // A start counts as a move when it is sent: a node that dies right after starting it
    // never reports it, and the move must still count (test_failback found one missed).
    if (a.kind == ActionKind::kStart && damped_of_[index] >= 0) saw_active(index, a.node);
    send(m, now, InFlight{a.node, index, request_kind(a.kind), now});
    events_.push_back(Event(EventKind::kDispatch)
                          .add("resource", a.resource)
                          .add("action", to_string(a.kind))
                          .add("node", config_.node(a.node).name)
                          .text("reason", a.reason));
  }
  if (!inflight_.empty()) wake_at(now + 2 * config_.timing.heartbeat_interval);
}

void Conductor::send(const Membership& m, Instant now, InFlight f) {
  const std::uint64_t id = (term_.value << 32) | (next_id_++ & 0xffffffffULL);
  f.sent = now;
  const auto [it, added] = inflight_.emplace(id, std::move(f));
  requests_.emplace_back(it->second.node, request(m, id, it->second));
}

std::size_t Conductor::send_notifications(const Membership& m, Instant now, NotifyType type) {
  CloneNotification n = step_->lists;
  n.type = type;
  n.operation = step_->operation;
  const std::string& id = config_.resources.primitives[step_->primitive].id;
  std::size_t sent = 0;
  for (const std::uint16_t node : notify_targets(*step_, type)) {
    if (node >= m.up.size() || !m.up[node]) continue;
    send(m, now, InFlight{NodeId{node}, step_->primitive, RequestKind::kNotify, now, n});
    events_.push_back(Event(EventKind::kDispatch)
                          .add("resource", id)
                          .add("action", "notify")
                          .add("node", config_.nodes[node].name)
                          .text("reason", std::string(to_string(type)) + "-" +
                                              std::string(to_string(step_->operation))));
    ++sent;
  }
  return sent;
}

std::vector<bool> Conductor::notify_wave(const Membership& m, Instant now, const ClusterState& s,
                                         const Transition& t, const std::vector<bool>& waits) {
  std::vector<bool> held(t.actions.size(), false);
  if (!any_notifying_) return held;
  using Phase = NotifyStep::Phase;
  // Nothing of a notifying clone goes but what the step under way sends in this wave.
  const auto hold_all_but_step = [&](bool step_goes) {
    for (std::size_t i = 0; i < t.actions.size(); ++i) {
      const PlannedAction& a = t.actions[i];
      if (!notifying_[prim_index_.at(a.resource)]) continue;
      held[i] = !(step_goes && step_ && in_step(*step_, config_, a));
    }
    return held;
  };
  if (step_ && step_->phase == Phase::kPost) step_.reset();  // its post notifications answered
  if (step_ && step_->phase == Phase::kActions) {            // its actions answered
    step_->phase = Phase::kPost;
    if (send_notifications(m, now, NotifyType::kPost) > 0) return hold_all_but_step(false);
    step_.reset();
  }
  if (step_ && step_->phase == Phase::kPre) {  // its pre notifications answered
    if (still_planned(*step_, config_, t, waits)) {
      step_->phase = Phase::kActions;
      return hold_all_but_step(true);
    }
    step_.reset();  // the plan changed under it: planned afresh
  }
  step_ = next_notify_step(config_, s, t, waits, notifying_);
  if (!step_) return held;
  if (send_notifications(m, now, NotifyType::kPre) > 0) return hold_all_but_step(false);
  step_->phase = Phase::kActions;  // nobody to tell before: its actions go at once
  return hold_all_but_step(true);
}

// A failure count forgotten after failure_timeout may let a resource back onto a node.
void Conductor::wake_at_failure_expiry(const ClusterState& s) {
  for (const auto& [id, records] : s.failures) {
    const auto k = prim_index_.find(id);
    if (k == prim_index_.end()) continue;
    const Duration timeout = config_.resources.primitives[k->second].failure_timeout;
    if (timeout <= Duration::zero()) continue;
    for (const FailureRecord& f : records) {
      if (f.count > 0 && s.now < f.last + timeout) wake_at(f.last + timeout);
    }
  }
}

void Conductor::wake_at(Instant t) {
  if (!wake_ || t < *wake_) wake_ = t;
}

std::vector<std::pair<NodeId, ActionRequest>> Conductor::take_requests() {
  auto r = std::move(requests_);
  requests_.clear();
  return r;
}

std::vector<const ResourceEntry*> Conductor::vip_checks(std::size_t index,
                                                        const Membership& m) const {
  std::vector<const ResourceEntry*> out(views_.size(), nullptr);
  if (config_.resources.primitives.at(index).cls != ResourceClass::kVip) return out;
  for (std::size_t i = 0; i < views_.size(); ++i) {
    const ResourceEntry& e = views_[i].entries[index];
    if (m.up[i] && e.check != VipCheck::kNone) out[i] = &e;
  }
  return out;
}

std::vector<Event> Conductor::take_events() {
  auto e = std::move(events_);
  events_.clear();
  return e;
}

}  // namespace hactl
