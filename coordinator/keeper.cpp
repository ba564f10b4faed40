#include "coordinator/keeper.hpp"

#include <algorithm>

#include "common/assert.hpp"
#include "common/limits.hpp"

namespace hactl {
namespace {

// OCF codes (OCF Resource Agent API, "Return codes"); the core sees them as plain ints.
constexpr int kOcfSuccess = 0;
constexpr int kOcfNotRunning = 7;
constexpr int kOcfRunningPromoted = 8;
constexpr int kOcfFailedPromoted = 9;
constexpr int kOcfNotInstalled = 5;
constexpr int kOcfNotConfigured = 6;

// Requests remembered for answering repeats; older ids are forgotten first.
constexpr std::size_t kRememberedRequests = 4096;

std::string_view action_of(RequestKind k) {
  switch (k) {
    case RequestKind::kStart:
      return "start";
    case RequestKind::kStop:
      return "stop";
    case RequestKind::kPromote:
      return "promote";
    case RequestKind::kDemote:
      return "demote";
    case RequestKind::kCleanup:
      return "monitor";
    case RequestKind::kNotify:
      return "notify";
  }
  return "monitor";
}

}  // namespace

Keeper::Keeper(const ClusterConfig& config, NodeId self, Instant now,
               std::optional<Instant> previous_lease_end)
    : config_(config),
      self_(self),
      witness_(config.node(self).witness),
      guard_(config.timing.heartbeat_interval / 2),
      report_every_(std::max<Duration>(config.timing.node_timeout, std::chrono::seconds{1})),
      local_(config.resources.primitives.size()),
      announcer_(config, self) {
  for (const PrimitiveConfig& p : config.resources.primitives) {
    any_stops_ = any_stops_ || stops_without_quorum(p, config.no_quorum_policy);
  }
  // Probe everything once: what runs here is learned, never assumed (a witness runs nothing).
  for (std::size_t i = 0; i < local_.size(); ++i) {
    if (witness_) {
      local_[i].probed = true;
    } else {
      submit(i, "monitor");
    }
  }
  next_report_ = now;
  // After a restart of the agent alone, what it left running is found by the probes and kept
  // if a lease comes within restart_grace (three node_timeouts: time for the survivors to elect
  // a coordinator if this node was it; the coordinator then sees the resource where it was) of
  // the end of the previous agent's lease; otherwise it is stopped like any resource held
  // without a lease. The coordinator's takeover delay counts on that bound.
  boot_grace_until_ =
      std::min(now, previous_lease_end.value_or(now)) + restart_grace(config.timing);
}

bool Keeper::lease_ok(const LeaseView& lease, Instant now) const {
  return lease.lease_until && now + guard_ < *lease.lease_until;
}

bool Keeper::authority_ok(const LeaseView& lease, Instant now) const {
  return lease.authority_until && now + guard_ < *lease.authority_until;
}

void Keeper::on_request(NodeId from, const ActionRequest& r, const LeaseView& lease, Instant now) {
  if (r.config_id != config_.config_id || r.index >= local_.size() || witness_) return;
  if (r.kind == RequestKind::kCleanup) {
    Local& l = local_[r.index];
    l.fail_count = 0;
    l.last_failure.reset();
    l.failed = false;
    out_.events.push_back(
        Event(EventKind::kCleanup).add("resource", config_.resources.primitives[r.index].id));
    submit(r.index, "monitor");
    changed();
    return;
  }
  if (r.term != lease.term || lease.coordinator != from || !lease_ok(lease, now) ||
      !authority_ok(lease, now) || lapsed_ || maintenance_)
    return;
  if (const auto it = requests_.find(r.id); it != requests_.end()) {
    if (it->second) out_.messages.emplace_back(from, *it->second);  // a repeat: answer again
    return;
  }
  // Meant for another boot of this node (an earlier agent, the request delayed in the network):
  // the coordinator may have given that up and run it elsewhere since.
  if (from != self_ && r.incarnation != 0 && incarnation_ != 0 && r.incarnation != incarnation_) {
    refused(r.index, "another_boot");
    return;
  }
  // Sent before this node's lease began (a datagram delayed, or held while this agent was
  // stopped): the coordinator may have given up on it and run it elsewhere. It resends what it
  // still wants, with a newer echo.
  if (from != self_ && r.echo < lease.session_ping) {
    refused(r.index, "sent_before_this_lease");
    return;
  }
  Local& l = local_[r.index];
  const bool promote_nothing =
      r.kind == RequestKind::kPromote && l.role == ResourceRole::kStopped && l.pending == 0;
  if (promote_nothing ||
      (leaving_ && (r.kind == RequestKind::kStart || r.kind == RequestKind::kPromote))) {
    // Not run: nothing to promote (stopped since the coordinator's view of it), or this agent
    // is shutting down. Answered, with a fresh report, so that the coordinator schedules again
    // from what is true; unanswered, it counted the start as possibly run, and a node that then
    // left cleanly was fenced for it (the nemesis with pgsql, seed 101).
    if (!promote_nothing) refused(r.index, "shutting_down");
    const ActionResult no{last_term_, r.id, r.index, r.kind, false, kOcfNotRunning, version_ + 1};
    requests_.emplace(r.id, no);
    out_.messages.emplace_back(from, no);
    changed();
    return;
  }
  requests_.emplace(r.id, std::nullopt);
  while (requests_.size() > kRememberedRequests) requests_.erase(requests_.begin());
  if (r.kind == RequestKind::kStop || r.kind == RequestKind::kDemote) set_monitor(r.index, false);
  // A notify call changes nothing here: the agent tells its instance what the clone does.
  const std::uint64_t call = submit(r.index, std::string(action_of(r.kind)),
                                    r.kind == RequestKind::kNotify ? r.notification : std::nullopt);
  Call& c = calls_.at(call);
  c.request = r.id;
  c.from = from;
  c.kind = r.kind;
}

std::uint64_t Keeper::submit(std::size_t index, std::string action,
                             std::optional<CloneNotification> notification) {
  const std::uint64_t id = next_call_++;
  calls_[id] = Call{index, action, std::nullopt, self_, RequestKind::kStart};
  ++local_[index].pending;
  out_.calls.push_back(KeeperCall{id, index, std::move(action), std::move(notification)});
  changed();
  return id;
}

void Keeper::on_call_done(std::uint64_t call_id, int code, bool ran, Instant now) {
  const auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  const Call c = it->second;
  calls_.erase(it);
  Local& l = local_[c.index];
  const PrimitiveConfig& p = config_.resources.primitives[c.index];
  HACTL_ASSERT(l.pending > 0);
  --l.pending;
  apply(c.index, c.action, code, ran, now);
  changed();
  if (p.cls == ResourceClass::kVip) {
    if (c.action == "start" && ran && code == kOcfSuccess && !l.failed) {
      announcer_.started(c.index, now, !stops_without_quorum(p, config_.no_quorum_policy));
    } else if (l.role == ResourceRole::kStopped) {
      announcer_.stopped(c.index);
    }
  }
  if (leaving_ && l.role != ResourceRole::kStopped && l.pending == 0 && !witness_) {
    // Started (or left running by a failed stop) while shutting down: stop it (again).
    set_monitor(c.index, false);
    if (l.role == ResourceRole::kPromoted) submit(c.index, "demote");
    submit(c.index, "stop");
  }
  Event done(EventKind::kActionDone);
  done.add("resource", p.id).add("action", c.action).add("code", code);
  done.add("role", to_string(l.role));
  if (l.failed) done.add("failed", true);
  out_.events.push_back(std::move(done));
  if (!c.request) return;
  const bool ok = c.action == "notify"
                      ? ran && code == kOcfSuccess
                      : !l.failed && (c.action != "stop" || l.role == ResourceRole::kStopped);
  ActionResult result{last_term_, *c.request, static_cast<std::uint32_t>(c.index),
                      c.kind,     ok,         static_cast<std::uint8_t>(std::clamp(code, 0, 255)),
                      version_};
  if (auto r = requests_.find(*c.request); r != requests_.end()) r->second = result;
  out_.messages.emplace_back(c.from, result);
}

void Keeper::apply(std::size_t index, const std::string& action, int code, bool ran, Instant now) {
  Local& l = local_[index];
  const bool success = ran && code == kOcfSuccess;
  if (action == "monitor") {
    // A probe (or the probe after a cleanup): learn the role.
    l.probed = true;
    if (code == kOcfSuccess) {
      l.role = ResourceRole::kStarted;
    } else if (code == kOcfRunningPromoted) {
      l.role = ResourceRole::kPromoted;
    } else if (code == kOcfNotRunning || code == kOcfNotInstalled || code == kOcfNotConfigured) {
      l.role = ResourceRole::kStopped;
      // Pacemaker's rule: an agent that cannot run here (not installed, not configured) bans
      // the resource from this node until a cleanup.
      if (code != kOcfNotRunning) {
        fail(l, now, static_cast<std::uint32_t>(limits::kInfinity));
        l.failed = false;  // nothing to recover: it is not running
      }
    } else {
      l.role = code == kOcfFailedPromoted ? ResourceRole::kPromoted : ResourceRole::kStarted;
      fail(l, now);
    }
    if (l.role != ResourceRole::kStopped) set_monitor(index, true);
    return;
  }
  if (action == "start") {
    l.probed = true;
    l.role = ResourceRole::kStarted;  // even a failed start may have left something running
    l.failed = false;
    // A failed start bans the resource from this node (Pacemaker's start-failure-is-fatal).
    if (!success) fail(l, now, static_cast<std::uint32_t>(limits::kInfinity));
    set_monitor(index, true);
  } else if (action == "stop") {
    if (success || (ran && code == kOcfNotRunning)) {
      l.role = ResourceRole::kStopped;
      l.failed = false;
    } else {
      fail(l, now);
    }
  } else if (action == "promote") {
    if (success) {
      l.role = ResourceRole::kPromoted;
      set_monitor(index, true);  // a promoted instance is monitored too (expecting "promoted")
    } else {
      fail(l, now);
    }
  } else if (action == "demote") {
    if (success) {
      l.role = ResourceRole::kStarted;
      set_monitor(index, true);
    } else if (ran && code == kOcfNotRunning) {
      l.role = ResourceRole::kStopped;  // not running at all: nothing is promoted here
      set_monitor(index, false);
    } else {
      fail(l, now);
    }
  }
}

void Keeper::fail(Local& l, Instant now, std::uint32_t count_to) {
  l.failed = true;
  l.last_failure = now;
  l.fail_count = count_to > 0 ? std::max(l.fail_count, count_to) : l.fail_count + 1;
  l.fail_count = std::min<std::uint32_t>(l.fail_count, limits::kInfinity);
}

void Keeper::on_monitor(std::size_t index, int code, Instant now) {
  if (index >= local_.size()) return;
  Local& l = local_[index];
  if (l.role == ResourceRole::kStopped || l.pending > 0 || maintenance_) return;
  const int expected = l.role == ResourceRole::kPromoted ? kOcfRunningPromoted : kOcfSuccess;
  if (code == expected || l.failed) return;
  fail(l, now);
  out_.events.push_back(Event(EventKind::kMonitorFailed, EventLevel::kWarn)
                            .add("resource", config_.resources.primitives[index].id)
                            .add("code", code)
                            .add("fail_count", l.fail_count));
  changed();
}

void Keeper::set_monitor(std::size_t index, bool on) {
  Local& l = local_[index];
  if (l.monitoring == on || (on && maintenance_)) return;
  const PrimitiveConfig& p = config_.resources.primitives[index];
  if (on && p.monitor.interval <= Duration::zero()) return;
  l.monitoring = on;
  out_.monitors.emplace_back(index, on);
}

void Keeper::tick(const LeaseView& lease, Instant now) {
  if (lease.coordinator != last_coordinator_ || lease.term != last_term_) {
    last_coordinator_ = lease.coordinator;
    last_term_ = lease.term;
    next_report_ = now;  // a new coordinator hears from us at once
  }
  const bool stop_policy = any_stops_ && !maintenance_;
  if (lease.session_ping != session_seen_) {
    // The lease ended and perhaps began again between two looks: it ended all the same.
    if (session_seen_ != 0 && had_lease_ && !lapsed_ && stop_policy && !witness_) lapse();
    session_seen_ = lease.session_ping;
  }
  had_lease_ = had_lease_ || lease_ok(lease, now);
  if (stop_policy && !witness_ && !lease_ok(lease, now)) {
    if (!lapsed_ && (had_lease_ || now >= boot_grace_until_)) lapse();
  } else if (lapsed_ && lease_ok(lease, now)) {
    lapsed_ = false;
    out_.events.push_back(Event(EventKind::kLeaseBack).add("action", "accept_requests"));
  }
  // Announcing an address needs the lease that covers it (a node giving its vips up must not
  // announce them meanwhile); in maintenance and while leaving nothing is announced either.
  if (!maintenance_ && !leaving_) announcer_.tick(lease.up, lease.term, now, lease_ok(lease, now));
  if (now >= next_report_) dirty_ = true;
}

void Keeper::set_maintenance(bool on) {
  if (on == maintenance_) return;
  if (on) {
    for (std::size_t i = 0; i < local_.size(); ++i) set_monitor(i, false);
    maintenance_ = true;
    out_.events.push_back(
        Event(EventKind::kMaintenanceStarted).text("effect", "resources left alone"));
  } else {
    maintenance_ = false;
    for (std::size_t i = 0; i < local_.size(); ++i) {
      if (local_[i].role != ResourceRole::kStopped) set_monitor(i, true);
    }
    out_.events.push_back(
        Event(EventKind::kMaintenanceEnded).text("effect", "resources managed again"));
  }
  changed();
}

void Keeper::leave() {
  if (leaving_ || witness_) {
    leaving_ = true;
    return;
  }
  leaving_ = true;
  const bool was = lapsed_;
  lapse();
  lapsed_ = was;  // the lease is not the reason: requests to stop still run
  out_.events.push_back(Event(EventKind::kLeaving).add("action", "stop_all"));
  changed();
}

bool Keeper::done() const {
  return std::all_of(local_.begin(), local_.end(), [](const Local& l) {
    return l.pending == 0 && l.role == ResourceRole::kStopped;
  });
}

void Keeper::lapse() {
  lapsed_ = true;
  std::string stopped;
  // Vips first: their stop runs at once, before the lease that covered them ends.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < local_.size(); ++i) {
      const PrimitiveConfig& p = config_.resources.primitives[i];
      if ((p.cls == ResourceClass::kVip) != (pass == 0)) continue;
      // on_quorum_loss freeze (or the cluster's freeze/ignore): kept, unless shutting down.
      if (!leaving_ && !stops_without_quorum(p, config_.no_quorum_policy)) continue;
      Local& l = local_[i];
      if (l.role == ResourceRole::kStopped && l.pending == 0) continue;
      set_monitor(i, false);
      // Agents stop only what is not promoted (Stateful refuses): demote first, as Pacemaker.
      if (l.role == ResourceRole::kPromoted) submit(i, "demote");
      submit(i, "stop");
      stopped += (stopped.empty() ? "" : ",") + p.id;
    }
  }
  out_.events.push_back(Event(EventKind::kLeaseLapsed, EventLevel::kWarn)
                            .add("action", "stop_all")
                            .add("resources", stopped.empty() ? std::string("none") : stopped));
}

void Keeper::refused(std::size_t index, const char* reason) {
  out_.events.push_back(Event(EventKind::kRequestRefused)
                            .add("resource", config_.resources.primitives[index].id)
                            .add("reason", reason));
}

void Keeper::changed() {
  ++version_;
  dirty_ = true;
}

ResourceEntry Keeper::entry(std::size_t index, Instant now) const {
  const Local& l = local_[index];
  ResourceEntry e;
  e.role = l.role;
  e.probed = l.probed;
  e.failed = l.failed;
  e.busy = l.pending > 0;
  e.fail_count = l.fail_count;
  if (l.last_failure) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - *l.last_failure);
    e.failure_age_ms = static_cast<std::uint32_t>(
        std::clamp<std::int64_t>(ms.count(), 0, std::int64_t{UINT32_MAX} - 1));
  }
  announcer_.fill(index, e);
  return e;
}

void Keeper::send_reports(Instant now) {
  std::vector<ResourceEntry> entries;
  entries.reserve(local_.size());
  for (std::size_t i = 0; i < local_.size(); ++i) entries.push_back(entry(i, now));
  const auto total = static_cast<std::uint32_t>(local_.size());
  std::uint32_t first = 0;
  do {
    ResourceReport r{last_term_, config_.config_id, version_, first, total, {}, leaving_};
    const std::uint32_t end =
        std::min<std::uint32_t>(total, first + static_cast<std::uint32_t>(kReportPageEntries));
    r.entries.assign(entries.begin() + first, entries.begin() + end);
    for (std::size_t n = 0; n < config_.nodes.size(); ++n) {
      const NodeId to{static_cast<std::uint16_t>(n)};
      if (to != self_) out_.messages.emplace_back(to, r);
    }
    out_.own_reports.push_back(std::move(r));
    first = end;
  } while (first < total);
  next_report_ = now + report_every_;
}

KeeperOutput Keeper::take(Instant now) {
  AnnouncerOutput a = announcer_.take();
  for (auto& [to, check] : a.checks) out_.messages.emplace_back(to, std::move(check));
  out_.announces.insert(out_.announces.end(), a.announce.begin(), a.announce.end());
  for (auto& e : a.events) out_.events.push_back(std::move(e));
  if (announcer_.take_changed()) changed();
  if (dirty_) {
    dirty_ = false;
    send_reports(now);
  }
  KeeperOutput o = std::move(out_);
  out_ = KeeperOutput{};
  return o;
}

std::optional<Instant> Keeper::vip_deadline(const LeaseView& lease, Instant now) const {
  if (!any_stops_ || witness_ || maintenance_) return std::nullopt;
  if (lease_ok(lease, now)) return *lease.lease_until - guard_ / 2;
  return had_lease_ || now >= boot_grace_until_ ? Instant{} : boot_grace_until_;
}

Instant Keeper::next_deadline(const LeaseView& lease) const {
  Instant next = next_report_;
  bool holding = false;
  for (const Local& l : local_) holding = holding || l.role != ResourceRole::kStopped;
  if (holding && !lapsed_) {
    next = std::min(next, lease.lease_until ? *lease.lease_until - guard_ : boot_grace_until_);
  }
  if (const auto a = announcer_.next_deadline()) next = std::min(next, *a);
  return next;
}

}  // namespace hactl
