// The cluster document: what operators change at run time, replicated by the coordinator to
// every node with a version (coordinator/doc_replica.hpp) and stored by each (agent/doc_store):
// the resource configuration as applied (`hactl config apply`, numbered config_version) and the
// operators' intents (standby nodes, moves and bans with an optional expiry, disabled
// resources). Serialized as JSON; plain data and pure functions.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace hactl {

// How long `hactl resource move` and `ban` last when no --lifetime is given (docs/operators.md):
// an intent forgotten by its operator does not pin a resource for ever.
inline constexpr std::int64_t kDefaultIntentLifetimeSeconds = 3600;
// The longest lifetime an intent is given (100 years): "forever" is a negative lifetime.
inline constexpr std::int64_t kMaxIntentLifetimeSeconds = 100LL * 366 * 24 * 3600;

struct PlacementIntent {
  enum class Kind { kPrefer, kBan };
  Kind kind = Kind::kPrefer;
  std::string resource;  // a top-level resource: a primitive outside groups and clones, a group,
                         // or a clone
  std::string node;
  std::int64_t created = 0;  // unix seconds
  std::int64_t expires = 0;  // unix seconds; 0: until `hactl resource clear`
  std::string by;            // who asked ("uid 0")
  // kPromoted (`--promoted`): the promoted role of a promotable clone only, as Pacemaker's
  // `crm_resource --move --promoted` (a promotion preference or ban); kAny: the resource.
  RoleFilter role = RoleFilter::kAny;
  bool operator==(const PlacementIntent&) const = default;
};

// A resource flap damping holds where it is (the coordinator adds it, `hactl resource
// cleanup` removes it).
struct FlapHold {
  std::string resource;     // a top-level primitive or group
  std::string node;         // where it ran when it was held
  std::int64_t since = 0;   // unix seconds
  int moves = 0;            // moves counted
  std::int64_t within = 0;  // in this many seconds
  bool operator==(const FlapHold&) const = default;
  std::string why() const;  // "7 moves within 1h"
};

// An operator's sequence under way: `hactl config apply` of a configuration that redefines or
// removes something active (stop it first, wait until it is stopped everywhere, apply with it
// enabled again) or `hactl resource restart` (stop, wait, enable). Kept in the document so that
// whichever node coordinates carries it on, or undoes it at its deadline, whoever asked and
// whatever happens to the client or to the agent that took the request (coordinator/intents.hpp).
struct OperatorSequence {
  enum class Kind { kConfigApply, kRestart };
  Kind kind = Kind::kRestart;
  std::uint64_t id = 0;               // 1, 2, ...: numbered in the document
  std::vector<std::string> stopping;  // top-level resources that must be stopped everywhere
  std::vector<std::string> enable;    // those it disabled itself: enabled again at its end
  std::int64_t started = 0;           // unix seconds
  std::int64_t deadline = 0;          // unix seconds: undone if they are not stopped by then
  std::string by;                     // who asked (and, for an apply, from which file)
  std::string config_text;            // config apply: the configuration to adopt
  std::uint64_t over_version = 0;     // config apply: the config_version it was checked against
  std::vector<std::string> removed;   // config apply: resource ids the new configuration drops
  bool operator==(const OperatorSequence&) const = default;
};

// How the last sequence ended: done, or undone (and why).
struct SequenceEnd {
  std::uint64_t id = 0;
  OperatorSequence::Kind kind = OperatorSequence::Kind::kRestart;
  bool done = false;
  std::string note;                  // undone: why, as the operator reads it
  std::int64_t ended = 0;            // unix seconds
  std::uint64_t config_version = 0;  // config apply done: the version it made
  bool operator==(const SequenceEnd&) const = default;
};

// A node attribute (crm_attribute, crm_master, attrd_updater: docs/replication.md), as
// Pacemaker's: `forever` (its nodes section), or `reboot` (its status section): then it holds
// for one run of the node's agent only, the one whose boot incarnation it carries, and counts
// only while that agent is up. A promotion score is the attribute master-PRIMITIVE.
struct NodeAttribute {
  std::string node;
  std::string name;
  std::string value;
  bool reboot = false;
  std::uint64_t incarnation = 0;  // reboot: the node's agent's boot incarnation when it was set
  bool operator==(const NodeAttribute&) const = default;
};

struct ClusterDoc {
  std::uint64_t config_version = 0;      // 1 for the file the cluster first ran; +1 per apply
  std::string config_text;               // the YAML as applied
  std::int64_t config_applied = 0;       // unix seconds
  std::string config_by;                 // who applied it, and from where
  std::vector<std::string> standby;      // node names, sorted
  std::vector<std::string> maintenance;  // node names, sorted
  std::vector<PlacementIntent> placements;
  std::vector<std::string> disabled;         // top-level resources held stopped, sorted
  std::vector<FlapHold> held;                // by resource
  std::optional<OperatorSequence> sequence;  // one at a time
  std::optional<SequenceEnd> last_sequence;  // the latest to end
  std::vector<NodeAttribute> attributes;     // sorted by (node, name, reboot)
  // Cluster properties set by resource agents (Pacemaker's crm_config section:
  // `crm_attribute -t crm_config`, redis's replication info): name -> value, kept until deleted.
  std::map<std::string, std::string> properties;
  bool operator==(const ClusterDoc&) const = default;
};

std::string doc_to_bytes(const ClusterDoc& doc);
std::expected<ClusterDoc, std::string> doc_from_bytes(std::string_view bytes);

std::string_view to_string(PlacementIntent::Kind k);
std::string_view to_string(OperatorSequence::Kind k);  // "config apply", "restart"

// In the document's order: by (node, name, reboot).
void sort_attributes(std::vector<NodeAttribute>& list);
// The attribute of `node` called `name` with that lifetime, if the document has one (a reboot
// attribute of an earlier run of the node's agent included: see attributes_in_force).
const NodeAttribute* find_attribute(const ClusterDoc& doc, std::string_view node,
                                    std::string_view name, bool reboot);
// Whether `a` counts now: forever, or reboot while its node's agent runs with the incarnation
// it carries (`incarnation`: that agent's as known here; 0: the node is down).
inline bool attribute_in_force(const NodeAttribute& a, std::uint64_t incarnation) {
  return !a.reboot || (incarnation != 0 && incarnation == a.incarnation);
}
// The attributes that count now, by node index: forever ones, and reboot ones of a node whose
// agent runs with the incarnation they carry (`incarnations`, by index; 0: down or not heard).
// A reboot attribute overrides a forever one of the same name, as Pacemaker's status section
// overrides its nodes section.
using NodeAttributes = std::vector<std::map<std::string, std::string>>;
NodeAttributes attributes_in_force(const ClusterConfig& config, const ClusterDoc& doc,
                                   const std::vector<std::uint64_t>& incarnations);
// A promotion score (crm_master): master-PRIMITIVE.
std::string promotion_attribute(std::string_view primitive);
// A name an attribute may have: 1 to limits::kMaxAttributeNameLength letters, digits and
// - _ . : (names that start with # are Pacemaker's built-ins, common/rule.hpp).
bool valid_attribute_name(std::string_view name);

// The top-level resource a name stands for: itself if top-level, else the group or clone that
// holds it (a group member -> its group -> its clone, if cloned). Nullopt if unknown.
std::optional<std::string> top_level_resource(const ResourceConfig& rc, std::string_view id);

// top_level_resource of every primitive, by index: linear in the configuration (a call per
// primitive is quadratic: 1.4 s for 20,000 in `hactl status`).
std::vector<std::string> top_level_resources(const ResourceConfig& rc);

// The primitives a resource is made of: itself, a group's members, a clone's child's.
std::vector<std::string> primitives_of(const ResourceConfig& rc, const std::string& id);
// How a unit (a top-level resource) fails back (docs/failback.md): the first of its members
// that sets a failback, else the cluster's; nullopt: the scores decide (stickiness).
std::optional<Failback> failback_of(const ClusterConfig& config,
                                    std::span<const PrimitiveConfig* const> members);
std::optional<Failback> unit_failback(const ClusterConfig& config, const std::string& unit);
// unit_failback of each primitive's unit (`tops`: top_level_resources), by index; linear.
std::vector<std::optional<Failback>> unit_failbacks(const ClusterConfig& config,
                                                    const std::vector<std::string>& tops);

// The configuration the scheduler runs on: `base` (parsed from doc.config_text) with every
// intent in force at `now_unix` added as a location constraint (prefer +INFINITY, ban and
// disabled -INFINITY). Standby is not a constraint: see standby_nodes().
ClusterConfig effective_config(const ClusterConfig& base, const ClusterDoc& doc,
                               std::int64_t now_unix);
// Top-level resources of `rc` the document holds by flap damping -> why.
std::map<std::string, std::string> held_resources(const ResourceConfig& rc, const ClusterDoc& doc);
// By NodeId: whether the node is in standby, in maintenance.
std::vector<bool> standby_nodes(const ClusterConfig& config, const ClusterDoc& doc);
std::vector<bool> maintenance_nodes(const ClusterConfig& config, const ClusterDoc& doc);
// The earliest expiry after now_unix of an intent, if any (when effective_config changes).
std::optional<std::int64_t> next_expiry(const ClusterDoc& doc, std::int64_t now_unix);

// Whether `next` may replace `current` by `hactl config apply`: the same cluster name, nodes,
// addresses, timing and key file (those need every agent restarted). Empty when it may; else
// one line per difference.
std::vector<std::string> static_differences(const ClusterConfig& current,
                                            const ClusterConfig& next);

}  // namespace hactl
