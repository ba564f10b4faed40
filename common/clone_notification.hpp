// Clone notifications, as Pacemaker gives them (Pacemaker Explained, "Clone Resource Agent
// Requirements", notifications): around the starts, stops, promotions and demotions of a clone
// with `notify: true`, the agent of every instance that is active runs its `notify` action
// before (pre) and after (post) them, and is told which instances change and how the clone
// stood. Replication agents depend on it: pgsql and redis pick the new primary's address from
// the promote list, mysql and galera rebuild their peer lists from the active one.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace hactl {

enum class NotifyType : std::uint8_t { kPre, kPost };
enum class NotifyOperation : std::uint8_t { kStart, kStop, kPromote, kDemote };
constexpr std::string_view to_string(NotifyType t) {
  return t == NotifyType::kPre ? "pre" : "post";
}
constexpr std::string_view to_string(NotifyOperation o) {
  switch (o) {
    case NotifyOperation::kStart:
      return "start";
    case NotifyOperation::kStop:
      return "stop";
    case NotifyOperation::kPromote:
      return "promote";
    case NotifyOperation::kDemote:
      return "demote";
  }
  return "start";
}

// One notification: the lists hold node indexes (NodeId values), ascending. Every list says how
// the clone stood before the transition or what the transition does, so pre and post of one
// operation carry the same lists (as in Pacemaker: after the operation, the active instances
// are active minus stop plus start).
struct CloneNotification {
  NotifyType type = NotifyType::kPre;
  NotifyOperation operation = NotifyOperation::kStart;
  std::vector<std::uint16_t> start, stop, promote, demote;
  std::vector<std::uint16_t> active;     // running, in either role
  std::vector<std::uint16_t> promoted;   // a promotable clone's promoted instances
  std::vector<std::uint16_t> available;  // nodes where the clone may run
  bool operator==(const CloneNotification&) const = default;
};

// Its lists in one order (the wire's): start, stop, promote, demote, active, promoted, available.
inline std::array<std::vector<std::uint16_t>*, 7> notify_lists(CloneNotification& n) {
  return {&n.start, &n.stop, &n.promote, &n.demote, &n.active, &n.promoted, &n.available};
}
inline std::array<const std::vector<std::uint16_t>*, 7> notify_lists(const CloneNotification& n) {
  return {&n.start, &n.stop, &n.promote, &n.demote, &n.active, &n.promoted, &n.available};
}

}  // namespace hactl
