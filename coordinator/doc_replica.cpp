#include "coordinator/doc_replica.hpp"

#include <algorithm>

#include "common/assert.hpp"
#include "common/config.hpp"
#include "common/limits.hpp"

namespace hactl {
namespace {

std::string show(DocVersion v) {
  return std::to_string(v.term.value) + "." + std::to_string(v.revision);
}

constexpr std::size_t kAnsweredKept = 256;

}  // namespace

DocReplica::DocReplica(std::size_t nodes, NodeId self, Duration resend, StoredDoc initial,
                       Validator validator, std::uint64_t first_proposal)
    : n_(nodes),
      self_(self),
      resend_(resend),
      doc_(std::move(initial)),
      durable_(doc_.version),
      held_acks_(nodes),
      validator_(std::move(validator)),
      acked_(nodes),
      last_sent_(nodes),
      up_(nodes, false),
      early_(nodes),
      next_proposal_(std::max<std::uint64_t>(first_proposal, 1)) {}

void DocReplica::peer_restarted(NodeId from) {
  if (from.value < n_) early_[from.value].reset();
  std::erase_if(answered_, [&](const auto& e) { return e.first.first == from.value; });
  std::erase_if(proposals_, [&](const auto& e) { return e.first.first == from.value; });
  // Its accepted changes still commit; only the answer has no one to go to.
  for (auto& [v, w] : waiting_) {
    if (w.from == from) w.id = 0;
  }
}

std::optional<Instant> DocReplica::next_deadline() const {
  std::optional<Instant> next;
  auto at = [&](Instant t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& [id, m] : mine_) {
    at(m.deadline);
    at(m.last_sent + resend_);
  }
  if (leading()) {
    // Only for nodes up at the last tick: a down node (or the arbiter, which stores no
    // document) is sent nothing, and its deadline, long past, would wake the shell at once,
    // again and again. A node that comes up does so in a step, and a tick follows it.
    for (std::size_t i = 0; i < n_; ++i) {
      if (i != self_.value && up_[i] && acked_[i] != doc_.version)
        at(last_sent_[i] + (acked_[i] ? resend_ : resend_ / 5));
    }
  }
  if (!outbound_.empty()) at(next_burst_);
  return next;
}

void DocReplica::adopt(StoredDoc d) {
  doc_ = std::move(d);
  out_.store = doc_;
  out_.events.push_back(Event(EventKind::kDocStored).add("version", show(doc_.version)));
}

void DocReplica::become_leader(Term term, Instant now) {
  lead_term_ = term;
  committed_.reset();
  std::fill(acked_.begin(), acked_.end(), std::nullopt);
  std::fill(last_sent_.begin(), last_sent_.end(), now - resend_);
  if (doc_.version.term < term) {
    // Raft's no-op entry: from here on only versions of this term are counted for commit.
    adopt(StoredDoc{DocVersion{term, doc_.version.revision + 1}, doc_.bytes});
  }
  acked_[self_.value] = durable_;  // itself a holder of what is on disk, not of what is not yet
  update_commit();
}

void DocReplica::stored(DocVersion version) {
  HACTL_ASSERT(version <= doc_.version);
  if (version <= durable_) return;
  durable_ = version;
  for (std::size_t i = 0; i < n_; ++i) {
    auto& held = held_acks_[i];
    if (!held || held->version > durable_) continue;
    send(NodeId{static_cast<std::uint16_t>(i)}, *held);
    held.reset();
  }
  if (!leading()) return;
  acked_[self_.value] = durable_;
  update_commit();
}

// A follower's "I have version v" claims v is on disk: held until it is.
void DocReplica::hold_or_send_ack(NodeId to, const DocAck& a) {
  HACTL_ASSERT(a.proposal == 0);
  if (a.version <= durable_) {
    send(to, a);
  } else {
    held_acks_[to.value] = a;
  }
}

void DocReplica::step_down(const std::string& why) {
  for (const auto& [v, w] : waiting_) {
    answer(w.from, w.id, false,
           "the coordinator " + why +
               " before a majority stored the change; the next coordinator may still apply it: "
               "check `hactl status` before retrying",
           v);
  }
  waiting_.clear();
  proposals_.clear();
  parked_.clear();  // their proposers send them to the next coordinator
  lead_term_.reset();
  committed_.reset();
}

void DocReplica::tick(const Membership& m, std::optional<NodeId> coordinator, Instant now) {
  term_ = m.term;
  coordinator_ = coordinator;
  // The rest of what is on its way first; what this tick starts sends its first burst itself.
  if (!outbound_.empty() && now >= next_burst_) {
    pump(kChunksPerBurst);
    next_burst_ = now + kBurstGap;
  }
  for (auto& e : early_) {
    if (e && e->term < m.term) e.reset();
  }
  if (coordinator && *coordinator != self_ && coordinator->value < n_) {
    if (auto& e = early_[coordinator->value]; e && e->term == m.term) {
      const DocChunk c = std::move(*e);
      e.reset();
      on_chunk(*coordinator, c, m.term, coordinator, now);
    }
  }
  if (leading() && (!m.leads || *lead_term_ != m.term)) step_down("lost its lease");
  if (m.leads && !leading()) become_leader(m.term, now);
  for (std::size_t i = 0; i < n_ && i < m.up.size(); ++i) up_[i] = m.up[i];
  if (leading()) {
    for (std::size_t i = 0; i < n_; ++i) {
      const NodeId to{static_cast<std::uint16_t>(i)};
      if (to == self_ || !m.up[i] || acked_[i] == doc_.version) continue;
      // The question "which version have you?" is small: asked again sooner (a new coordinator
      // asks before its followers know it is one, and they do not answer until they do).
      if (now - last_sent_[i] < (acked_[i] ? resend_ : resend_ / 5)) continue;
      last_sent_[i] = now;
      if (!acked_[i]) {
        // Ask its version first: a node that has it needs no copy.
        send(to, DocChunk{*lead_term_,
                          DocChunkKind::kReplicate,
                          doc_.version,
                          0,
                          text_digest(doc_.bytes),
                          0,
                          static_cast<std::uint32_t>(doc_.bytes.size()),
                          0,
                          {}});
      } else {
        send_doc(to, DocChunkKind::kReplicate, doc_.bytes, doc_.version, 0);
      }
    }
  }
  // Own proposals: to the coordinator (or handled here when it is this node), until answered.
  for (auto it = mine_.begin(); it != mine_.end();) {
    const std::uint64_t id = it->first;
    Mine& p = it->second;
    if (now >= p.deadline) {
      out_.outcomes.push_back(ProposalOutcome{
          id,
          false,
          "no answer from a coordinator in time (is the cluster quorate? see `hactl status`); "
          "the change may or may not be applied",
          {}});
      it = mine_.erase(it);
      continue;
    }
    ++it;
    if (p.sent && now - p.last_sent < resend_) continue;
    if (leading()) {
      p.sent = true;
      p.last_sent = now;
      on_proposal(self_, id, p.bytes, p.base, p.base_digest, now);  // may erase the entry
    } else if (coordinator && *coordinator != self_) {
      p.sent = true;
      p.last_sent = now;
      send_doc(*coordinator, DocChunkKind::kPropose, p.bytes, p.base, id, p.base_digest);
    }
  }
  // Half-received documents are dropped after a while (a sender that went away).
  const Duration stale = 20 * resend_;
  if (incoming_ && now - incoming_->started > stale) incoming_.reset();
  std::erase_if(proposals_, [&](const auto& e) { return now - e.second.started > stale; });
}

std::uint64_t DocReplica::propose(std::string bytes, DocVersion base, Instant now,
                                  Instant deadline) {
  const std::uint64_t id = next_proposal_++;
  const std::uint64_t base_digest = base == doc_.version ? text_digest(doc_.bytes) : 0;
  mine_.emplace(id, Mine{std::move(bytes), base, base_digest, deadline, now, false});
  return id;
}

void DocReplica::send(NodeId to, Message m) { out_.messages.emplace_back(to, std::move(m)); }

void DocReplica::send_doc(NodeId to, DocChunkKind kind, const std::string& bytes,
                          DocVersion version, std::uint64_t proposal, std::uint64_t base_digest) {
  HACTL_ASSERT(bytes.size() <= limits::kMaxDocBytes);
  const DocChunk header{term_,
                        kind,
                        version,
                        proposal,
                        text_digest(bytes),
                        base_digest,
                        static_cast<std::uint32_t>(bytes.size()),
                        0,
                        {}};
  for (const Outbound& o : outbound_) {
    if (o.to == to && o.header == header) return;  // still on its way
  }
  outbound_.push_back(Outbound{to, header, std::make_shared<const std::string>(bytes), 0});
  // The first burst at once: most documents are a few chunks, and their round trip is the
  // latency of every `hactl` change. Only the rest waits for tick().
  Outbound& o = outbound_.back();
  for (std::size_t k = 0; k < kChunksPerBurst && o.next < o.bytes->size(); ++k) {
    DocChunk c = o.header;
    c.offset = static_cast<std::uint32_t>(o.next);
    c.data = o.bytes->substr(o.next, kDocChunkBytes);
    o.next += kDocChunkBytes;
    send(to, std::move(c));
  }
  if (o.next >= o.bytes->size()) outbound_.pop_back();
}

std::size_t DocReplica::pump(std::size_t budget) {
  std::size_t sent = 0;
  for (auto it = outbound_.begin(); it != outbound_.end() && sent < budget;) {
    Outbound& o = *it;
    // Not worth sending: a replica of an earlier term, a proposal no longer in flight.
    const bool stale = o.header.kind == DocChunkKind::kReplicate
                           ? !leading() || o.header.term != term_
                           : mine_.count(o.header.proposal) == 0;
    while (!stale && sent < budget && o.next < o.bytes->size()) {
      DocChunk c = o.header;
      c.offset = static_cast<std::uint32_t>(o.next);
      c.data = o.bytes->substr(o.next, kDocChunkBytes);
      o.next += kDocChunkBytes;
      send(o.to, std::move(c));
      ++sent;
    }
    it = stale || o.next >= o.bytes->size() ? outbound_.erase(it) : it + 1;
  }
  return sent;
}

bool DocReplica::assemble(Assembly& a, const DocChunk& c, Instant now) {
  const std::size_t chunks = (c.total + kDocChunkBytes - 1) / kDocChunkBytes;
  if (a.have.empty() || a.version != c.version || a.digest != c.digest ||
      a.bytes.size() != c.total || a.proposal != c.proposal || a.base_digest != c.base_digest) {
    a = Assembly{c.version,
                 c.proposal,
                 c.digest,
                 c.base_digest,
                 std::string(c.total, '\0'),
                 std::vector<bool>(chunks, false),
                 chunks,
                 now};
  }
  if (c.offset % kDocChunkBytes != 0) return false;
  const std::size_t index = c.offset / kDocChunkBytes;
  if (index >= chunks || c.data.size() != std::min<std::size_t>(kDocChunkBytes, c.total - c.offset))
    return false;
  if (!a.have[index]) {
    a.have[index] = true;
    --a.missing;
    std::copy(c.data.begin(), c.data.end(), a.bytes.begin() + static_cast<long>(c.offset));
  }
  return a.missing == 0 && text_digest(a.bytes) == a.digest;
}

void DocReplica::on_chunk(NodeId from, const DocChunk& c, Term term,
                          std::optional<NodeId> coordinator, Instant now) {
  if (from == self_ || from.value >= n_) return;
  if (c.kind == DocChunkKind::kReplicate &&
      (c.term > term || (c.term == term && coordinator != from))) {
    early_[from.value] = c;  // perhaps from the coordinator this node is about to hear of
    return;
  }
  if (c.term != term) return;
  if (c.kind == DocChunkKind::kReplicate) {
    if (c.version <= doc_.version || c.data.empty()) {
      hold_or_send_ack(from, DocAck{term, doc_.version, 0, true, {}});
      return;
    }
    if (!incoming_) incoming_.emplace();
    if (!assemble(*incoming_, c, now)) return;
    adopt(StoredDoc{c.version, std::move(incoming_->bytes)});
    incoming_.reset();
    hold_or_send_ack(from, DocAck{term, doc_.version, 0, true, {}});
    return;
  }
  if (!leading() || *lead_term_ != c.term || c.proposal == 0) return;
  const std::pair key{from.value, c.proposal};
  if (const auto a = answered_.find(key); a != answered_.end()) {
    send(from, DocAck{term, doc_.version, c.proposal, a->second.first, a->second.second});
    return;
  }
  // One proposal at a time per peer: a newer one replaces a half-received older one.
  std::erase_if(proposals_, [&](const auto& e) {
    return e.first.first == from.value && e.first.second != c.proposal;
  });
  Assembly& a = proposals_[key];
  if (!assemble(a, c, now)) return;
  const std::string bytes = std::move(a.bytes);
  proposals_.erase(key);
  on_proposal(from, c.proposal, bytes, c.version, c.base_digest, now);
}

void DocReplica::on_proposal(NodeId from, std::uint64_t id, const std::string& bytes,
                             DocVersion base, std::uint64_t base_digest, Instant now) {
  for (const auto& [v, w] : waiting_) {
    if (w.from == from && w.id == id) return;  // accepted, awaiting commit
  }
  for (const Parked& p : parked_) {
    if (p.from == from && p.id == id) return;  // resent while its check runs
  }
  // Derived from what is current: the same version, or the same content re-stamped since.
  if (base != doc_.version && (base_digest == 0 || base_digest != text_digest(doc_.bytes))) {
    answer(from, id, false,
           "the cluster's document changed meanwhile (now at version " + show(doc_.version) +
               ", the change was made from " + show(base) +
               "); nothing was changed: run the command again",
           doc_.version);
    return;
  }
  const Verdict verdict = validator_(bytes);
  if (verdict.pending) {
    park(Parked{from, id, bytes, base, base_digest});
    return;
  }
  if (!verdict.error.empty()) {
    answer(from, id, false, verdict.error, doc_.version);
    return;
  }
  adopt(StoredDoc{DocVersion{*lead_term_, doc_.version.revision + 1}, bytes});
  // Not counted as held here until stored() says it is on disk.
  waiting_[doc_.version] = Waiting{from, id};
  std::fill(last_sent_.begin(), last_sent_.end(), now - resend_);
  update_commit();
}

void DocReplica::park(Parked p) {
  if (parked_.size() >= kMaxParked) {
    const Parked oldest = std::move(parked_.front());
    parked_.erase(parked_.begin());
    answer(oldest.from, oldest.id, false,
           "busy: " + std::to_string(kMaxParked) +
               " changes were waiting for their check; nothing was changed: run the command again",
           doc_.version);
  }
  parked_.push_back(std::move(p));
}

void DocReplica::retry_parked(Instant now) {
  if (!leading()) {
    parked_.clear();
    return;
  }
  // Each is checked as if it came now: the document may have changed under it meanwhile.
  for (Parked& p : std::exchange(parked_, {})) {
    on_proposal(p.from, p.id, p.bytes, p.base, p.base_digest, now);
  }
}

void DocReplica::answer(NodeId to, std::uint64_t id, bool ok, const std::string& error,
                        DocVersion v) {
  const std::string e = error.substr(0, kDocErrorBytes);
  if (id == 0) return;  // its proposer restarted since
  if (to == self_) {
    if (mine_.erase(id) != 0) out_.outcomes.push_back(ProposalOutcome{id, ok, e, v});
    return;
  }
  if (answered_.size() >= kAnsweredKept) answered_.erase(answered_.begin());
  answered_[{to.value, id}] = {ok, e};
  send(to, DocAck{term_, v, id, ok, e});
}

void DocReplica::on_ack(NodeId from, const DocAck& a, Instant now) {
  if (a.proposal != 0) {
    // The outcome of one of this node's proposals.
    if (mine_.erase(a.proposal) != 0) {
      out_.outcomes.push_back(ProposalOutcome{a.proposal, a.ok, a.error, a.version});
    }
    return;
  }
  if (!leading() || a.term != *lead_term_ || from.value >= n_) return;
  const bool first = !acked_[from.value];
  if (first || *acked_[from.value] < a.version) acked_[from.value] = a.version;
  if (first && *acked_[from.value] < doc_.version) {
    // It answered the question "which version have you?": send it the document now.
    last_sent_[from.value] = now;
    send_doc(from, DocChunkKind::kReplicate, doc_.bytes, doc_.version, 0);
  }
  update_commit();
}

void DocReplica::update_commit() {
  if (!leading()) return;
  auto holders = [&](DocVersion v) {
    std::size_t k = 0;
    for (const auto& a : acked_) k += (a && *a >= v) ? 1 : 0;
    return k;
  };
  const std::size_t majority = n_ / 2 + 1;
  if (doc_.version.term == *lead_term_ && holders(doc_.version) >= majority) {
    if (committed_ != doc_.version) {
      out_.events.push_back(Event(EventKind::kDocCommitted).add("version", show(doc_.version)));
    }
    committed_ = doc_.version;
  } else {
    for (const auto& [v, w] : waiting_) {
      if (holders(v) >= majority) committed_ = v;
    }
  }
  if (!committed_) return;
  for (auto it = waiting_.begin(); it != waiting_.end() && it->first <= *committed_;) {
    answer(it->second.from, it->second.id, true, {}, it->first);
    it = waiting_.erase(it);
  }
}

}  // namespace hactl
