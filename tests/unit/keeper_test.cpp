// The agent's resource keeper, in-process: requests run only under this node's lease from its
// coordinator, once each, and never when sent before the lease began; a lapsing lease stops
// VIPs first; the VIP guard's deadline follows the lease.
#include "coordinator/keeper.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace hactl {
namespace {

using namespace std::chrono_literals;

constexpr const char* kConfig = R"(cluster:
  name: k
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
resources:
  - id: app
    type: ocf:heartbeat:Dummy
  - id: ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
)";

const NodeId kSelf{0};
const NodeId kCoordinator{1};
const Instant kT0{Duration{1'000'000'000}};

class KeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = parse_config(kConfig, "k.yaml");
    ASSERT_TRUE(loaded) << loaded.error()[0].message;
    config_ = loaded->config;
    keeper_ = std::make_unique<Keeper>(config_, kSelf, kT0);
    // The probes: nothing runs here.
    const KeeperOutput out = keeper_->take(kT0);
    ASSERT_EQ(out.calls.size(), 2u);
    for (const auto& c : out.calls) keeper_->on_call_done(c.call_id, 7, true, kT0);
    keeper_->take(kT0);
  }

  LeaseView lease(Instant until, std::uint64_t session_ping = 100) const {
    return LeaseView{Term{3}, kCoordinator, until, session_ping, {}, until};
  }
  ActionRequest start(std::uint64_t id, std::uint32_t index, std::uint64_t echo = 100) const {
    return ActionRequest{Term{3}, config_.config_id, id, index, RequestKind::kStart, echo};
  }
  std::vector<KeeperCall> calls(Instant now) { return keeper_->take(now).calls; }

  ClusterConfig config_;
  std::unique_ptr<Keeper> keeper_;
};

TEST_F(KeeperTest, RunsARequestFromItsCoordinatorUnderItsLeaseOnce) {
  const Instant now = kT0 + 10ms;
  keeper_->on_request(kCoordinator, start(1, 0), lease(now + 300ms), now);
  const auto c = calls(now);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].action, "start");
  // A repeat (the coordinator resends until answered) is not run again.
  keeper_->on_request(kCoordinator, start(1, 0), lease(now + 300ms), now);
  EXPECT_TRUE(calls(now).empty());
  // Once done, a repeat is answered with the known result.
  keeper_->on_call_done(c[0].call_id, 0, true, now);
  keeper_->take(now);
  keeper_->on_request(kCoordinator, start(1, 0), lease(now + 300ms), now);
  const auto out = keeper_->take(now);
  EXPECT_TRUE(out.calls.empty());
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_TRUE(std::get<ActionResult>(out.messages[0].second).ok);
}

TEST_F(KeeperTest, RefusesRequestsFromOthersOrWithoutEnoughLease) {
  const Instant now = kT0 + 10ms;
  keeper_->on_request(NodeId{2}, start(1, 0), lease(now + 300ms), now);  // not its coordinator
  EXPECT_TRUE(calls(now).empty());
  keeper_->on_request(kCoordinator, start(2, 0), LeaseView{Term{3}, kCoordinator, {}, 0}, now);
  EXPECT_TRUE(calls(now).empty());  // no lease
  keeper_->on_request(kCoordinator, start(3, 0), lease(now + 40ms), now);
  EXPECT_TRUE(calls(now).empty());  // less than heartbeat/2 (50 ms) left
  ActionRequest other_term = start(4, 0);
  other_term.term = Term{2};
  keeper_->on_request(kCoordinator, other_term, lease(now + 300ms), now);
  EXPECT_TRUE(calls(now).empty());
}

TEST_F(KeeperTest, RefusesARequestSentBeforeItsLeaseBegan) {
  const Instant now = kT0 + 10ms;
  // The lease began with ping 200; the coordinator had heard only ping 150 when it sent this:
  // sent before this lease (delayed, or held while the agent was stopped).
  keeper_->on_request(kCoordinator, start(1, 0, 150), lease(now + 300ms, 200), now);
  const auto out = keeper_->take(now);
  EXPECT_TRUE(out.calls.empty());
  EXPECT_TRUE(std::any_of(out.events.begin(), out.events.end(), [](const Event& e) {
    return e.kind == EventKind::kRequestRefused && e.str("reason") == "sent_before_this_lease";
  }));
  // The coordinator's resend carries a newer echo: now it runs.
  keeper_->on_request(kCoordinator, start(1, 0, 201), lease(now + 300ms, 200), now);
  EXPECT_EQ(calls(now).size(), 1u);
}

// The quorum lease (the right to run) no longer says the coordinator still leads: a request is
// acted on only within the authority window its heartbeats give, nested in its own lease. A
// request from a coordinator whose window is over (it may be deposed, and a successor may have
// started the resource elsewhere) is ignored, however valid this node's own lease.
TEST_F(KeeperTest, ActsOnARequestOnlyWithinTheCoordinatorsAuthority) {
  const Instant now = kT0 + 10ms;
  LeaseView no_authority = lease(now + 300ms);
  no_authority.authority_until.reset();
  keeper_->on_request(kCoordinator, start(1, 0), no_authority, now);
  EXPECT_TRUE(calls(now).empty());
  LeaseView ending = lease(now + 300ms);
  ending.authority_until = now + 1ms;  // within the guard's half heartbeat of its end
  keeper_->on_request(kCoordinator, start(1, 0), ending, now);
  EXPECT_TRUE(calls(now).empty());
  keeper_->on_request(kCoordinator, start(1, 0), lease(now + 300ms), now);
  EXPECT_EQ(calls(now).size(), 1u);
}

// A lease that ended and began again between two of the keeper's looks (the loop was late)
// still ended: the keeper learns it from the new session ping and stops what it runs.
TEST_F(KeeperTest, ALeaseThatEndedBetweenTwoLooksStillStopsEverything) {
  Instant now = kT0 + 10ms;
  keeper_->tick(lease(now + 300ms, 100), now);
  keeper_->on_request(kCoordinator, start(1, 0), lease(now + 300ms, 100), now);
  for (const auto& c : calls(now)) keeper_->on_call_done(c.call_id, 0, true, now);
  keeper_->take(now);
  now += 50ms;
  keeper_->tick(lease(now + 300ms, 180), now);
  const auto out = keeper_->take(now);
  EXPECT_TRUE(std::any_of(out.calls.begin(), out.calls.end(),
                          [](const KeeperCall& c) { return c.index == 0 && c.action == "stop"; }));
  EXPECT_TRUE(std::any_of(out.events.begin(), out.events.end(),
                          [](const Event& e) { return e.kind == EventKind::kLeaseLapsed; }));
}

// Found by the fencing simulation: a start the coordinator sent to this node's previous agent
// (it crashed), delayed in the network, reached the agent that replaced it. Ping ids start
// afresh at each boot, so its echo looked recent; the incarnation it names does not match.
TEST_F(KeeperTest, RefusesARequestMeantForAnotherBootOfThisNode) {
  const Instant now = kT0 + 10ms;
  keeper_->set_incarnation(5000);
  ActionRequest old_boot = start(1, 0, 1'000'000);  // an echo far above this lease's first ping
  old_boot.incarnation = 4000;
  keeper_->on_request(kCoordinator, old_boot, lease(now + 300ms, 200), now);
  const auto out = keeper_->take(now);
  EXPECT_TRUE(out.calls.empty());
  EXPECT_TRUE(std::any_of(out.events.begin(), out.events.end(), [](const Event& e) {
    return e.kind == EventKind::kRequestRefused && e.str("resource") == "app" &&
           e.str("reason") == "another_boot";
  }));
  ActionRequest this_boot = start(2, 0, 201);
  this_boot.incarnation = 5000;
  keeper_->on_request(kCoordinator, this_boot, lease(now + 300ms, 200), now);
  EXPECT_EQ(calls(now).size(), 1u);
}

TEST_F(KeeperTest, APromoteOfAnInstanceThatIsNotRunningIsRefusedWithAReport) {
  const Instant now = kT0 + 10ms;
  ActionRequest promote = start(1, 0);
  promote.kind = RequestKind::kPromote;
  keeper_->on_request(kCoordinator, promote, lease(now + 300ms), now);
  const auto out = keeper_->take(now);
  EXPECT_TRUE(out.calls.empty());
  const auto result = std::find_if(out.messages.begin(), out.messages.end(), [](const auto& m) {
    return std::holds_alternative<ActionResult>(m.second);
  });
  ASSERT_NE(result, out.messages.end());
  EXPECT_FALSE(std::get<ActionResult>(result->second).ok);
  EXPECT_EQ(std::get<ActionResult>(result->second).code, 7);
  EXPECT_TRUE(std::any_of(out.messages.begin(), out.messages.end(), [](const auto& m) {
    return std::holds_alternative<ResourceReport>(m.second);
  }));
}

TEST_F(KeeperTest, ALapsingLeaseStopsVipsFirstAndTheGuardDeadlineFollowsIt) {
  Instant now = kT0 + 10ms;
  keeper_->tick(lease(now + 300ms), now);
  keeper_->on_request(kCoordinator, start(1, 0), lease(now + 300ms), now);
  keeper_->on_request(kCoordinator, start(2, 1), lease(now + 300ms), now);
  for (const auto& c : calls(now)) keeper_->on_call_done(c.call_id, 0, true, now);
  keeper_->take(now);
  const Instant until = now + 300ms;
  // With a lease, the guard removes the VIPs a quarter heartbeat before its end.
  EXPECT_EQ(keeper_->vip_deadline(lease(until), now), until - 25ms);
  now = until - 45ms;  // less than heartbeat/2 left: the lease lapses here
  keeper_->tick(lease(until), now);
  const auto c = calls(now);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].index, 1u);  // the vip
  EXPECT_EQ(c[0].action, "stop");
  EXPECT_EQ(c[1].index, 0u);
  EXPECT_EQ(c[1].action, "stop");
  EXPECT_EQ(keeper_->vip_deadline(lease(until), now), Instant{});  // due at once
}

TEST(KeeperQuorumLoss, OnQuorumLossFreezeKeepsOneResourceAndStopsTheOther) {
  // The cluster stops what runs on quorum loss, but `app` says freeze: only the vip goes.
  std::string text = kConfig;
  text.replace(text.find("type: ocf:heartbeat:Dummy"), 25,
               "type: ocf:heartbeat:Dummy\n    meta: {on_quorum_loss: freeze}");
  auto loaded = parse_config(text, "k.yaml");
  ASSERT_TRUE(loaded) << loaded.error()[0].message;
  const ClusterConfig& config = loaded->config;
  ASSERT_EQ(config.resources.primitives[0].on_quorum_loss, QuorumLoss::kFreeze);
  EXPECT_FALSE(stops_without_quorum(config.resources.primitives[0], config.no_quorum_policy));
  EXPECT_TRUE(stops_without_quorum(config.resources.primitives[1], config.no_quorum_policy));
  Keeper k(config, kSelf, kT0);
  for (const auto& c : k.take(kT0).calls) k.on_call_done(c.call_id, 7, true, kT0);
  Instant now = kT0 + 10ms;
  const Instant until = now + 300ms;
  const LeaseView lease{Term{3}, kCoordinator, until, 100, {}, until};
  k.tick(lease, now);
  for (std::uint32_t i : {0u, 1u}) {
    k.on_request(kCoordinator,
                 ActionRequest{Term{3}, config.config_id, i + 1, i, RequestKind::kStart, 100},
                 lease, now);
  }
  for (const auto& c : k.take(now).calls) k.on_call_done(c.call_id, 0, true, now);
  k.take(now);
  now = until - 45ms;
  k.tick(lease, now);
  const auto out = k.take(now);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].index, 1u);  // the vip only
  EXPECT_EQ(out.calls[0].action, "stop");
  // The guard still gets a deadline (for the vip; it keeps what freezes itself).
  EXPECT_EQ(k.vip_deadline(lease, now), Instant{});
  // Shutting down still stops everything.
  k.on_call_done(out.calls[0].call_id, 0, true, now);
  k.take(now);
  k.leave();
  const auto left = k.take(now);
  ASSERT_EQ(left.calls.size(), 1u);
  EXPECT_EQ(left.calls[0].index, 0u);
  // With every resource kept, there is no deadline at all.
  text.replace(text.find("interface: eth0}"), 16,
               "interface: eth0}\n    meta: {on_quorum_loss: freeze}");
  auto frozen = parse_config(text, "k.yaml");
  ASSERT_TRUE(frozen) << frozen.error()[0].message;
  Keeper all(frozen->config, kSelf, kT0);
  EXPECT_FALSE(all.vip_deadline(lease, now));
  // A wrong value names the field.
  text.replace(text.find("on_quorum_loss: freeze"), 22, "on_quorum_loss: maybe");
  auto bad = parse_config(text, "k.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error()[0].to_string().find(
                "resources[0].meta.on_quorum_loss: must be stop or freeze, got 'maybe'"),
            std::string::npos)
      << bad.error()[0].to_string();
}

TEST_F(KeeperTest, InMaintenanceNothingIsStoppedMonitoredOrRunUntilItEnds) {
  Instant now = kT0 + 10ms;
  keeper_->tick(lease(now + 300ms), now);
  keeper_->on_request(kCoordinator, start(1, 0), lease(now + 300ms), now);
  for (const auto& c : calls(now)) keeper_->on_call_done(c.call_id, 0, true, now);
  keeper_->take(now);
  keeper_->set_maintenance(true);
  auto out = keeper_->take(now);
  ASSERT_EQ(out.monitors.size(), 1u);
  EXPECT_EQ(out.monitors[0], (std::pair<std::size_t, bool>{0, false}));  // monitor off
  // The lease runs out: nothing is stopped, and the guard gets no deadline.
  now += 10s;
  keeper_->tick(LeaseView{Term{3}, kCoordinator, std::nullopt, 100}, now);
  EXPECT_TRUE(calls(now).empty());
  EXPECT_EQ(keeper_->vip_deadline(LeaseView{}, now), std::nullopt);
  // Requests are not run; a failed monitor result is not a failure.
  keeper_->on_request(kCoordinator, start(2, 1), lease(now + 300ms), now);
  keeper_->on_monitor(0, 7, now);
  out = keeper_->take(now);
  EXPECT_TRUE(out.calls.empty());
  EXPECT_EQ(out.messages.size(), 0u);
  // Its end turns the monitor back on; without a lease the usual rule applies again.
  keeper_->set_maintenance(false);
  out = keeper_->take(now);
  ASSERT_EQ(out.monitors.size(), 1u);
  EXPECT_EQ(out.monitors[0], (std::pair<std::size_t, bool>{0, true}));
  keeper_->tick(LeaseView{Term{3}, kCoordinator, std::nullopt, 100}, now);
  const auto c = calls(now);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].action, "stop");
}

TEST_F(KeeperTest, LeavingStopsEverythingStartsNothingAndSaysSoInItsReports) {
  Instant now = kT0 + 10ms;
  keeper_->tick(lease(now + 300ms), now);
  keeper_->on_request(kCoordinator, start(1, 0), lease(now + 300ms), now);
  keeper_->on_request(kCoordinator, start(2, 1), lease(now + 300ms), now);
  auto running = calls(now);
  ASSERT_EQ(running.size(), 2u);
  keeper_->on_call_done(running[1].call_id, 0, true, now);  // the vip is up, app still starting
  keeper_->take(now);
  keeper_->leave();
  auto out = keeper_->take(now);
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].index, 1u);  // the vip first
  EXPECT_EQ(out.calls[0].action, "stop");
  EXPECT_EQ(out.calls[1].index, 0u);  // queued behind its start
  EXPECT_EQ(out.calls[1].action, "stop");
  const auto* report = std::get_if<ResourceReport>(&out.messages.at(0).second);
  ASSERT_NE(report, nullptr);
  EXPECT_TRUE(report->leaving);
  EXPECT_FALSE(keeper_->done());
  // A start asked now is refused, and answered (not run, with a fresh report): unanswered, the
  // coordinator would count it as possibly run and fence the node once it has left.
  keeper_->on_request(kCoordinator, start(3, 1), lease(now + 300ms), now);
  const auto refusal = keeper_->take(now);
  EXPECT_TRUE(refusal.calls.empty());
  const ActionResult* answer = nullptr;
  const ResourceReport* fresh = nullptr;
  for (const auto& [to, m] : refusal.messages) {
    if (const auto* a = std::get_if<ActionResult>(&m)) {
      answer = a;
      EXPECT_EQ(to, kCoordinator);
    }
    if (const auto* r = std::get_if<ResourceReport>(&m)) fresh = r;
  }
  ASSERT_NE(answer, nullptr);
  EXPECT_EQ(answer->id, 3u);
  EXPECT_FALSE(answer->ok);
  ASSERT_NE(fresh, nullptr);
  EXPECT_GE(fresh->version, answer->report_version);
  EXPECT_TRUE(fresh->leaving);
  keeper_->on_call_done(out.calls[0].call_id, 0, true, now);
  keeper_->on_call_done(running[0].call_id, 0, true, now);
  EXPECT_FALSE(keeper_->done());
  keeper_->on_call_done(out.calls[1].call_id, 0, true, now);
  EXPECT_TRUE(keeper_->done());
  EXPECT_TRUE(calls(now).empty());
}

TEST_F(KeeperTest, ARestartedAgentKeepsWhatItFindsOnlyWithinTheGraceOfItsLastLease) {
  // The previous agent's lease ended 2 s ago: the grace (3 x 300 ms) is over, what the probes
  // find running is stopped at the first tick without a lease.
  Keeper k(config_, kSelf, kT0, kT0 - 2s);
  for (const auto& c : k.take(kT0).calls) k.on_call_done(c.call_id, 0, true, kT0);
  k.take(kT0);
  k.tick(LeaseView{Term{3}, kCoordinator, {}, 0}, kT0 + 1ms);
  auto stops = k.take(kT0 + 1ms).calls;
  EXPECT_EQ(stops.size(), 2u);
  // Its lease ended 100 ms ago: it waits for a lease until 800 ms from now.
  Keeper fresh(config_, kSelf, kT0, kT0 - 100ms);
  for (const auto& c : fresh.take(kT0).calls) fresh.on_call_done(c.call_id, 0, true, kT0);
  fresh.take(kT0);
  fresh.tick(LeaseView{Term{3}, kCoordinator, {}, 0}, kT0 + 700ms);
  EXPECT_TRUE(fresh.take(kT0 + 700ms).calls.empty());
  fresh.tick(LeaseView{Term{3}, kCoordinator, {}, 0}, kT0 + 800ms);
  EXPECT_EQ(fresh.take(kT0 + 800ms).calls.size(), 2u);
}

}  // namespace
}  // namespace hactl
