// The membership / failure-detection / election state machine of one agent: pure, deterministic,
// no I/O. Inputs: step(from, message, now) and tick(now). Outputs: take_ready() (datagrams to
// send, hard state to persist first, events to log). Randomness comes from an injected Rng.
//
// Safety rules kept here (see docs/design.md for the argument):
//  - at most one coordinator per term: a node votes once per term, and the vote is persisted
//    (Ready::hard_state) before the response leaves;
//  - coordinator leases never overlap: a node that acknowledges a coordinator (or grants a
//    vote) promises not to vote for anyone else for node_timeout; a coordinator's lease is
//    shorter than that promise by the allowed clock drift. A follower acts on the coordinator's
//    requests only within an authority window nested inside that lease;
//  - the right to run resources is a quorum lease, granted by a majority of the voters directly
//    (heartbeat echoes with `grant`), whoever the coordinator is. A node is known to have lost
//    it only when enough voters to meet every majority have released it at once (each one
//    silent towards it for node_timeout and promising no grant for as long again), so a
//    coordinator moves a lost node's resources only after that node's lease is over, and a
//    change of coordinator alone ends nobody's lease.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/config.hpp"
#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/messages.hpp"
#include "common/types.hpp"

namespace hactl {

// Injected randomness (the simulation seeds it; the agent uses a real generator).
class Rng {
 public:
  virtual ~Rng() = default;
  virtual std::uint64_t next() = 0;            // uniform 64-bit
  Duration uniform(Duration lo, Duration hi);  // [lo, hi]
};

// What must survive a restart: Raft's currentTerm and votedFor.
struct HardState {
  Term term;
  std::optional<NodeId> voted_for;
  bool operator==(const HardState&) const = default;
};

struct Timing {
  Duration heartbeat_interval;
  Duration node_timeout;       // peer declared down; also the promise a vote or ack makes
  Duration coordinator_lease;  // < node_timeout by the drift bound (derived, see make_timing)
  Duration election_jitter;    // random extra wait before a pre-vote, and per election round
};
Timing make_timing(const TimingConfig& t);
// Test-only: a timing whose lease outlasts the promise. The simulation must catch it.
Timing make_unsafe_timing_for_tests(const TimingConfig& t);

enum class Role { kFollower, kPreCandidate, kCandidate, kCoordinator };
std::string_view to_string(Role r);

struct Outgoing {
  NodeId to;
  Message message;
};

// What the election core did or saw, for the log and the history (common/event.hpp).
struct ElectionEvent {
  EventKind kind;  // kBecameFollower .. kArbiterRefused
  Term term;
  std::optional<NodeId> node;  // the node the event is about, if any
  std::vector<EventField> fields;
};

struct Ready {
  std::optional<HardState> hard_state;  // persist (fsync) before sending `messages`
  std::vector<Outgoing> messages;
  std::vector<ElectionEvent> events;
  bool empty() const { return !hard_state && messages.empty() && events.empty(); }
};

struct PeerStatus {
  NodeId id;
  bool up = false;
  std::optional<Instant> last_heard;
  std::optional<Duration> rtt;  // smoothed round trip, once known
  std::string down_reason;      // why it is down ("" while up)
  // When this node sent the latest of its pings the peer echoed (in this boot of the peer).
  std::optional<Instant> echoed_ping_sent_at{};
};

// The arbiter as this node sees it (docs/pairs.md).
struct ArbiterView {
  NodeId id;
  bool reachable = false;  // answered within kArbiterLostAfter
  bool claiming = false;   // this node asks for its vote with every heartbeat now
  bool held = false;       // ... and its last answer granted it
  std::optional<Instant> last_answer;
  std::optional<Duration> rtt;
  std::string holder;  // whom the arbiter backed at its last answer ("" : nobody)
};

struct NodeStatus {
  NodeId self;
  Role role = Role::kFollower;
  Term term;
  std::optional<NodeId> coordinator;
  bool quorum = false;
  std::optional<Instant> lease_until;  // this node's valid quorum lease
  std::vector<PeerStatus> peers;       // every configured node except self (and the arbiter)
  std::optional<ArbiterView> arbiter;
};

class ElectionCore {
 public:
  // A node not claiming the arbiter asks it "are you there" this often; no answer for
  // kArbiterLostAfter and it is reported unreachable (nothing else changes: it matters only in
  // a split).
  static constexpr Duration kArbiterProbeInterval = std::chrono::seconds{2};
  static constexpr Duration kArbiterLostAfter = 3 * kArbiterProbeInterval + std::chrono::seconds{1};

  ElectionCore(const ClusterConfig& config, NodeId self, const Timing& timing, Rng& rng,
               const HardState& persisted, Instant boot);

  void step(NodeId from, const Message& message, Instant now);
  void tick(Instant now);
  // Planned handover (Raft thesis 3.10, leadership transfer): a coordinator steps down at once,
  // tells every peer, and asks `target` (or else the best voter: up and heard lately, not a
  // witness, not avoided (set_handover_avoid), the smallest round trip, then name order) to
  // campaign now. A follower passes the wish on to its coordinator. Returns the node asked, or
  // nullopt when there is no coordinator to ask or no voter to take over (nothing changes then).
  std::optional<NodeId> hand_over(std::optional<NodeId> target, Instant now);
  // By NodeId: nodes never to hand the role to (standby, maintenance, leaving), kept current by
  // the shell, for the handovers it asks for and those other nodes ask for (HandoverRequest).
  void set_handover_avoid(std::vector<bool> avoid) { handover_avoid_ = std::move(avoid); }
  // The peer's transport saw a new boot incarnation: it restarted and lost its volatile state.
  void peer_restarted(NodeId from, Instant now);

  Ready take_ready();
  NodeStatus status(Instant now) const;
  // Since when (this node's clock) `peer`'s quorum lease is known to be over without a break:
  // releases from enough voters to meet every majority held at every instant since, and still
  // do at `now`. nullopt while they do not (the peer may hold a lease, and run what a
  // coordinator gave it under one).
  std::optional<Instant> lease_released_at(NodeId peer, Instant now) const;
  Instant next_deadline() const;

  Role role() const;
  Term term() const { return hard_.term; }
  const Timing& timing() const { return timing_; }
  std::optional<NodeId> coordinator() const;
  bool holds_coordinator_lease(Instant now) const;
  // This node's quorum lease (its right to run resources) is valid at `now`.
  bool has_quorum(Instant now) const;
  std::optional<Instant> lease_until() const;  // the quorum lease's end, while it runs
  // Since when the current unbroken quorum lease runs (this node's clock).
  std::optional<Instant> lease_since() const;
  // Until when this node may act on a request of the coordinator of its term: the coordinator's
  // own lease (coordinator), or a window nested inside it from its heartbeats (follower).
  std::optional<Instant> authority_until() const;
  // A ping sent after this node's previous quorum lease ended (or after it booted). A request
  // the coordinator sent before it had heard this ping (its echo is older) was sent before this
  // lease began, perhaps before the coordinator gave this node up: it must not be acted on.
  std::uint64_t lease_session_ping() const { return lease_session_ping_; }
  // Coordinator: the latest ping received from `peer` (what a request to it carries as echo).
  std::uint64_t last_ping_from(NodeId peer) const;
  bool peer_up(NodeId peer) const { return peers_.at(peer.value).up; }  // as status() says
  NodeId self() const { return self_; }
  const HardState& hard_state() const { return hard_; }
  void check_invariants(Instant now) const;
  // The version of the cluster document this node has stored: sent with vote requests, and a
  // vote is refused to a candidate whose document is older (so no committed change is lost).
  void set_doc_version(DocVersion v) { doc_version_ = v; }
  // two_node (docs/design.md, "Two nodes with fencing"), by NodeId: peers that are down and
  // either fenced in their current boot or gone after leaving cleanly. Each counts as a voter
  // that grants this node's pings, acknowledges it as coordinator and votes for it, for as long
  // as the shell keeps it listed: it runs nothing and can back nobody else.
  void set_stand_ins(std::vector<bool> stand_ins);
  // With an arbiter: how much longer than a missed heartbeat this node lets its peer be silent
  // before it claims (at most heartbeat_interval / 4). The shell gives the node that runs less
  // a quarter interval, so in a cut link the side with the services asks first and keeps them.
  void set_arbiter_patience(Duration patience) {
    arbiter_patience_ = std::min(patience, timing_.heartbeat_interval / 4);
  }
  bool stands_in(std::size_t peer) const {
    return peer < stand_ins_.size() && stand_ins_[peer] && !peers_.at(peer).up;
  }
  DocVersion doc_version() const { return doc_version_; }

 private:
  struct Peer {
    std::optional<Instant> last_heard;
    bool up = false;
    bool ever_heard = false;
    std::string down_reason = "never heard";
    std::uint64_t last_ping_received = 0;  // to echo back
    std::optional<Instant> last_ping_received_at;
    std::optional<Instant> last_ping_at;         // as above, kept across the peer's restart
    std::optional<Instant> restarted_at;         // its transport saw a new boot then
    std::optional<Instant> acked_ping_sent_at;   // coordinator: latest own ping this peer acked
    std::optional<Instant> echoed_ping_sent_at;  // latest own ping it echoed (this boot of it)
    std::optional<Duration> srtt;
    Duration rttvar{};  // mean deviation of the round trip (RFC 6298's RTTVAR)
    // quorum lease
    std::optional<Instant> granted_ping_sent_at;         // latest own ping this peer granted
    std::optional<Instant> release_promise_until;        // no grant to this peer before then
    std::vector<std::optional<Instant>> release_anchor;  // by voter: its release of this peer
                                                         // holds until anchor + lease span
    std::optional<Instant> released_at;                  // see lease_released_at()
    Instant released_until{};                            // ... while no new release comes
  };
  struct Follower {
    std::optional<NodeId> coordinator;
  };
  struct PreCandidate {
    Term proposed;
    std::vector<bool> granted;
    Instant round_deadline;
  };
  struct Candidate {
    std::vector<bool> granted;
    std::uint64_t request_ping = 0;
    Instant round_deadline;
  };
  struct Coordinator {};
  using RoleState = std::variant<Follower, PreCandidate, Candidate, Coordinator>;

  // inputs
  void on_heartbeat(NodeId from, const Heartbeat& m, Instant now);
  void on_pre_vote_request(NodeId from, const PreVoteRequest& m, Instant now);
  void on_pre_vote_response(NodeId from, const PreVoteResponse& m, Instant now);
  void on_vote_request(NodeId from, const VoteRequest& m, Instant now);
  void on_vote_response(NodeId from, const VoteResponse& m, Instant now);
  void on_timeout_now(NodeId from, const TimeoutNow& m, Instant now);
  std::optional<NodeId> handover_target(std::optional<NodeId> wanted, Instant now) const;
  void note_heard(NodeId from, Instant now);
  void sample_rtt(Peer& p, std::uint64_t echo, Instant now);
  // the arbiter
  bool is_arbiter(std::size_t i) const { return arbiter_ && *arbiter_ == i; }
  void on_arbiter_answer(NodeId from, const ArbiterAnswer& m, Instant now);
  bool arbiter_needed(Instant now) const;
  Duration arbiter_margin() const;
  void update_arbiter(Instant now);
  void send_claim(Instant now, bool probe);
  template <typename F>
  void consider_arbiter(F&& consider) const;

  // role changes (each logs one event)
  void become_follower(Term term, std::optional<NodeId> coordinator, Instant now,
                       std::string reason);
  void become_pre_candidate(Instant now);
  void become_candidate(Instant now, bool transfer = false);
  void become_coordinator(Instant now);
  Duration round_span() const;

  // periodic duties
  void send_heartbeats(Instant now);
  Duration heartbeat_gap() const;  // until the next heartbeat: h, less on a slow path
  void check_peers(Instant now);
  void check_election_timer(Instant now);
  void check_coordinator_lease(Instant now);
  void update_quorum_event(Instant now);
  void finish_step(Instant now);  // what every step and tick ends with
  // quorum lease
  void update_lease(Instant now);
  void update_releases(Instant now);
  void update_release(NodeId lost, Instant now);
  std::optional<Instant> quorum_lease_from_grants() const;
  std::optional<Instant> majority_anchor_plus_lease(std::optional<Instant> Peer::*field,
                                                    std::optional<std::size_t> skip = {}) const;
  void on_lease_fields(NodeId from, const Heartbeat& m);
  bool may_grant(const Peer& p) const;
  bool releasing(const Peer& p, Instant now) const;
  std::vector<NodeId> releases(NodeId to, Instant now);

  // helpers
  void send(NodeId to, Message m);
  void emit(EventKind kind, std::optional<NodeId> node, std::vector<EventField> fields = {});
  std::uint64_t new_ping(Instant now);
  std::optional<Instant> ping_sent_at(std::uint64_t ping) const;
  std::optional<Instant> coordinator_lease_until() const;
  bool promised_elsewhere(NodeId candidate, Instant now) const;
  void promise(NodeId to, Instant from);
  void set_hard_state(HardState h);
  void reset_election_timer(Instant now);
  Heartbeat make_heartbeat(NodeId to, bool reply, Instant now);
  std::size_t count(const std::vector<bool>& v) const;
  bool is_witness() const;

  const ClusterConfig& config_;
  NodeId self_;
  Timing timing_;
  Rng& rng_;
  HardState hard_;
  RoleState role_;
  std::vector<Peer> peers_;  // indexed by NodeId; peers_[self_] unused

  std::uint64_t next_ping_ = 1;
  std::array<Instant, limits::kPingHistory> ping_sent_{};  // by ping % kPingHistory
  // By ping % kPingHistory: a heartbeat's ping not echoed yet. A heartbeat is answered, or
  // echoed by the heartbeat it pulls, at once, so its first echo measures a round trip; later
  // echoes of it, and echoes of an answer's ping (answers are not answered), were held.
  std::bitset<limits::kPingHistory> ping_prompt_;
  std::bitset<limits::kPingHistory> ping_probe_;  // a probe of the arbiter: its echo grants nothing

  Instant next_heartbeat_at_{};
  Duration heartbeat_gap_{};  // the gap next_heartbeat_at_ was set with
  Instant election_deadline_{};
  std::optional<Instant> promise_until_;
  std::optional<NodeId> promised_to_;  // nullopt with a live promise: refuse everyone (boot)
  Term promised_term_;
  Instant boot_;
  std::optional<Instant> authority_until_;  // follower: nested in the coordinator's lease
  Term authority_term_;
  std::optional<Instant> lease_end_;    // the current unbroken quorum lease's end, if one runs
  std::optional<Instant> lease_since_;  // ... and since when it runs
  DocVersion doc_version_;
  std::uint64_t lease_session_ping_ = 0;
  bool quorum_reported_ = false;
  std::vector<bool> handover_avoid_;
  std::vector<bool> stand_ins_;  // set_stand_ins (two_node only)
  Duration arbiter_patience_{0};
  // the arbiter, when the cluster has one (config: `arbiter:`)
  std::optional<std::size_t> arbiter_;
  bool arbiter_claiming_ = false;
  bool arbiter_reachable_ = false;
  std::optional<bool> arbiter_held_;  // the last claim's answer: granted or not
  std::optional<Instant> arbiter_answered_at_;
  Instant arbiter_next_probe_{};
  std::string arbiter_holder_;
  Instant last_now_{};  // of the last step or tick
  Ready ready_;
};

}  // namespace hactl
