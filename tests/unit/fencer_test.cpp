// Fencing, pure: who is fenced, with which device and action, in which order; levels, retries
// with back-off, notices between nodes, a fence that did not stop its victim; and the conductor
// keeping a lost node's resources where they were until it is fenced, then moving them at once.
#include "coordinator/fencer.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/config.hpp"
#include "coordinator/conductor.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNodes = R"(cluster:
  name: c
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
  - {name: w, address: "10.213.0.14:5405", witness: true}
resources:
  - id: ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
)";

constexpr const char* kFencing = R"(fencing:
  devices:
    - {id: ipmi-n3, agent: /bin/true, nodes: [n3]}
    - {id: psu-a, agent: /bin/true, nodes: [n1, n2, n3], action: reboot}
    - {id: psu-b, agent: /bin/true, nodes: [n1, n2, n3], action: reboot}
  levels:
    n3: [[ipmi-n3], [psu-a, psu-b]]
)";

ClusterConfig load(const std::string& extra = kFencing) {
  auto r = parse_config(std::string(kNodes) + extra, "c.yaml");
  EXPECT_TRUE(r) << (r ? "" : r.error().front().to_string());
  return r ? r->config : ClusterConfig{};
}

const NodeId n1{0}, n2{1}, n3{2}, w{3};

struct Rig {
  ClusterConfig config = load();
  Fencer f{config, n1};
  FenceView v;
  Instant now{Duration{1'000'000'000}};

  Rig() {
    v.leads = true;
    v.term = Term{4};
    v.up = {true, true, true, true};
    v.needs = {false, false, false, false};
    v.incarnation = {11, 12, 13, 14};
    v.echoed.assign(4, std::nullopt);
  }
  void lose(NodeId n) {
    v.up[n.value] = false;
    v.needs[n.value] = true;
  }
  std::vector<FenceOp> tick(Duration after = 0ms) {
    now += after;
    f.tick(v, now);
    return f.take_ops();
  }
  std::vector<FenceOp> done(const FenceOp& op, bool ok) {
    f.on_done(op.id, ok, ok ? "exit 0" : "exit 1", now);
    return f.take_ops();
  }
};

TEST(Fencer, ALostNodeIsFencedByItsFirstLevel) {
  Rig r;
  EXPECT_TRUE(r.tick().empty());
  r.lose(n3);
  auto ops = r.tick();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].target, n3);
  EXPECT_EQ(ops[0].device, "ipmi-n3");
  EXPECT_EQ(ops[0].action, "off");
  EXPECT_EQ(r.f.state(n3).stage, FenceStage::kRunning);
  EXPECT_FALSE(r.f.fenced(n3));
  EXPECT_TRUE(r.tick(1s).empty()) << "one operation at a time, never started twice";
  EXPECT_TRUE(r.done(ops[0], true).empty());
  EXPECT_TRUE(r.f.fenced(n3));
  EXPECT_EQ(r.f.state(n3).by, "ipmi-n3");
  const auto notices = r.f.take_notices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0], (FenceNotice{Term{4}, n3, 13, "ipmi-n3"}));
  // Repeated each second while the victim stays down.
  r.tick(500ms);
  EXPECT_TRUE(r.f.take_notices().empty());
  r.tick(600ms);
  EXPECT_EQ(r.f.take_notices().size(), 1u);
  EXPECT_TRUE(r.f.fenced(n3));
}

TEST(Fencer, OnlyTheCoordinatorStartsAndOnlyWhatNeedsIt) {
  Rig r;
  r.v.leads = false;
  r.lose(n3);
  EXPECT_TRUE(r.tick().empty()) << "a follower never fences";
  r.v.leads = true;
  r.v.needs[2] = false;  // it ran nothing
  EXPECT_TRUE(r.tick().empty());
  r.lose(w);  // a witness runs nothing and has no device
  EXPECT_TRUE(r.tick().empty());
  EXPECT_TRUE(r.f.configured(n1)) << "itself: through a peer";
  EXPECT_TRUE(r.f.configured(n2)) << "psu-a and psu-b list n2";
  EXPECT_FALSE(r.f.configured(w));
}

TEST(Fencer, AFailedDeviceMovesToTheNextLevelOfSeveralDevices) {
  Rig r;
  r.lose(n3);
  auto ops = r.tick();
  ASSERT_EQ(ops.size(), 1u);
  ops = r.done(ops[0], false);
  // Level 2 has two power supplies set to reboot: both off first, then both on.
  std::vector<std::pair<std::string, std::string>> seen;
  for (int k = 0; k < 4; ++k) {
    ASSERT_EQ(ops.size(), 1u) << "step " << k;
    seen.emplace_back(ops[0].device, ops[0].action);
    ops = r.done(ops[0], k != 2);  // "on" of psu-a fails: the node is off all the same
  }
  EXPECT_TRUE(ops.empty());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{
                      {"psu-a", "off"}, {"psu-b", "off"}, {"psu-a", "on"}, {"psu-b", "on"}}));
  EXPECT_TRUE(r.f.fenced(n3));
  EXPECT_EQ(r.f.state(n3).by, "level 2");
}

TEST(Fencer, EveryLevelFailingIsRetriedWithBackOff) {
  Rig r;
  r.lose(n3);
  auto fail_all = [&](std::vector<FenceOp> ops) {
    ops = r.done(ops.at(0), false);  // ipmi
    ops = r.done(ops.at(0), false);  // psu-a off: level 2 failed
    EXPECT_TRUE(ops.empty());
  };
  fail_all(r.tick());
  EXPECT_EQ(r.f.state(n3).stage, FenceStage::kFailed);
  EXPECT_NE(r.f.state(n3).error.find("psu-a off: exit 1"), std::string::npos);
  EXPECT_EQ(r.f.next_deadline(), r.now + 2s);
  EXPECT_TRUE(r.tick(1900ms).empty());
  auto ops = r.tick(100ms);
  ASSERT_EQ(ops.size(), 1u) << "retried after 2 s";
  EXPECT_EQ(ops[0].device, "ipmi-n3");
  fail_all(ops);
  EXPECT_EQ(r.f.next_deadline(), r.now + 4s);
  for (int k = 0; k < 10; ++k) {
    ops = r.tick(*r.f.next_deadline() - r.now);
    fail_all(ops);
  }
  EXPECT_EQ(r.f.next_deadline(), r.now + 60s) << "the back-off stops at a minute";
  EXPECT_FALSE(r.f.fenced(n3));
  const auto events = r.f.take_events();
  EXPECT_EQ(events.back().kind, EventKind::kFenceFailed) << format_event(events.back());
  EXPECT_EQ(events.back().str("node"), "n3");
  EXPECT_EQ(events.back().integer("attempt"), 12);
}

TEST(Fencer, ARunningFenceEndsEvenIfLeadershipIsLost) {
  Rig r;
  r.lose(n3);
  auto ops = r.tick();
  r.v.leads = false;
  r.tick(1s);
  EXPECT_TRUE(r.done(ops.at(0), true).empty());
  EXPECT_TRUE(r.f.fenced(n3));
}

TEST(Fencer, ANewBootEndsTheFenceAndTheSameBootHeardAgainIsAnError) {
  Rig r;
  r.lose(n3);
  r.done(r.tick().at(0), true);
  ASSERT_TRUE(r.f.fenced(n3));
  r.f.take_events();
  // A datagram that answers a ping sent before the fence ended is not a sign of life, however
  // late it arrives (it may have been on its way)...
  r.v.up[2] = true;
  r.v.needs[2] = false;
  r.v.echoed[2] = r.now - 1ms;
  r.tick(500ms);
  EXPECT_TRUE(r.f.fenced(n3));
  // ...an answer to a ping sent after it is: the device said it stopped the node and it did not.
  r.v.echoed[2] = r.now + 1ms;
  r.tick(10ms);
  EXPECT_FALSE(r.f.fenced(n3));
  const auto events = r.f.take_events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, EventKind::kFenceIneffective);
  EXPECT_EQ(events.back().str("node"), "n3");

  Rig s;
  s.lose(n3);
  s.done(s.tick().at(0), true);
  s.v.up[2] = true;
  s.v.needs[2] = false;
  s.v.incarnation[2] = 99;  // rebooted
  s.v.echoed[2] = s.now + 5s;
  s.tick(5s);
  EXPECT_FALSE(s.f.fenced(n3));
  for (const auto& e : s.f.take_events()) EXPECT_NE(e.kind, EventKind::kFenceIneffective);
  // Lost again later: fenced again.
  s.lose(n3);
  EXPECT_EQ(s.tick(1s).size(), 1u);
}

// A stop that failed on a node that is up (the conductor says it needs fencing): it is fenced
// all the same, and the fence stands until the node goes down or comes back in a new boot.
TEST(Fencer, AnUpNodeWhoseStopFailedIsFenced) {
  Rig r;
  r.v.needs[1] = true;  // n2 is up
  auto ops = r.tick();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].target, n2);
  // No levels for n2: each device listing it is a level of its own, with its own action.
  EXPECT_EQ(ops[0].device, "psu-a");
  EXPECT_EQ(ops[0].action, "reboot");
  EXPECT_TRUE(r.done(ops[0], true).empty());
  EXPECT_TRUE(r.f.fenced(n2));
  EXPECT_TRUE(r.tick(100ms).empty()) << "not fenced twice while it is going down";
  EXPECT_TRUE(r.f.fenced(n2));
  r.v.up[1] = false;
  r.tick(300ms);
  EXPECT_TRUE(r.f.fenced(n2)) << "and it stands once the node is seen down";
}

// The coordinator's own stop failed: it cannot fence itself from the inside, so a peer runs
// the device for it (FenceRequest). A peer that never answers fails the level; a success this
// node lives to hear means the device did not stop it.
TEST(Fencer, ItsOwnNodeIsFencedByAPeer) {
  Rig r;
  r.v.needs[0] = true;  // n1 is this node
  auto ops = r.tick();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].target, n1);
  EXPECT_EQ(ops[0].executor, n2) << "the first peer up that runs resources";
  EXPECT_EQ(ops[0].device, "psu-a");
  // n2 never answers: after psu-a's timeout (60 s) + 10 s, the next level (psu-b) is tried,
  // by n3 now that n2 is down.
  r.v.up[1] = false;
  EXPECT_EQ(r.f.next_deadline(), r.now + 70s);
  ops = r.tick(70s);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].device, "psu-b");
  EXPECT_EQ(ops[0].executor, n3);
  EXPECT_NE(r.f.state(n1).error.find("no answer"), std::string::npos) << r.f.state(n1).error;
  // It answers success, and this node is still here to hear it.
  EXPECT_TRUE(r.done(ops[0], true).empty());
  EXPECT_FALSE(r.f.fenced(n1));
  EXPECT_EQ(r.f.state(n1).stage, FenceStage::kFailed);
  const auto events = r.f.take_events();
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const Event& e) {
    return e.kind == EventKind::kFenceIneffective && e.str("node") == "n1";
  }));
  // Only the witness up: it is asked (a witness may run a device too).
  r.v.up[2] = false;
  ops = r.tick(*r.f.next_deadline() - r.now);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].executor, w);
  ops = r.done(ops[0], false);  // psu-a failed; psu-b, by the witness too
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_TRUE(r.done(ops[0], false).empty());
  // With no peer up, nothing can run: every level fails at once.
  r.v.up[3] = false;
  ops = r.tick(*r.f.next_deadline() - r.now);
  EXPECT_TRUE(ops.empty());
  EXPECT_NE(r.f.state(n1).error.find("no peer up to run it"), std::string::npos);
}

TEST(Fencer, ANoticeCountsWhileTheVictimIsDownInTheBootItNames) {
  Rig r;
  r.v.leads = false;
  r.f.on_notice(n2, FenceNotice{Term{4}, n3, 13, "ipmi-n3"});
  r.tick();
  EXPECT_FALSE(r.f.fenced(n3)) << "n3 is up here: the notice is forgotten";
  r.lose(n3);
  r.tick();
  EXPECT_FALSE(r.f.fenced(n3)) << "and was not kept";
  r.f.on_notice(n2, FenceNotice{Term{4}, n3, 12, "ipmi-n3"});
  r.tick();
  EXPECT_FALSE(r.f.fenced(n3)) << "another boot of n3";
  r.f.on_notice(n2, FenceNotice{Term{4}, n3, 13, "ipmi-n3"});
  r.tick();
  EXPECT_TRUE(r.f.fenced(n3));
  EXPECT_EQ(r.f.state(n3).by, "ipmi-n3 (notice from n2)");
  EXPECT_TRUE(r.f.take_notices().empty()) << "only the node that fenced repeats it";
  r.v.leads = true;
  EXPECT_TRUE(r.tick(1s).empty()) << "a new coordinator that heard it does not fence again";
}

// A device's delay (pcmk_delay_base) is waited before its off or reboot, not before an "on";
// a target heard again before the delay ran out is not fenced at all.
TEST(Fencer, ADevicesDelayIsWaitedAndAHealBeforeItCancels) {
  Rig r;
  r.config = load(R"(fencing:
  devices:
    - {id: slow, agent: /bin/true, nodes: [n3], delay: 2s}
)");
  Fencer f{r.config, n1};
  r.lose(n3);
  f.tick(r.v, r.now);
  EXPECT_TRUE(f.take_ops().empty()) << "the delay first";
  EXPECT_EQ(f.state(n3).stage, FenceStage::kRunning);
  EXPECT_EQ(f.next_deadline(), r.now + 2s);
  f.tick(r.v, r.now + 1999ms);
  EXPECT_TRUE(f.take_ops().empty());
  f.tick(r.v, r.now + 2s);
  auto ops = f.take_ops();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].device, "slow");
  EXPECT_EQ(ops[0].action, "off");
  f.on_done(ops[0].id, true, "exit 0", r.now + 3s);
  EXPECT_TRUE(f.fenced(n3));

  // Again, with a new boot of n3 that is lost and then heard during the delay.
  Fencer g{r.config, n1};
  g.tick(r.v, r.now);
  EXPECT_TRUE(g.take_ops().empty());
  r.v.up[2] = true;
  r.v.needs[2] = false;
  g.tick(r.v, r.now + 1s);
  EXPECT_EQ(g.state(n3).stage, FenceStage::kNone);
  g.tick(r.v, r.now + 3s);
  EXPECT_TRUE(g.take_ops().empty()) << "cancelled: nothing was cut";
  bool cancelled = false;
  for (const auto& e : g.take_events())
    cancelled = cancelled || e.kind == EventKind::kFenceCancelled;
  EXPECT_TRUE(cancelled);
}

// last_resort unsafe_take_over: no device, a lost peer is "fenced" at once by taking it as
// dead (no operation runs), and a peer heard again in the same boot is a healed split.
TEST(Fencer, TheLastResortTakesALostPeerAsDeadAtOnce) {
  auto r = parse_config(R"(cluster:
  name: c
  auth_key_file: /etc/hactl/authkey
  two_node: true
  last_resort: unsafe_take_over
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
)",
                        "c.yaml");
  ASSERT_TRUE(r) << r.error().front().to_string();
  const ClusterConfig config = r->config;
  Fencer f{config, n1};
  EXPECT_TRUE(f.any_configured());
  EXPECT_TRUE(f.configured(n2));
  FenceView v;
  v.leads = true;
  v.term = Term{2};
  v.up = {true, false};
  v.needs = {false, true};
  v.incarnation = {1, 2};
  v.echoed.assign(2, std::nullopt);
  const Instant t{Duration{1'000'000'000}};
  f.tick(v, t);
  EXPECT_TRUE(f.take_ops().empty()) << "nothing runs";
  EXPECT_TRUE(f.fenced(n2));
  EXPECT_EQ(f.state(n2).by, "last-resort");
  const auto events = f.take_events();
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const Event& e) {
    return e.kind == EventKind::kFenceAssumed && e.str("node") == "n2";
  }));
  // Heard again in the same boot: the split healed (not an ineffective device).
  v.up = {true, true};
  v.needs = {false, false};
  v.echoed[1] = t + 5s;
  f.tick(v, t + 5s);
  EXPECT_FALSE(f.fenced(n2));
  bool healed = false;
  for (const auto& e : f.take_events()) healed = healed || e.kind == EventKind::kSplitHealed;
  EXPECT_TRUE(healed);
}

// A configuration applied while a fence runs rebuilds the resource host: its new fencer takes
// the old one's state over, so the running operation's result still counts and nobody is
// fenced twice.
TEST(Fencer, ARebuiltFencerCarriesTheRunningFenceOn) {
  Rig r;
  r.lose(n3);
  const auto ops = r.tick();
  ASSERT_EQ(ops.size(), 1u);
  Fencer g{r.config, n1};
  g.inherit(r.f);
  g.tick(r.v, r.now + 1s);
  EXPECT_TRUE(g.take_ops().empty()) << "not started again";
  g.on_done(ops[0].id, true, "exit 0", r.now + 2s);
  EXPECT_TRUE(g.fenced(n3));
}

TEST(Fencer, NoDevicesNoFencing) {
  const ClusterConfig config = load("");
  Fencer f(config, n1);
  EXPECT_FALSE(f.any_configured());
  EXPECT_FALSE(f.configured(n3));
}

// --- The conductor with fencing: a lost node's vip stays until the node is fenced, then moves
// at once, before the lease and takeover delays would have let it.

Membership members(std::vector<bool> up, std::vector<NodeFence> fence) {
  Membership m;
  m.term = Term{3};
  m.leads = true;
  m.up = std::move(up);
  m.lease_over.assign(m.up.size(), Instant::min());  // lost nodes' leases known over
  m.echo.assign(m.up.size(), 0);
  m.fence = std::move(fence);
  return m;
}

ResourceReport report(const ClusterConfig& c, ResourceRole role, std::uint64_t version) {
  ResourceEntry e;
  e.role = role;
  e.probed = true;
  return ResourceReport{Term{3}, c.config_id, version, 0, 1, {e}};
}

// The coordinator n1 in term 3, every node reported: the vip runs on n3.
void vip_on_n3(Conductor& c, const ClusterConfig& config, Instant now) {
  c.tick(members({true, true, true, true}, {}), now);
  c.on_report(n1, report(config, ResourceRole::kStopped, 1));
  c.on_report(n2, report(config, ResourceRole::kStopped, 1));
  c.on_report(n3, report(config, ResourceRole::kStarted, 1));
}

TEST(ConductorFencing, ALostNodesVipMovesOnlyOnceItIsFenced) {
  const ClusterConfig config = load();
  Conductor c(config, n1);
  Instant now{Duration{1'000'000'000}};
  const auto all_up = members({true, true, true, true}, {});
  vip_on_n3(c, config, now);
  c.tick(all_up, now);
  EXPECT_TRUE(c.take_requests().empty()) << "the vip runs on n3";

  auto lost = members({true, true, false, true}, {});
  EXPECT_TRUE(c.needs_fencing(n3, lost));
  EXPECT_FALSE(c.needs_fencing(n2, lost)) << "up";
  EXPECT_FALSE(c.needs_fencing(w, members({true, true, true, false}, {}))) << "a witness";

  // To be fenced: it stays long after any lease and takeover delay would be over.
  lost.fence = {NodeFence::kNone, NodeFence::kNone, NodeFence::kPending, NodeFence::kNone};
  now += 1h;
  c.tick(lost, now);
  EXPECT_TRUE(c.take_requests().empty());
  EXPECT_EQ(c.state(lost, now).nodes[2], NodeCondition::kUnclean);
  EXPECT_EQ(c.state(lost, now).roles.at("ip")[2], ResourceRole::kStarted);

  // Fenced: it runs nothing; the vip starts elsewhere at once, with no lease bound passed.
  Instant t2{Duration{1'000'000'000}};
  Conductor d(config, n1);
  vip_on_n3(d, config, t2);
  d.tick(all_up, t2);
  auto fenced = members({true, true, false, true},
                        {NodeFence::kNone, NodeFence::kNone, NodeFence::kFenced, NodeFence::kNone});
  fenced.lease_over[2].reset();  // without fencing it would wait for releases
  t2 += 1ms;
  d.tick(fenced, t2);
  EXPECT_EQ(d.state(fenced, t2).nodes[2], NodeCondition::kOffline);
  const auto reqs = d.take_requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_NE(reqs[0].first, n3);
  EXPECT_EQ(reqs[0].second.kind, RequestKind::kStart);
}

TEST(ConductorFencing, AFailedStopOnAnUpNodeNeedsFencingWhileItStillRuns) {
  const ClusterConfig config = load();
  Conductor c(config, n1);
  Instant now{Duration{1'000'000'000}};
  const auto all_up = members({true, true, true, true}, {});
  vip_on_n3(c, config, now);
  c.set_standby({false, false, true, false});  // n3 must give the vip up
  c.tick(all_up, now);
  auto reqs = c.take_requests();
  ASSERT_EQ(reqs.size(), 1u);
  ASSERT_EQ(reqs[0].first, n3);
  ASSERT_EQ(reqs[0].second.kind, RequestKind::kStop);
  EXPECT_FALSE(c.needs_fencing(n3, all_up));
  c.on_result(n3, ActionResult{Term{3}, reqs[0].second.id, 0, RequestKind::kStop, false, 1, 2});
  EXPECT_TRUE(c.needs_fencing(n3, all_up)) << "its stop failed and it still runs the vip";
  const auto events = c.take_events();
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const Event& e) {
    return e.kind == EventKind::kStopFailed && e.str("resource") == "ip" && e.str("node") == "n3" &&
           e.integer("code") == 1;
  }));
  // Without fencing it would be retried in a loop: the next stop waits a second.
  c.on_report(n3, report(config, ResourceRole::kStarted, 2));
  c.tick(all_up, now + 10ms);
  EXPECT_TRUE(c.take_requests().empty());
  ASSERT_FALSE(c.notes().empty());
  EXPECT_NE(c.notes().back().find("the stop of ip on n3 failed 1 time(s)"), std::string::npos)
      << c.notes().back();
  EXPECT_EQ(c.next_deadline(), now + 1s);
  c.tick(all_up, now + 1s);
  reqs = c.take_requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].second.kind, RequestKind::kStop);
  c.on_report(n3, report(config, ResourceRole::kStopped, 3));  // this one did it
  EXPECT_FALSE(c.needs_fencing(n3, all_up));
}

// A node shutting down refuses a start sent to it and answers so, with a report saying it is
// leaving and runs nothing: once gone it needs no fencing, whichever came first.
TEST(ConductorFencing, ANodeThatLeftRefusingAStartNeedsNoFencing) {
  const ClusterConfig config = load();
  for (const bool report_first : {false, true}) {
    Conductor c(config, n1);
    const Instant now{Duration{1'000'000'000}};
    const auto all_up = members({true, true, true, true}, {});
    c.tick(all_up, now);
    c.on_report(n1, report(config, ResourceRole::kStopped, 1));
    c.on_report(n2, report(config, ResourceRole::kStopped, 1));
    c.on_report(n3, report(config, ResourceRole::kStopped, 1));
    c.set_standby({true, true, false, false});  // only n3 may run it: it gets the start
    c.tick(all_up, now);
    auto reqs = c.take_requests();
    ASSERT_EQ(reqs.size(), 1u) << "report_first " << report_first;
    ASSERT_EQ(reqs[0].first, n3);
    ASSERT_EQ(reqs[0].second.kind, RequestKind::kStart);
    ResourceReport leaving = report(config, ResourceRole::kStopped, 2);
    leaving.leaving = true;
    const ActionResult no{Term{3}, reqs[0].second.id, 0, RequestKind::kStart, false, 7, 2};
    if (report_first) c.on_report(n3, leaving);
    c.on_result(n3, no);
    if (!report_first) c.on_report(n3, leaving);
    EXPECT_FALSE(c.needs_fencing(n3, members({true, true, false, true}, {})))
        << "report_first " << report_first;
  }
}

TEST(ConductorFencing, ANodeThatRanNothingNeedsNoFencing) {
  const ClusterConfig config = load();
  Conductor c(config, n1);
  const Instant now{Duration{1'000'000'000}};
  c.tick(members({true, true, true, true}, {}), now);
  c.on_report(n3, report(config, ResourceRole::kStopped, 1));
  EXPECT_FALSE(c.needs_fencing(n3, members({true, true, false, true}, {})));
  Conductor never_heard(config, n1);
  never_heard.tick(members({true, true, true, true}, {}), now);
  EXPECT_TRUE(never_heard.needs_fencing(n3, members({true, true, false, true}, {})))
      << "no report: it may run anything";
}

}  // namespace
}  // namespace hactl
