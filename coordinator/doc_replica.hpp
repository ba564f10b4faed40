// Replication of the cluster document (common/cluster_doc.hpp), pure and deterministic.
//
// The document is small state replaced as a whole, so it is replicated the way Raft ships a
// snapshot: the coordinator's copy is the truth; every change is a new whole document with a
// higher DocVersion (the coordinator's term, then a counter); each node stores what the
// coordinator of its current term sends if it is newer than its own, and acknowledges the
// version it stored. A change is committed once a majority has stored it (or a newer one).
//
// Why nothing committed is lost when the coordinator changes: votes carry the candidate's
// version and a voter refuses a candidate older than itself (ElectionCore::set_doc_version), and a
// majority holds every committed version, so every coordinator starts with it. A new
// coordinator re-stamps its document with its own term before anything else (Raft's no-op
// entry), so it only ever counts acknowledgements of versions of its own term.
//
// Any node may propose a change: the whole new document, with the version it derived from. The
// coordinator accepts it only if that is still its version (so two operators cannot overwrite
// each other's change unseen) and the validator agrees, and answers once it is committed.
//
// The shell stores `take().store` (write, fsync, rename) when it likes, off its loop if it
// likes, and says when it is on disk through stored(). Until then nothing claims it: this node's
// acknowledgements of it are held here (a follower's DocAck, a coordinator counting itself among
// the holders), so an acknowledgement never leaves before the document is on disk, and the
// heartbeats and chunks of the same take() need not wait for the disk (Raft thesis 10.2.1: a
// leader writes its log in parallel with replicating it, and counts itself once written).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/messages.hpp"
#include "coordinator/conductor.hpp"

namespace hactl {

struct StoredDoc {
  DocVersion version;
  std::string bytes;
  bool operator==(const StoredDoc&) const = default;
};

struct ProposalOutcome {
  std::uint64_t id = 0;
  bool ok = false;
  std::string error;
  DocVersion version;  // ok: the committed version
};

struct DocOutput {
  std::optional<StoredDoc> store;  // persist, then stored(version)
  std::vector<std::pair<NodeId, Message>> messages;
  std::vector<ProposalOutcome> outcomes;  // for this node's own proposals
  std::vector<Event> events;              // for the log
};

class DocReplica {
 public:
  // A validator's answer: accept (no error), refuse (the reason), or not yet: the check waits
  // for work done off the shell's loop (NodeRuntime: a configuration's parse), and the
  // proposal is parked until retry_parked().
  struct Verdict {
    Verdict(std::string e = {}) : error(std::move(e)) {}  // NOLINT: a reason is a verdict
    static Verdict later() {
      Verdict v;
      v.pending = true;
      return v;
    }
    std::string error;
    bool pending = false;
  };
  using Validator = std::function<Verdict(const std::string& bytes)>;
  // At most this many proposals wait for their check; one more refuses the oldest.
  static constexpr std::size_t kMaxParked = 4;
  static constexpr std::size_t kChunksPerBurst = 32;
  static constexpr Duration kBurstGap = std::chrono::milliseconds(2);

  // `first_proposal`: the id of this node's first proposal; ids must not repeat across restarts
  // (the agent starts from its boot incarnation).
  DocReplica(std::size_t nodes, NodeId self, Duration resend, StoredDoc initial,
             Validator validator, std::uint64_t first_proposal = 1);

  // Chunks and acks from peers. `term`/`coordinator`: this node's current term and whom it
  // follows in it (ElectionCore::term(), ElectionCore::coordinator()).
  void on_chunk(NodeId from, const DocChunk& c, Term term, std::optional<NodeId> coordinator,
                Instant now);
  void on_ack(NodeId from, const DocAck& a, Instant now);
  void tick(const Membership& m, std::optional<NodeId> coordinator, Instant now);
  // The peer restarted: what it proposed before is no longer its to hear about.
  void peer_restarted(NodeId from);
  // `version` (a store asked for by take(), or a newer one) is on disk: acknowledgements of it
  // leave and the coordinator counts itself among its holders.
  void stored(DocVersion version);
  // The newest version on disk, as far as the shell has said.
  DocVersion durable() const { return durable_; }
  // Checks the parked proposals again (the validator's pending work is done).
  void retry_parked(Instant now);
  std::size_t parked() const { return parked_.size(); }
  // A change derived from `base`. Its outcome comes back in take().outcomes (by `deadline` at
  // the latest: then it failed, and may or may not have been applied). Returns the id.
  std::uint64_t propose(std::string bytes, DocVersion base, Instant now, Instant deadline);
  DocOutput take() { return std::exchange(out_, DocOutput{}); }

  const StoredDoc& doc() const { return doc_; }
  // The newest version this coordinator knows a majority holds (coordinator only).
  std::optional<DocVersion> committed() const { return committed_; }
  // Coordinator: the version each node acknowledged (nullopt: not yet heard).
  const std::vector<std::optional<DocVersion>>& acked() const { return acked_; }
  std::optional<Instant> next_deadline() const;

 private:
  struct Assembly {
    DocVersion version;
    std::uint64_t proposal = 0;
    std::uint64_t digest = 0;
    std::uint64_t base_digest = 0;
    std::string bytes;
    std::vector<bool> have;  // by chunk
    std::size_t missing = 0;
    Instant started{};
  };
  struct Waiting {  // an accepted proposal awaiting commit
    NodeId from;
    std::uint64_t id = 0;
  };
  struct Parked {  // a proposal whose check is not done yet
    NodeId from;
    std::uint64_t id = 0;
    std::string bytes;
    DocVersion base;
    std::uint64_t base_digest = 0;
  };
  struct Outbound {  // a document on its way to one node, sent a burst at a time
    NodeId to;
    DocChunk header;  // all but offset and data
    std::shared_ptr<const std::string> bytes;
    std::size_t next = 0;  // offset of the next chunk
  };
  struct Mine {  // this node's proposal in flight
    std::string bytes;
    DocVersion base;
    std::uint64_t base_digest = 0;
    Instant deadline{};
    Instant last_sent{};
    bool sent = false;
  };

  bool leading() const { return lead_term_.has_value(); }
  void become_leader(Term term, Instant now);
  void step_down(const std::string& why);
  void adopt(StoredDoc d);
  void send(NodeId to, Message m);
  void send_doc(NodeId to, DocChunkKind kind, const std::string& bytes, DocVersion version,
                std::uint64_t proposal, std::uint64_t base_digest = 0);
  // Sends up to `budget` chunks of the oldest outbound documents; returns how many it sent.
  std::size_t pump(std::size_t budget);
  // Adds a chunk to `a`; true when `a` is complete and its digest matches.
  bool assemble(Assembly& a, const DocChunk& c, Instant now);
  void on_proposal(NodeId from, std::uint64_t id, const std::string& bytes, DocVersion base,
                   std::uint64_t base_digest, Instant now);
  void answer(NodeId to, std::uint64_t id, bool ok, const std::string& error, DocVersion v);
  void park(Parked p);
  void update_commit();
  void hold_or_send_ack(NodeId to, const DocAck& a);

  std::size_t n_;
  NodeId self_;
  Duration resend_;
  StoredDoc doc_;
  DocVersion durable_;  // on disk (stored()); doc_.version once the shell has caught up
  // Acknowledgements of versions not on disk yet, at most one per peer (the newest).
  std::vector<std::optional<DocAck>> held_acks_;
  Validator validator_;
  std::optional<Term> lead_term_;
  std::optional<DocVersion> committed_;
  std::vector<std::optional<DocVersion>> acked_;
  std::vector<Instant> last_sent_;
  std::vector<bool> up_;  // by node, at the last tick
  // By sender: the last chunk to replicate that came before this node followed its sender in
  // its term (the datagrams of a new coordinator's first heartbeat and of its first chunk may
  // cross); taken up at tick() once it does, instead of waiting for the resend.
  std::vector<std::optional<DocChunk>> early_;
  std::optional<Assembly> incoming_;  // follower: from the coordinator
  std::map<std::pair<std::uint16_t, std::uint64_t>, Assembly> proposals_;  // coordinator
  std::map<std::pair<std::uint16_t, std::uint64_t>, std::pair<bool, std::string>> answered_;
  std::map<DocVersion, Waiting> waiting_;
  std::vector<Parked> parked_;  // oldest first
  // Documents larger than a burst go out kChunksPerBurst chunks every kBurstGap: all at once,
  // a 1.1 MB configuration is about 1,000 datagrams per peer, more than a default UDP receive
  // buffer holds, and heartbeats behind them would be dropped. Resent documents restart only
  // once they are through.
  std::vector<Outbound> outbound_;  // oldest first
  Instant next_burst_{};
  std::map<std::uint64_t, Mine> mine_;
  std::uint64_t next_proposal_ = 1;
  std::optional<NodeId> coordinator_;
  Term term_;
  DocOutput out_;
};

}  // namespace hactl
