// One node's whole core, pure and deterministic: the election and lease state machine
// (ElectionCore), the cluster document's replica (DocReplica) and what it says (configuration,
// standby, maintenance, placements, flap holds), the resource host (keeper, conductor, fencer,
// announcer) and the availability watch, wired together the one way they are meant to be.
// hactl-agent's libuv shell and the simulator both drive it and only carry out its outputs, so
// the simulation runs the code that ships (docs/design.md, "One runtime").
//
// Inputs: step() for a datagram, tick() for time, on_*() for what the shell ran, and the
// operator's commands. After any of them the shell calls advance() and carries out what it
// returns in this order: persist the hard state, start persisting the document, then send and
// run. The document's store may finish later (the agent writes it on a thread): the shell says
// so through on_doc_stored(), and only then does anything claim that version (an
// acknowledgement, the coordinator counting itself a holder, a vote:
// ElectionCore::set_doc_version). Time arrives as parameters: `now` from a monotonic clock,
// `unix_us` from the wall clock (only intents' expiry and the availability history use it).
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/cluster_doc.hpp"
#include "common/config.hpp"
#include "coordinator/attributes.hpp"
#include "coordinator/availability.hpp"
#include "coordinator/doc_replica.hpp"
#include "coordinator/election_core.hpp"
#include "coordinator/host_checks.hpp"
#include "coordinator/resource_host.hpp"

namespace hactl {

struct RuntimeOptions {
  NodeId self;
  Timing timing;
  HardState hard;                             // as persisted
  std::uint64_t incarnation = 1;              // this boot's (also the first proposal id)
  std::optional<Instant> previous_lease_end;  // the last agent's of this boot, if it left one
  // two_node: an agent of this boot already ran with its peer (its mark in /run): no
  // wait_for_all after a restart of the agent alone; a reboot empties /run.
  bool paired_this_boot = false;
  bool resources = true;  // false: the election alone (simulations of it)
  // The cluster document this node starts from (already checked against the node list and
  // timing); without one the node runs no replica and no operator intents.
  std::optional<StoredDoc> document;
  Duration doc_resend = std::chrono::milliseconds(500);
  // Test-only: voters ignore the document's version, which breaks the election restriction.
  bool unsafe_votes = false;
};

// A new configuration was taken up: the shell replaces its executor (results of the old one
// are not the new one's), tells the guard the new definitions, and stops the orphans with
// their old definitions.
struct Reconfiguration {
  ResourceConfig old_resources;
  std::vector<std::pair<std::string, bool>> orphans;  // (primitive, promoted) of the old list
  std::uint64_t config_version = 0;
};

// A configuration text for the shell to parse off its loop (parse_config takes hundreds of
// milliseconds for a file near the size limit), answered through NodeRuntime::on_parsed.
struct ParseRequest {
  std::string text;
  std::string source;  // names the text in errors
};
using ParseResult = std::expected<LoadedConfig, std::vector<ConfigError>>;

struct RuntimeOutput {
  std::optional<HardState> hard_state;          // 1. persist (Raft: before any message leaves)
  std::optional<StoredDoc> store;               // 2. persist, then on_doc_stored(version)
  std::optional<Reconfiguration> reconfigured;  // 3. before the calls below
  std::vector<std::pair<NodeId, Message>> messages;
  std::vector<ElectionEvent> events;  // of the election core
  // Events of the replica and the runtime itself (without this node's name: the shell adds it).
  std::vector<Event> notes;
  std::vector<Event> host_log;                         // the resource host's (ReconcileWatch)
  std::vector<ProposalOutcome> outcomes;               // for proposals made through propose()
  std::vector<KeeperCall> calls;                       // for the executor, in order
  std::vector<std::pair<std::size_t, bool>> monitors;  // (primitive, on)
  std::vector<FenceOp> fence_ops;
  std::vector<std::size_t> announces;  // vips to announce again
  std::vector<std::pair<NodeId, VipCheckRequest>> vip_checks;
  std::vector<AvailabilityChange> availability;
  std::vector<ParseRequest> parses;              // answer each through on_parsed, in any order
  std::vector<HostCheckAsk> host_check_asks;     // answer each through on_host_checked
  std::vector<HostCheckRound> host_checks_done;  // of start_host_check
  // Current values (the shell tells the guard and the lease file when they change).
  std::optional<Instant> lease_end;     // this node's lease, while it holds one
  std::optional<Instant> vip_deadline;  // Keeper::vip_deadline
  bool maintenance = false;             // this node is in maintenance (the guard leaves all)
};

class NodeRuntime {
 public:
  NodeRuntime(ClusterConfig config, RuntimeOptions options, Rng& rng, Instant now);
  NodeRuntime(const NodeRuntime&) = delete;
  NodeRuntime& operator=(const NodeRuntime&) = delete;

  // A datagram from a peer whose boot incarnation (the clear header's) is `incarnation`.
  void step(NodeId from, std::uint64_t incarnation, const Message& m, Instant now);
  // A peer's first datagram of a new boot `incarnation`, before step() takes it.
  void peer_restarted(NodeId from, std::uint64_t incarnation, Instant now);
  void tick(Instant now);
  void on_call_done(std::uint64_t call_id, int ocf_code, bool ran, Instant now);
  void on_monitor(std::size_t index, int ocf_code, Instant now);
  void on_fence_done(std::uint64_t id, bool ok, const std::string& detail, Instant now);
  void on_vip_check_done(NodeId asker, VipCheckResult result);
  void set_mac(const std::string& interface, const MacAddress& mac);
  // The parse of a ParseRequest's text (parse_config(text, source)). A new document's
  // configuration is taken up, and a proposal waiting for its check is checked, once it is here.
  void on_parsed(const std::string& text, ParseResult result, Instant now);
  // A RuntimeOutput::store (this version, or a newer one of the stores asked for) is on disk:
  // the acknowledgements of it leave in the next advance(), and votes carry it.
  void on_doc_stored(DocVersion version, Instant now);

  // Hands the coordinator role over (ElectionCore::hand_over), avoiding standby, maintenance and
  // leaving nodes; a follower asks its coordinator. Returns the node asked, if any.
  std::optional<NodeId> hand_over(std::optional<NodeId> target, Instant now);
  // A change of the document (from doc()), outcome in advance().outcomes. Requires a replica.
  std::uint64_t propose(const ClusterDoc& next, Instant now, Duration timeout);
  // A node attribute set or deleted (coordinator/attributes.hpp): proposed from the current
  // document, and again from the next one when another change got in first (a write of the
  // same agent on another node), up to kAttributeTries times. The outcome comes in
  // advance().outcomes under the id returned; nullopt: it holds already (nothing to write).
  std::expected<std::optional<std::uint64_t>, std::string> change_attribute(
      const AttributeRequest& r, Instant now);
  // The boot incarnation of each node's agent as this node knows it, by NodeId: its own; a
  // peer's while it is up; 0 otherwise (reboot attributes count only with theirs).
  std::vector<std::uint64_t> incarnations(Instant now) const;
  // The attributes in force (attributes_in_force), by NodeId.
  NodeAttributes attributes(Instant now) const;
  // Asks every reachable peer that runs resources (not a witness) for its host check of a
  // configuration text (coordinator/host_checks.hpp); the round comes back in
  // advance().host_checks_done, by `timeout` at the latest. Returns its id.
  std::uint64_t start_host_check(std::string text, Instant now, Duration timeout);
  std::size_t host_check_rounds() const { return checks_.rounds(); }  // started, not done
  // This node's host check of an ask in advance().host_check_asks.
  void on_host_checked(NodeId asker, std::uint64_t id, const HostReport& report);
  // hactl resource cleanup.
  void cleanup(std::uint32_t index, Instant now, std::optional<NodeId> only);
  // SIGTERM: give this node's resources up (Keeper::leave); left() once nothing runs here.
  void leave() { host().leave(); }
  bool left() const { return host_->left(); }
  void report_now() { host().report_now(); }

  // Carries the inputs through the replica and the host; returns what the shell must do.
  // `executor_idle`: nothing runs or waits in the shell's executor (a new configuration is
  // taken up only then).
  RuntimeOutput advance(Instant now, std::int64_t unix_us, bool executor_idle);
  Instant next_deadline(Instant now) const;

  // Refuses a proposed document (the reason), accepts it (""), or waits for its parse: the
  // replica's validator.
  DocReplica::Verdict validate(const std::string& bytes);
  // The checks of a proposed document whose configuration is parsed (`cfg`).
  std::string check_proposed(const ClusterDoc& next, const ClusterConfig& cfg) const;
  // The primitives that may be active anywhere, as far as this node knows.
  std::set<std::string> possibly_active(Instant now) const;

  const ElectionCore& node() const { return node_; }
  ElectionCore& node() { return node_; }
  const ResourceHost* resource_host() const { return host_.get(); }
  const DocReplica* replica() const { return docs_.get(); }
  Membership membership(Instant now) const;
  // The configuration the resources run on, with the intents' constraints (effective).
  const ClusterConfig& config() const { return config_; }
  const ClusterConfig& base() const { return base_; }  // as applied, without intents
  const ClusterDoc& doc() const { return doc_; }       // as stored here
  const std::string& applied_text() const { return applied_text_; }
  bool config_pending() const { return pending_base_.has_value(); }
  // two_node with wait_for_all: this node has not run with its peer since it started (its
  // peer's grant, a coordinator, and that coordinator's document of the term), so it fences
  // nobody and counts no stand-in (docs/pairs.md).
  bool waiting_for_all() const { return waiting_for_all_; }
  // `hactl cluster unblock`: ends the wait; false if there was none.
  bool unblock(Instant now);
  // two_node, by NodeId: the peers standing in for their vote now (none while waiting).
  std::vector<bool> stand_ins(Instant now) const;
  // Standby, maintenance and leaving nodes; and, on the coordinator, the nodes that have not
  // stored its document, when another has.
  std::vector<bool> handover_avoid() const;
  // Coordinator: by NodeId, the peers that acknowledged its current document version.
  std::vector<bool> holds_document() const;

 private:
  ResourceHost& host() { return *host_; }
  void run_docs(Instant now, bool executor_idle, RuntimeOutput& out);
  void apply_doc();
  void refresh_intents(Instant now, std::int64_t unix_s, bool executor_idle, RuntimeOutput& out);
  void rebuild(ClusterConfig base, Instant now, RuntimeOutput& out);
  void take_config(const ClusterConfig& base);
  void hold(const HoldRequest& h);  // proposes it, as of unix_s_
  void standby_handover(Instant now);
  // The coordinator carries the document's operator sequence on (coordinator/intents.hpp), one
  // step at a time, looking at most every kSequenceEvery: whichever node coordinates when it
  // can move finishes it, or undoes it at its deadline.
  void drive_sequence(Instant now);
  // Attribute writes refused because the document changed under them, proposed again.
  void retry_attributes(Instant now);
  // Tells the host the attributes in force when they change (promotion scores).
  void sync_attributes(Instant now);
  void run_resources(Instant now, RuntimeOutput& out);
  // Before each input of the core: the arbiter patience, and for two_node the end of
  // wait_for_all when its condition holds, the core's stand-ins and the fencer's leave to fence
  // alone.
  void sync_core(Instant now);
  // A pair with an arbiter: the node that runs fewer resources than its peer (or as many, and
  // does not coordinate) waits a quarter interval longer before it claims (ElectionCore).
  void sync_arbiter_patience();
  void watch_availability(Instant now, std::int64_t unix_us, RuntimeOutput& out);
  void note(Event e);
  // The parse of `text` if the shell has returned it; else asks for it (once) and returns null.
  const ParseResult* parsed(const std::string& text, const std::string& source);

  ClusterConfig config_;  // effective; the host and the core refer to it
  RuntimeOptions options_;
  ElectionCore node_;
  std::unique_ptr<DocReplica> docs_;
  std::unique_ptr<ResourceHost> host_;
  HostChecks checks_;
  ClusterDoc doc_;
  // The document whose intents are in effect while doc_'s configuration is still being taken
  // up (parsed, then the executor idle and the document on disk): see run_docs.
  std::optional<ClusterDoc> held_intents_;
  const ClusterDoc& intents() const { return held_intents_ ? *held_intents_ : doc_; }
  ClusterConfig base_;
  std::string applied_text_;
  std::optional<ClusterConfig> pending_base_;
  struct Parsed {
    std::string text;
    ParseResult result;
  };
  std::deque<Parsed> parsed_;         // the latest kParsedKept parses, newest last
  std::vector<std::string> parsing_;  // asked for, not answered yet
  std::vector<ParseRequest> parse_requests_;
  bool awaiting_parse_ = false;  // the document's configuration is not parsed yet
  static constexpr std::size_t kParsedKept = 3;

 public:
  // At most this many ParseRequests are unanswered at once (a shell's worker takes that many).
  static constexpr std::size_t kMaxParsing = 4;
  std::int64_t intents_until_ = -1;  // unix s: the next expiry (0: none; -1: recompute)
  std::optional<DocVersion> standby_handover_tried_;
  std::optional<Instant> standby_waiting_since_;  // for a peer to store the standby's version
  static constexpr Duration kStandbyHandoverWait = std::chrono::seconds{1};
  std::set<std::uint64_t> hold_proposals_;  // ids of proposals made for flap holds
  struct AttributeWrite {
    AttributeRequest request;
    std::uint64_t id = 0;  // the first proposal's: the caller's
    DocVersion base;       // the version the last proposal was made from
    int tries = 1;
    Instant retry_at{};
  };
  static constexpr int kAttributeTries = 10;
  static constexpr Duration kAttributeRetryWait = std::chrono::milliseconds{200};
  std::map<std::uint64_t, AttributeWrite> attribute_writes_;  // by proposal id
  std::vector<AttributeWrite> attribute_retries_;
  std::vector<ProposalOutcome> outcomes_;          // for the next advance()
  std::optional<NodeAttributes> attributes_told_;  // to the host
  std::uint64_t doc_generation_ = 0;               // +1 whenever doc_ changes
  std::pair<std::uint64_t, std::vector<std::uint64_t>> attributes_key_{~0ULL, {}};
  static constexpr Duration kSequenceEvery = std::chrono::milliseconds{100};
  std::optional<Instant> sequence_looked_;
  std::uint64_t sequence_proposal_ = 0;  // a step proposed, its outcome not in yet
  std::uint64_t sequence_refused_id_ = 0;
  std::string sequence_refused_;  // why that sequence's last step was refused
  std::optional<Instant> lease_end_;
  AvailabilityWatch availability_;
  std::optional<Instant> availability_looked_;
  std::optional<Instant> availability_unknown_since_;  // a reachable node's report is awaited
  static constexpr Duration kAvailabilityHold = std::chrono::seconds{5};
  Instant now_{};            // of the last input (the replica's validator)
  std::int64_t unix_s_ = 0;  // of the last advance()
  std::vector<Event> notes_;
  bool waiting_for_all_ = false;
};

}  // namespace hactl
