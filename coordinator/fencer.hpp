// Fencing, pure and deterministic: which node to fence, with which device, in which order, and
// what the outcome means. The agent runs each operation it returns (a fence agent, its arguments
// on standard input) and hands back the result.
//
// Rules kept here:
//  - only the coordinator holding a lease starts fencing (with two_node, either node of the
//    pair: FenceView::leads says so); a fence already running is carried to its end whoever
//    leads (a half-run power cycle cannot be taken back);
//  - a device's `delay` is waited before each off or reboot it runs (Pacemaker's
//    pcmk_delay_base), so that in a pair's fence race the node it fences is shot last;
//  - a node is fenced when it is lost (down) while it may run something (the conductor says:
//    a resource active, busy or unprobed in its last report, an action sent to it, or no report
//    in this term), or when a stop sent to it failed and it still runs the resource; a node in
//    maintenance and a witness never are;
//  - levels in order: every device of a level must succeed (for a level of several devices the
//    action is "off" on each, then "on" for those configured to reboot, so two power supplies
//    are never cut one after the other); a device failing moves on to the next level; when
//    every level failed, the whole walk is tried again after a back-off (2 s doubling to 60 s)
//    and the node's resources stay where they were meanwhile;
//  - a fence is for one boot of the victim (its incarnation, from the transport): it stands
//    while the node stays down and is forgotten once a node with a new incarnation is heard. A
//    node heard again with the incarnation it was fenced in was not stopped: that is reported
//    as an error (the device did not do what it said);
//  - the coordinator's own node is fenced by a peer it asks to run the device (FenceRequest;
//    failed if not answered within the device's timeout + 10 s); a success it lives to hear
//    means the device did not stop it;
//  - the node that fenced tells every peer (`FenceNotice`, repeated each second while the
//    victim is down), so a new coordinator and every `hactl status` know; a notice counts only
//    while the victim is down and has the incarnation it names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/event.hpp"
#include "common/messages.hpp"

namespace hactl {

struct FenceOp {
  std::uint64_t id = 0;
  NodeId target;
  std::string device;  // a device id of config.fencing
  std::string action;  // off, on or reboot
  // Who runs it: this node, or (to fence this node itself) a peer, asked by FenceRequest.
  NodeId executor;
  bool operator==(const FenceOp&) const = default;
};

// The cluster as the fencer needs to see it at one instant, by NodeId.
struct FenceView {
  bool leads = false;
  Term term;
  std::vector<bool> up;
  std::vector<bool> needs;                 // Conductor::needs_fencing
  std::vector<std::uint64_t> incarnation;  // last boot incarnation heard; 0: never heard
  // When this node sent the latest of its own pings the node echoed back: proof it ran then
  // (a datagram alone may have been on its way for a while).
  std::vector<std::optional<Instant>> echoed;
};

enum class FenceStage : std::uint8_t { kNone, kRunning, kFenced, kFailed };
std::string_view to_string(FenceStage s);

struct NodeFencing {
  FenceStage stage = FenceStage::kNone;
  std::uint64_t incarnation = 0;       // of the victim, when fencing began (or the notice named)
  std::size_t level = 0;               // kRunning: the level being tried
  std::size_t step = 0;                // ... and the operation in it
  std::uint64_t op = 0;                // the operation running (0: none)
  std::optional<Instant> op_deadline;  // run by a peer: failed if not answered by then
  std::optional<Instant> delay_until;  // the step waits for its device's delay until then
  bool delayed = false;                // ... and has waited it
  int rounds = 0;                      // walks over every level that failed
  Instant since{};                     // when the current stage began
  std::optional<Instant> retry_at;
  std::string error;   // why the last device failed
  std::string by;      // kFenced: the device (or "notice from <node>")
  bool local = false;  // kFenced by this node (it sends the notices)
  Instant notified{};  // when the last notice went out
};

class Fencer {
 public:
  static constexpr Duration kFirstRetry = std::chrono::seconds{2};
  static constexpr Duration kMaxRetry = std::chrono::seconds{60};
  static constexpr Duration kNoticeEvery = std::chrono::seconds{1};

  Fencer(const ClusterConfig& config, NodeId self);

  // Whether `node` has fence devices: then it is fenced before its resources move.
  bool configured(NodeId node) const { return !levels_.at(node.value).empty(); }
  bool any_configured() const { return config_.fencing.enabled() || config_.last_resort_unsafe; }
  // The pseudo-device of `last_resort: unsafe_take_over`: "fencing" with it cuts nothing and
  // succeeds at once.
  static constexpr std::string_view kLastResort = "last-resort";
  bool fenced(NodeId node) const;
  const NodeFencing& state(NodeId node) const { return nodes_.at(node.value); }

  void tick(const FenceView& v, Instant now);
  // The agent ran operation `id`: ok when the fence agent exited 0; detail says how it ended.
  void on_done(std::uint64_t id, bool ok, const std::string& detail, Instant now);
  void on_notice(NodeId from, const FenceNotice& n);
  // This node ran, for `target` (a coordinator fencing its own node), the operation that cut
  // its power: it knows the target is fenced and tells every peer, as if it had fenced it.
  void fenced_for(NodeId target, std::uint64_t incarnation, const std::string& device, Instant now);

  // Carries what a previous fencer (of the same node list and fencing) knew over a rebuild.
  void inherit(const Fencer& old);

  std::vector<FenceOp> take_ops();
  std::vector<FenceNotice> take_notices();
  std::vector<Event> take_events();
  std::optional<Instant> next_deadline() const;

 private:
  struct Step {
    std::string device;
    std::string action;
    bool required = true;  // an "on" after "off" may fail without failing the level
  };
  std::vector<Step> steps(NodeId node, std::size_t level) const;
  void begin(NodeId node, const FenceView& v, Instant now);
  void issue(NodeId node, Instant now);
  void level_failed(NodeId node, Instant now);
  void event(Event e) { events_.push_back(std::move(e)); }
  const std::string& name(NodeId n) const { return config_.nodes.at(n.value).name; }

  std::optional<NodeId> executor_for(NodeId target) const;

  const ClusterConfig& config_;
  NodeId self_;
  std::vector<bool> up_;                                       // as of the last tick
  std::vector<std::vector<std::vector<std::string>>> levels_;  // by NodeId
  std::vector<NodeFencing> nodes_;
  std::vector<std::optional<FenceNotice>> heard_;  // by NodeId: the latest notice heard
  std::uint64_t next_id_ = 1;
  Term term_;
  std::vector<FenceOp> ops_;
  std::vector<FenceNotice> notices_;
  std::vector<Event> events_;
};

}  // namespace hactl
