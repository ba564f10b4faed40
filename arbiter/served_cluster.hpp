// One cluster as hactl-arbiter serves it: its voter (coordinator/arbiter.hpp), a PeerGate and an
// outgoing sequence per node name, its own challenge, counters, and the answers waiting for the
// voter's state to be on disk. No I/O and no clock: the daemon (arbiter/daemon.hpp) hands in
// opened datagrams and the time, writes the states this asks for, and sends what it releases.
//
// Durability: every state the voter asks to persist gets a generation; an answer is released
// only once every generation up to the one current when it was sealed is on disk, and answers
// leave in the order they were sealed (so none overtakes a state it may depend on). One write at
// a time, always of the newest state (older ones are covered by it).
//
// Memory bound per cluster: the voter's and the gates' node entries (limits::kMaxArbiterNodes
// each, the least lately heard forgotten first), kMaxPendingAnswers sealed answers (at most
// limits::kMaxDatagramSize each) and a counter per drop reason (a fixed set): about 100 KiB at
// most, a few KiB for a pair.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/arbiter_wire.hpp"
#include "coordinator/arbiter.hpp"

namespace hactl {

inline constexpr std::size_t kMaxPendingAnswers = 256;
// A node that does not echo this cluster's challenge (its first datagram, or one after the
// arbiter restarted) is told the challenge by a refusal, at most this often.
inline constexpr Duration kChallengeInterval = std::chrono::milliseconds{100};
inline constexpr Duration kWriteRetry = std::chrono::seconds{1};

struct ClusterCounters {
  std::uint64_t received = 0;  // authentic datagrams
  std::uint64_t answered = 0;  // answers sealed (released or not yet)
  std::uint64_t claims = 0;    // requests that ask for the hold (claims that are not probes, votes)
  std::uint64_t grants = 0;    // answers that granted it
  std::uint64_t challenges = 0;
  std::uint64_t writes = 0;
  std::uint64_t write_failures = 0;
  std::map<std::string, std::uint64_t, std::less<>> dropped;  // by reason
};

struct SealedAnswer {
  sockaddr_storage to{};
  std::vector<std::uint8_t> bytes;
  std::uint64_t needs = 0;  // the state generation that must be on disk first
};

struct StateWrite {
  ArbiterHardState state;
  std::uint64_t generation = 0;
};

struct PeerView {
  std::string address;  // where its last datagram came from, "ip:port"
  Instant last_heard{};
};

class ServedCluster {
 public:
  ServedCluster(std::string name, const ClusterKey& key, ArbiterHardState persisted, Instant boot,
                std::uint64_t incarnation);

  struct Received {
    std::string_view dropped;               // "" : answered (or challenged)
    std::optional<std::string> new_holder;  // the hold went to this node
    std::string sender;
  };
  // An authentic datagram of this cluster (open_arbiter succeeded) from `from`.
  Received receive(const ArbiterEnvelope& env, const sockaddr_storage& from, Instant now);

  // The state to write now, if one is due and none is being written.
  std::optional<StateWrite> next_write(Instant now);
  void written(std::uint64_t generation, bool ok, Instant now);
  // The answers free to leave now, in order.
  std::vector<SealedAnswer> take_sendable();

  void set_key(const ClusterKey& key);
  void count_drop(std::string_view reason);
  const std::string& name() const { return name_; }
  const ArbiterVoter& voter() const { return voter_; }
  const ClusterCounters& counters() const { return counters_; }
  std::map<std::string, PeerView, std::less<>> peer_views() const;
  std::size_t pending() const { return pending_.size(); }
  std::optional<Instant> last_contact() const { return voter_.last_contact(); }

 private:
  struct Peer {
    explicit Peer(std::uint64_t own_session) : gate(own_session) {}
    PeerGate gate;
    std::uint64_t next_seq = 1;
    Instant last_heard{};
    std::optional<Instant> last_challenge;
    sockaddr_storage from{};
  };
  Peer* peer(const std::string& name, Instant now);
  void challenge(Peer& p, const ArbiterEnvelope& env, Instant now);
  void answer(Peer& p, const ArbiterEnvelope& env, Message reply);
  void count(const Message& request, const ArbiterVoter::Output& out);

  std::string name_;
  std::unique_ptr<ArbiterSealer> sealer_;
  ArbiterVoter voter_;
  std::uint64_t incarnation_;
  std::uint64_t session_;
  std::map<std::string, Peer, std::less<>> peers_;
  ClusterCounters counters_;
  // Durability (see the header's comment).
  ArbiterHardState latest_;
  std::uint64_t generation_ = 0;  // of latest_
  std::uint64_t durable_ = 0;     // on disk up to this generation
  bool writing_ = false;
  std::optional<Instant> retry_at_;  // after a failed write
  std::deque<SealedAnswer> pending_;
};

std::string address_text(const sockaddr_storage& a);

}  // namespace hactl
