// The messages agents exchange, as the core sees them (the wire format encodes them; see
// wire.hpp). Every message carries the sender's term; NodeIds are indexes into the shared node
// list and are carried on the wire as names.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>

#include "common/types.hpp"

namespace hactl {

// Sent by every node to every other node each heartbeat interval (reply=false), and answered
// at once (reply=true). `ping` identifies this datagram for round-trip and lease anchoring;
// `echo` is the latest ping received from the recipient. A coordinator fills lease_remaining
// with what is left of its own lease when it sends (zero when it holds none).
struct Heartbeat {
  Term term;
  std::optional<NodeId> coordinator;  // who the sender follows (or is) in `term`
  std::uint64_t ping = 0;
  std::uint64_t echo = 0;  // 0: no ping received from the recipient yet
  Duration lease_remaining{0};
  bool reply = false;
  bool operator==(const Heartbeat&) const = default;
};

// Pre-vote (Raft thesis 9.6): "would you vote for me in `term`?" Changes no state.
struct PreVoteRequest {
  Term term;
  bool operator==(const PreVoteRequest&) const = default;
};
struct PreVoteResponse {
  Term term;  // granted: the proposed term; refused: the voter's own term
  bool granted = false;
  bool operator==(const PreVoteResponse&) const = default;
};

struct VoteRequest {
  Term term;
  std::uint64_t ping = 0;  // a granted vote anchors the candidate's first lease at this ping
  bool operator==(const VoteRequest&) const = default;
};
struct VoteResponse {
  Term term;
  bool granted = false;
  std::uint64_t echo = 0;  // the request's ping
  bool operator==(const VoteResponse&) const = default;
};

using Message = std::variant<Heartbeat, PreVoteRequest, PreVoteResponse, VoteRequest, VoteResponse>;

}  // namespace hactl
