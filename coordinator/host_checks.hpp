// The cluster-wide host check before `hactl config apply` (docs/operators.md, "The host check"),
// pure and deterministic: the node an operator asks sends the candidate configuration text to every
// online peer, each peer runs its own host check on it (common/host_check.hpp, off the shell's
// loop) and sends its report back, and the asker gathers the reports until each peer has
// answered or the deadline has passed. Nothing is stopped or applied meanwhile: the verdict
// (cluster_verdict) comes before the CLI stops anything.
//
// Texts and reports travel in CheckChunks of kDocChunkBytes, paced as the document's are
// (kChunksPerBurst every kBurstGap) so that heartbeats are not dropped behind a 2 MiB text. A
// datagram may be lost: the asker sends the text again to a peer that has not answered
// kResend after the last chunk went; a peer that receives a text it has checked already sends
// its report again. A peer keeps one check per asker (a newer one replaces it), so what a
// peer holds is bounded by the node count times the largest configuration.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/host_check.hpp"
#include "common/messages.hpp"
#include "common/types.hpp"

namespace hactl {

// For the shell: check `text` on this host and answer through HostChecks::on_checked.
struct HostCheckAsk {
  NodeId asker;
  std::uint64_t id = 0;
  std::shared_ptr<const std::string> text;
};

// A check gathered: each peer asked, with its report (nullopt: none by the deadline).
struct HostCheckRound {
  std::uint64_t id = 0;
  std::vector<std::pair<NodeId, std::optional<HostReport>>> reports;
};

struct HostChecksOutput {
  std::vector<std::pair<NodeId, Message>> messages;
  std::vector<HostCheckAsk> asks;
  std::vector<HostCheckRound> done;
};

class HostChecks {
 public:
  static constexpr std::size_t kChunksPerBurst = 32;
  static constexpr Duration kBurstGap = std::chrono::milliseconds(2);
  static constexpr Duration kResend = std::chrono::seconds(1);

  // `first_id`: ids must not repeat across restarts (the agent starts from its incarnation).
  HostChecks(std::size_t nodes, NodeId self, std::uint64_t first_id = 1);

  // Asks `peers` to check `text`; the round ends in take().done when all have answered, or at
  // `deadline`. Returns its id.
  std::uint64_t start(std::string text, std::vector<NodeId> peers, Instant now, Instant deadline);
  void on_chunk(NodeId from, const CheckChunk& c, Instant now);
  // The shell's check of an ask (the report this node sends back).
  void on_checked(NodeId asker, std::uint64_t id, const HostReport& report);
  // The peer restarted: what it asked before is no longer its to hear about.
  void peer_restarted(NodeId from);
  void tick(Instant now);
  std::optional<Instant> next_deadline() const;
  HostChecksOutput take() { return std::exchange(out_, HostChecksOutput{}); }
  std::size_t rounds() const { return rounds_.size(); }

 private:
  struct Assembly {  // a text arriving in chunks
    std::uint64_t id = 0;
    std::uint64_t digest = 0;
    std::string bytes;
    std::vector<bool> have;  // by chunk
    std::size_t missing = 0;
  };
  struct Outbound {  // a text on its way to one node, a burst at a time
    NodeId to;
    CheckChunkKind kind = CheckChunkKind::kCandidate;
    std::uint64_t id = 0;
    std::uint64_t digest = 0;
    std::shared_ptr<const std::string> bytes;
    std::size_t next = 0;  // offset of the next chunk
  };
  struct Peer {  // a peer asked in a round
    std::optional<HostReport> report;
    Assembly incoming;  // its report
    Instant sent{};     // when its last chunk of the text went (resend after kResend)
    bool sending = false;
  };
  struct Round {
    std::shared_ptr<const std::string> text;
    std::uint64_t digest = 0;
    std::map<NodeId, Peer> peers;
    Instant deadline{};
  };
  struct Asked {        // this node's check for one asker
    Assembly incoming;  // the text
    bool checking = false;
    std::shared_ptr<const std::string> report;  // encoded, once checked
    std::uint64_t report_digest = 0;
  };

  // Adds `c` to `a`; true when `a` is complete and its digest matches.
  static bool assemble(Assembly& a, const CheckChunk& c);
  void on_candidate(NodeId from, const CheckChunk& c);
  void on_report(NodeId from, const CheckChunk& c);
  // `digest`: text_digest(*bytes), computed once (2 MiB is milliseconds on the loop).
  void queue(NodeId to, CheckChunkKind kind, std::uint64_t id,
             std::shared_ptr<const std::string> bytes, std::uint64_t digest);
  void pump(Instant now);
  void finish(std::uint64_t id);

  std::size_t n_;
  NodeId self_;
  std::uint64_t next_id_;
  std::map<std::uint64_t, Round> rounds_;  // this node's, by id
  std::map<NodeId, Asked> asked_;          // by asker
  std::vector<Outbound> outbound_;         // oldest first
  Instant next_burst_{};
  HostChecksOutput out_;
};

}  // namespace hactl
