// One served cluster (see served_cluster.hpp).
#include "arbiter/served_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "common/assert.hpp"
#include "common/limits.hpp"

namespace hactl {
namespace {

bool is_request(const Message& m) {
  return std::holds_alternative<ArbiterClaim>(m) || std::holds_alternative<PreVoteRequest>(m) ||
         std::holds_alternative<VoteRequest>(m);
}

// What a request asks of the hold, and whether the answer granted it.
bool asks_hold(const Message& m) {
  if (const auto* c = std::get_if<ArbiterClaim>(&m)) return !c->probe;
  return is_request(m);
}
bool grants(const Message& reply) {
  return std::visit(
      [](const auto& r) {
        if constexpr (requires { r.granted; }) {
          return r.granted;
        } else {
          return false;
        }
      },
      reply);
}

std::string_view gate_drop(PeerGate::Verdict v) {
  switch (v) {
    case PeerGate::Verdict::kReplayed:
      return to_string(DropReason::kReplayed);
    case PeerGate::Verdict::kStaleIncarnation:
      return to_string(DropReason::kStaleIncarnation);
    case PeerGate::Verdict::kStaleEcho:
      return to_string(DropReason::kStaleEcho);
    case PeerGate::Verdict::kAccept:
    case PeerGate::Verdict::kAcceptNewIncarnation:
      break;
  }
  return {};
}

}  // namespace

std::string address_text(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(v4.sin_port));
  }
  if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6.sin6_port));
  }
  return "?";
}

ServedCluster::ServedCluster(std::string name, const ClusterKey& key, ArbiterHardState persisted,
                             Instant boot, std::uint64_t incarnation)
    : name_(std::move(name)),
      sealer_(std::make_unique<ArbiterSealer>(key)),
      voter_(persisted, boot),
      incarnation_(incarnation),
      session_(new_session()),
      latest_(std::move(persisted)) {}

void ServedCluster::set_key(const ClusterKey& key) {
  sealer_ = std::make_unique<ArbiterSealer>(key);
}

void ServedCluster::count_drop(std::string_view reason) {
  auto it = counters_.dropped.find(reason);
  if (it == counters_.dropped.end()) it = counters_.dropped.emplace(std::string(reason), 0).first;
  ++it->second;
}

ServedCluster::Peer* ServedCluster::peer(const std::string& name, Instant now) {
  auto it = peers_.find(name);
  if (it == peers_.end()) {
    if (peers_.size() >= limits::kMaxArbiterNodes) {
      // Forget the node heard least lately: a node of the cluster that comes back starts again
      // with its next datagram's challenge.
      auto oldest = std::min_element(
          peers_.begin(), peers_.end(),
          [](const auto& a, const auto& b) { return a.second.last_heard < b.second.last_heard; });
      if (oldest->second.last_heard == now) return nullptr;  // all heard in this instant
      peers_.erase(oldest);
    }
    it = peers_.emplace(name, Peer(session_)).first;
  }
  it->second.last_heard = now;
  return &it->second;
}

ServedCluster::Received ServedCluster::receive(const ArbiterEnvelope& env,
                                               const sockaddr_storage& from, Instant now) {
  Received r;
  r.sender = env.sender;
  ++counters_.received;
  if (!is_request(env.message)) return {"not_for_the_arbiter", std::nullopt, env.sender};
  Peer* p = peer(env.sender, now);
  if (p == nullptr) return {"too_many_nodes", std::nullopt, env.sender};
  const auto verdict = p->gate.check(gate_header(env));
  if (verdict == PeerGate::Verdict::kStaleEcho) {
    p->from = from;
    challenge(*p, env, now);
    return r;
  }
  if (auto drop = gate_drop(verdict); !drop.empty()) return {drop, std::nullopt, env.sender};
  p->from = from;
  auto out = voter_.step(env.sender, env.message, now);
  if (out.persist) {
    latest_ = *out.persist;
    ++generation_;
  }
  count(env.message, out);
  r.new_holder = out.new_holder;
  if (out.dropped) {
    r.dropped = out.drop_reason;
    return r;
  }
  HACTL_ASSERT(out.reply.has_value());
  answer(*p, env, std::move(*out.reply));
  return r;
}

void ServedCluster::count(const Message& request, const ArbiterVoter::Output& out) {
  if (!asks_hold(request)) return;
  ++counters_.claims;
  if (out.reply && grants(*out.reply)) ++counters_.grants;
}

// The node does not know this cluster's challenge yet: tell it, by a refusal of the request's
// kind that the voter never saw (a replayed request gets the same, and learns nothing).
void ServedCluster::challenge(Peer& p, const ArbiterEnvelope& env, Instant now) {
  if (p.last_challenge && now < *p.last_challenge + kChallengeInterval) {
    count_drop(to_string(DropReason::kStaleEcho));
    return;
  }
  p.last_challenge = now;
  ++counters_.challenges;
  const Term term = voter_.hard_state().term;
  Message reply;
  if (const auto* c = std::get_if<ArbiterClaim>(&env.message)) {
    reply = ArbiterAnswer{term, c->ping, false, false, "", Duration{0}};
  } else if (const auto* v = std::get_if<VoteRequest>(&env.message)) {
    reply = VoteResponse{term, false, v->ping};
  } else {
    reply = PreVoteResponse{term, false};
  }
  answer(p, env, std::move(reply));
}

void ServedCluster::answer(Peer& p, const ArbiterEnvelope& env, Message reply) {
  if (pending_.size() >= kMaxPendingAnswers) {
    count_drop("backlog");  // the disk is that slow: an unanswered request is only retried
    return;
  }
  ArbiterEnvelope out;
  out.cluster = name_;
  out.sender = env.recipient;
  out.recipient = env.sender;
  out.incarnation = incarnation_;
  out.session = session_;
  out.echo = p.gate.echo();
  out.seq = p.next_seq++;
  out.message = std::move(reply);
  ++counters_.answered;
  pending_.push_back(SealedAnswer{p.from, sealer_->seal(out), generation_});
}

std::optional<StateWrite> ServedCluster::next_write(Instant now) {
  if (writing_ || generation_ == durable_) return std::nullopt;
  if (retry_at_ && now < *retry_at_) return std::nullopt;
  writing_ = true;
  return StateWrite{latest_, generation_};
}

void ServedCluster::written(std::uint64_t generation, bool ok, Instant now) {
  HACTL_ASSERT(writing_ && generation > durable_ && generation <= generation_);
  writing_ = false;
  ++counters_.writes;
  if (ok) {
    durable_ = generation;
    retry_at_.reset();
    return;
  }
  // The answers that wait for it stay unsent until a write succeeds (the voter's state they
  // rest on is only in memory): retried after kWriteRetry.
  ++counters_.write_failures;
  retry_at_ = now + kWriteRetry;
}

std::vector<SealedAnswer> ServedCluster::take_sendable() {
  std::vector<SealedAnswer> out;
  while (!pending_.empty() && pending_.front().needs <= durable_) {
    out.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return out;
}

std::map<std::string, PeerView, std::less<>> ServedCluster::peer_views() const {
  std::map<std::string, PeerView, std::less<>> out;
  for (const auto& [name, p] : peers_)
    out.emplace(name, PeerView{address_text(p.from), p.last_heard});
  return out;
}

}  // namespace hactl
