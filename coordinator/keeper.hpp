// The agent's side of resource management, pure and deterministic: it keeps what runs on this
// node, runs what the coordinator asks while this node holds a lease from it, and gives every
// resource up when the lease is about to end.
//
// Rules kept here:
//  - an action is run only for the coordinator of this node's current term, while this node's
//    lease has more than `guard` left (cleanup, which starts nothing, comes from anyone);
//  - with no_quorum_policy stop, once the lease has less than `guard` left (or none), every
//    vip is removed at once and every other resource is stopped; nothing new is started until a
//    lease is back. So a vip is gone before the lease that covered it ends;
//  - each request id runs at most once; a repeat is answered with the result already known;
//  - every change is reported to every peer (paged ResourceReports), and periodically again.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/event.hpp"
#include "common/messages.hpp"
#include "common/types.hpp"
#include "coordinator/announcer.hpp"

namespace hactl {

// What the election core says of this node at one instant.
struct LeaseView {
  Term term;
  std::optional<NodeId> coordinator;
  std::optional<Instant> lease_until;  // this node's valid quorum lease (right to run), if any
  std::uint64_t session_ping = 0;  // ElectionCore::lease_session_ping: changes when a lease ends
  std::vector<bool> up{};  // by NodeId: peers up and heard within 2 heartbeats (empty: none)
  // Until when requests of `coordinator` may be acted on (ElectionCore::authority_until), if at
  // all.
  std::optional<Instant> authority_until{};
};

struct KeeperCall {
  std::uint64_t call_id = 0;
  std::size_t index = 0;                            // the primitive
  std::string action;                               // start, stop, monitor, promote, demote, notify
  std::optional<CloneNotification> notification{};  // a notify call's lists
};

struct KeeperOutput {
  std::vector<KeeperCall> calls;                       // for the executor, in order
  std::vector<std::pair<std::size_t, bool>> monitors;  // (primitive, on): recurring monitors
  std::vector<std::pair<NodeId, Message>> messages;    // reports and results
  std::vector<ResourceReport> own_reports;  // this node's report pages, for its own conductor
  std::vector<Event> events;                // for the log and the history
  std::vector<std::size_t> announces;       // vips to announce again now (Announcer)
};

class Keeper {
 public:
  // `previous_lease_end`: when the lease of this node's previous agent (same boot) ended, if it
  // had one; what a restarted agent finds running it keeps until restart_grace after that.
  Keeper(const ClusterConfig& config, NodeId self, Instant now,
         std::optional<Instant> previous_lease_end = std::nullopt);

  void on_request(NodeId from, const ActionRequest& r, const LeaseView& lease, Instant now);
  // This agent's boot incarnation: a request naming another one is refused.
  void set_incarnation(std::uint64_t incarnation) { incarnation_ = incarnation; }
  // A call this keeper asked for finished with this OCF code (`ran`: the agent ran to an exit).
  void on_call_done(std::uint64_t call_id, int ocf_code, bool ran, Instant now);
  // A recurring monitor's result changed.
  void on_monitor(std::size_t index, int ocf_code, Instant now);
  void tick(const LeaseView& lease, Instant now);
  // A peer's answer to a check of a vip held here (Announcer).
  void on_vip_check(NodeId from, const VipCheckResult& r, Instant now) {
    announcer_.on_result(from, r, now);
  }
  // This node's MAC on an interface, for the checks of the vips on it.
  void set_mac(const std::string& interface, const MacAddress& mac) {
    announcer_.set_mac(interface, mac);
  }
  const Announcer& announcer() const { return announcer_; }
  // Maintenance (hactl node maintenance): what runs here is left alone: no monitors, no stop
  // when the lease lapses, no vip deadline, no actions but cleanup. Ending it resumes monitors.
  void set_maintenance(bool on);
  // The agent is shutting down: stop everything (vips first, promoted demoted first), start
  // nothing more, and say so in the reports. done() once nothing runs and nothing is pending.
  void leave();
  bool leaving() const { return leaving_; }
  bool done() const;
  // Sends this node's reports again at the next take().
  void report_now() { dirty_ = true; }
  bool maintenance() const { return maintenance_; }
  KeeperOutput take(Instant now);

  // When tick() must run next: the lease guard while anything is held, the next report.
  Instant next_deadline(const LeaseView& lease) const;
  // When VIPs on this node must be gone if this keeper has not removed them by then (it was
  // paused or starved): the vip guard, a separate process, enforces it. Before the lease ends,
  // later than the keeper's own deadline. None: keep them (no_quorum_policy freeze/ignore).
  std::optional<Instant> vip_deadline(const LeaseView& lease, Instant now) const;

 private:
  void refused(std::size_t index, const char* reason);  // a request_refused event
  struct Local {
    ResourceRole role = ResourceRole::kStopped;
    bool probed = false;
    bool failed = false;
    std::uint32_t fail_count = 0;
    std::optional<Instant> last_failure;
    int pending = 0;  // calls submitted, not finished
    bool monitoring = false;
  };
  struct Call {
    std::size_t index = 0;
    std::string action;
    std::optional<std::uint64_t> request;  // the coordinator's request id, if any
    NodeId from;
    RequestKind kind = RequestKind::kStart;
  };

  bool lease_ok(const LeaseView& lease, Instant now) const;
  bool authority_ok(const LeaseView& lease, Instant now) const;
  void lapse();
  std::uint64_t submit(std::size_t index, std::string action,
                       std::optional<CloneNotification> notification = std::nullopt);
  void apply(std::size_t index, const std::string& action, int code, bool ran, Instant now);
  void fail(Local& l, Instant now, std::uint32_t count_to = 0);
  void set_monitor(std::size_t index, bool on);
  void changed();
  void send_reports(Instant now);
  ResourceEntry entry(std::size_t index, Instant now) const;

  const ClusterConfig& config_;
  NodeId self_;
  bool witness_;
  Duration guard_;
  Duration report_every_;
  std::vector<Local> local_;
  std::map<std::uint64_t, Call> calls_;
  std::map<std::uint64_t, std::optional<ActionResult>> requests_;  // id -> result once done
  std::uint64_t next_call_ = 1;
  std::uint64_t version_ = 1;
  bool dirty_ = true;
  bool lapsed_ = false;
  std::uint64_t incarnation_ = 0;
  bool had_lease_ = false;
  std::uint64_t session_seen_ = 0;  // LeaseView::session_ping at the last look
  bool maintenance_ = false;
  bool leaving_ = false;
  bool any_stops_ = false;  // some primitive is stopped when the lease lapses
  std::optional<NodeId> last_coordinator_;
  Term last_term_;
  Instant next_report_{};
  Instant boot_grace_until_{};
  Announcer announcer_;
  KeeperOutput out_;
};

}  // namespace hactl
