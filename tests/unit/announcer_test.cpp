// Verified VIP moves, pure: repeats on a backoff until a peer confirms, who is asked, what counts
// as confirmed, conflicts, the refresh afterwards, and the keeper wiring (announcing needs the
// lease; the state goes into the reports).
#include "coordinator/announcer.hpp"

#include <gtest/gtest.h>

#include "common/config.hpp"
#include "coordinator/keeper.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

constexpr const char* kConfig = R"(cluster:
  name: c
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: w, address: "10.213.0.14:5405", witness: true}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
resources:
  - id: ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
  - id: quiet
    type: vip
    params: {address: 10.213.0.101/24, interface: eth0, verify: "false", announce_refresh: 10s}
  - id: app
    type: exec:/bin/true
)";

ClusterConfig load() {
  auto r = parse_config(kConfig, "c.yaml");
  EXPECT_TRUE(r) << (r ? "" : r.error().front().to_string());
  return r ? r->config : ClusterConfig{};
}

const NodeId n1{0}, w{1}, n2{2}, n3{3};
const MacAddress kMine{2, 0, 0, 0, 0, 1};
const MacAddress kOther{2, 0, 0, 0, 0, 9};

struct Rig {
  ClusterConfig config = load();
  Announcer a{config, n1};
  Instant now{Duration{1'000'000'000}};
  std::vector<bool> up{true, true, true, true};
  AnnouncerOutput out;

  void at(Duration d) {
    now += d;
    a.tick(up, Term{3}, now);
    AnnouncerOutput o = a.take();
    out.announce.insert(out.announce.end(), o.announce.begin(), o.announce.end());
    out.checks.insert(out.checks.end(), o.checks.begin(), o.checks.end());
    out.events.insert(out.events.end(), o.events.begin(), o.events.end());
  }
  AnnouncerOutput drain() { return std::exchange(out, AnnouncerOutput{}); }
  void answer(const VipCheckRequest& q, NodeId from, bool probed, std::vector<MacAddress> ann,
              std::vector<MacAddress> ans, std::string detail = "") {
    a.on_result(from, VipCheckResult{q.term, q.id, q.index, probed, ann, ans, detail}, now);
    AnnouncerOutput o = a.take();
    out.events.insert(out.events.end(), o.events.begin(), o.events.end());
  }
};

TEST(Announcer, RepeatsUntilAPeerConfirmsThenRefreshes) {
  Rig r;
  r.a.set_mac("eth0", kMine);
  r.a.started(0, r.now);
  EXPECT_EQ(r.a.check(0), VipCheck::kPending);
  r.at(0ms);
  auto o = r.drain();
  ASSERT_EQ(o.checks.size(), 1U);    // asked at once
  EXPECT_EQ(o.checks[0].first, n2);  // the next node after this one that runs resources
  const VipCheckRequest q = o.checks[0].second;
  EXPECT_EQ(q.address, "10.213.0.100");
  EXPECT_EQ(q.interface, "eth0");
  EXPECT_EQ(q.mac, kMine);
  EXPECT_EQ(q.window_ms, 2000U);
  EXPECT_TRUE(o.announce.empty());
  // Repeats at 50, 150, 350 ms (doubling) while it is not confirmed.
  r.at(50ms);
  r.at(100ms);
  r.at(200ms);
  EXPECT_EQ(r.drain().announce, (std::vector<std::size_t>{0, 0, 0}));
  r.answer(q, n2, true, {kMine}, {kMine});
  EXPECT_EQ(r.a.check(0), VipCheck::kVerified);
  o = r.drain();
  ASSERT_EQ(o.events.size(), 1U);
  EXPECT_EQ(o.events[0].kind, EventKind::kVipVerified);
  EXPECT_EQ(o.events[0].str("resource"), "ip");
  EXPECT_EQ(o.events[0].integer("announcements"), 4);
  EXPECT_EQ(o.events[0].integer("checks"), 1);
  EXPECT_EQ(o.events[0].str("verifier"), "n2");
  EXPECT_EQ(o.events[0].integer("took_ms"), 350);
  ResourceEntry e;
  r.a.fill(0, e);
  EXPECT_EQ(e.check, VipCheck::kVerified);
  EXPECT_EQ(e.check_ms, 350U);
  EXPECT_EQ(e.announcements, 4);
  // No more repeats; the refresh (60 s by default) follows.
  r.at(59s);
  EXPECT_TRUE(r.drain().announce.empty());
  r.at(1s);
  EXPECT_EQ(r.drain().announce.size(), 1U);
  EXPECT_EQ(*r.a.next_deadline(), r.now + 60s);
  r.a.stopped(0);
  EXPECT_EQ(r.a.check(0), VipCheck::kNone);
  EXPECT_FALSE(r.a.next_deadline());
}

TEST(Announcer, UnconfirmedChecksAreRetriedAndReportedWithBoundedRepeats) {
  Rig r;
  r.a.set_mac("eth0", kMine);
  r.a.started(0, r.now);
  r.at(0ms);
  for (int i = 0; i < 3; ++i) {
    auto o = r.drain();
    ASSERT_EQ(o.checks.size(), 1U) << i;
    // Nothing seen: asked again at once, the next peer in turn (n3, then n2...).
    EXPECT_EQ(o.checks[0].first, i % 2 == 0 ? n2 : n3);
    r.answer(o.checks[0].second, o.checks[0].first, true, {}, {});
    r.at(0ms);
  }
  EXPECT_EQ(r.a.check(0), VipCheck::kUnverified);
  auto o = r.drain();
  ASSERT_EQ(o.events.size(), 1U);
  EXPECT_EQ(o.events[0].kind, EventKind::kVipUnverified);
  EXPECT_EQ(o.events[0].str("resource"), "ip");
  EXPECT_NE(o.events[0].str("reason").find("saw neither an announcement nor an answer"),
            std::string::npos);
  // The repeats back off to at most one each 5 s.
  r.drain();
  for (int i = 0; i < 20; ++i) r.at(1s);
  const auto n = r.drain().announce.size();
  EXPECT_GE(n, 4U);
  EXPECT_LE(n, 8U);
  // A later confirmation still counts.
  r.at(0ms);
  o = r.drain();
  if (o.checks.empty()) {  // a check is in flight: let it time out
    r.at(3s);
    o = r.drain();
  }
  ASSERT_FALSE(o.checks.empty());
  r.answer(o.checks.back().second, o.checks.back().first, true, {kMine}, {kMine});
  EXPECT_EQ(r.a.check(0), VipCheck::kVerified);
}

TEST(Announcer, PeersThatCannotCheckAreSkippedWitnessesLastUnansweredChecksTimeOut) {
  Rig r;
  r.a.set_mac("eth0", kMine);
  r.a.started(0, r.now);
  r.at(0ms);
  auto o = r.drain();
  ASSERT_EQ(o.checks[0].first, n2);
  r.answer(o.checks[0].second, n2, false, {}, {}, "no interface eth0 here");
  r.at(0ms);
  o = r.drain();
  ASSERT_EQ(o.checks.size(), 1U);
  EXPECT_EQ(o.checks[0].first, n3);
  // n3 never answers: after the window and its slack the next one (the witness: n2 cannot).
  r.at(2999ms);
  EXPECT_TRUE(r.drain().checks.empty());
  r.at(1ms);
  o = r.drain();
  ASSERT_EQ(o.checks.size(), 1U);
  EXPECT_EQ(o.checks[0].first, w);
  // An answer from someone else, or to an older check, is ignored.
  r.answer(o.checks[0].second, n3, true, {kMine}, {kMine});
  EXPECT_NE(r.a.check(0), VipCheck::kVerified);
  // Nobody up: no check, retried later.
  r.up = {true, false, false, false};
  r.at(3s);
  EXPECT_TRUE(r.drain().checks.empty());
}

TEST(Announcer, AnotherMacForTheAddressIsAConflict) {
  Rig r;
  r.a.set_mac("eth0", kMine);
  r.a.started(0, r.now);
  r.at(0ms);
  auto o = r.drain();
  r.answer(o.checks[0].second, n2, true, {kMine}, {kMine, kOther});
  EXPECT_EQ(r.a.check(0), VipCheck::kConflict);
  o = r.drain();
  ASSERT_EQ(o.events.size(), 1U);
  EXPECT_EQ(o.events[0].kind, EventKind::kVipConflict);
  EXPECT_EQ(o.events[0].str("resource"), "ip");
  EXPECT_EQ(o.events[0].str("other_mac"), "02:00:00:00:00:09");
  EXPECT_EQ(o.events[0].str("mac"), "02:00:00:00:00:01");
  // Checked again later; once only this node answers, it is verified.
  r.at(1s);
  o = r.drain();
  ASSERT_EQ(o.checks.size(), 1U);
  r.answer(o.checks[0].second, o.checks[0].first, true, {kMine}, {kMine});
  EXPECT_EQ(r.a.check(0), VipCheck::kVerified);
}

TEST(Announcer, WithoutAMacNothingIsAskedAndWithoutVerifyOnlyRepeats) {
  Rig r;
  r.a.started(0, r.now);  // no set_mac
  r.at(0ms);
  EXPECT_TRUE(r.drain().checks.empty());
  r.a.started(1, r.now);  // verify off, refresh 10 s
  EXPECT_EQ(r.a.check(1), VipCheck::kNone);
  r.a.stopped(0);
  r.drain();
  for (int i = 0; i < 20; ++i) r.at(50ms);  // 1 s: repeats at 50, 150, 350, 750 ms
  auto o = r.drain();
  EXPECT_EQ(o.announce.size(), 4U);
  EXPECT_TRUE(o.checks.empty());
  r.at(9s);
  EXPECT_TRUE(r.drain().announce.empty());
  r.at(1s);
  EXPECT_EQ(r.drain().announce.size(), 1U);
  r.a.started(2, r.now);  // not a vip: ignored
  EXPECT_EQ(r.a.check(2), VipCheck::kNone);
}

TEST(Announcer, TheKeeperAnnouncesOnlyUnderItsLeaseAndReportsTheCheck) {
  ClusterConfig config = load();
  Instant now{Duration{1'000'000'000}};
  Keeper k(config, n1, now);
  k.set_mac("eth0", kMine);
  LeaseView lease{Term{3}, n2, now + 10s, 0, {true, true, true, true}, now + 10s};
  k.tick(lease, now);
  KeeperOutput o = k.take(now);
  for (const KeeperCall& c : o.calls) k.on_call_done(c.call_id, 7, true, now);  // probes
  k.on_request(n2, ActionRequest{Term{3}, config.config_id, 1, 0, RequestKind::kStart}, lease, now);
  o = k.take(now);
  ASSERT_EQ(o.calls.size(), 1U);
  k.on_call_done(o.calls[0].call_id, 0, true, now);
  k.tick(lease, now);
  o = k.take(now);
  bool asked = false;
  bool reported = false;
  for (const auto& [to, m] : o.messages) {
    if (const auto* q = std::get_if<VipCheckRequest>(&m))
      asked = asked || (to == n2 && q->index == 0);
  }
  for (const ResourceReport& r : o.own_reports) {
    reported = reported || r.entries.at(0).check == VipCheck::kPending;
  }
  EXPECT_TRUE(asked);
  EXPECT_TRUE(reported);
  now += 50ms;
  k.tick(lease, now);
  EXPECT_EQ(k.take(now).announces, (std::vector<std::size_t>{0}));
  // The lease is going: the vip is being given up, never announced meanwhile.
  now += 150ms;
  LeaseView lost{Term{3}, n2, std::nullopt, 0, {true, true, true, true}};
  k.tick(lost, now);
  o = k.take(now);
  EXPECT_TRUE(o.announces.empty());
  now += 10s;
  k.tick(lost, now);
  EXPECT_TRUE(k.take(now).announces.empty());
}

}  // namespace
}  // namespace hactl
