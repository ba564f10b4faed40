// The messages agents exchange, as the core sees them (the wire format encodes them; see
// wire.hpp). Every message carries the sender's term; NodeIds are indexes into the shared node
// list and are carried on the wire as names.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/clone_notification.hpp"
#include "common/resource_config.hpp"
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
  // The echo grants the recipient's quorum lease (its right to run resources) a vote: the
  // sender received that ping and had promised nothing against it (docs/design.md).
  bool grant = false;
  // Nodes the sender has not heard a ping from for node_timeout: it promises to grant them
  // nothing for node_timeout after sending this (a release; docs/design.md). At most
  // limits::kMaxReleasesPerHeartbeat.
  std::vector<NodeId> released;
  bool operator==(const Heartbeat&) const = default;
};

// The version of the cluster document (operator intents and the resource configuration, see
// coordinator/doc_replica.hpp): the term of the coordinator that wrote it, then a counter.
// Ordered like a Raft log's last entry (term first).
struct DocVersion {
  Term term;
  std::uint64_t revision = 0;
  constexpr auto operator<=>(const DocVersion&) const = default;
};

// Pre-vote (Raft thesis 9.6): "would you vote for me in `term`?" Changes no state. `doc`: the
// candidate's document version; a voter whose own is newer refuses (Raft's election restriction),
// so a coordinator always holds every committed document.
struct PreVoteRequest {
  Term term;
  DocVersion doc;
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
  DocVersion doc;
  // Sent on the previous coordinator's TimeoutNow: that coordinator stepped down first, so a
  // promise made to it in the term before `term` does not hold this vote back.
  bool transfer = false;
  bool operator==(const VoteRequest&) const = default;
};
struct VoteResponse {
  Term term;
  bool granted = false;
  std::uint64_t echo = 0;  // the request's ping
  bool operator==(const VoteResponse&) const = default;
};

// Planned handover (Raft thesis 3.10, leadership transfer): the coordinator of `term` has
// stepped down and asks the recipient to campaign at once, with VoteRequest::transfer.
struct TimeoutNow {
  Term term;
  bool operator==(const TimeoutNow&) const = default;
};

// A node asks the coordinator of `term` to hand its role over (hactl coordinator handover run
// on another node, or that node's coordinator leaving): to `target`, or to the best voter.
struct HandoverRequest {
  Term term;
  std::optional<NodeId> target;
  bool operator==(const HandoverRequest&) const = default;
};

// --- Resources. Primitives are numbered by their position in the cluster file every node shares;
// config_id (ClusterConfig::id) says which file, and a message for another file is ignored.

// Where the verification of a vip held by the sender stands (coordinator/announcer.hpp).
enum class VipCheck : std::uint8_t {
  kNone,        // not a vip, not held here, or verify is off
  kPending,     // announced, no peer has confirmed it yet
  kVerified,    // a peer saw it announced and answered from this node's MAC
  kUnverified,  // checks keep failing (no peer saw it, or none could check): still retried
  kConflict,    // a peer saw another MAC answer for the address too
};
std::string_view to_string(VipCheck c);

// One primitive as the sending node knows it.
struct ResourceEntry {
  ResourceRole role = ResourceRole::kStopped;
  bool probed = false;  // the role is known: probed, or set by an action since
  bool failed = false;  // a monitor or an action failed; it awaits recovery
  bool busy = false;    // an action other than a recurring monitor is running or queued
  std::uint32_t fail_count = 0;
  std::uint32_t failure_age_ms = UINT32_MAX;  // since the last failure; UINT32_MAX: none
  VipCheck check = VipCheck::kNone;
  std::uint32_t check_ms = 0;      // kVerified: from the start to the confirmation
  std::uint8_t announcements = 0;  // since the start (capped at 255)
  bool operator==(const ResourceEntry&) const = default;
};

// A node's resource state, sent to every peer on each change and periodically, in pages of at
// most kReportPageEntries. `version` grows with every change (per boot of the sender).
struct ResourceReport {
  Term term;
  std::uint64_t config_id = 0;
  std::uint64_t version = 0;
  std::uint32_t first = 0;  // entries cover primitives [first, first + entries.size())
  std::uint32_t total = 0;  // primitives in the sender's file
  std::vector<ResourceEntry> entries;
  // The sender's agent is shutting down (SIGTERM): it gives everything up and takes nothing
  // new; the coordinator treats it as in standby.
  bool leaving = false;
  bool operator==(const ResourceReport&) const = default;
};
inline constexpr std::size_t kReportPageEntries = 64;

enum class RequestKind : std::uint8_t { kStart, kStop, kPromote, kDemote, kCleanup, kNotify };

// Coordinator -> agent: run one action. The agent runs each id once and answers repeats of it
// with the result it already has. kCleanup (forget failures, probe again) may come from any node.
struct ActionRequest {
  Term term;
  std::uint64_t config_id = 0;
  std::uint64_t id = 0;
  std::uint32_t index = 0;  // the primitive
  RequestKind kind = RequestKind::kStart;
  // The latest ping the coordinator had received from the recipient when it sent this: the
  // recipient acts only if that ping is no older than the one its current lease began with.
  std::uint64_t echo = 0;
  // The recipient's boot incarnation as the coordinator last heard it (0: not known). Ping ids
  // start afresh at each boot, so the echo alone cannot tell a request meant for an earlier
  // agent of the recipient (delayed in the network) from one for the agent that runs now.
  std::uint64_t incarnation = 0;
  // kNotify: the clone instance's notify call and its lists (common/clone_notification.hpp).
  std::optional<CloneNotification> notification{};
  bool operator==(const ActionRequest&) const = default;
};

struct ActionResult {
  Term term;
  std::uint64_t id = 0;
  std::uint32_t index = 0;
  RequestKind kind = RequestKind::kStart;
  bool ok = false;
  std::uint8_t code = 0;             // the OCF code
  std::uint64_t report_version = 0;  // the sender's report version that includes the outcome
  bool operator==(const ActionResult&) const = default;
};

// --- The cluster document, moved in chunks of at most kDocChunkBytes.
//  kReplicate: coordinator -> node, the document at `version` (an empty chunk asks the node
//  for its version); kPropose: node -> coordinator, a new document derived from `version`
//  (proposal `proposal` of the sender).
enum class DocChunkKind : std::uint8_t { kReplicate, kPropose };
struct DocChunk {
  Term term;
  DocChunkKind kind = DocChunkKind::kReplicate;
  DocVersion version;
  std::uint64_t proposal = 0;
  std::uint64_t digest = 0;  // of the whole document
  // kPropose: the digest of the document it was derived from, so a change made from the same
  // content is accepted even if the coordinator has re-stamped it with a newer version since.
  std::uint64_t base_digest = 0;
  std::uint32_t total = 0;  // bytes in the whole document
  std::uint32_t offset = 0;
  std::string data;
  bool operator==(const DocChunk&) const = default;
};
inline constexpr std::size_t kDocChunkBytes = 1100;

// node -> coordinator: the version it has stored (proposal 0); coordinator -> proposer: the
// outcome of its proposal (ok, or refused with `error`).
struct DocAck {
  Term term;
  DocVersion version;
  std::uint64_t proposal = 0;
  bool ok = true;
  std::string error;  // at most kDocErrorBytes
  bool operator==(const DocAck&) const = default;
};
inline constexpr std::size_t kDocErrorBytes = 1000;

// A node fenced `node` in its boot `incarnation` (coordinator/fencer.hpp): sent to every peer
// when the fence succeeded and each second after while the victim stays down.
struct FenceNotice {
  Term term;
  NodeId node;
  std::uint64_t incarnation = 0;
  std::string device;  // at most 255 bytes: the device, or the level, that fenced it
  bool operator==(const FenceNotice&) const = default;
};

// coordinator -> a peer: run this fence operation for me (its target is the coordinator's own
// node, which it cannot fence from the inside); the peer answers with a FenceResult.
struct FenceRequest {
  Term term;
  std::uint64_t id = 0;
  NodeId target;
  std::string device;  // at most 255 bytes each
  std::string action;
  bool operator==(const FenceRequest&) const = default;
};
struct FenceResult {
  Term term;
  std::uint64_t id = 0;
  bool ok = false;
  std::string detail;  // at most 255 bytes
  bool operator==(const FenceResult&) const = default;
};

// --- A configuration checked on every host before it is applied (coordinator/host_checks.hpp),
// moved in chunks of at most kDocChunkBytes. kCandidate: asker -> peer, a configuration text
// to check (the asker's check `id`); kReport: peer -> asker, that check's report
// (encode_host_report in common/wire.hpp).
enum class CheckChunkKind : std::uint8_t { kCandidate, kReport };
struct CheckChunk {
  CheckChunkKind kind = CheckChunkKind::kCandidate;
  std::uint64_t id = 0;
  std::uint64_t digest = 0;  // of the whole text (text_digest)
  std::uint32_t total = 0;   // bytes in the whole text: at most kMaxCheckBytes
  std::uint32_t offset = 0;
  std::string data;
  bool operator==(const CheckChunk&) const = default;
};

using MacAddress = std::array<std::uint8_t, 6>;
std::string to_string(const MacAddress& mac);  // "02:00:0a:d5:00:0b"

// The holder of a vip -> a peer: check the address from there (resources/vip_check.hpp): ask
// for it (ARP request, or neighbour solicitation) and watch its announcements (gratuitous ARP,
// unsolicited neighbour advertisements) for at most window_ms, or until both came from `mac`;
// then answer with a VipCheckResult.
struct VipCheckRequest {
  Term term;
  std::uint64_t id = 0;
  std::uint32_t index = 0;  // the primitive, for the answer
  std::string address;      // "10.0.0.100" or "fd00::100", at most 255 bytes
  std::string interface;    // at most 255 bytes
  MacAddress mac{};         // the holder's, on that interface
  std::uint32_t window_ms = 0;
  bool operator==(const VipCheckRequest&) const = default;
};
inline constexpr std::size_t kMaxCheckMacs = 8;
struct VipCheckResult {
  Term term;
  std::uint64_t id = 0;
  std::uint32_t index = 0;
  bool probed = false;                // false: this node could not check (see detail)
  std::vector<MacAddress> announced;  // MACs that announced the address, at most kMaxCheckMacs
  std::vector<MacAddress> answered;   // MACs that answered for it, at most kMaxCheckMacs
  std::string detail;                 // at most 255 bytes
  bool operator==(const VipCheckResult&) const = default;
};

// --- The arbiter (hactl-arbiter, docs/pairs.md): a voter outside the cluster that answers only
// what it is asked, and backs one node of a cluster at a time (its holder).
//
// node -> arbiter: while a peer is silent or the node's lease needs the arbiter, with every
// heartbeat; otherwise as a probe now and then (which asks for nothing).
struct ArbiterClaim {
  Term term;
  bool leads = false;  // the sender is the coordinator of `term`
  std::uint64_t ping = 0;
  // The sender's node_timeout: how long each answer of the arbiter promises (as a voter's
  // grants, releases and acknowledgements do).
  Duration promise{0};
  bool probe = false;  // only "are you there": takes no hold and is granted nothing
  bool operator==(const ArbiterClaim&) const = default;
};

// arbiter -> node. `granted`: the sender holds the arbiter. The arbiter then grants the claim's
// ping (the quorum lease), releases every other node (it grants none of them a ping arriving
// within `promise` after sending this, and granted none for `promise` before), and, when the
// claim `leads` in the arbiter's term, acknowledges it as coordinator (votes for no one else for
// `promise` after the claim arrived).
struct ArbiterAnswer {
  Term term;  // the arbiter's term for this cluster
  std::uint64_t echo = 0;
  bool granted = false;
  bool leads_acked = false;
  std::string holder;     // the node the arbiter backs ("" : none); at most 255 bytes
  Duration hold_left{0};  // until the holder's hold ends, on the arbiter's clock
  bool operator==(const ArbiterAnswer&) const = default;
};

using Message =
    std::variant<Heartbeat, PreVoteRequest, PreVoteResponse, VoteRequest, VoteResponse,
                 ResourceReport, ActionRequest, ActionResult, DocChunk, DocAck, FenceNotice,
                 FenceRequest, FenceResult, VipCheckRequest, VipCheckResult, TimeoutNow,
                 HandoverRequest, CheckChunk, ArbiterClaim, ArbiterAnswer>;

}  // namespace hactl
