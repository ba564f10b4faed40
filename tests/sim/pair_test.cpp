// A server pair with an arbiter (docs/pairs.md), scripted on the simulated cluster: a crash
// moves the vip as fast as in a three-node cluster, a cut link leaves it on exactly one side
// (the side the arbiter backs), losing the arbiter alone changes nothing, and losing it before a
// split stops both sides. The simulation's checker runs after every event (never two holders,
// no lease taken as over while it runs).
#include <gtest/gtest.h>

#include <iostream>
#include <optional>
#include <vector>

#include "sim/simulator.hpp"

namespace hactl::sim {
namespace {

constexpr RealTime kMs = 1000;
constexpr std::size_t kVip = 0;  // web-ip
constexpr std::size_t kApp = 1;  // web-app

SimOptions pair(bool arbiter = true, RealTime node_timeout_ms = 300) {
  SimOptions o;
  o.timing.node_timeout = std::chrono::milliseconds{node_timeout_ms};
  o.nodes = arbiter ? 2 : 3;
  o.arbiter = arbiter;
  o.max_drift_ppm = 0;
  o.max_delay = 100;  // 50..149 us per datagram
  o.resources_yaml = R"(resources:
  - id: web-ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
    ops: {monitor: {interval: 500ms}}
  - id: web-app
    type: ocf:heartbeat:Dummy
    ops: {monitor: {interval: 1s}, stop: {timeout: 2s}}
groups:
  - id: web
    members: [web-ip, web-app]
constraints:
  location:
    - {resource: web, node: n1, score: 100}
)";
  return o;
}

std::vector<std::size_t> holders(const Simulation& sim, std::size_t prim, std::size_t nodes) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < nodes; ++i) {
    if (sim.actual(i, prim) != ResourceRole::kStopped) out.push_back(i);
  }
  return out;
}

class Pair : public ::testing::Test {
 protected:
  // Starts the pair and waits (bounded) until the group runs on n1.
  static void start(Simulation& sim) {
    sim.start_all();
    for (int i = 0; i < 200 && holders(sim, kApp, 2) != std::vector<std::size_t>{0}; ++i) {
      sim.run_for(50 * kMs);
    }
    ASSERT_TRUE(sim.result().ok) << sim.result().failure;
    ASSERT_EQ(holders(sim, kVip, 2), std::vector<std::size_t>{0});
    ASSERT_EQ(holders(sim, kApp, 2), std::vector<std::size_t>{0});
    sim.run_for(2000 * kMs);  // past the start's claims: the arbiter is held by nobody
  }
  // Runs in 1 ms steps until the vip runs on `node`; the time it took (or -1 past `bound`).
  static RealTime until_vip_on(Simulation& sim, std::size_t node, RealTime bound) {
    const RealTime from = sim.now();
    while (sim.now() - from <= bound && sim.result().ok) {
      if (holders(sim, kVip, 2) == std::vector<std::size_t>{node}) return sim.now() - from;
      sim.run_for(kMs);
    }
    return -1;
  }
};

// The holder's crash: the survivor asks the arbiter after one missed heartbeat, and has its
// answer (a grant, and the release of the crashed node) before node_timeout: the vip moves as in
// a three-node cluster. With the arbiter 25 ms away (50 ms round trip) nothing changes; at 100 ms
// each way the claim's answer comes after node_timeout and the move waits for it.
TEST_F(Pair, AHoldersCrashMovesTheVipAsFastAsInAThreeNodeCluster) {
  const auto three_nodes = [](RealTime node_timeout_ms) {
    Simulation sim(pair(false, node_timeout_ms), 1);
    start(sim);
    sim.crash(0);
    const RealTime t = until_vip_on(sim, 1, 2000 * kMs);
    EXPECT_TRUE(sim.result().ok) << sim.result().failure;
    return t;
  };
  for (const RealTime one_way : {RealTime{0}, 25 * kMs, 100 * kMs}) {
    // An arbiter 200 ms away needs node_timeout >= 2 x its round trip + an interval (the
    // config says so): an election through it must be answered within the vote's lease.
    const RealTime timeout_ms = one_way < 100 * kMs ? 300 : 500;
    const RealTime three = three_nodes(timeout_ms);
    Simulation sim(pair(true, timeout_ms), 1);
    sim.set_place_delay(*sim.arbiter_index(), one_way);
    start(sim);
    sim.crash(0);
    const RealTime t = until_vip_on(sim, 1, 2000 * kMs);
    ASSERT_TRUE(sim.result().ok) << sim.result().failure;
    std::cout << "vip failover after the holder's crash, node_timeout " << timeout_ms
              << " ms: three nodes " << three / kMs << " ms, pair with the arbiter at "
              << 2 * one_way / kMs << " ms round trip " << t / kMs << " ms\n";
    ASSERT_GT(t, 0);
    EXPECT_LE(t, three + 10 * kMs);
  }
}

// The same when the holder is also the coordinator: the survivor must be elected first, and the
// arbiter's vote costs its round trip (the pre-vote is skipped by a node the arbiter backs).
TEST_F(Pair, ACoordinatingHoldersCrashCostsTheElectionsRoundTripToTheArbiter) {
  const auto crash_coordinator = [](Simulation& sim) {
    sim.hand_over(1, 0);  // n2 asks its coordinator (or n1 itself) to hand over to n1
    sim.run_for(500 * kMs);
    ASSERT_EQ(sim.agreed(), NodeId{0});
    sim.crash(0);
  };
  for (const RealTime one_way : {RealTime{0}, 25 * kMs, 100 * kMs}) {
    const RealTime timeout_ms = one_way < 100 * kMs ? 300 : 500;
    Simulation three(pair(false, timeout_ms), 1);
    start(three);
    crash_coordinator(three);
    const RealTime t3 = until_vip_on(three, 1, 3000 * kMs);
    Simulation sim(pair(true, timeout_ms), 1);
    sim.set_place_delay(*sim.arbiter_index(), one_way);
    start(sim);
    crash_coordinator(sim);
    const RealTime t = until_vip_on(sim, 1, 3000 * kMs);
    ASSERT_TRUE(sim.result().ok) << sim.result().failure;
    ASSERT_TRUE(three.result().ok) << three.result().failure;
    std::cout << "vip failover after the coordinating holder's crash, node_timeout " << timeout_ms
              << " ms: three nodes " << t3 / kMs << " ms, pair with the arbiter at "
              << 2 * one_way / kMs << " ms round trip " << t / kMs << " ms\n";
    ASSERT_GT(t, 0);
    EXPECT_LE(t, t3 + 2 * one_way + 110 * kMs);  // its vote's round trip, and the jitter
  }
}

// The survivor keeps what it runs through its peer's crash: the arbiter's grant reaches it
// before the lease its peer backed runs out.
TEST_F(Pair, TheSurvivorOfAPeersCrashKeepsItsOwnResources) {
  const std::pair<RealTime, RealTime> cases[] = {{0, 300}, {25 * kMs, 300}, {100 * kMs, 500}};
  for (const auto& [one_way, timeout_ms] : cases) {
    Simulation sim(pair(true, timeout_ms), 2);
    sim.set_place_delay(*sim.arbiter_index(), one_way);
    start(sim);
    const std::size_t actions = sim.result().actions;
    sim.crash(1);
    for (int i = 0; i < 3000; ++i) {
      sim.run_for(kMs);
      ASSERT_EQ(holders(sim, kVip, 2), std::vector<std::size_t>{0}) << "at " << i << " ms";
      ASSERT_EQ(holders(sim, kApp, 2), std::vector<std::size_t>{0}) << "at " << i << " ms";
    }
    ASSERT_TRUE(sim.result().ok) << sim.result().failure;
    EXPECT_EQ(sim.result().actions, actions) << "nothing stopped or started on n1";
    EXPECT_TRUE(sim.node(0)->has_quorum(sim.local_now(0)));
    ASSERT_NE(sim.arbiter(), nullptr);
    EXPECT_EQ(sim.arbiter()->status(sim.local_now(2)).holder, "n1");
  }
}

// The link between the pair cut, the arbiter heard by both: each side asks, the arbiter backs the
// first, and the other loses its lease. The vip is on exactly one side at every instant (the
// checker), and after the cut everything runs on the side the arbiter backs.
TEST_F(Pair, ACutLinkLeavesEverythingOnTheSideThatRunsItAndTheArbiterBacks) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    Simulation sim(pair(), seed);
    start(sim);
    sim.block(0, 1);
    sim.block(1, 0);
    sim.run_for(6000 * kMs);  // past the takeover delay of web-app
    ASSERT_TRUE(sim.result().ok) << sim.result().failure;
    ASSERT_NE(sim.arbiter(), nullptr);
    const std::string holder = sim.arbiter()->status(sim.local_now(2)).holder;
    ASSERT_TRUE(holder == "n1" || holder == "n2") << holder;
    const std::size_t winner = holder == "n1" ? 0 : 1;
    // The side that runs the group asks first (its peer waits a quarter interval more), so
    // nothing moves.
    EXPECT_EQ(winner, 0u) << "seed " << seed;
    EXPECT_EQ(holders(sim, kVip, 2), std::vector<std::size_t>{winner}) << "seed " << seed;
    EXPECT_EQ(holders(sim, kApp, 2), std::vector<std::size_t>{winner}) << "seed " << seed;
    EXPECT_TRUE(sim.node(winner)->has_quorum(sim.local_now(winner)));
    EXPECT_FALSE(sim.node(1 - winner)->has_quorum(sim.local_now(1 - winner)));
    sim.heal_network();
    sim.run_for(3000 * kMs);
    ASSERT_TRUE(sim.result().ok) << sim.result().failure;
    EXPECT_TRUE(sim.agreed().has_value());
  }
}

// The arbiter lost while both nodes are fine: nothing moves, nothing stops, and both nodes see
// it unreachable.
TEST_F(Pair, LosingTheArbiterAloneChangesNothing) {
  Simulation sim(pair(), 3);
  start(sim);
  const std::size_t actions = sim.result().actions;
  const auto coordinator = sim.agreed();
  ASSERT_TRUE(coordinator);
  sim.crash(*sim.arbiter_index());
  sim.run_for(10'000 * kMs);
  ASSERT_TRUE(sim.result().ok) << sim.result().failure;
  EXPECT_EQ(sim.result().actions, actions);
  EXPECT_EQ(sim.agreed(), coordinator);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto s = sim.node(i)->status(sim.local_now(i));
    ASSERT_TRUE(s.arbiter.has_value());
    EXPECT_FALSE(s.arbiter->reachable) << "n" << i + 1;
    EXPECT_TRUE(s.quorum);
  }
  EXPECT_EQ(holders(sim, kVip, 2), std::vector<std::size_t>{0});
  sim.restart(*sim.arbiter_index());
  sim.run_for(3000 * kMs);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(sim.node(i)->status(sim.local_now(i)).arbiter->reachable) << "n" << i + 1;
  }
}

// The arbiter lost, then the link cut: neither side can tell whether the other runs, so both
// give everything up within their lease (the docs say why: a pair without a third vote must).
TEST_F(Pair, LosingTheArbiterAndThenTheLinkStopsBothSides) {
  Simulation sim(pair(), 4);
  start(sim);
  sim.crash(*sim.arbiter_index());
  sim.run_for(1000 * kMs);
  sim.block(0, 1);
  sim.block(1, 0);
  sim.run_for(1000 * kMs);
  ASSERT_TRUE(sim.result().ok) << sim.result().failure;
  EXPECT_FALSE(sim.node(0)->has_quorum(sim.local_now(0)));
  EXPECT_FALSE(sim.node(1)->has_quorum(sim.local_now(1)));
  EXPECT_TRUE(holders(sim, kVip, 2).empty());
}

// A restarted arbiter backs nobody for a promise: a split right after its restart stops both
// sides until then, and the first to ask afterwards keeps everything.
TEST_F(Pair, ASplitRightAfterTheArbiterRestartedIsDecidedOnceItsPromiseRanOut) {
  Simulation sim(pair(), 5);
  start(sim);
  sim.crash(*sim.arbiter_index());
  sim.restart(*sim.arbiter_index());
  sim.block(0, 1);
  sim.block(1, 0);
  sim.run_for(6000 * kMs);
  ASSERT_TRUE(sim.result().ok) << sim.result().failure;
  const std::string holder = sim.arbiter()->status(sim.local_now(2)).holder;
  ASSERT_TRUE(holder == "n1" || holder == "n2") << holder;
  const std::size_t winner = holder == "n1" ? 0 : 1;
  EXPECT_EQ(holders(sim, kVip, 2), std::vector<std::size_t>{winner});
}

// The checker must be able to fail: an arbiter that backs both sides of a split (no hold)
// releases each to the other while it still runs.
TEST_F(Pair, CheckerCatchesAnArbiterThatBacksBothSides) {
  std::string example;
  for (std::uint64_t seed = 1; seed <= 20 && example.empty(); ++seed) {
    SimOptions o = pair();
    o.unsafe_arbiter = true;
    Simulation sim(o, seed);
    sim.start_all();
    sim.run_for(3000 * kMs);
    sim.block(0, 1);
    sim.block(1, 0);
    sim.run_for(6000 * kMs);
    if (!sim.result().ok) example = sim.result().failure.substr(0, sim.result().failure.find('\n'));
  }
  EXPECT_FALSE(example.empty()) << "an arbiter backing both sides of 20 splits, nothing seen";
  std::cout << "arbiter backing both sides caught: " << example << "\n";
}

}  // namespace
}  // namespace hactl::sim
