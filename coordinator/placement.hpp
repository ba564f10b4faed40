// Scheduler stages up to placement: the units to place (a primitive, a group, or a clone),
// their scores on each node, and where each unit and each primitive should run in which role.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"

namespace hactl {

struct Unit {
  enum class Kind { kPrimitive, kGroup, kClone };
  Kind kind = Kind::kPrimitive;
  std::string id;
  std::vector<const PrimitiveConfig*> members;  // in group order
  const CloneConfig* clone = nullptr;
};

// Why a unit scored what it did on a node (hactl explain, hactl simulate): one term per thing
// that changed the score, in the order the scheduler applied them. Recorded only when asked.
struct ScoreTerm {
  enum class Kind : std::uint8_t {
    kWitness,        // -inf: a witness runs nothing
    kNodeCondition,  // -inf: the node is not online (standby, offline, unclean, maintenance)
    kLocation,       // a location constraint (configuration, move, ban, disabled)
    kFailThreshold,  // -inf: a member's live failures reached its migration_threshold
    kOnFailMove,     // -inf: a member with on_fail: move failed here
    kOnFailStop,     // -inf: a member with on_fail: stop failed somewhere
    kStickiness,     // a member's stickiness where it runs
    kColocation,     // a colocation with a unit placed before
    kHeldBack,       // failback never/after or flap damping: capped at `value`
    kCapacity,       // -inf: not enough of `attribute` left for the unit's utilization
    kPromotionLocation,
    kPromotionStickiness,
    kPromotionHeldBack,
    kPromotionScore,       // the agent's promotion score here (crm_master: master-PRIMITIVE)
    kPromotionNoScore,     // -inf: no positive score from the agent or a promotion location
    kPromotionColocation,  // a colocation of the promoted role (role: promoted)
  };
  bool promotion() const { return kind >= Kind::kPromotionLocation; }
  Kind kind = Kind::kLocation;
  std::uint16_t node = 0;
  int value = 0;  // what it added (+inf: only here, -inf: never here); kHeldBack: the cap
  const LocationConstraint* location = nullptr;
  const ColocationConstraint* colocation = nullptr;
  const PrimitiveConfig* member = nullptr;  // the member whose meta or state it is
  int fail_count = 0;                       // kFailThreshold
  std::optional<Instant> until;             // kHeldBack for failback after: when it is due
  const std::string* attribute = nullptr;   // kCapacity: the capacity that is short
  int left = 0, needed = 0;                 // kCapacity: what is left of it, what the unit needs
};

struct UnitWhy {
  std::string unit;
  Unit::Kind kind = Unit::Kind::kPrimitive;
  std::vector<int> scores;            // per node, as placement compared them
  std::vector<int> promotion_scores;  // promotable clones: per node (-inf: not a candidate)
  std::vector<ScoreTerm> terms;
  std::vector<ResourceRole> current;  // where the unit is active now (its highest role)
  std::vector<ResourceRole> roles;    // what placement chose
  std::vector<std::string> notes;     // placement's notes about it
  // How `placement: balanced` or `hash` chose among the nodes of the best score ("" otherwise).
  std::string chosen_by;
};

struct Placement {
  std::map<std::string, std::vector<ResourceRole>> unit_roles;  // unit id -> role per node
  std::map<std::string, std::vector<ResourceRole>> target;      // primitive id -> role per node
  std::vector<std::string> notes;
  // When a decision held back by time (failback after) is due to change: schedule again then.
  std::optional<Instant> recheck;
  // Filled when place() is asked why: one entry per unit, in placement order.
  std::vector<UnitWhy> why;
};

// Units in placement order: what others are colocated with comes first, then by priority,
// then by id.
std::vector<Unit> make_units(const ResourceConfig& rc);
// The order constraints, each after every order whose `then` is its `first` (the loader refuses
// cycles), so that effects along a chain of orders are settled in one pass.
std::vector<const OrderConstraint*> orders_by_first(const ResourceConfig& rc);
// With `explain`, Placement::why says what made every score (a little slower: the terms are
// kept; scheduler_bench measures both).
Placement place(const ClusterConfig& config, const ClusterState& state, bool explain = false);

}  // namespace hactl
