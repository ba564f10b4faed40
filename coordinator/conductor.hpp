// The coordinator's side of resource management, pure and deterministic: it keeps every
// node's resource reports (every node does, so a new coordinator already knows what a lost node
// ran), and while this node is the coordinator with a valid lease it runs transitions in waves:
// schedule from the current state, send the actions that wait for nothing, and when all of
// them are answered (and the reports show their outcome) schedule again.
//
// Rules kept here:
//  - nothing is scheduled until every online node has reported, in this term, a probed state
//    with no action running (so a coordinator change never double-starts anything);
//  - a lost node's resources stay where they were (the node "unclean") until its quorum lease
//    is known to be over (Membership::lease_over), and each one's takeover_delay after that
//    ("settling"); with no_quorum_policy freeze or ignore, a lost node never stops its
//    resources, so they stay until it returns;
//  - a start or promote sent to a node that is lost before answering counts as having run, and
//    one answered counts as running there until a report shows otherwise;
//  - a lost node that has not reported in this term may run anything an earlier coordinator
//    told it: every resource counts as active there until its takeover delay is over;
//  - with fencing (Membership::fence), a lost node that needs it stays unclean until it is
//    fenced, and once fenced runs nothing: its lease and takeover delays no longer matter.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "common/event.hpp"
#include "common/messages.hpp"
#include "coordinator/clone_notify.hpp"
#include "coordinator/cluster_state.hpp"

namespace hactl {

// A lost node and fencing: kNone, it has no fence device or needs no fencing (its lease and
// takeover delays decide); kPending, it must be fenced before what it ran moves; kFenced, it
// was fenced since it was lost, so it runs nothing.
enum class NodeFence : std::uint8_t { kNone, kPending, kFenced };

// What the election core says of the cluster at one instant.
struct Membership {
  Term term;
  bool leads = false;    // coordinator holding a valid lease
  std::vector<bool> up;  // by NodeId; self is up
  // By NodeId: since when a lost node's quorum lease is known to be over
  // (ElectionCore::lease_released_at); nullopt: it may still hold one.
  std::vector<std::optional<Instant>> lease_over;
  std::vector<std::uint64_t> echo;         // ElectionCore::last_ping_from, by NodeId
  std::vector<NodeFence> fence;            // by NodeId; empty: kNone for all
  std::vector<std::uint64_t> incarnation;  // by NodeId: boot last heard; empty: 0
  NodeFence fence_of(std::size_t i) const { return i < fence.size() ? fence[i] : NodeFence::kNone; }
};

struct NodeView {
  std::vector<ResourceEntry> entries;  // by primitive index
  std::vector<std::uint64_t> page_version;
  Term term;                  // the sender's term when it sent the newest page
  std::uint64_t version = 0;  // set once every page has this version
  bool complete = false;
  bool config_mismatch = false;
  bool fresh = false;    // a report arrived since the node was last seen down
  bool leaving = false;  // its agent is shutting down: treated as in standby
};

// Flap damping decided to hold a resource (FlapDamping): the agent adds it to the cluster
// document (ClusterDoc::held), where it stays until `hactl resource cleanup`.
struct HoldRequest {
  std::string resource;  // a top-level primitive or group
  NodeId node;           // where it runs now
  int moves = 0;         // moves within `within`
  Duration within{0};
  bool operator==(const HoldRequest&) const = default;
};

class Conductor {
 public:
  // An unchanged cluster is planned again this often (Conductor::unchanged_since_dispatch).
  static constexpr Duration kReplanEvery = std::chrono::seconds{1};

  Conductor(const ClusterConfig& config, NodeId self);

  void on_report(NodeId from, const ResourceReport& r);
  void on_result(NodeId from, const ActionResult& r);
  void peer_restarted(NodeId from);
  void tick(const Membership& m, Instant now);
  // By NodeId: nodes an operator put in standby (they run nothing; hactl node standby).
  void set_standby(std::vector<bool> standby) {
    standby_ = std::move(standby);
    last_dispatch_.reset();
  }
  // By NodeId: nodes in maintenance (hactl node maintenance): frozen, up or not.
  void set_maintenance(std::vector<bool> m) {
    maintenance_ = std::move(m);
    last_dispatch_.reset();
  }
  // By NodeId: the node attributes in force (promotion scores among them).
  void set_attributes(NodeAttributes a) {
    attributes_ = std::move(a);
    last_dispatch_.reset();
  }
  // Resources flap damping holds, from the cluster document: resource -> why. One that leaves
  // the list (hactl resource cleanup) has its moves forgotten.
  void set_held(std::map<std::string, std::string> held);
  // What this node, as coordinator, carried over from `old` (a configuration change rebuilds
  // the conductor): since when each node is online, the moves counted, the holds.
  void inherit(const Conductor& old);
  std::vector<std::pair<NodeId, ActionRequest>> take_requests();
  std::vector<Event> take_events();
  std::vector<HoldRequest> take_holds() { return std::exchange(holds_, {}); }
  std::optional<Instant> next_deadline() const { return wake_; }

  // The cluster as this node knows it (also when it is not the coordinator).
  ClusterState state(const Membership& m, Instant now) const;
  const std::vector<NodeView>& views() const { return views_; }
  // The verification of the vip at primitive `index` (coordinator/announcer.hpp) as each node
  // up that checks it reports it, by NodeId (nullptr: down, or no check there): the one answer
  // to "is this vip verified" for status and metrics.
  std::vector<const ResourceEntry*> vip_checks(std::size_t index, const Membership& m) const;
  // Whether primitive `index` may be active on a node that is up: in a role, busy or not yet
  // probed in its report, or started there by an action this coordinator sent (answered or
  // not). For nodes that are down, state() says (their lease and takeover delays decide).
  bool possibly_active(std::uint32_t index, const Membership& m) const;
  // Whether `node` must be fenced. Lost: before what it ran may run elsewhere, if it may run
  // something (active, busy or unprobed in its last report, a start or promote sent to it) or
  // its state is unknown (no complete report in this term). Up: a stop sent there failed and
  // its report still shows the resource running. Never a witness or a node in maintenance.
  bool needs_fencing(NodeId node, const Membership& m) const;
  // `node` is down after its agent shut down cleanly: its last complete report said it was
  // leaving with nothing active, busy or unprobed, and nothing sent to it is outstanding.
  bool left_cleanly(NodeId node, const Membership& m) const;
  const std::string& waiting_for() const { return waiting_; }
  const std::vector<std::string>& notes() const { return notes_; }
  bool active() const { return active_; }
  // How often the scheduler has run (a tick that finds nothing changed does not run it).
  std::uint64_t plans() const { return plans_; }

 private:
  bool may_run_something(std::size_t node) const;
  struct InFlight {
    NodeId node;
    std::uint32_t index = 0;
    RequestKind kind = RequestKind::kStart;
    Instant sent{};
    std::optional<CloneNotification> notification{};  // kNotify
  };

  void begin_term(const Membership& m, Instant now);
  void drop_lost(const Membership& m);
  void resend(const Membership& m, Instant now);
  ActionRequest request(const Membership& m, std::uint64_t id, const InFlight& f) const;
  bool ready(const Membership& m, Instant now);
  void dispatch(const Membership& m, Instant now, const ClusterState& s);
  // Clone notifications (coordinator/clone_notify.hpp): moves the step under way on by one wave
  // (or begins the next), sends its notifications or lets its actions go, and says which of
  // `t`'s actions wait for a later wave.
  std::vector<bool> notify_wave(const Membership& m, Instant now, const ClusterState& s,
                                const Transition& t, const std::vector<bool>& waits);
  // Sends the step's notifications of `type` to its targets that are up; how many.
  std::size_t send_notifications(const Membership& m, Instant now, NotifyType type);
  // Sends one request and records it in flight.
  void send(const Membership& m, Instant now, InFlight f);
  // Whether the last dispatch saw this very cluster (docs/design.md "Heartbeats in one burst").
  bool unchanged_since_dispatch(const Membership& m, const ClusterState& s, Instant now) const;
  Instant lost_base(const Membership& m, NodeId node) const;
  void wake_at(Instant t);
  void wake_at_failure_expiry(const ClusterState& s);
  bool node_online(const Membership& m, std::size_t i) const;
  // A report shows primitive `index` active on `node`, or this coordinator sends it a start:
  // a watched unit that last ran elsewhere moved (counted by every node from the reports, so a
  // new coordinator knows the count).
  void saw_active(std::uint32_t index, NodeId node);
  // Asks for a hold of every watched unit past its limit (coordinator only).
  void hold_flapping(Instant now);

  // A top-level primitive or group flap damping watches, by its first primitive's index.
  struct Damped {
    std::string unit;
    FlapDamping limit;
  };

  const ClusterConfig& config_;
  NodeId self_;
  std::vector<NodeView> views_;
  // What the last dispatch planned from, until an input changes (reset by every input).
  struct Dispatched {
    Instant at{};
    Membership membership;  // without `echo`, which no plan reads
    ClusterState state;
    std::optional<Instant> wake;  // the wake it asked for
  };
  std::optional<Dispatched> last_dispatch_;
  std::uint64_t plans_ = 0;
  bool active_ = false;
  Term term_;
  Instant since_{};
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, InFlight> inflight_;
  std::vector<std::uint64_t> awaited_version_;  // by node: reports must reach this version
  // (primitive, node) -> role a start/promote may have left on a node lost before answering
  std::map<std::pair<std::uint32_t, std::uint16_t>, ResourceRole> lost_actions_;
  // (primitive, node) -> role a start/promote answered with, and the report version to show it
  std::map<std::pair<std::uint32_t, std::uint16_t>, std::pair<ResourceRole, std::uint64_t>>
      answered_;
  Duration max_delay_{0};
  std::vector<Duration> takeover_;  // by primitive: its effective takeover_delay
  std::vector<bool> keeps_;  // by primitive: kept by a node without quorum (never taken over)
  std::unordered_map<std::string, std::uint32_t> prim_index_;
  std::vector<ResourceRole> could_be_;
  std::set<std::pair<std::uint32_t, std::uint16_t>> stop_failed_;  // (primitive, node)
  // (primitive, node) -> failed stops in a row, and when the next may be sent
  std::map<std::pair<std::uint32_t, std::uint16_t>, std::pair<int, Instant>> stop_retry_;
  Instant last_tick_{};
  std::vector<bool> standby_;
  std::vector<bool> maintenance_;  // by primitive: started, or promoted if promotable
  std::optional<Instant> wake_;
  std::string waiting_;
  std::vector<std::string> notes_;
  std::vector<std::pair<NodeId, ActionRequest>> requests_;
  std::vector<std::optional<Instant>> online_since_;  // by NodeId: online without a break since
  std::vector<Damped> damped_;
  std::vector<std::int32_t> damped_of_;               // by primitive: its index in damped_, or -1
  std::map<std::string, std::deque<Instant>> moves_;  // unit -> its moves, oldest first
  std::map<std::string, std::uint16_t> last_node_;    // unit -> where it last ran
  std::map<std::string, std::string> held_;           // from the cluster document
  NodeAttributes attributes_;                         // from the cluster document
  std::map<std::string, std::pair<std::string, Instant>> pending_holds_;  // why, when asked
  std::vector<HoldRequest> holds_;
  std::vector<Event> events_;
  std::vector<bool> notifying_;  // by primitive: in a clone with notify
  bool any_notifying_ = false;
  std::optional<NotifyStep> step_;  // the notified operation under way
};

RequestKind request_kind(ActionKind k);

}  // namespace hactl
