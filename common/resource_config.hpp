// The resource part of the configuration: primitives (vip, ocf, systemd, exec), ordered groups,
// clones and promotable clones, and location / colocation / order constraints. Validated by
// the loader: every reference resolves, a primitive belongs to at most one group or clone,
// scores are within +-limits::kInfinity.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/rule.hpp"
#include "common/types.hpp"

namespace hactl {

enum class ResourceClass { kVip, kOcf, kSystemd, kExec };
enum class OnFail { kRestart, kMove, kStop, kIgnore };
// What a node that lost quorum (its lease) does with a resource: stop it (and the cluster
// starts it elsewhere once that node's lease and the resource's takeover_delay are over), or
// keep it running (and the cluster never starts it elsewhere while that node is away).
enum class QuorumLoss { kStop, kFreeze };
// The role a constraint speaks of; kAny when it does not care.
enum class RoleFilter { kAny, kStarted, kPromoted, kUnpromoted };
enum class ActionKind { kStart, kStop, kPromote, kDemote };
// A primitive's role on one node. kStarted is "unpromoted" for promotable clones.
enum class ResourceRole : std::uint8_t { kStopped, kStarted, kPromoted };

std::string_view to_string(ResourceClass c);
std::string_view to_string(OnFail f);
std::string_view to_string(ActionKind a);
std::string_view to_string(ResourceRole r);

// How a resource goes back to a node it prefers (by location score) once that node is online
// again (docs/failback.md). Set, it replaces stickiness for the resource: kImmediate moves it
// as soon as the preferred node is online; kNever keeps it where it runs while it can run there
// (an operator's `hactl resource move` still moves it); kAfter keeps it until the preferred node
// has been online for `after` without a break. Unset: the scores decide (stickiness against
// location scores, Pacemaker's rule).
struct Failback {
  enum class Mode { kNever, kImmediate, kAfter };
  Mode mode = Mode::kNever;
  Duration after{0};
  bool operator==(const Failback&) const = default;
};
std::string to_string(const Failback& f);  // "never", "immediate", "after 5m"

// Flap damping: a resource that moves more than `moves` times within `within` is held where
// it is (no more moves for preferences or failback, as with failback never) until `hactl
// resource cleanup`. It still leaves a node that is lost or where it cannot run. moves 0: off.
struct FlapDamping {
  int moves = 6;
  Duration within = std::chrono::hours{1};
  bool on() const { return moves > 0; }
  bool operator==(const FlapDamping&) const = default;
};

// How a unit's node is chosen among the nodes of the best score (docs/scheduler.md):
// kScore: where it runs now, then name order; kBalanced: where it runs now, then the node with
// the fewest resources placed so far; kHash: a consistent-hash ring with virtual nodes, so
// adding or removing one node of N moves about 1/N of such units (stickiness does not apply).
enum class PlacementStrategy : std::uint8_t { kScore, kBalanced, kHash };
std::string_view to_string(PlacementStrategy s);

struct OperationConfig {
  Duration interval{0};  // monitor only; 0 = not recurring
  Duration timeout;
  bool operator==(const OperationConfig&) const = default;
};

struct PrimitiveConfig {
  std::string id;
  ResourceClass cls = ResourceClass::kExec;
  std::string provider;  // ocf:PROVIDER:TYPE
  std::string type;      // ocf type, systemd unit, or exec script path
  std::map<std::string, std::string> params;
  OperationConfig monitor{std::chrono::seconds{10}, std::chrono::seconds{20}};
  OperationConfig start{Duration{0}, std::chrono::seconds{20}};
  OperationConfig stop{Duration{0}, std::chrono::seconds{20}};
  OperationConfig promote{Duration{0}, std::chrono::seconds{20}};
  OperationConfig demote{Duration{0}, std::chrono::seconds{20}};
  // A clone notification's notify action (docs/replication.md): its timeout bounds how long a
  // late notification can hold the instance's next operation (one runs at a time).
  OperationConfig notify{Duration{0}, std::chrono::seconds{20}};
  int stickiness = 100;
  int migration_threshold = 1'000'000;  // failures on a node before it is banned there
  Duration failure_timeout = std::chrono::minutes{10};  // failures older than this are forgotten
  OnFail on_fail = OnFail::kRestart;
  int priority = 0;  // higher is placed first when nodes are scarce
  // Overrides the cluster's no_quorum_policy for this resource (stops_without_quorum).
  std::optional<QuorumLoss> on_quorum_loss;
  // Override the cluster's failback and flap_damping (a group's members must agree).
  std::optional<Failback> failback;
  std::optional<FlapDamping> flap_damping;
  PlacementStrategy placement = PlacementStrategy::kScore;  // a group's members must agree
  // What it uses of a node's capacity (name -> amount): it runs only where that much is left.
  std::map<std::string, int> utilization;
  // When the node holding this resource is lost, how long after that node's lease has ended
  // the resource may start elsewhere. The lost node stops its resources when its lease ends
  // (a vip before it ends); an agent restarted meanwhile keeps what it finds for at most
  // `restart_grace` after that lease's end, then stops it (the agent, or its guard, stops all
  // it holds at once, an instance of a promotable clone demoted first). So the default covers
  // both: 0 for a vip (its guard removes it when the agent dies), restart_grace + the stop
  // timeout for the rest, + the demote timeout in a promotable clone. 0 says "may briefly run
  // on two nodes" (stateless services only).
  std::optional<Duration> takeover_delay;
  Duration effective_takeover_delay(Duration restart_grace, bool promotable) const {
    if (takeover_delay) return *takeover_delay;
    if (cls == ResourceClass::kVip) return Duration::zero();
    return restart_grace + stop.timeout + (promotable ? demote.timeout : Duration::zero());
  }
};

// What makes a primitive the same thing on a node: a change to any of these (class, provider,
// type, params) means stopping the old one before the new one may start.
bool same_definition(const PrimitiveConfig& a, const PrimitiveConfig& b);
// Everything else (operations, meta) is the same too: nothing to change at all.
bool same_settings(const PrimitiveConfig& a, const PrimitiveConfig& b);

struct GroupConfig {
  std::string id;
  std::vector<std::string> members;  // started in this order, stopped in reverse
};

struct CloneConfig {
  std::string id;
  std::string child;  // a primitive or a group
  // How many instances run: unset, one per eligible node; 0, none (as Pacemaker's clone-max 0).
  std::optional<int> clone_max = std::nullopt;
  bool promotable = false;
  int promoted_max = 1;
  // Its instances' agents run `notify` around each operation on them (clone_notification.hpp).
  bool notify = false;
};

// A score for a resource on one node (`node`), or on each node where a rule on node attributes
// holds (`rule`, configuration only): exactly one of the two.
struct LocationConstraint {
  std::string resource;
  std::string node;  // empty with a rule
  int score = 0;
  RoleFilter role = RoleFilter::kAny;
  // Where it comes from: the configuration, or an operator's intent in the cluster document
  // (effective_config): a move (failback never gives way to it), a ban, or a disabled resource.
  enum class Origin : std::uint8_t { kConfig, kMove, kBan, kDisabled };
  Origin origin = Origin::kConfig;
  std::int64_t expires = 0;  // an intent's expiry, unix seconds; 0: until cleared
  // Where it applies instead of `node`: each node where this holds, given that node's attributes
  // in force (Pacemaker's rule in a location constraint).
  std::optional<Rule> rule = std::nullopt;
  // With a rule, instead of `score`: the node's value of this attribute where the rule holds
  // (Pacemaker's score-attribute); -inf where it is not set or not a score.
  std::string score_attribute = {};
  bool is_move() const { return origin == Origin::kMove; }
};

struct ColocationConstraint {
  std::string resource;  // placed where `with` is (score > 0) or away from it (score < 0)
  std::string with;
  int score = 0;
  RoleFilter with_role = RoleFilter::kAny;
  // Pacemaker's rsc-role: kPromoted colocates `resource`'s promoted instance (a promotable
  // clone's) instead of where its instances run: it decides where it is promoted.
  RoleFilter role = RoleFilter::kAny;
};

struct OrderConstraint {
  // Pacemaker's kinds (docs/scheduler.md, "Orders"). kMandatory: `then` may only start once
  // `first` can run; symmetrical, `then` stops when `first` cannot run and restarts when `first`
  // (not a clone) starts, stops or moves. kOptional: only the sequence, when both act in one
  // transition. kSerialize: never both starting or stopping at the same time, no implications.
  enum class Kind : std::uint8_t { kMandatory, kOptional, kSerialize };
  std::string first;
  ActionKind first_action = ActionKind::kStart;
  std::string then;
  ActionKind then_action = ActionKind::kStart;
  bool symmetrical = true;  // stop `then` before stopping `first` (never for kSerialize)
  Kind kind = Kind::kMandatory;
};
std::string_view to_string(OrderConstraint::Kind k);

struct ResourceConfig {
  std::vector<PrimitiveConfig> primitives;
  std::vector<GroupConfig> groups;
  std::vector<CloneConfig> clones;
  std::vector<LocationConstraint> locations;
  std::vector<ColocationConstraint> colocations;
  std::vector<OrderConstraint> orders;

  // Makes the lookups below O(log n) (the loader calls it; call it again after changing ids or
  // adding resources, or they fall back to a linear search). An index is used only while the
  // vectors have the sizes it was built for, and a hit is checked against the id found there,
  // so a stale index is slow, never wrong (bar an id renamed in place: index again then).
  void build_index();
  const PrimitiveConfig* primitive(std::string_view id) const;
  const GroupConfig* group(std::string_view id) const;
  const CloneConfig* clone(std::string_view id) const;
  // The clone a primitive runs in (directly, or as a member of the cloned group), if any.
  const CloneConfig* clone_of(std::string_view primitive) const;
  bool exists(std::string_view id) const { return primitive(id) || group(id) || clone(id); }

 private:
  struct Index {
    bool built = false;
    std::size_t primitives = 0, groups = 0, clones = 0;  // the sizes it was built for
    std::map<std::string, std::size_t, std::less<>> primitive, group, clone;
    std::map<std::string, std::size_t, std::less<>> clone_of;  // primitive -> its clone
  };
  bool indexed() const {
    return index_.built && index_.primitives == primitives.size() &&
           index_.groups == groups.size() && index_.clones == clones.size();
  }
  Index index_ = {};
};

}  // namespace hactl
