// One node's resource management as the agent runs it, pure and deterministic: its keeper and
// its conductor, wired to the election core's view of the node and of the cluster. Messages a
// node sends to itself are delivered at once. The agent (and the simulation) carry out what
// take() returns: send the messages, submit the calls, switch the monitors, log the lines.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "common/messages.hpp"
#include "coordinator/conductor.hpp"
#include "coordinator/election_core.hpp"
#include "coordinator/fencer.hpp"
#include "coordinator/keeper.hpp"

namespace hactl {

struct HostOutput {
  std::vector<std::pair<NodeId, Message>> messages;    // to peers
  std::vector<KeeperCall> calls;                       // for the executor, in order
  std::vector<std::pair<std::size_t, bool>> monitors;  // (primitive, on)
  std::vector<Event> log;                              // for the log and the history
  std::vector<FenceOp> fence_ops;                      // for the fence runner
  std::vector<std::size_t> announces;                  // vips to announce again (Announcer)
  // Checks peers asked of this node (resources/vip_check.hpp): answer each with
  // on_vip_check_done(asker, result).
  std::vector<std::pair<NodeId, VipCheckRequest>> vip_checks;
  // Resources flap damping holds: add each to the cluster document (Conductor::take_holds).
  std::vector<HoldRequest> holds;
};

class ResourceHost {
 public:
  ResourceHost(const ClusterConfig& config, NodeId self, Instant now,
               std::optional<Instant> previous_lease_end = std::nullopt);

  static LeaseView lease_view(const ElectionCore& core, Instant now);
  // The end of this node's lease, if it holds one (kept where a restarted agent finds it).
  static std::optional<Instant> lease_end(const ElectionCore& core, Instant now) {
    return lease_view(core, now).lease_until;
  }
  static Membership membership(const ClusterConfig& config, NodeId self, const ElectionCore& core,
                               Instant now);
  // The same, with what fencing says of each lost node (Membership::fence).
  Membership membership(const ElectionCore& core, Instant now) const;

  // A resource message from a peer (other kinds are ignored).
  void on_message(NodeId from, const Message& m, const ElectionCore& core, Instant now);
  void on_call_done(std::uint64_t call_id, int ocf_code, bool ran, Instant now);
  void on_monitor(std::size_t index, int ocf_code, Instant now);
  void peer_restarted(NodeId from) { conductor_.peer_restarted(from); }
  // This node's own boot incarnation (requests naming another are refused).
  void set_incarnation(std::uint64_t incarnation) { keeper_.set_incarnation(incarnation); }
  // The boot incarnation of a peer, from each datagram's clear header.
  void peer_incarnation(NodeId from, std::uint64_t incarnation) {
    incarnation_.at(from.value) = incarnation;
  }
  // By NodeId: the boot incarnation last heard from each peer (0: never).
  const std::vector<std::uint64_t>& peer_incarnations() const { return incarnation_; }
  // A check a peer asked for (HostOutput::vip_checks) is done: the answer goes back to it.
  void on_vip_check_done(NodeId asker, VipCheckResult result) {
    out_.messages.emplace_back(asker, std::move(result));
  }
  // This node's MAC on an interface (the agent reads it), for the checks of its vips.
  void set_mac(const std::string& interface, const MacAddress& mac) {
    keeper_.set_mac(interface, mac);
  }
  const Keeper& keeper() const { return keeper_; }
  // The fence runner ran operation `id` (FenceOp): ok when the fence agent exited 0.
  void on_fence_done(std::uint64_t id, bool ok, const std::string& detail, Instant now);
  // Forget the failures of one primitive on every node, or on `only` (hactl resource cleanup).
  void cleanup(std::uint32_t index, const ElectionCore& core, Instant now,
               std::optional<NodeId> only = std::nullopt);
  // Runs keeper and conductor until neither has more to do.
  void run(const ElectionCore& core, Instant now);
  HostOutput take();
  Instant next_deadline(const ElectionCore& core, Instant now) const;
  // Keeper::vip_deadline: for the vip guard.
  std::optional<Instant> vip_deadline(const ElectionCore& core, Instant now) const {
    return keeper_.vip_deadline(lease_view(core, now), now);
  }

  // two_node: this node fences a lost peer whether or not it leads (its wait_for_all is over
  // and it is not leaving); see stand_ins.
  void set_fence_alone(bool yes) { fence_alone_ = yes; }
  // two_node, by NodeId: peers down and fenced in their current boot, or gone after leaving
  // cleanly (ElectionCore::set_stand_ins).
  std::vector<bool> stand_ins(const ElectionCore& core, Instant now) const;

  const Conductor& conductor() const { return conductor_; }
  const Fencer& fencer() const { return fencer_; }
  void set_standby(std::vector<bool> standby) { conductor_.set_standby(std::move(standby)); }
  void set_held(std::map<std::string, std::string> held) { conductor_.set_held(std::move(held)); }
  // Carries the conductor's history over a rebuild (Conductor::inherit).
  void inherit(const ResourceHost& old) {
    conductor_.inherit(old.conductor_);
    fencer_.inherit(old.fencer_);
    // The peers' runs as heard (the node list never changes with a configuration): their reboot
    // attributes (promotion scores) stay in force across the rebuild.
    if (old.incarnation_.size() == incarnation_.size()) incarnation_ = old.incarnation_;
  }
  // Shutting down (SIGTERM): Keeper::leave; left() once nothing runs here.
  void leave() { keeper_.leave(); }
  bool left() const { return keeper_.done(); }
  bool leaving() const { return keeper_.leaving(); }
  void report_now() { keeper_.report_now(); }
  void set_attributes(NodeAttributes a) { conductor_.set_attributes(std::move(a)); }
  // By NodeId; this node's own entry puts its keeper in maintenance.
  void set_maintenance(const std::vector<bool>& m) {
    conductor_.set_maintenance(m);
    keeper_.set_maintenance(m.at(self_.value));
  }

 private:
  void to_peers(const Message& m);

  const ClusterConfig& config_;
  NodeId self_;
  Keeper keeper_;
  Conductor conductor_;
  Fencer fencer_;
  std::vector<std::uint64_t> incarnation_;  // by NodeId
  bool fence_alone_ = false;
  // Fence operations run here for a coordinator fencing its own node: local id -> request.
  struct Delegated {
    NodeId from;
    FenceRequest request;
  };
  std::map<std::uint64_t, Delegated> delegated_;
  std::uint64_t next_delegated_ = std::uint64_t{1} << 62;  // apart from the fencer's ids
  HostOutput out_;
};

}  // namespace hactl
