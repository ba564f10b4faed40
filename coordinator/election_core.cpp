// Membership, failure detection, election and leases of one agent. See election_core.hpp for the
// rules and docs/design.md for why they are safe.
#include "coordinator/election_core.hpp"

#include <algorithm>
#include <string>

#include "common/assert.hpp"

namespace hactl {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr long kPpm = 1'000'000;

// d * (1 - e) / (1 + e) for the drift bound e: how long a span measured on one clock may be
// trusted on another.
Duration shrink_by_drift(Duration d) {
  return Duration{d.count() * (kPpm - limits::kMaxClockDriftPpm) /
                  (kPpm + limits::kMaxClockDriftPpm)};
}

std::string format_ms(Duration d) {
  return std::to_string(duration_cast<milliseconds>(d).count()) + "ms";
}

}  // namespace

Duration Rng::uniform(Duration lo, Duration hi) {
  HACTL_ASSERT(lo <= hi);
  const auto span = static_cast<std::uint64_t>((hi - lo).count()) + 1;
  return lo + Duration{static_cast<Duration::rep>(next() % span)};
}

Timing make_timing(const TimingConfig& t) {
  Timing timing;
  timing.heartbeat_interval = t.heartbeat_interval;
  timing.node_timeout = t.node_timeout;
  // A promise lasts node_timeout on the voter's clock; the lease it backs must end first on any
  // clock within the drift bound, with a millisecond to spare for rounding.
  timing.coordinator_lease = shrink_by_drift(t.node_timeout) - milliseconds{1};
  timing.election_jitter = t.heartbeat_interval;
  HACTL_ASSERT(timing.coordinator_lease > Duration::zero());
  HACTL_ASSERT(timing.coordinator_lease < timing.node_timeout);
  return timing;
}

Timing make_unsafe_timing_for_tests(const TimingConfig& t) {
  Timing timing = make_timing(t);
  timing.coordinator_lease = 3 * t.node_timeout;
  return timing;
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre_candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kCoordinator:
      return "coordinator";
  }
  return "unknown";
}

ElectionCore::ElectionCore(const ClusterConfig& config, NodeId self, const Timing& timing, Rng& rng,
                           const HardState& persisted, Instant boot)
    : config_(config),
      self_(self),
      timing_(timing),
      rng_(rng),
      hard_(persisted),
      role_(Follower{}),
      peers_(config.nodes.size()),
      boot_(boot) {
  HACTL_ASSERT(self.value < config.nodes.size());
  if (const auto a = config.arbiter()) arbiter_ = a->value;
  HACTL_ASSERT(!is_arbiter(self.value));
  HACTL_ASSERT(config.nodes.size() <= limits::kMaxNodes);
  for (Peer& p : peers_) p.release_anchor.assign(peers_.size(), std::nullopt);
  // Ping ids start at a random point so an echo of a ping from an earlier boot of this node
  // never matches a ping of this one.
  next_ping_ = 1 + (rng_.next() >> 2);
  lease_session_ping_ = next_ping_;
  // Any promise made before a restart is forgotten, so refuse every vote for one promise span.
  promise_until_ = boot + timing_.node_timeout;
  next_heartbeat_at_ = boot;
  reset_election_timer(boot);
}

Role ElectionCore::role() const {
  struct Visitor {
    Role operator()(const Follower&) const { return Role::kFollower; }
    Role operator()(const PreCandidate&) const { return Role::kPreCandidate; }
    Role operator()(const Candidate&) const { return Role::kCandidate; }
    Role operator()(const Coordinator&) const { return Role::kCoordinator; }
  };
  return std::visit(Visitor{}, role_);
}

std::optional<NodeId> ElectionCore::coordinator() const {
  if (std::holds_alternative<Coordinator>(role_)) return self_;
  if (const auto* f = std::get_if<Follower>(&role_)) return f->coordinator;
  return std::nullopt;
}

bool ElectionCore::is_witness() const { return config_.node(self_).witness; }

// ---------------------------------------------------------------------------------------------
// Inputs

void ElectionCore::step(NodeId from, const Message& message, Instant now) {
  HACTL_ASSERT(from.value < peers_.size());
  HACTL_ASSERT(from != self_);
  update_lease(now);  // a lease over before this message arrived stays over
  note_heard(from, now);
  if (is_arbiter(from.value)) {
    // It speaks only when spoken to: answers to claims and to election requests.
    if (const auto* a = std::get_if<ArbiterAnswer>(&message)) on_arbiter_answer(from, *a, now);
    if (const auto* r = std::get_if<PreVoteResponse>(&message)) on_pre_vote_response(from, *r, now);
    if (const auto* r = std::get_if<VoteResponse>(&message)) on_vote_response(from, *r, now);
    finish_step(now);
    return;
  }
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, Heartbeat>) on_heartbeat(from, m, now);
        if constexpr (std::is_same_v<M, PreVoteRequest>) on_pre_vote_request(from, m, now);
        if constexpr (std::is_same_v<M, PreVoteResponse>) on_pre_vote_response(from, m, now);
        if constexpr (std::is_same_v<M, VoteRequest>) on_vote_request(from, m, now);
        if constexpr (std::is_same_v<M, VoteResponse>) on_vote_response(from, m, now);
        if constexpr (std::is_same_v<M, TimeoutNow>) on_timeout_now(from, m, now);
        if constexpr (std::is_same_v<M, HandoverRequest>) {
          if (m.term == hard_.term && std::holds_alternative<Coordinator>(role_)) {
            hand_over(m.target, now);
          }
        }
      },
      message);
  finish_step(now);
}

void ElectionCore::finish_step(Instant now) {
  last_now_ = now;
  update_releases(now);
  update_lease(now);
  update_arbiter(now);
  update_quorum_event(now);
  check_invariants(now);
}

void ElectionCore::tick(Instant now) {
  update_lease(now);
  check_peers(now);
  if (std::holds_alternative<Coordinator>(role_)) check_coordinator_lease(now);
  check_election_timer(now);
  if (now >= next_heartbeat_at_) send_heartbeats(now);
  finish_step(now);
}

void ElectionCore::peer_restarted(NodeId from, Instant now) {
  HACTL_ASSERT(from.value < peers_.size() && from != self_);
  Peer& p = peers_[from.value];
  // Its pings and round-trip history belong to the previous boot.
  p.restarted_at = now;
  p.last_ping_received = 0;
  p.last_ping_received_at.reset();
  p.echoed_ping_sent_at.reset();
  p.srtt.reset();
  emit(EventKind::kNodeRestarted, from, {{"reason", "new_incarnation"}});
  note_heard(from, now);
}

void ElectionCore::note_heard(NodeId from, Instant now) {
  Peer& p = peers_[from.value];
  p.last_heard = now;
  p.ever_heard = true;
  if (is_arbiter(from.value)) return;  // never "up": it is no member (ArbiterView says more)
  if (!p.up) {
    p.up = true;
    p.down_reason.clear();
    emit(EventKind::kNodeUp, from);
  }
}

void ElectionCore::sample_rtt(Peer& p, std::uint64_t echo, Instant now) {
  if (echo == 0 || !ping_prompt_[echo % limits::kPingHistory]) return;
  if (auto sent = ping_sent_at(echo)) {
    ping_prompt_[echo % limits::kPingHistory] = false;
    const Duration sample = now - *sent;
    // RFC 6298's smoothing: the deviation first, against the mean before this sample.
    p.rttvar = p.srtt
                   ? (p.rttvar * 3 + (*p.srtt > sample ? *p.srtt - sample : sample - *p.srtt)) / 4
                   : sample / 2;
    p.srtt = p.srtt ? (*p.srtt * 7 + sample) / 8 : sample;
  }
}

void ElectionCore::on_heartbeat(NodeId from, const Heartbeat& m, Instant now) {
  Peer& p = peers_[from.value];
  sample_rtt(p, m.echo, now);
  if (const auto sent = m.echo != 0 ? ping_sent_at(m.echo) : std::nullopt;
      sent && (!p.echoed_ping_sent_at || *sent > *p.echoed_ping_sent_at)) {
    p.echoed_ping_sent_at = sent;
  }
  if (m.term > hard_.term) {
    const bool from_coordinator = m.coordinator == from;
    become_follower(m.term, from_coordinator ? std::optional{from} : std::nullopt, now,
                    "newer_term");
  }
  p.last_ping_received = m.ping;
  p.last_ping_received_at = now;
  p.last_ping_at = now;
  on_lease_fields(from, m);
  if (m.term == hard_.term) {
    if (m.coordinator == from && std::holds_alternative<Coordinator>(role_)) {
      // Two coordinators of one term: only two_node's sides, each elected with a stand-in for
      // the other (the last resort's split, or a fence device that cut nothing). Step down
      // into the next term, which nobody led: the other follows on hearing it, an election
      // picks one, and its document (re-stamped in its term) replaces both.
      HACTL_ASSERT(config_.two_node);
      become_follower(hard_.term.next(), std::nullopt, now, "two_coordinators_in_term");
    } else if (m.coordinator == from) {
      // The sender leads our term: whatever we were doing in it, follow.
      if (coordinator() != from || !std::holds_alternative<Follower>(role_)) {
        become_follower(hard_.term, from, now, "heard_coordinator");
      }
      reset_election_timer(now);
      if (m.lease_remaining > Duration::zero() && m.echo != 0) {
        if (auto anchor = ping_sent_at(m.echo)) {
          // Nest our authority inside what the coordinator had left when it sent this.
          const Duration span =
              std::min(timing_.coordinator_lease, shrink_by_drift(m.lease_remaining));
          if (!authority_until_ || *anchor + span > *authority_until_ ||
              authority_term_ != hard_.term) {
            authority_until_ = *anchor + span;
            authority_term_ = hard_.term;
          }
        }
      }
    }
    if (auto* f = std::get_if<Follower>(&role_);
        f != nullptr && f->coordinator == from && m.coordinator != from) {
      // Our coordinator says it no longer leads this term (it lost its quorum).
      f->coordinator.reset();
      emit(EventKind::kCoordinatorChanged, std::nullopt, {{"reason", "coordinator_stepped_down"}});
    }
    if (std::holds_alternative<Coordinator>(role_) && m.coordinator == self_ && m.echo != 0) {
      if (auto sent = ping_sent_at(m.echo)) {
        if (!p.acked_ping_sent_at || *sent > *p.acked_ping_sent_at) p.acked_ping_sent_at = sent;
      }
    }
  }
  if (m.reply) return;
  // A peer's heartbeat when ours is due within half a gap: ours go now, echoing it (the peer's
  // answer echoes ours). Each heartbeat pulls the ones due soon after it, so within a few
  // intervals the cluster's heartbeats and their answers go out as one burst per interval and
  // an idle agent wakes about once per interval instead of once per datagram (docs/design.md
  // "Heartbeats in one burst"). Sooner heartbeats only renew leases sooner.
  if (next_heartbeat_at_ - now <= heartbeat_gap_ / 2) {
    send_heartbeats(now);
  } else {
    send(from, make_heartbeat(from, true, now));
  }
}

void ElectionCore::on_pre_vote_request(NodeId from, const PreVoteRequest& m, Instant now) {
  const bool granted = m.term > hard_.term && !promised_elsewhere(from, now) &&
                       !std::holds_alternative<Coordinator>(role_) && m.doc >= doc_version_;
  // A grant names the proposed term; a refusal names our own term, so a requester behind us
  // catches up and one ahead of us (its proposal is not a term anyone is in) ignores it.
  send(from, PreVoteResponse{granted ? m.term : hard_.term, granted});
}

void ElectionCore::on_pre_vote_response(NodeId from, const PreVoteResponse& m, Instant now) {
  if (!m.granted && m.term > hard_.term) {
    become_follower(m.term, std::nullopt, now, "pre_vote_refused_newer_term");
    return;
  }
  auto* pc = std::get_if<PreCandidate>(&role_);
  if (pc == nullptr || m.term != pc->proposed || !m.granted) return;
  pc->granted[from.value] = true;
  if (count(pc->granted) >= config_.majority()) become_candidate(now);
}

void ElectionCore::on_vote_request(NodeId from, const VoteRequest& m, Instant now) {
  if (m.term < hard_.term) {
    send(from, VoteResponse{hard_.term, false, m.ping});
    return;
  }
  // Raft thesis 4.2.3: while we back a live coordinator, a vote request neither changes our
  // term nor gets a vote. This is what makes the coordinator's lease safe. A handover's request
  // passes a promise of the term it leaves: that coordinator stepped down before asking for it.
  const bool handed_over = m.transfer && promised_term_.next() == m.term;
  if (promised_elsewhere(from, now) && !handed_over) return;
  if (m.term > hard_.term) become_follower(m.term, std::nullopt, now, "vote_request");
  // Raft's election restriction, on the document: never for a candidate that may lack a change.
  const bool granted = (!hard_.voted_for || *hard_.voted_for == from) && m.doc >= doc_version_;
  if (granted) {
    set_hard_state(HardState{hard_.term, from});
    promise(from, now);
    reset_election_timer(now);
  }
  send(from, VoteResponse{hard_.term, granted, m.ping});
}

void ElectionCore::on_vote_response(NodeId from, const VoteResponse& m, Instant now) {
  if (m.term > hard_.term) {
    become_follower(m.term, std::nullopt, now, "newer_term");
    return;
  }
  auto* c = std::get_if<Candidate>(&role_);
  if (c == nullptr || m.term != hard_.term || !m.granted || m.echo != c->request_ping) return;
  c->granted[from.value] = true;
  if (count(c->granted) >= config_.majority()) become_coordinator(now);
}

void ElectionCore::on_timeout_now(NodeId /*from*/, const TimeoutNow& m, Instant now) {
  // Only in the term the coordinator left, and once: the campaign moves us past it.
  if (m.term != hard_.term || is_witness() || std::holds_alternative<Coordinator>(role_)) return;
  become_candidate(now, true);
}

std::optional<NodeId> ElectionCore::handover_target(std::optional<NodeId> wanted,
                                                    Instant now) const {
  const auto fit = [&](std::size_t i) {
    const Peer& p = peers_[i];
    const bool avoided = i < handover_avoid_.size() && handover_avoid_[i];
    return i != self_.value && !config_.nodes[i].witness && p.up && p.last_heard &&
           now - *p.last_heard <= 2 * timing_.heartbeat_interval && !avoided;
  };
  if (wanted) {
    if (wanted->value < peers_.size() && fit(wanted->value)) return wanted;
    return std::nullopt;
  }
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (!fit(i)) continue;
    const auto rtt = peers_[i].srtt.value_or(Duration::max());
    if (!best || rtt < peers_[*best].srtt.value_or(Duration::max())) best = i;
  }
  if (!best) return std::nullopt;
  return NodeId{static_cast<std::uint16_t>(*best)};
}

std::optional<NodeId> ElectionCore::hand_over(std::optional<NodeId> target, Instant now) {
  if (!std::holds_alternative<Coordinator>(role_)) {
    const auto c = coordinator();
    if (!c || *c == self_) return std::nullopt;
    send(*c, HandoverRequest{hard_.term, target});
    return c;
  }
  const auto to = handover_target(target, now);
  if (!to) return std::nullopt;
  // Step down first: from here on this node acts on nothing as coordinator, so its lease no
  // longer needs the voters' promises, and their votes may go to `to` at once.
  become_follower(hard_.term, std::nullopt, now, "handover");
  emit(EventKind::kHandover, to);
  send_heartbeats(now);  // "no coordinator in this term" to every peer
  send(*to, TimeoutNow{hard_.term});
  return to;
}

// ---------------------------------------------------------------------------------------------
// Role changes

void ElectionCore::become_follower(Term term, std::optional<NodeId> coordinator, Instant now,
                                   std::string reason) {
  HACTL_ASSERT(term >= hard_.term);
  const bool was_coordinator = std::holds_alternative<Coordinator>(role_);
  const auto old_coordinator = this->coordinator();
  if (term > hard_.term) set_hard_state(HardState{term, std::nullopt});
  role_ = Follower{coordinator};
  for (Peer& p : peers_) p.acked_ping_sent_at.reset();
  reset_election_timer(now);
  if (was_coordinator) emit(EventKind::kSteppedDown, std::nullopt, {{"reason", reason}});
  if (coordinator && coordinator != old_coordinator) {
    emit(EventKind::kCoordinatorChanged, coordinator, {{"reason", reason}});
  }
}

void ElectionCore::become_pre_candidate(Instant now) {
  HACTL_ASSERT(!is_witness());
  PreCandidate pc{hard_.term.next(), std::vector<bool>(peers_.size(), false), now};
  pc.granted[self_.value] = true;
  for (std::size_t i = 0; i < peers_.size(); ++i) pc.granted[i] = pc.granted[i] || stands_in(i);
  pc.round_deadline = now + rng_.uniform(round_span(), round_span() + timing_.election_jitter);
  const bool enough = count(pc.granted) >= config_.majority();
  role_ = std::move(pc);
  if (enough) {
    become_candidate(now);
    return;
  }
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (i != self_.value)
      send(NodeId{static_cast<std::uint16_t>(i)}, PreVoteRequest{hard_.term.next(), doc_version_});
  }
}

void ElectionCore::become_candidate(Instant now, bool transfer) {
  HACTL_ASSERT(!is_witness());
  set_hard_state(HardState{hard_.term.next(), self_});
  Candidate c{std::vector<bool>(peers_.size(), false), new_ping(now), now};
  c.granted[self_.value] = true;
  for (std::size_t i = 0; i < peers_.size(); ++i) c.granted[i] = c.granted[i] || stands_in(i);
  c.round_deadline = now + rng_.uniform(round_span(), round_span() + timing_.election_jitter);
  const std::uint64_t ping = c.request_ping;
  const bool enough = count(c.granted) >= config_.majority();
  role_ = std::move(c);
  emit(EventKind::kElectionStarted, std::nullopt,
       transfer ? std::vector<EventField>{{"reason", "handover"}} : std::vector<EventField>{});
  if (enough) {
    become_coordinator(now);
    return;
  }
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (i != self_.value)
      send(NodeId{static_cast<std::uint16_t>(i)},
           VoteRequest{hard_.term, ping, doc_version_, transfer});
  }
}

// How long an election round waits for its answers before it starts again: an interval, or
// the slowest round trip among the voters it asks (the arbiter's, while it is asked) and a
// quarter interval, as a retransmission timer would reckon it, up to half a node_timeout. A round
// shorter than its answers' round trip would start a new term before any vote of the last one
// arrived.
Duration ElectionCore::round_span() const {
  const Duration h = timing_.heartbeat_interval;
  Duration rtt{0};
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const Peer& p = peers_[i];
    const bool asked = p.up || (is_arbiter(i) && arbiter_claiming_);
    if (i != self_.value && asked && p.srtt) rtt = std::max(rtt, *p.srtt + 4 * p.rttvar);
  }
  // Never past half a node_timeout: an election is not won across a longer round trip anyway
  // (its lease would lapse before the first renewal came back), and a stale sample (a ping
  // answered after a pause) must not stall elections for seconds.
  return std::clamp(rtt + h / 4, h, std::max(h, timing_.node_timeout / 2));
}

void ElectionCore::become_coordinator(Instant now) {
  const auto* c = std::get_if<Candidate>(&role_);
  HACTL_ASSERT(c != nullptr);
  HACTL_ASSERT(hard_.voted_for == self_);
  const auto anchor = ping_sent_at(c->request_ping);
  HACTL_ASSERT(anchor.has_value());
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    peers_[i].acked_ping_sent_at.reset();
    // A granted vote is a promise made after the request left: it anchors the first lease.
    if (i != self_.value && c->granted[i]) peers_[i].acked_ping_sent_at = anchor;
  }
  role_ = Coordinator{};
  authority_until_.reset();
  promise(self_, now);
  emit(EventKind::kBecameCoordinator, std::nullopt);
  send_heartbeats(now);
}

// ---------------------------------------------------------------------------------------------
// Periodic duties

void ElectionCore::send_heartbeats(Instant now) {
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const NodeId to{static_cast<std::uint16_t>(i)};
    if (to != self_ && !is_arbiter(i)) send(to, make_heartbeat(to, false, now));
  }
  if (arbiter_claiming_) send_claim(now, false);
  heartbeat_gap_ = heartbeat_gap();
  next_heartbeat_at_ = now + heartbeat_gap_;
}

// Every heartbeat carries a ping whose echoes renew the quorum lease (and a coordinator's): the
// lease a ping buys lasts coordinator_lease from its sending, and its echo comes a round trip
// later. Pings every `heartbeat_interval` keep the lease with h/2 to spare (the vip's margin,
// Keeper) only while the round trip to a majority is under coordinator_lease - 1.5 h (146 ms
// at default timing); beyond that the lease would lapse between echoes, every cycle, and
// everything here would stop and start again. So on a slow path they go out more often, down
// to h/4 (a round trip of 211 ms at default timing, past which no interval keeps the lease).
Duration ElectionCore::heartbeat_gap() const {
  const Duration h = timing_.heartbeat_interval;
  const std::size_t needed = config_.majority() - 1;
  if (needed == 0) return h;
  std::vector<Duration> rtts;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    // As a retransmission timer would (RFC 6298): the mean and twice its deviation, so one
    // slower echo on a jittery path still comes in time.
    const Peer& p = peers_[i];
    const bool counted = p.up || (is_arbiter(i) && arbiter_claiming_);
    if (i != self_.value && counted && p.srtt) rtts.push_back(*p.srtt + 2 * p.rttvar);
  }
  if (rtts.size() < needed) return h;
  std::nth_element(rtts.begin(), rtts.begin() + static_cast<long>(needed - 1), rtts.end());
  const Duration rtt = rtts[needed - 1];  // the round trip a majority is within
  const Duration gap = timing_.coordinator_lease - h / 2 - h / 10 - rtt;
  return std::clamp(gap, h / 4, h);
}

void ElectionCore::check_peers(Instant now) {
  bool lost = false;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    Peer& p = peers_[i];
    if (i == self_.value || !p.up || !p.last_heard) continue;
    const Duration silent = now - *p.last_heard;
    if (silent <= timing_.node_timeout) continue;
    const NodeId id{static_cast<std::uint16_t>(i)};
    p.up = false;
    p.down_reason = "no heartbeat for " + format_ms(silent);
    emit(EventKind::kNodeDown, id, {{"reason", "timeout"}, {"silent", format_ms(silent)}});
    if (auto* f = std::get_if<Follower>(&role_); f != nullptr && f->coordinator == id) {
      f->coordinator.reset();
    }
    lost = true;
  }
  // Tell every peer at once that we release the lost node: a coordinator moves what it ran as
  // soon as releases meeting every majority are in, so a heartbeat's wait would add to every
  // failover.
  if (lost) send_heartbeats(now);
}

void ElectionCore::check_coordinator_lease(Instant now) {
  if (holds_coordinator_lease(now)) {
    promise(self_, now);
    return;
  }
  become_follower(hard_.term, std::nullopt, now, "lost_quorum");
}

void ElectionCore::check_election_timer(Instant now) {
  if (is_witness()) return;
  // A stand-in (two_node) that appeared during a round completes it at once.
  if (auto* pc = std::get_if<PreCandidate>(&role_)) {
    for (std::size_t i = 0; i < peers_.size(); ++i) pc->granted[i] = pc->granted[i] || stands_in(i);
    if (count(pc->granted) >= config_.majority()) {
      become_candidate(now);
    } else if (now >= pc->round_deadline) {
      become_pre_candidate(now);
    }
    return;
  }
  if (auto* c = std::get_if<Candidate>(&role_)) {
    for (std::size_t i = 0; i < peers_.size(); ++i) c->granted[i] = c->granted[i] || stands_in(i);
    if (count(c->granted) >= config_.majority()) {
      become_coordinator(now);
    } else if (now >= c->round_deadline) {
      become_pre_candidate(now);
    }
    return;
  }
  if (!std::holds_alternative<Follower>(role_)) return;
  if (now < election_deadline_ || (promise_until_ && now < *promise_until_)) return;
  // The pre-vote keeps a node cut off from the majority from raising the term (Raft thesis
  // 9.6). A node the arbiter backs now is not cut off: no other node can be backed by it
  // meanwhile, so it campaigns at once and saves the arbiter a round trip.
  if (arbiter_claiming_ && arbiter_held_ == true) {
    become_candidate(now);
    return;
  }
  become_pre_candidate(now);
}

void ElectionCore::update_quorum_event(Instant now) {
  const bool q = has_quorum(now);
  if (q == quorum_reported_) return;
  quorum_reported_ = q;
  emit(q ? EventKind::kQuorumGained : EventKind::kQuorumLost, std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// The arbiter (docs/pairs.md): a voter asked only while this node needs it

void ElectionCore::on_arbiter_answer(NodeId from, const ArbiterAnswer& m, Instant now) {
  Peer& p = peers_[from.value];
  sample_rtt(p, m.echo, now);
  arbiter_answered_at_ = now;
  arbiter_holder_ = m.holder;
  if (!arbiter_reachable_) {
    arbiter_reachable_ = true;
    emit(EventKind::kArbiterReachable, from);
  }
  if (m.term > hard_.term) become_follower(m.term, std::nullopt, now, "newer_term");
  const auto sent = ping_sent_at(m.echo);
  if (!sent || ping_probe_[m.echo % limits::kPingHistory])
    return;  // a probe's answer grants nothing
  if (arbiter_held_ != m.granted) {
    arbiter_held_ = m.granted;
    if (m.granted) {
      emit(EventKind::kArbiterHeld, from);
    } else {
      emit(EventKind::kArbiterRefused, from,
           {{"holder", m.holder.empty() ? std::string("none") : m.holder}});
    }
  }
  if (!m.granted) return;
  // A grant of our ping, as a voter's echo with `grant`; a release of every other node (the
  // arbiter backs only us, and backed none of them for a promise before), counted like a
  // voter's releases from our ping's sending; and with `leads_acked`, an acknowledgement of us
  // as the coordinator of our term.
  if (!p.granted_ping_sent_at || *sent > *p.granted_ping_sent_at) p.granted_ping_sent_at = sent;
  for (std::size_t v = 0; v < peers_.size(); ++v) {
    if (v == self_.value || v == from.value) continue;
    auto& anchor = peers_[v].release_anchor[from.value];
    if (!anchor || *sent > *anchor) anchor = sent;
  }
  if (m.leads_acked && m.term == hard_.term && std::holds_alternative<Coordinator>(role_)) {
    if (!p.acked_ping_sent_at || *sent > *p.acked_ping_sent_at) p.acked_ping_sent_at = sent;
  }
}

// How long before the lease the other voters back ends this node asks the arbiter: time for an
// answer (its round trip as a retransmission timer reckons it, an interval before one is
// measured) and the vip's margin (h/2), with a quarter interval to spare.
Duration ElectionCore::arbiter_margin() const {
  const Duration h = timing_.heartbeat_interval;
  const Peer& a = peers_[*arbiter_];
  const Duration rtt = a.srtt ? *a.srtt + 2 * a.rttvar : h;
  return h / 2 + rtt + h / 4;
}

// The arbiter is asked with every heartbeat while a voter has been silent for more than an
// interval and a quarter (one heartbeat missed: in a split each side asks at once, and after a
// crash the survivor's claim is answered before its peer's silence reaches node_timeout), while
// the lease or the coordinator lease the other voters back would end within arbiter_margin()
// (a peer that restarted grants nothing for node_timeout), and during an election.
bool ElectionCore::arbiter_needed(Instant now) const {
  if (!arbiter_ || is_witness()) return false;
  // Within its boot's promise span a node grants nothing, so its peers may need the arbiter
  // because of it; it asks for nothing then, and leaves the arbiter to them.
  if (now < boot_ + timing_.node_timeout) return false;
  if (!std::holds_alternative<Follower>(role_) && !std::holds_alternative<Coordinator>(role_)) {
    return true;
  }
  const Duration h = timing_.heartbeat_interval;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (i == self_.value || is_arbiter(i)) continue;
    const Peer& p = peers_[i];
    if (!p.last_heard || now - *p.last_heard > h + h / 4 + arbiter_patience_) return true;
    // A peer that restarted grants nothing for node_timeout after its boot.
    if (p.restarted_at && now - *p.restarted_at < timing_.node_timeout) return true;
  }
  const auto lease = majority_anchor_plus_lease(&Peer::granted_ping_sent_at, arbiter_);
  if (!lease || *lease - now < arbiter_margin()) return true;
  if (std::holds_alternative<Coordinator>(role_)) {
    const auto acked = majority_anchor_plus_lease(&Peer::acked_ping_sent_at, arbiter_);
    if (!acked || *acked - now < arbiter_margin()) return true;
  }
  return false;
}

void ElectionCore::send_claim(Instant now, bool probe) {
  const std::uint64_t ping = new_ping(now);
  ping_prompt_[ping % limits::kPingHistory] = true;
  ping_probe_[ping % limits::kPingHistory] = probe;
  send(NodeId{static_cast<std::uint16_t>(*arbiter_)},
       ArbiterClaim{hard_.term, std::holds_alternative<Coordinator>(role_), ping,
                    timing_.node_timeout, probe});
  arbiter_next_probe_ = now + kArbiterProbeInterval;
}

void ElectionCore::update_arbiter(Instant now) {
  if (!arbiter_ || is_witness()) return;
  const bool need = arbiter_needed(now);
  if (need != arbiter_claiming_) {
    arbiter_claiming_ = need;
    if (need) send_claim(now, false);  // at once: the next heartbeat may be an interval away
    if (!need) arbiter_held_.reset();
  }
  if (!need && now >= arbiter_next_probe_) send_claim(now, true);
  if (arbiter_reachable_ && now - arbiter_answered_at_.value_or(boot_) > kArbiterLostAfter) {
    arbiter_reachable_ = false;
    emit(EventKind::kArbiterUnreachable, NodeId{static_cast<std::uint16_t>(*arbiter_)},
         {{"silent", format_ms(now - arbiter_answered_at_.value_or(boot_))}});
  }
}

// ---------------------------------------------------------------------------------------------
// Leases and promises

// The newest instant such that a majority, counting this node, vouched for a ping sent at or
// after it (`field` of each peer), plus the lease span; Instant::max() for a one-node majority.
std::optional<Instant> ElectionCore::majority_anchor_plus_lease(
    std::optional<Instant> Peer::*field, std::optional<std::size_t> skip) const {
  const std::size_t others_needed = config_.majority() - 1;
  if (others_needed == 0) return Instant::max();
  std::array<Instant, limits::kMaxNodes> acks;  // on every step: no allocation
  std::size_t n = 0;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (i == self_.value || i == skip) continue;
    if (stands_in(i)) {
      acks[n++] = last_now_;  // a fenced (or departed) peer backs every ping
    } else if (peers_[i].*field) {
      acks[n++] = *(peers_[i].*field);
    }
  }
  if (n < others_needed) return std::nullopt;
  const auto end = acks.begin() + static_cast<long>(n);
  std::nth_element(acks.begin(), acks.begin() + static_cast<long>(others_needed - 1), end,
                   std::greater<>());
  return acks[others_needed - 1] + timing_.coordinator_lease;
}

std::optional<Instant> ElectionCore::coordinator_lease_until() const {
  if (!std::holds_alternative<Coordinator>(role_)) return std::nullopt;
  return majority_anchor_plus_lease(&Peer::acked_ping_sent_at);
}

std::optional<Instant> ElectionCore::quorum_lease_from_grants() const {
  return majority_anchor_plus_lease(&Peer::granted_ping_sent_at);
}

void ElectionCore::update_lease(Instant now) {
  if (lease_end_ && now >= *lease_end_) {
    // Over. Grants that come later begin a new lease; requests must then echo a ping sent
    // from now on (lease_session_ping).
    lease_end_.reset();
    lease_since_.reset();
    lease_session_ping_ = next_ping_;
  }
  const auto until = quorum_lease_from_grants();
  if (!until || now >= *until) return;
  if (!lease_end_) lease_since_ = now;
  if (!lease_end_ || *until > *lease_end_) lease_end_ = until;
}

void ElectionCore::on_lease_fields(NodeId from, const Heartbeat& m) {
  const auto sent = ping_sent_at(m.echo);
  if (!sent) return;
  Peer& p = peers_[from.value];
  if (m.grant && (!p.granted_ping_sent_at || *sent > *p.granted_ping_sent_at)) {
    p.granted_ping_sent_at = sent;
  }
  // Its releases were promised after our ping arrived there: each holds on our clock until at
  // least `sent` + the lease span (the drift-shrunk node_timeout), as a coordinator's lease does.
  for (const NodeId lost : m.released) {
    if (lost == self_ || lost == from || lost.value >= peers_.size()) continue;
    auto& anchor = peers_[lost.value].release_anchor[from.value];
    if (!anchor || *sent > *anchor) anchor = sent;
  }
}

bool ElectionCore::may_grant(const Peer& p) const {
  // The ping we echo must have arrived after every release promise we made for its sender, and
  // after our boot's promise span (promises made before a restart are forgotten).
  if (!p.last_ping_received_at) return false;
  const Instant got = *p.last_ping_received_at;
  return got >= boot_ + timing_.node_timeout &&
         (!p.release_promise_until || got >= *p.release_promise_until);
}

bool ElectionCore::releasing(const Peer& p, Instant now) const {
  return now - p.last_ping_at.value_or(boot_) >= timing_.node_timeout;
}

std::vector<NodeId> ElectionCore::releases(NodeId to, Instant now) {
  std::vector<NodeId> out;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    Peer& p = peers_[i];
    if (i == self_.value || i == to.value || is_arbiter(i) || !releasing(p, now)) continue;
    if (out.size() == limits::kMaxReleasesPerHeartbeat) break;
    out.push_back(NodeId{static_cast<std::uint16_t>(i)});
    const Instant until = now + timing_.node_timeout;
    if (!p.release_promise_until || until > *p.release_promise_until) {
      p.release_promise_until = until;
    }
  }
  return out;
}

void ElectionCore::update_releases(Instant now) {
  for (std::size_t f = 0; f < peers_.size(); ++f) {
    if (f != self_.value && !is_arbiter(f))
      update_release(NodeId{static_cast<std::uint16_t>(f)}, now);
  }
}

// Live releases of `lost` from voters other than itself must meet every majority it could
// count on (n - q + 1 of them) at every instant of a period for its lease to be over throughout:
// a break (a release ran out before the next came) ends the period, since the node may then
// have gained a lease, and work from a coordinator under it.
void ElectionCore::update_release(NodeId id, Instant now) {
  // two_node: a lease may rest on a stand-in, which releases nobody; a lost peer's lease is
  // never known to be over, and its resources move only once it is fenced.
  if (config_.two_node) return;
  Peer& lost = peers_[id.value];
  if (lost.released_at && (lost.up || now >= lost.released_until)) {
    lost.released_at.reset();
    emit(EventKind::kLeaseReleaseEnded, id,
         {{"reason", lost.up ? std::string("heard") : std::string("releases_ran_out")}});
  }
  if (lost.up) return;
  std::vector<Instant> until;  // when each live release runs out
  for (std::size_t v = 0; v < peers_.size(); ++v) {
    if (v == id.value) continue;
    const auto& anchor = lost.release_anchor[v];
    if (v == self_.value) {
      if (releasing(lost, now)) until.push_back(Instant::max());  // until we hear it
    } else if (anchor && now < *anchor + timing_.coordinator_lease) {
      until.push_back(*anchor + timing_.coordinator_lease);
    }
  }
  const std::size_t need = peers_.size() - config_.majority() + 1;
  if (until.size() < need) return;
  std::nth_element(until.begin(), until.begin() + static_cast<long>(need - 1), until.end(),
                   std::greater<>());
  lost.released_until = until[need - 1];
  if (lost.released_at) return;
  lost.released_at = now;
  emit(EventKind::kLeaseReleased, id, {{"releases", static_cast<std::int64_t>(until.size())}});
}

bool ElectionCore::holds_coordinator_lease(Instant now) const {
  const auto until = coordinator_lease_until();
  return until && now < *until;
}

std::optional<Instant> ElectionCore::lease_until() const { return lease_end_; }

std::optional<Instant> ElectionCore::lease_since() const { return lease_since_; }

bool ElectionCore::has_quorum(Instant now) const { return lease_end_ && now < *lease_end_; }

std::optional<Instant> ElectionCore::authority_until() const {
  if (std::holds_alternative<Coordinator>(role_)) return coordinator_lease_until();
  if (authority_term_ != hard_.term) return std::nullopt;
  return authority_until_;
}

std::uint64_t ElectionCore::last_ping_from(NodeId peer) const {
  return peer.value < peers_.size() ? peers_[peer.value].last_ping_received : 0;
}

std::optional<Instant> ElectionCore::lease_released_at(NodeId peer, Instant now) const {
  HACTL_ASSERT(peer.value < peers_.size());
  const Peer& p = peers_[peer.value];
  if (!p.released_at || p.up || now >= p.released_until) return std::nullopt;
  return p.released_at;
}

bool ElectionCore::promised_elsewhere(NodeId candidate, Instant now) const {
  return promise_until_ && now < *promise_until_ && promised_to_ != candidate;
}

void ElectionCore::promise(NodeId to, Instant from) {
  const bool live = promise_until_ && from < *promise_until_;
  // A live promise moves only to the coordinator of our term (a promise to anyone else in this
  // term backed a candidate that lost, and one from an older term a lease that is over since
  // this coordinator's election), to a newer term's candidate, or away from the boot promise.
  HACTL_ASSERT(!live || !promised_to_ || promised_to_ == to || promised_term_ < hard_.term ||
               coordinator() == to);
  promised_to_ = to;
  promised_term_ = hard_.term;
  const Instant until = from + timing_.node_timeout;
  if (!promise_until_ || until > *promise_until_) promise_until_ = until;
}

// ---------------------------------------------------------------------------------------------
// Helpers

Heartbeat ElectionCore::make_heartbeat(NodeId to, bool reply, Instant now) {
  Peer& p = peers_[to.value];
  Heartbeat hb;
  hb.term = hard_.term;
  hb.coordinator = coordinator();
  hb.ping = new_ping(now);
  hb.echo = p.last_ping_received;
  hb.reply = reply;
  if (!reply) ping_prompt_[hb.ping % limits::kPingHistory] = true;
  if (const auto until = coordinator_lease_until(); until && now < *until) {
    hb.lease_remaining = std::min(*until - now, timing_.coordinator_lease);
  }
  hb.grant = hb.echo != 0 && may_grant(p);
  hb.released = releases(to, now);
  // Acknowledging the coordinator's ping is a promise not to vote for anyone else, counted from
  // when that ping arrived (so a silent coordinator's promise is not kept alive by our sends).
  if (hb.coordinator == to && hb.echo != 0 && p.last_ping_received_at) {
    promise(to, *p.last_ping_received_at);
  }
  return hb;
}

void ElectionCore::send(NodeId to, Message m) {
  ready_.messages.push_back(Outgoing{to, std::move(m)});
}

void ElectionCore::emit(EventKind kind, std::optional<NodeId> node,
                        std::vector<EventField> fields) {
  ready_.events.push_back(ElectionEvent{kind, hard_.term, node, std::move(fields)});
}

std::uint64_t ElectionCore::new_ping(Instant now) {
  const std::uint64_t id = next_ping_++;
  ping_sent_[id % limits::kPingHistory] = now;
  ping_prompt_[id % limits::kPingHistory] = false;
  ping_probe_[id % limits::kPingHistory] = false;
  return id;
}

std::optional<Instant> ElectionCore::ping_sent_at(std::uint64_t ping) const {
  if (ping == 0 || ping >= next_ping_ || next_ping_ - ping > limits::kPingHistory) {
    return std::nullopt;
  }
  return ping_sent_[ping % limits::kPingHistory];
}

void ElectionCore::set_hard_state(HardState h) {
  HACTL_ASSERT(h.term >= hard_.term);
  if (h == hard_) return;
  hard_ = h;
  ready_.hard_state = hard_;
}

void ElectionCore::reset_election_timer(Instant now) {
  election_deadline_ =
      now + timing_.node_timeout + rng_.uniform(Duration::zero(), timing_.election_jitter);
}

std::size_t ElectionCore::count(const std::vector<bool>& v) const {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), true));
}

Ready ElectionCore::take_ready() {
  Ready r = std::move(ready_);
  ready_ = Ready{};
  return r;
}

Instant ElectionCore::next_deadline() const {
  Instant next = next_heartbeat_at_;
  auto consider = [&next](std::optional<Instant> t) {
    if (t && *t < next) next = *t;
  };
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (i != self_.value && peers_[i].up && peers_[i].last_heard) {
      consider(*peers_[i].last_heard + timing_.node_timeout + Duration{1});
    }
  }
  if (const auto* pc = std::get_if<PreCandidate>(&role_)) consider(pc->round_deadline);
  if (const auto* c = std::get_if<Candidate>(&role_)) consider(c->round_deadline);
  if (std::holds_alternative<Follower>(role_) && !is_witness()) {
    consider(std::max(election_deadline_, promise_until_.value_or(election_deadline_)));
  }
  if (const auto until = lease_until(); until && *until != Instant::max()) consider(*until);
  if (arbiter_ && !is_witness()) consider_arbiter(consider);
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].released_at) consider(peers_[i].released_until);
  }
  return next;
}

// When update_arbiter() has something to do: a probe, the arbiter's silence, and the instants
// arbiter_needed() turns true (a voter's silence passes an interval and a quarter, a lease's
// end comes within the margin).
// Only instants after the last step or tick count: one already past would wake the shell at
// once, again and again (a down peer's silence, the boot's promise).
template <typename F>
void ElectionCore::consider_arbiter(F&& consider_any) const {
  const auto consider = [&](Instant t) {
    if (t > last_now_) consider_any(t);
  };
  consider(arbiter_next_probe_);
  if (arbiter_reachable_ && arbiter_answered_at_) {
    consider(*arbiter_answered_at_ + kArbiterLostAfter + Duration{1});
  }
  consider(boot_ + timing_.node_timeout);
  if (arbiter_claiming_) return;
  const Duration h = timing_.heartbeat_interval;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (i == self_.value || is_arbiter(i) || !peers_[i].last_heard) continue;
    consider(*peers_[i].last_heard + h + h / 4 + arbiter_patience_ + Duration{1});
  }
  if (const auto lease = majority_anchor_plus_lease(&Peer::granted_ping_sent_at, arbiter_)) {
    consider(*lease - arbiter_margin());
  }
  if (std::holds_alternative<Coordinator>(role_)) {
    if (const auto acked = majority_anchor_plus_lease(&Peer::acked_ping_sent_at, arbiter_)) {
      consider(*acked - arbiter_margin());
    }
  }
}

NodeStatus ElectionCore::status(Instant now) const {
  NodeStatus s;
  s.self = self_;
  s.role = role();
  s.term = hard_.term;
  s.coordinator = coordinator();
  s.quorum = has_quorum(now);
  if (s.quorum) s.lease_until = lease_until();
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (i == self_.value) continue;
    const Peer& p = peers_[i];
    if (is_arbiter(i)) {
      s.arbiter = ArbiterView{NodeId{static_cast<std::uint16_t>(i)},
                              arbiter_reachable_,
                              arbiter_claiming_,
                              arbiter_claiming_ && arbiter_held_.value_or(false),
                              arbiter_answered_at_,
                              p.srtt,
                              arbiter_holder_};
      continue;
    }
    s.peers.push_back(PeerStatus{NodeId{static_cast<std::uint16_t>(i)}, p.up, p.last_heard, p.srtt,
                                 p.up ? "" : p.down_reason, p.echoed_ping_sent_at});
  }
  return s;
}

void ElectionCore::set_stand_ins(std::vector<bool> stand_ins) {
  if (!config_.two_node) return;
  stand_ins_ = std::move(stand_ins);
}

void ElectionCore::check_invariants(Instant now) const {
  const Role r = role();
  if (r == Role::kCoordinator || r == Role::kCandidate) HACTL_ASSERT(hard_.voted_for == self_);
  if (is_witness()) HACTL_ASSERT(r == Role::kFollower);
  if (const auto* pc = std::get_if<PreCandidate>(&role_))
    HACTL_ASSERT(pc->proposed == hard_.term.next());
  if (promise_until_) HACTL_ASSERT(*promise_until_ <= now + timing_.node_timeout);
  HACTL_ASSERT(authority_term_ <= hard_.term);
  if (lease_end_) HACTL_ASSERT(lease_since_ && *lease_since_ <= now && now < *lease_end_);
  HACTL_ASSERT(next_heartbeat_at_ <= now + timing_.heartbeat_interval);
}

}  // namespace hactl
