#include "coordinator/fencer.hpp"

#include <algorithm>
#include <utility>

namespace hactl {

std::string_view to_string(FenceStage s) {
  switch (s) {
    case FenceStage::kNone:
      return "none";
    case FenceStage::kRunning:
      return "running";
    case FenceStage::kFenced:
      return "fenced";
    case FenceStage::kFailed:
      return "failed";
  }
  return "unknown";
}

Fencer::Fencer(const ClusterConfig& config, NodeId self)
    : config_(config), self_(self), nodes_(config.nodes.size()), heard_(config.nodes.size()) {
  for (const auto& n : config.nodes) {
    // A witness runs nothing. This node is fenced by a peer it asks (executor_for).
    if (n.witness) {
      levels_.emplace_back();
    } else if (config.last_resort_unsafe) {
      levels_.push_back({{std::string(kLastResort)}});
    } else {
      levels_.push_back(config.fencing.levels_for(n.name));
    }
  }
}

bool Fencer::fenced(NodeId node) const {
  return nodes_.at(node.value).stage == FenceStage::kFenced;
}

std::vector<Fencer::Step> Fencer::steps(NodeId node, std::size_t level) const {
  const auto& ids = levels_.at(node.value).at(level);
  std::vector<Step> out;
  if (ids.size() == 1) {
    const FenceDevice* d = config_.fencing.device(ids.front());
    out.push_back({ids.front(), std::string(to_string(d ? d->action : FenceAction::kOff)), true});
    return out;
  }
  // Several devices (power supplies): all off first, then on again for those that reboot.
  for (const auto& id : ids) out.push_back({id, "off", true});
  for (const auto& id : ids) {
    const FenceDevice* d = config_.fencing.device(id);
    if (d && d->action == FenceAction::kReboot) out.push_back({id, "on", false});
  }
  return out;
}

std::optional<NodeId> Fencer::executor_for(NodeId target) const {
  if (target != self_) return self_;
  // A peer that is up, one that runs resources first (a witness may lack fence-agents).
  std::optional<NodeId> witness;
  for (std::size_t i = 0; i < up_.size(); ++i) {
    if (i == self_.value || !up_[i]) continue;
    const NodeId id{static_cast<std::uint16_t>(i)};
    if (!config_.nodes[i].witness) return id;
    if (!witness) witness = id;
  }
  return witness;
}

void Fencer::tick(const FenceView& v, Instant now) {
  term_ = v.term;
  up_ = v.up;
  // A peer asked to run an operation that never answered: it failed.
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    NodeFencing& f = nodes_[i];
    if (f.stage == FenceStage::kRunning && f.op != 0 && f.op_deadline && now >= *f.op_deadline) {
      on_done(f.op, false, "no answer from the peer asked to run it", now);
    }
    if (f.stage == FenceStage::kRunning && f.delay_until && now >= *f.delay_until) {
      f.delay_until.reset();
      f.delayed = true;
      issue(NodeId{static_cast<std::uint16_t>(i)}, now);
    }
  }
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const NodeId id{static_cast<std::uint16_t>(i)};
    NodeFencing& f = nodes_[i];
    const std::uint64_t inc = i < v.incarnation.size() ? v.incarnation[i] : 0;
    const bool needs = i < v.needs.size() && v.needs[i];
    if (v.up[i]) {
      heard_[i].reset();
      if (f.stage == FenceStage::kFenced) {
        const Instant echoed = i < v.echoed.size() && v.echoed[i] ? *v.echoed[i] : Instant::min();
        if (inc != f.incarnation) {
          f = NodeFencing{};  // a new boot: the fence did its job
        } else if (f.by == kLastResort) {
          event(Event(EventKind::kSplitHealed, EventLevel::kWarn)
                    .add("node", name(id))
                    .text("reason",
                          "heard again: it ran through the split (last_resort took it as dead)"));
          f = NodeFencing{};
        } else if (echoed > f.since) {
          // It answered a ping sent after the fence had ended, in the same boot: it still runs.
          // (Only that proves it: a datagram sent before the power went may arrive much later.)
          event(Event(EventKind::kFenceIneffective, EventLevel::kError)
                    .add("node", name(id))
                    .text("by", f.by)
                    .text("reason",
                          "heard again in the boot it was fenced in: the device did not stop it"));
          f = NodeFencing{};
        }
      } else if (f.stage == FenceStage::kFailed && !needs) {
        event(Event(EventKind::kFenceAbandoned).add("node", name(id)).text("reason", "it is back"));
        f = NodeFencing{};
      }
      if (f.stage == FenceStage::kRunning && f.delay_until && !needs) {
        // Heard before its device's delay ran out: nothing was cut yet, and nothing needs to be.
        event(Event(EventKind::kFenceCancelled)
                  .add("node", name(id))
                  .text("reason", "heard again during the device's delay"));
        f = NodeFencing{};
      }
      // A running fence goes on to its end; an up node is fenced only for a failed stop.
    } else {
      if (f.stage == FenceStage::kFenced && inc != f.incarnation) f = NodeFencing{};
      if (f.stage != FenceStage::kFenced && f.stage != FenceStage::kRunning) {
        if (const auto& n = heard_[i]; n && n->incarnation == inc) {
          f = NodeFencing{};
          f.stage = FenceStage::kFenced;
          f.incarnation = inc;
          f.since = now;
          f.by = n->device;
          event(Event(EventKind::kFenceLearned).add("node", name(id)).text("by", n->device));
          continue;
        }
      }
    }
    if (f.stage == FenceStage::kFenced && f.local && now >= f.notified + kNoticeEvery) {
      notices_.push_back(FenceNotice{v.term, id, f.incarnation, f.by});
      f.notified = now;
    }
    if (!v.leads || !configured(id) || !needs) continue;
    if (f.stage == FenceStage::kNone ||
        (f.stage == FenceStage::kFailed && f.retry_at && now >= *f.retry_at)) {
      begin(id, v, now);
    }
  }
}

void Fencer::begin(NodeId node, const FenceView& v, Instant now) {
  NodeFencing& f = nodes_[node.value];
  const int rounds = f.rounds;
  f = NodeFencing{};
  f.stage = FenceStage::kRunning;
  f.incarnation = node.value < v.incarnation.size() ? v.incarnation[node.value] : 0;
  f.rounds = rounds;
  f.since = now;
  event(Event(EventKind::kFenceStarted, EventLevel::kWarn)
            .add("node", name(node))
            .add("term", v.term.value)
            .add("levels", levels_[node.value].size())
            .add("attempt", rounds + 1));
  issue(node, now);
}

void Fencer::issue(NodeId node, Instant now) {
  NodeFencing& f = nodes_[node.value];
  const auto s = steps(node, f.level);
  if (f.step >= s.size()) {
    f.stage = FenceStage::kFenced;
    f.local = true;
    f.op = 0;
    f.rounds = 0;
    f.since = now;
    f.by = levels_[node.value][f.level].size() == 1 ? levels_[node.value][f.level].front()
                                                    : "level " + std::to_string(f.level + 1);
    event(Event(EventKind::kFenceSucceeded, EventLevel::kWarn)
              .add("node", name(node))
              .text("by", f.by)
              .add("level", f.level + 1));
    notices_.push_back(FenceNotice{term_, node, f.incarnation, f.by});
    f.notified = now;
    return;
  }
  if (s[f.step].device == kLastResort) {
    event(Event(EventKind::kFenceAssumed, EventLevel::kError)
              .add("node", name(node))
              .text("reason",
                    "last_resort unsafe_take_over: not fenced, taken as dead; it may still run"));
    ++f.step;
    return issue(node, now);
  }
  const FenceDevice* device = config_.fencing.device(s[f.step].device);
  if (device && device->delay > Duration::zero() && s[f.step].action != "on" && !f.delayed) {
    f.op = 0;
    f.delay_until = now + device->delay;
    event(Event(EventKind::kFenceDelayed)
              .add("node", name(node))
              .add("device", s[f.step].device)
              .add("delay_ms",
                   std::chrono::duration_cast<std::chrono::milliseconds>(device->delay).count()));
    return;
  }
  f.delayed = false;
  const auto executor = executor_for(node);
  f.op = next_id_++;
  f.op_deadline.reset();
  if (!executor) {
    event(Event(EventKind::kFenceDeviceFailed, EventLevel::kWarn)
              .add("node", name(node))
              .add("device", s[f.step].device)
              .add("action", s[f.step].action)
              .text("reason", "no peer up to run it"));
    f.error = s[f.step].device + " " + s[f.step].action + ": no peer up to run it";
    return level_failed(node, now);
  }
  if (*executor != self_) {
    f.op_deadline =
        now + (device ? device->timeout : FenceDevice::kDefaultTimeout) + std::chrono::seconds{10};
  }
  ops_.push_back(FenceOp{f.op, node, s[f.step].device, s[f.step].action, *executor});
  Event e(EventKind::kFenceDevice);
  e.add("node", name(node)).add("device", s[f.step].device).add("action", s[f.step].action);
  e.add("level", f.level + 1);
  if (*executor != self_) e.add("run_by", name(*executor));
  event(std::move(e));
}

void Fencer::on_done(std::uint64_t id, bool ok, const std::string& detail, Instant now) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    NodeFencing& f = nodes_[i];
    if (f.stage != FenceStage::kRunning || f.op != id) continue;
    const NodeId node{static_cast<std::uint16_t>(i)};
    const auto s = steps(node, f.level);
    const Step& step = s.at(f.step);
    if (!ok) {
      event(Event(EventKind::kFenceDeviceFailed, EventLevel::kWarn)
                .add("node", name(node))
                .add("device", step.device)
                .add("action", step.action)
                .text("reason", detail));
      f.error = step.device + " " + step.action + ": " + detail;
      if (step.required) return level_failed(node, now);
    }
    const bool cuts_power = f.step + 1 == s.size() || s[f.step + 1].action == "on";
    if (ok && node == self_ && step.action != "on" && cuts_power) {
      // Still here to hear it: the device did not stop this node.
      f.error = step.device + " " + step.action + ": reported success, but this node still runs";
      event(Event(EventKind::kFenceIneffective, EventLevel::kError)
                .add("node", name(node))
                .text("by", step.device)
                .text("reason", "this node heard the success it should not have lived to hear"));
      return level_failed(node, now);
    }
    ++f.step;
    issue(node, now);
    return;
  }
}

void Fencer::level_failed(NodeId node, Instant now) {
  NodeFencing& f = nodes_[node.value];
  f.op = 0;
  if (f.level + 1 < levels_[node.value].size()) {
    ++f.level;
    f.step = 0;
    issue(node, now);
    return;
  }
  ++f.rounds;
  Duration wait = kFirstRetry;
  for (int k = 1; k < f.rounds && wait < kMaxRetry; ++k) wait *= 2;
  wait = std::min(wait, kMaxRetry);
  f.stage = FenceStage::kFailed;
  f.since = now;
  f.retry_at = now + wait;
  event(Event(EventKind::kFenceFailed, EventLevel::kError)
            .add("node", name(node))
            .add("attempt", f.rounds)
            .add("retry_in_ms", std::chrono::duration_cast<std::chrono::milliseconds>(wait).count())
            .text("reason", f.error));
}

void Fencer::fenced_for(NodeId target, std::uint64_t incarnation, const std::string& device,
                        Instant now) {
  NodeFencing& f = nodes_.at(target.value);
  if (f.stage == FenceStage::kRunning) return;  // cannot be: only a coordinator fences
  f = NodeFencing{};
  f.stage = FenceStage::kFenced;
  f.local = true;
  f.incarnation = incarnation;
  f.since = now;
  f.by = device;
  event(Event(EventKind::kFenceSucceeded, EventLevel::kWarn)
            .add("node", name(target))
            .text("by", device)
            .add("for", name(target)));
  notices_.push_back(FenceNotice{term_, target, incarnation, device});
  f.notified = now;
}

void Fencer::on_notice(NodeId from, const FenceNotice& n) {
  if (n.node.value >= heard_.size() || n.node == self_) return;
  FenceNotice& kept = heard_[n.node.value].emplace(n);
  kept.device += (kept.device.empty() ? "" : " (") + ("notice from " + name(from)) +
                 (n.device.empty() ? "" : ")");
}

void Fencer::inherit(const Fencer& old) {
  if (old.nodes_.size() != nodes_.size()) return;
  nodes_ = old.nodes_;
  heard_ = old.heard_;
  up_ = old.up_;
  next_id_ = old.next_id_;
  term_ = old.term_;
}

std::vector<FenceOp> Fencer::take_ops() { return std::exchange(ops_, {}); }
std::vector<FenceNotice> Fencer::take_notices() { return std::exchange(notices_, {}); }
std::vector<Event> Fencer::take_events() { return std::exchange(events_, {}); }

std::optional<Instant> Fencer::next_deadline() const {
  std::optional<Instant> next;
  auto at = [&](Instant t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& f : nodes_) {
    if (f.stage == FenceStage::kFailed && f.retry_at) at(*f.retry_at);
    if (f.stage == FenceStage::kRunning && f.op_deadline) at(*f.op_deadline);
    if (f.stage == FenceStage::kRunning && f.delay_until) at(*f.delay_until);
    if (f.stage == FenceStage::kFenced && f.local) at(f.notified + kNoticeEvery);
  }
  return next;
}

}  // namespace hactl
