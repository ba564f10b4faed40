// The arbiter's voter for one cluster. See arbiter.hpp for the rules and docs/pairs.md for why
// they are safe.
#include "coordinator/arbiter.hpp"

#include <algorithm>

#include "common/limits.hpp"

namespace hactl {

ArbiterVoter::ArbiterVoter(ArbiterHardState persisted, Instant boot)
    : hard_(std::move(persisted)), boot_(boot) {}

ArbiterVoter ArbiterVoter::unsafe_sharing_for_tests(ArbiterHardState persisted, Instant boot) {
  ArbiterVoter v(std::move(persisted), boot);
  v.exclusive_ = false;
  return v;
}

ArbiterNodeView* ArbiterVoter::view(std::string_view node, Instant now) {
  auto it = std::find_if(nodes_.begin(), nodes_.end(),
                         [&](const ArbiterNodeView& v) { return v.name == node; });
  if (it == nodes_.end()) {
    if (nodes_.size() >= limits::kMaxArbiterNodes) {
      // Forget the node heard least lately, unless it holds the arbiter.
      auto oldest = nodes_.end();
      for (auto i = nodes_.begin(); i != nodes_.end(); ++i) {
        if (i->name == holder_) continue;
        if (oldest == nodes_.end() || i->last_contact < oldest->last_contact) oldest = i;
      }
      if (oldest == nodes_.end()) return nullptr;
      nodes_.erase(oldest);
    }
    nodes_.push_back(ArbiterNodeView{std::string(node), std::nullopt, 0, 0});
    it = nodes_.end() - 1;
  }
  it->last_contact = now;
  return &*it;
}

// A restarted arbiter forgot its holds: it backs nobody for a promise's span after it started.
bool ArbiterVoter::ready(Instant now) const {
  return hard_.promise > Duration::zero() && now >= boot_ + hard_.promise;
}

bool ArbiterVoter::hold_live(Instant now) const { return !holder_.empty() && now < hold_until_; }

bool ArbiterVoter::may_hold(std::string_view node, Instant now) const {
  return ready(now) && (holder_ == node || !hold_live(now) || !exclusive_);
}

// Takes or renews the hold for `node` (may_hold said yes): it lasts the promise's span from now,
// when the request arrived and the answer leaves.
void ArbiterVoter::hold(std::string_view node, Instant now, Output& out) {
  if (holder_ != node) {
    holder_ = std::string(node);
    ++hold_changes_;
    out.new_holder = holder_;
  }
  hold_until_ = std::max(hold_until_, now + hard_.promise);
}

void ArbiterVoter::adopt_term(Term t) {
  if (t <= hard_.term) return;
  hard_.term = t;
  hard_.voted_for.clear();
  dirty_ = true;
}

ArbiterVoter::Output ArbiterVoter::step(std::string_view node, const Message& message,
                                        Instant now) {
  Output out;
  ArbiterNodeView* v = node.empty() ? nullptr : view(node, now);
  if (v == nullptr) {
    out.dropped = true;
    out.drop_reason = "too_many_nodes";
    return out;
  }
  if (const auto* c = std::get_if<ArbiterClaim>(&message)) {
    on_claim(*v, *c, now, out);
  } else if (const auto* p = std::get_if<PreVoteRequest>(&message)) {
    on_pre_vote(*v, *p, now, out);
  } else if (const auto* r = std::get_if<VoteRequest>(&message)) {
    on_vote(*v, *r, now, out);
  } else {
    out.dropped = true;
    out.drop_reason = "not_for_the_arbiter";
  }
  if (dirty_) {
    out.persist = hard_;
    dirty_ = false;
  }
  return out;
}

void ArbiterVoter::on_claim(ArbiterNodeView& v, const ArbiterClaim& m, Instant now, Output& out) {
  v.promise = m.promise;
  if (m.promise > hard_.promise) {
    hard_.promise = std::min<Duration>(m.promise, limits::kMaxArbiterPromise);
    dirty_ = true;
  }
  adopt_term(m.term);
  ArbiterAnswer a;
  a.term = hard_.term;
  a.echo = m.ping;
  if (!m.probe) {
    ++v.claims;
    if (m.ping != 0 && may_hold(v.name, now)) {
      hold(v.name, now, out);
      ++v.granted;
      a.granted = true;
      a.leads_acked = m.leads && m.term == hard_.term;
    }
  }
  if (hold_live(now)) {
    a.holder = holder_;
    a.hold_left = hold_until_ - now;
  }
  out.reply = std::move(a);
}

void ArbiterVoter::on_pre_vote(ArbiterNodeView& v, const PreVoteRequest& m, Instant now,
                               Output& out) {
  // Changes no term and no vote; a grant takes the hold, so that the vote it leads to finds the
  // arbiter still free for this node.
  const bool granted = m.term > hard_.term && may_hold(v.name, now) && v.promise > Duration::zero();
  if (granted) hold(v.name, now, out);
  out.reply = PreVoteResponse{granted ? m.term : hard_.term, granted};
}

void ArbiterVoter::on_vote(ArbiterNodeView& v, const VoteRequest& m, Instant now, Output& out) {
  // As a voter bound by a promise (Raft thesis 4.2.3): the hold of another node, or the
  // restart's, neither moves our term nor gets an answer.
  if (!may_hold(v.name, now)) {
    out.dropped = true;
    out.drop_reason = ready(now) ? "held_by_another" : "restarted_lately";
    return;
  }
  // A vote is a promise of the voter's span, and a vote request does not say how long the
  // candidate counts on: only a node whose claims told us since we started gets one (its probe
  // at start does), and the promise kept is the longest any claim asked.
  if (v.promise == Duration::zero()) {
    out.dropped = true;
    out.drop_reason = "promise_unknown";
    return;
  }
  if (m.term < hard_.term) {
    out.reply = VoteResponse{hard_.term, false, m.ping};
    return;
  }
  adopt_term(m.term);
  // The arbiter stores no document, so it cannot apply Raft's election restriction; a document
  // is committed only once a majority of the nodes that store it hold it (DocReplica counts
  // nodes, never the arbiter), so every majority of voters still contains one that checks.
  const bool granted = hard_.voted_for.empty() || hard_.voted_for == v.name;
  if (granted) {
    if (hard_.voted_for != v.name) {
      hard_.voted_for = v.name;
      dirty_ = true;
    }
    hold(v.name, now, out);
  }
  out.reply = VoteResponse{hard_.term, granted, m.ping};
}

std::optional<Instant> ArbiterVoter::last_contact() const {
  std::optional<Instant> last;
  for (const auto& v : nodes_) {
    if (v.last_contact && (!last || *v.last_contact > *last)) last = v.last_contact;
  }
  return last;
}

ArbiterStatus ArbiterVoter::status(Instant now) const {
  ArbiterStatus s;
  s.term = hard_.term;
  s.voted_for = hard_.voted_for;
  if (hold_live(now)) {
    s.holder = holder_;
    s.hold_left = hold_until_ - now;
  }
  s.promise = hard_.promise;
  s.ready = ready(now);
  s.hold_changes = hold_changes_;
  s.nodes = nodes_;
  return s;
}

}  // namespace hactl
