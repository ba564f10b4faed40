// The conductor alone: what it says it waits for, as `hactl status` shows it.
#include "coordinator/conductor.hpp"

#include <gtest/gtest.h>

#include "common/config.hpp"

namespace hactl {
namespace {

constexpr const char* kConfig = R"(cluster:
  name: c
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
resources:
  - id: ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
)";

Membership membership(bool leads) {
  Membership m;
  m.term = Term{3};
  m.leads = leads;
  m.up = {true, true, true};
  m.lease_over.assign(3, Instant::min());  // lost nodes' leases known over
  m.echo.assign(3, 0);
  return m;
}

// A coordinator that loses its lease (or steps down) waits for nothing any more: it used to
// keep its last reason ("actions in flight", "a report ...") in status for as long as it
// stayed a follower.
TEST(Conductor, WaitsForNothingOnceItNoLongerLeads) {
  auto loaded = parse_config(kConfig, "c.yaml");
  ASSERT_TRUE(loaded);
  Conductor c(loaded->config, NodeId{0});
  const Instant t0{Duration{1'000'000'000}};
  c.tick(membership(true), t0);
  ASSERT_TRUE(c.active());
  ASSERT_FALSE(c.waiting_for().empty()) << "no node has reported in this term yet";
  c.tick(membership(false), t0 + Duration{1'000'000});
  EXPECT_FALSE(c.active());
  EXPECT_EQ(c.waiting_for(), "");
}

// A two-node cluster around one conductor (on n2): the test runs each request it sends at
// once and reports the outcome, so placements play out over "time" in a few lines.
class TwoNodes {
 public:
  explicit TwoNodes(const std::string& meta,
                    const std::string& location = "{resource: ip, node: n1, score: 100}")
      : loaded_(load(meta, location)), c_(loaded_.config, NodeId{1}), m_(membership(true)) {
    m_.up = {true, true};
    m_.lease_over.assign(2, Instant::min());  // lost nodes' leases known over
    m_.echo.assign(2, 0);
    report(0);
    report(1);
  }
  static LoadedConfig load(const std::string& meta, const std::string& location) {
    const std::string text = std::string(R"(cluster:
  name: c
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
resources:
  - id: ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
    meta: )") + meta + R"(
constraints:
  location:
    - )" + location + "\n";
    auto l = parse_config(text, "c.yaml");
    EXPECT_TRUE(l) << (l ? "" : l.error().front().to_string());
    return *l;
  }
  void report(std::size_t node) {
    ResourceEntry e;
    e.role = role_[node];
    e.probed = true;
    c_.on_report(NodeId{static_cast<std::uint16_t>(node)},
                 ResourceReport{m_.term, loaded_.config.config_id, ++version_[node], 0, 1, {e}});
  }
  // Ticks until nothing is left to do (each tick 10 ms later).
  void settle() {
    for (int round = 0; round < 50; ++round) {
      c_.tick(m_, now_);
      auto requests = c_.take_requests();
      for (const auto& [to, req] : requests) {
        if (!m_.up[to.value]) continue;
        role_[to.value] =
            req.kind == RequestKind::kStart ? ResourceRole::kStarted : ResourceRole::kStopped;
        report(to.value);
        c_.on_result(
            to, ActionResult{m_.term, req.id, req.index, req.kind, true, 0, version_[to.value]});
      }
      for (auto& h : c_.take_holds()) holds_.push_back(h);
      now_ += std::chrono::milliseconds{10};
      if (requests.empty()) return;
    }
  }
  void crash_n1() {
    m_.up[0] = false;
    role_[0] = ResourceRole::kStopped;
    settle();
  }
  void back_n1() {
    m_.up[0] = true;
    report(0);
    settle();
  }
  void wait(Duration d) {
    now_ += d;
    settle();
  }
  std::string where() const {
    return role_[0] != ResourceRole::kStopped   ? "n1"
           : role_[1] != ResourceRole::kStopped ? "n2"
                                                : "nowhere";
  }

  LoadedConfig loaded_;
  Conductor c_;
  Membership m_;
  Instant now_{Duration{1'000'000'000}};
  ResourceRole role_[2] = {ResourceRole::kStopped, ResourceRole::kStopped};
  std::uint64_t version_[2] = {0, 0};
  std::vector<HoldRequest> holds_;
};

TEST(ConductorFailback, ImmediateGoesBackAsSoonAsThePreferredNodeReturns) {
  TwoNodes t("{failback: immediate}");
  t.settle();
  EXPECT_EQ(t.where(), "n1");
  t.crash_n1();
  EXPECT_EQ(t.where(), "n2");
  t.back_n1();
  EXPECT_EQ(t.where(), "n1");
}

TEST(ConductorFailback, NeverStaysAndTheScoresAloneWouldNot) {
  TwoNodes t("{failback: never, stickiness: 0}");
  t.settle();
  t.crash_n1();
  t.back_n1();
  t.wait(std::chrono::hours{1});
  EXPECT_EQ(t.where(), "n2");
  // An operator's move still moves it.
  t.loaded_.config.resources.locations.push_back(LocationConstraint{
      "ip", "n1", 1'000'000, RoleFilter::kAny, LocationConstraint::Origin::kMove});
  t.wait(std::chrono::seconds{1});
  EXPECT_EQ(t.where(), "n1");
  TwoNodes scores("{stickiness: 0}");  // no failback: score 100 against stickiness 0
  scores.settle();
  scores.crash_n1();
  scores.back_n1();
  EXPECT_EQ(scores.where(), "n1");
}

TEST(ConductorFailback, AfterWaitsUntilThePreferredNodeHasBeenOnlineThatLong) {
  TwoNodes t("{failback: {after: 30s}}");
  t.settle();
  t.crash_n1();
  t.back_n1();
  const Instant back = t.now_;
  EXPECT_EQ(t.where(), "n2");
  ASSERT_TRUE(t.c_.next_deadline()) << "it must wake when the failback is due";
  EXPECT_LE(*t.c_.next_deadline(), back + std::chrono::seconds{30});
  t.wait(std::chrono::seconds{20});
  EXPECT_EQ(t.where(), "n2");
  // n1 flaps: the wait starts again from its return.
  t.crash_n1();
  t.back_n1();
  t.wait(std::chrono::seconds{20});
  EXPECT_EQ(t.where(), "n2");
  t.wait(std::chrono::seconds{11});
  EXPECT_EQ(t.where(), "n1");
}

TEST(ConductorFlapDamping, HoldsAResourceThatMovesTooOftenUntilReleased) {
  TwoNodes t("{failback: immediate, flap_damping: {moves: 2, within: 10m}}");
  t.settle();    // the first start is not a move
  t.crash_n1();  // 1
  t.back_n1();   // 2
  EXPECT_TRUE(t.holds_.empty());
  t.crash_n1();  // 3: more than 2
  ASSERT_EQ(t.holds_.size(), 1u);
  EXPECT_EQ(t.holds_[0], (HoldRequest{"ip", NodeId{1}, 3, std::chrono::minutes{10}}));
  t.back_n1();
  EXPECT_EQ(t.where(), "n2") << "held: no failback";
  EXPECT_FALSE(t.c_.notes().empty());
  // The cluster document holds it; then hactl resource cleanup takes it out.
  t.c_.set_held({{"ip", "3 moves within 10m"}});
  t.wait(std::chrono::minutes{1});
  EXPECT_EQ(t.where(), "n2");
  t.c_.set_held({});
  t.wait(std::chrono::seconds{1});
  EXPECT_EQ(t.where(), "n1") << "released: it goes back";
  EXPECT_EQ(t.holds_.size(), 1u) << "its moves were forgotten with the hold";
}

// A node that dies right after a start, before any report shows it, still made a move.
TEST(ConductorFlapDamping, AStartWhoseReportIsLostStillCounts) {
  TwoNodes t("{failback: immediate, flap_damping: {moves: 2, within: 10m}}");
  t.settle();
  t.crash_n1();  // 1: n1 -> n2
  // n1 returns; the failback start is sent, runs, and n1 dies before its report arrives.
  t.m_.up[0] = true;
  t.report(0);
  t.c_.tick(t.m_, t.now_);
  auto sent = t.c_.take_requests();  // the stop on n2 (run at once: it is this conductor's node)
  t.role_[1] = ResourceRole::kStopped;
  t.report(1);
  for (const auto& [to, req] : sent) {
    t.c_.on_result(
        to, ActionResult{t.m_.term, req.id, req.index, req.kind, true, 0, t.version_[to.value]});
  }
  t.now_ += std::chrono::milliseconds{10};
  t.c_.tick(t.m_, t.now_);
  sent = t.c_.take_requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].first, NodeId{0}) << "the failback start goes to n1";  // 2: n2 -> n1
  t.crash_n1();  // its report never came; n1 -> n2 again: 3
  ASSERT_EQ(t.holds_.size(), 1u) << "the move whose report was lost counts";
  EXPECT_EQ(t.holds_[0].moves, 3);
}

// (A held resource still leaves a lost node: tests/scheduler/31-held-still-leaves-a-lost-node.)
TEST(ConductorFlapDamping, ForgetsMovesOlderThanItsWindow) {
  TwoNodes t("{failback: immediate, flap_damping: {moves: 2, within: 10m}}");
  t.settle();
  t.crash_n1();
  t.back_n1();
  t.wait(std::chrono::minutes{11});  // both moves age out
  t.crash_n1();
  t.back_n1();
  EXPECT_TRUE(t.holds_.empty());
  t.crash_n1();
  ASSERT_EQ(t.holds_.size(), 1u);
  EXPECT_EQ(t.holds_[0].moves, 3);
  EXPECT_EQ(t.where(), "n2");
}

// An operator's move is not a flap.
TEST(ConductorFlapDamping, OperatorMovesAreNotCounted) {
  TwoNodes t("{failback: immediate, flap_damping: {moves: 1, within: 10m}}");
  t.settle();
  auto& locs = t.loaded_.config.resources.locations;
  for (int k = 0; k < 4; ++k) {
    const std::string to = k % 2 == 0 ? "n2" : "n1";
    std::erase_if(locs, [](const LocationConstraint& l) { return l.is_move(); });
    locs.push_back(LocationConstraint{"ip", to, 1'000'000, RoleFilter::kAny,
                                      LocationConstraint::Origin::kMove});
    t.wait(std::chrono::seconds{1});
    EXPECT_EQ(t.where(), to);
  }
  EXPECT_TRUE(t.holds_.empty()) << "4 moves, all asked for";
  // Moves the operator did not ask for count.
  std::erase_if(locs, [](const LocationConstraint& l) { return l.is_move(); });
  t.crash_n1();  // n1 -> n2: 1, not more than 1
  EXPECT_TRUE(t.holds_.empty());
  t.back_n1();  // failback n2 -> n1: 2
  EXPECT_EQ(t.holds_.size(), 1u);
}

// The coordinator ticks on every datagram; the scheduler runs again only when what it plans
// from changed (an input, the membership, the cluster state) or a heartbeat interval on.
TEST(ConductorPlans, AnUnchangedClusterIsNotPlannedAgain) {
  TwoNodes t("{}");
  t.settle();
  ASSERT_EQ(t.where(), "n1");
  const std::uint64_t settled = t.c_.plans();
  const Duration ms = std::chrono::milliseconds{1};
  t.c_.tick(t.m_, t.now_);
  t.m_.echo = {7, 9};  // heartbeats came: no plan reads them
  t.c_.tick(t.m_, t.now_ + 5 * ms);
  EXPECT_EQ(t.c_.plans(), settled);
  t.report(0);  // an input: planned again at the next tick
  t.c_.tick(t.m_, t.now_ + 6 * ms);
  EXPECT_EQ(t.c_.plans(), settled + 1);
  t.c_.tick(t.m_, t.now_ + 7 * ms);
  EXPECT_EQ(t.c_.plans(), settled + 1);
  t.c_.tick(t.m_, t.now_ + 106 * ms);  // a heartbeat interval since the last plan
  EXPECT_EQ(t.c_.plans(), settled + 1);
  t.c_.tick(t.m_, t.now_ + 6 * ms + Conductor::kReplanEvery);  // planned again all the same
  EXPECT_EQ(t.c_.plans(), settled + 2);
  t.m_.up[0] = false;  // n1 lost (its lease known over): planned at once, the vip moves
  t.c_.tick(t.m_, t.now_ + 7 * ms + Conductor::kReplanEvery);
  EXPECT_EQ(t.c_.plans(), settled + 3);
  const auto sent = t.c_.take_requests();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].first, NodeId{1});
  EXPECT_EQ(sent[0].second.kind, RequestKind::kStart);
}

// A failure count is forgotten failure_timeout after the failure, which may let the resource
// back: the plan asks to be woken then, so an unchanged cluster is not planned too late.
TEST(ConductorPlans, AFailureAsksForAWakeWhenItIsForgotten) {
  TwoNodes t("{failure_timeout: 30s}");
  t.settle();
  ResourceEntry e;
  e.role = ResourceRole::kStarted;
  e.probed = true;
  e.fail_count = 1;
  e.failure_age_ms = 1000;
  t.c_.on_report(NodeId{0}, ResourceReport{t.m_.term, t.loaded_.config.config_id, 99, 0, 1, {e}});
  t.c_.tick(t.m_, t.now_);
  const auto wake = t.c_.next_deadline();
  ASSERT_TRUE(wake.has_value());
  EXPECT_EQ(*wake, t.now_ + std::chrono::seconds{29});
}

// A location rule reads the node attributes in force: when one changes, the cluster state
// changes with it, so the coordinator plans again at its next tick (as for promotion scores)
// and the resource leaves a node where the rule now holds.
TEST(ConductorPlans, AnAttributeChangeMovesAResourceByItsRule) {
  TwoNodes t("{stickiness: 0}",
             "{resource: ip, rule: \"not_defined pingd or pingd lte 0\", score: -inf}");
  t.settle();
  EXPECT_EQ(t.where(), "nowhere") << "no node has pingd yet";
  t.c_.set_attributes({{{"pingd", "1"}}, {{"pingd", "1"}}});
  t.settle();
  ASSERT_EQ(t.where(), "n1");
  const std::uint64_t settled = t.c_.plans();
  t.c_.tick(t.m_, t.now_);
  EXPECT_EQ(t.c_.plans(), settled) << "nothing changed: not planned again";
  t.c_.set_attributes({{{"pingd", "0"}}, {{"pingd", "1"}}});
  t.settle();
  EXPECT_GT(t.c_.plans(), settled);
  EXPECT_EQ(t.where(), "n2");
}

}  // namespace
}  // namespace hactl
