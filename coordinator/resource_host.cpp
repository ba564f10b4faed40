#include "coordinator/resource_host.hpp"

namespace hactl {

ResourceHost::ResourceHost(const ClusterConfig& config, NodeId self, Instant now,
                           std::optional<Instant> previous_lease_end)
    : config_(config),
      self_(self),
      keeper_(config, self, now, previous_lease_end),
      conductor_(config, self),
      fencer_(config, self),
      incarnation_(config.nodes.size(), 0) {}

LeaseView ResourceHost::lease_view(const ElectionCore& core, Instant now) {
  LeaseView v;
  v.term = core.term();
  v.coordinator = core.coordinator();
  if (core.has_quorum(now)) v.lease_until = core.lease_until();
  if (const auto a = core.authority_until(); a && now < *a) v.authority_until = a;
  v.session_ping = core.lease_session_ping();
  // Heard within two heartbeats: a peer about to be declared down (a cut link) is not asked
  // to check a vip (Announcer), which would cost a whole check window.
  const Duration recent = 2 * core.timing().heartbeat_interval;
  for (const PeerStatus& p : core.status(now).peers) {
    if (v.up.size() <= p.id.value) v.up.resize(p.id.value + 1, false);
    v.up[p.id.value] = p.up && p.last_heard && now - *p.last_heard <= recent;
  }
  return v;
}

Membership ResourceHost::membership(const ClusterConfig& config, NodeId self,
                                    const ElectionCore& core, Instant now) {
  Membership m;
  m.term = core.term();
  m.leads = core.role() == Role::kCoordinator && core.holds_coordinator_lease(now);
  const std::size_t n = config.nodes.size();
  m.up.assign(n, false);
  m.lease_over.assign(n, std::nullopt);
  m.echo.assign(n, 0);
  m.up[self.value] = true;
  for (std::size_t i = 0; i < n; ++i) {
    const NodeId id{static_cast<std::uint16_t>(i)};
    if (id == self) continue;
    m.up[i] = core.peer_up(id);
    m.lease_over[i] = core.lease_released_at(id, now);
    m.echo[i] = core.last_ping_from(id);
  }
  return m;
}

Membership ResourceHost::membership(const ElectionCore& core, Instant now) const {
  Membership m = membership(config_, self_, core, now);
  m.fence.assign(config_.nodes.size(), NodeFence::kNone);
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    const NodeId id{static_cast<std::uint16_t>(i)};
    if (m.up[i] || !fencer_.configured(id)) continue;
    if (fencer_.fenced(id)) {
      m.fence[i] = NodeFence::kFenced;
    } else if (conductor_.needs_fencing(id, m) || fencer_.state(id).stage != FenceStage::kNone) {
      m.fence[i] = NodeFence::kPending;
    }
  }
  return m;
}

std::vector<bool> ResourceHost::stand_ins(const ElectionCore& core, Instant now) const {
  std::vector<bool> out(config_.nodes.size(), false);
  if (!config_.two_node) return out;
  const Membership m = membership(config_, self_, core, now);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const NodeId id{static_cast<std::uint16_t>(i)};
    if (id == self_ || m.up[i]) continue;
    out[i] = fencer_.fenced(id) || conductor_.left_cleanly(id, m);
  }
  return out;
}

void ResourceHost::on_message(NodeId from, const Message& m, const ElectionCore& core,
                              Instant now) {
  if (const auto* r = std::get_if<ResourceReport>(&m)) {
    conductor_.on_report(from, *r);
  } else if (const auto* q = std::get_if<ActionRequest>(&m)) {
    keeper_.on_request(from, *q, lease_view(core, now), now);
  } else if (const auto* a = std::get_if<ActionResult>(&m)) {
    conductor_.on_result(from, *a);
  } else if (const auto* f = std::get_if<FenceNotice>(&m)) {
    fencer_.on_notice(from, *f);
  } else if (const auto* fq = std::get_if<FenceRequest>(&m)) {
    // A coordinator fencing its own node asks this node to run the device.
    if (fq->target != from || !config_.fencing.device(fq->device)) return;
    const std::uint64_t id = next_delegated_++;
    delegated_[id] = Delegated{from, *fq};
    out_.fence_ops.push_back(FenceOp{id, fq->target, fq->device, fq->action, self_});
    out_.log.push_back(Event(EventKind::kFenceDelegated, EventLevel::kWarn)
                           .add("node", config_.nodes[fq->target.value].name)
                           .add("device", fq->device)
                           .add("action", fq->action)
                           .add("asked_by", config_.nodes[from.value].name));
  } else if (const auto* cq = std::get_if<VipCheckRequest>(&m)) {
    out_.vip_checks.emplace_back(from, *cq);
  } else if (const auto* cr = std::get_if<VipCheckResult>(&m)) {
    keeper_.on_vip_check(from, *cr, now);
  } else if (const auto* fr = std::get_if<FenceResult>(&m)) {
    fencer_.on_done(fr->id, fr->ok, fr->detail + " (run by " + config_.nodes[from.value].name + ")",
                    now);
  }
}

void ResourceHost::on_fence_done(std::uint64_t id, bool ok, const std::string& detail,
                                 Instant now) {
  const auto it = delegated_.find(id);
  if (it == delegated_.end()) {
    fencer_.on_done(id, ok, detail, now);
    return;
  }
  const Delegated d = it->second;
  delegated_.erase(it);
  out_.messages.emplace_back(d.from, FenceResult{d.request.term, d.request.id, ok, detail});
  if (ok && d.request.action != "on") {
    // Its asker will not hear this (it is off): this node tells every node, as the fencer.
    const NodeId target = d.request.target;
    fencer_.fenced_for(target, incarnation_.at(target.value), d.request.device, now);
    for (const FenceNotice& n : fencer_.take_notices()) to_peers(n);
    for (auto& e : fencer_.take_events()) out_.log.push_back(std::move(e));
  }
}

void ResourceHost::on_call_done(std::uint64_t call_id, int ocf_code, bool ran, Instant now) {
  keeper_.on_call_done(call_id, ocf_code, ran, now);
}

void ResourceHost::on_monitor(std::size_t index, int ocf_code, Instant now) {
  keeper_.on_monitor(index, ocf_code, now);
}

void ResourceHost::cleanup(std::uint32_t index, const ElectionCore& core, Instant now,
                           std::optional<NodeId> only) {
  const ActionRequest r{core.term(), config_.config_id, 0, index, RequestKind::kCleanup};
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    const NodeId to{static_cast<std::uint16_t>(i)};
    if (only && to != *only) continue;
    if (to == self_) {
      keeper_.on_request(to, r, lease_view(core, now), now);
    } else {
      out_.messages.emplace_back(to, r);
    }
  }
}

void ResourceHost::run(const ElectionCore& core, Instant now) {
  // Messages to ourselves are delivered here at once; a few rounds settle any chain of them.
  for (int round = 0; round < 8; ++round) {
    const LeaseView lease = lease_view(core, now);
    keeper_.tick(lease, now);
    Membership m = membership(config_, self_, core, now);
    m.incarnation = incarnation_;
    if (fencer_.any_configured()) {
      FenceView fv{m.leads || fence_alone_,
                   m.term,
                   m.up,
                   std::vector<bool>(m.up.size(), false),
                   incarnation_,
                   {}};
      for (std::size_t i = 0; i < m.up.size(); ++i) {
        fv.needs[i] = conductor_.needs_fencing(NodeId{static_cast<std::uint16_t>(i)}, m);
      }
      fv.echoed.assign(m.up.size(), std::nullopt);
      for (const PeerStatus& p : core.status(now).peers)
        fv.echoed[p.id.value] = p.echoed_ping_sent_at;
      fencer_.tick(fv, now);
      for (auto& op : fencer_.take_ops()) {
        if (op.executor == self_) {
          out_.fence_ops.push_back(std::move(op));
        } else {
          out_.messages.emplace_back(op.executor,
                                     FenceRequest{m.term, op.id, op.target, op.device, op.action});
        }
      }
      for (const FenceNotice& n : fencer_.take_notices()) to_peers(n);
      for (auto& e : fencer_.take_events()) out_.log.push_back(std::move(e));
      m = membership(core, now);
      m.incarnation = incarnation_;
    }
    conductor_.tick(m, now);
    bool more = false;
    for (auto& [to, req] : conductor_.take_requests()) {
      if (to == self_) {
        keeper_.on_request(to, req, lease, now);
        more = true;
      } else {
        out_.messages.emplace_back(to, std::move(req));
      }
    }
    KeeperOutput k = keeper_.take(now);
    for (const auto& r : k.own_reports) conductor_.on_report(self_, r);
    for (auto& [to, msg] : k.messages) {
      if (to != self_) {
        out_.messages.emplace_back(to, std::move(msg));
      } else if (const auto* a = std::get_if<ActionResult>(&msg)) {
        conductor_.on_result(to, *a);
        more = true;
      }
    }
    more = more || !k.own_reports.empty();
    for (auto& e : conductor_.take_events()) out_.log.push_back(std::move(e));
    for (auto& h : conductor_.take_holds()) out_.holds.push_back(std::move(h));
    for (auto& e : k.events) out_.log.push_back(std::move(e));
    out_.monitors.insert(out_.monitors.end(), k.monitors.begin(), k.monitors.end());
    out_.calls.insert(out_.calls.end(), k.calls.begin(), k.calls.end());
    out_.announces.insert(out_.announces.end(), k.announces.begin(), k.announces.end());
    if (!more) return;
  }
}

void ResourceHost::to_peers(const Message& m) {
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    if (i != self_.value) out_.messages.emplace_back(NodeId{static_cast<std::uint16_t>(i)}, m);
  }
}

HostOutput ResourceHost::take() { return std::exchange(out_, HostOutput{}); }

Instant ResourceHost::next_deadline(const ElectionCore& core, Instant now) const {
  Instant next = keeper_.next_deadline(lease_view(core, now));
  if (const auto c = conductor_.next_deadline()) next = std::min(next, *c);
  if (const auto f = fencer_.next_deadline()) next = std::min(next, *f);
  return next;
}

}  // namespace hactl
