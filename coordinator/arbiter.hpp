// One cluster as the arbiter (hactl-arbiter) knows it: a voter outside the cluster that speaks
// only when spoken to and backs one node at a time. Pure and deterministic, like ElectionCore: the
// daemon (arbiter/) feeds it what a node of the cluster sent and carries out its output.
//
// The arbiter keeps the voter's rules of docs/design.md, "Promises and leases", with one more:
// it answers only its **holder**. A node takes the hold by asking (an ArbiterClaim, a pre-vote
// or a vote request) while nobody holds it; the hold lasts `promise` (the cluster's
// node_timeout, which the claims carry) after the holder's last request and the arbiter's last
// answer to it. So, for as long as a hold runs and for `promise` after it:
//  - only the holder's pings are granted, its coordinator lease acknowledged, its votes given;
//  - every other node is released: the arbiter granted it nothing for `promise` before the
//    answer (its own hold, if it had one, ended that long ago) and grants it nothing within
//    `promise` after (the holder's hold runs at least that long).
// A voter that answers less than a voter may answer never breaks a rule of the design: every
// argument there rests on what a voter promises, and the arbiter's answers promise exactly
// what a voter's do. The hold is what makes it decide: in a split each side asks, the first
// gets the hold, and the other has no majority.
//
// What survives a restart (ArbiterHardState) is written before an answer that depends on it
// leaves. A restarted arbiter answers no claim and no vote for `promise` after it started (it
// forgot its holds, as a restarted node forgets its promises).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/messages.hpp"
#include "common/types.hpp"

namespace hactl {

struct ArbiterHardState {
  Term term;
  std::string voted_for;  // "" : no vote in `term`
  Duration promise{0};    // the longest promise a claim of the cluster asked (0: none yet)
  bool operator==(const ArbiterHardState&) const = default;
};

struct ArbiterNodeView {
  std::string name;
  std::optional<Instant> last_contact;
  std::uint64_t claims = 0;  // requests that asked for the hold (not probes)
  std::uint64_t granted = 0;
  Duration promise{0};  // what its claims asked since the arbiter started (0: none heard)
};

struct ArbiterStatus {
  Term term;
  std::string voted_for;
  std::string holder;  // "" : nobody holds the arbiter now
  Duration hold_left{0};
  Duration promise{0};
  bool ready = false;  // past the restart's promise
  std::uint64_t hold_changes = 0;
  std::vector<ArbiterNodeView> nodes;
};

class ArbiterVoter {
 public:
  struct Output {
    std::optional<ArbiterHardState> persist;  // write (fsync) before sending `reply`
    std::optional<Message> reply;
    std::optional<std::string> new_holder;  // the hold went to this node
    bool dropped = false;                   // nothing was answered: why is in `drop_reason`
    std::string_view drop_reason;
  };

  ArbiterVoter(ArbiterHardState persisted, Instant boot);
  // Test-only: an arbiter that backs every node that asks (no hold). The simulation's checker
  // must catch the two holders it allows.
  static ArbiterVoter unsafe_sharing_for_tests(ArbiterHardState persisted, Instant boot);

  Output step(std::string_view node, const Message& message, Instant now);
  ArbiterStatus status(Instant now) const;
  const ArbiterHardState& hard_state() const { return hard_; }
  // The last instant anything about this cluster was heard (to forget idle clusters' views).
  std::optional<Instant> last_contact() const;

 private:
  ArbiterNodeView* view(std::string_view node, Instant now);
  bool ready(Instant now) const;
  bool hold_live(Instant now) const;
  bool may_hold(std::string_view node, Instant now) const;
  void hold(std::string_view node, Instant now, Output& out);
  void adopt_term(Term t);
  void on_claim(ArbiterNodeView& v, const ArbiterClaim& m, Instant now, Output& out);
  void on_pre_vote(ArbiterNodeView& v, const PreVoteRequest& m, Instant now, Output& out);
  void on_vote(ArbiterNodeView& v, const VoteRequest& m, Instant now, Output& out);

  ArbiterHardState hard_;
  bool dirty_ = false;
  Instant boot_;
  std::string holder_;
  Instant hold_until_{};
  std::uint64_t hold_changes_ = 0;
  std::vector<ArbiterNodeView> nodes_;
  bool exclusive_ = true;
};

}  // namespace hactl
