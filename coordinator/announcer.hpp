// Verified VIP moves, pure and deterministic: after a vip starts on this node, make sure the
// network learned where it is. Failover tools send gratuitous ARPs and hope; a switch or a
// client that misses them sends traffic to the old host until its cache times out. Here:
//
//  - the start announces the address once (resources/vip.hpp); the holder repeats the
//    announcement 50 ms later, then at doubling intervals up to 5 s, until it is verified;
//  - verified means another node, asked with a VipCheckRequest (resources/vip_check.hpp), saw
//    the address announced from this node's MAC and answered from it when it asked, and no
//    other MAC for it. Peers are asked in turn (those that run resources first, then
//    witnesses); one that cannot check (no such interface there) is skipped for this vip;
//  - then the holder announces it again every announce_refresh (default 60 s; 0 = never);
//  - without verify, the start's announcement is repeated 4 times on the same backoff, then
//    refreshed the same way.
// The state (pending, verified, unverified after 3 failed checks, conflict) goes in this
// node's resource reports, so `hactl status` on any node shows it; each outcome is an event
// (vip_verified with took_ms, announcements and checks; vip_unverified; vip_conflict).
// Announcing needs the lease (but for a vip kept without one: on_quorum_loss freeze).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "common/event.hpp"
#include "common/messages.hpp"
#include "common/vip_params.hpp"

namespace hactl {

struct AnnouncerOutput {
  std::vector<std::size_t> announce;                       // vips to announce now
  std::vector<std::pair<NodeId, VipCheckRequest>> checks;  // to peers
  std::vector<Event> events;                               // for the log
};

class Announcer {
 public:
  static constexpr Duration kFirstRepeat = std::chrono::milliseconds{50};
  static constexpr Duration kMaxRepeat = std::chrono::seconds{5};
  static constexpr Duration kWindow = std::chrono::seconds{2};  // a peer watches this long
  static constexpr Duration kAnswerSlack = std::chrono::seconds{1};
  static constexpr Duration kNoPeerRetry = std::chrono::seconds{1};
  static constexpr int kUnverifiedAfter = 3;  // failed checks
  static constexpr int kRepeatsUnchecked = 4;

  Announcer(const ClusterConfig& config, NodeId self);

  // This node's MAC on an interface (the agent reads it; a check cannot be asked without it).
  void set_mac(const std::string& interface, const MacAddress& mac);
  // The vip at primitive `index` started here; its start announced it once. `keep`: it stays
  // when this node loses its lease (on_quorum_loss freeze), and is announced without one too.
  void started(std::size_t index, Instant now, bool keep = false);
  // It is no longer held here (stopped, or its stop began).
  void stopped(std::size_t index);
  void on_result(NodeId from, const VipCheckResult& r, Instant now);
  // `up`: by NodeId, whether each peer is heard (empty: none). Sends what is due; without a
  // lease (`lease`), only for the vips kept without one: the others are being given up.
  void tick(const std::vector<bool>& up, Term term, Instant now, bool lease = true);
  std::optional<Instant> next_deadline() const;

  // The check fields of a resource entry (none for what is not a held vip).
  void fill(std::size_t index, ResourceEntry& e) const;
  VipCheck check(std::size_t index) const;
  // Whether a check state changed since the last call (the keeper then reports at once).
  bool take_changed() { return std::exchange(changed_, false); }
  AnnouncerOutput take() { return std::exchange(out_, AnnouncerOutput{}); }

 private:
  struct Vip {
    VipParams params;
    bool keep = false;  // kept without a lease
    std::string ip;     // the address without its prefix
    Instant started{};
    VipCheck check = VipCheck::kPending;
    std::uint32_t announcements = 1;
    Duration backoff = kFirstRepeat;
    std::optional<Instant> next_announce;
    std::optional<Duration> took;  // start to verified
    std::uint64_t check_id = 0;    // the check in flight, 0: none
    NodeId verifier;
    Instant check_deadline{};
    Instant next_check{};
    std::set<std::uint16_t> cannot;  // peers that cannot check this vip
    int checks = 0;
    int failed_checks = 0;
    std::string detail;  // why it is not verified yet
  };

  void announce_due(std::size_t index, Vip& v, Instant now);
  void send_check(std::size_t index, Vip& v, const std::vector<bool>& up, Term term, Instant now);
  void check_failed(std::size_t index, Vip& v, std::string detail, Instant now);
  void set_check(Vip& v, VipCheck c);
  std::optional<NodeId> pick(const Vip& v, const std::vector<bool>& up) const;
  Event event(EventKind kind, EventLevel level, std::size_t index, const Vip& v) const;

  const ClusterConfig& config_;
  NodeId self_;
  std::map<std::string, MacAddress> macs_;
  std::map<std::size_t, Vip> vips_;
  std::uint64_t next_id_ = 1;
  bool changed_ = false;
  AnnouncerOutput out_;
};

}  // namespace hactl
