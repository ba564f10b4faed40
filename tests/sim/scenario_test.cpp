// Scripted fault scenarios on the simulated cluster: the behaviours the design promises, one
// test each, with zero drift and fixed small delays so every step is exact.
#include <gtest/gtest.h>

#include <variant>
#include <vector>

#include "coordinator/intents.hpp"
#include "sim/simulator.hpp"

namespace hactl::sim {
namespace {

constexpr RealTime kMs = 1000;

SimOptions exact(std::size_t nodes, std::size_t witnesses = 0) {
  SimOptions o;
  o.nodes = nodes;
  o.witnesses = witnesses;
  o.max_drift_ppm = 0;
  o.max_delay = 100;  // 50..149 us per datagram
  return o;
}

std::size_t index(NodeId id) { return id.value; }

class Scenario : public ::testing::Test {
 protected:
  void expect_safe(const Simulation& sim) { ASSERT_TRUE(sim.result().ok) << sim.result().failure; }
  // Starts every node and gives them a second: the coordinator they agreed on, if any.
  static std::optional<NodeId> start_and_agree(Simulation& sim) {
    sim.start_all();
    sim.run_for(1000 * kMs);
    return sim.agreed();
  }
  // The nodes that hold a coordinator lease now (a crashed node holds none).
  static std::vector<std::size_t> lease_holders(const Simulation& sim, std::size_t nodes) {
    std::vector<std::size_t> out;
    for (std::size_t n = 0; n < nodes; ++n) {
      const ElectionCore* node = sim.node(n);
      if (node != nullptr && node->holds_coordinator_lease(sim.local_now(n))) out.push_back(n);
    }
    return out;
  }
};

TEST_F(Scenario, ThreeNodesElectOneCoordinatorAfterTheBootPromise) {
  Simulation sim(exact(3), 1);
  sim.start_all();
  sim.run_for(290 * kMs);  // nobody may vote during the first node_timeout after boot
  EXPECT_FALSE(sim.agreed());
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(sim.node(i)->term(), Term{0});
  sim.run_for(400 * kMs);
  expect_safe(sim);
  ASSERT_TRUE(sim.agreed());
  EXPECT_EQ(sim.node(index(*sim.agreed()))->term(), Term{1});
}

TEST_F(Scenario, CoordinatorCrashIsReplacedWithinNodeTimeoutPlusJitter) {
  Simulation sim(exact(3), 2);
  const auto first = start_and_agree(sim);
  ASSERT_TRUE(first);
  const Term before = sim.node(index(*first))->term();
  sim.crash(index(*first));
  const RealTime crashed_at = sim.now();
  std::optional<NodeId> next;
  for (int i = 0; i < 100 && !next; ++i) {
    sim.run_for(5 * kMs);
    // Only the survivors count: the crashed node has no opinion.
    for (const std::size_t n : lease_holders(sim, 3)) next = sim.node(n)->self();
  }
  expect_safe(sim);
  ASSERT_TRUE(next);
  EXPECT_NE(*next, *first);
  EXPECT_GT(sim.node(index(*next))->term(), before);
  // node_timeout 300 ms + jitter up to 100 ms + two round trips.
  EXPECT_LE(sim.now() - crashed_at, 410 * kMs);
}

TEST_F(Scenario, IsolatedCoordinatorStepsDownWithinItsLeaseAndMajorityMovesOn) {
  Simulation sim(exact(3), 3);
  const auto first = start_and_agree(sim);
  ASSERT_TRUE(first);
  const std::size_t old = index(*first);
  sim.isolate(old);
  sim.run_for(300 * kMs);  // lease is 296 ms from the last acknowledged ping
  expect_safe(sim);
  EXPECT_FALSE(sim.node(old)->has_quorum(sim.local_now(old)));
  EXPECT_NE(sim.node(old)->role(), Role::kCoordinator);
  sim.run_for(300 * kMs);
  std::size_t coordinators = 0;
  for (std::size_t n = 0; n < 3; ++n) {
    if (n != old && sim.node(n)->role() == Role::kCoordinator) ++coordinators;
  }
  EXPECT_EQ(coordinators, 1u);
  // The cut-off node keeps its term: pre-votes fail, so it never disrupts the others on return.
  const Term isolated_term = sim.node(old)->term();
  sim.run_for(2000 * kMs);
  EXPECT_EQ(sim.node(old)->term(), isolated_term);
  sim.heal_network();
  sim.run_for(500 * kMs);
  expect_safe(sim);
  ASSERT_TRUE(sim.agreed());
  EXPECT_NE(*sim.agreed(), *first);
}

TEST_F(Scenario, RejoiningFollowerDoesNotDisruptTheCoordinator) {
  // Many seeds: whether the returning node first hears a heartbeat or first sends a pre-vote
  // depends on timing, and both orders must leave the coordinator alone.
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    Simulation sim(exact(5), seed);
    const auto leader = start_and_agree(sim);
    ASSERT_TRUE(leader);
    const std::size_t follower = (index(*leader) + 1) % 5;
    const Term term = sim.node(index(*leader))->term();
    sim.isolate(follower);
    sim.run_for(3000 * kMs + static_cast<RealTime>(seed) * 7 * kMs);
    sim.heal_network();
    sim.run_for(1000 * kMs);
    expect_safe(sim);
    EXPECT_EQ(sim.agreed(), leader) << "seed " << seed;
    EXPECT_EQ(sim.node(index(*leader))->term(), term) << "seed " << seed;
  }
}

TEST_F(Scenario, TwoNodesAndWitnessSurviveTheLossOfEitherServer) {
  for (std::size_t victim = 0; victim < 2; ++victim) {
    Simulation sim(exact(3, 1), 5 + victim);
    ASSERT_TRUE(start_and_agree(sim));
    EXPECT_NE(index(*sim.agreed()), 2u) << "the witness must never coordinate";
    sim.crash(victim);
    sim.run_for(1000 * kMs);
    expect_safe(sim);
    const std::size_t survivor = 1 - victim;
    EXPECT_EQ(sim.node(survivor)->role(), Role::kCoordinator);
    EXPECT_TRUE(sim.node(2)->has_quorum(sim.local_now(2)));
  }
}

TEST_F(Scenario, TwoNodesWithoutWitnessCannotFailOver) {
  Simulation sim(exact(2), 7);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  sim.crash(1 - index(*leader));
  sim.run_for(1000 * kMs);
  expect_safe(sim);
  // Majority of two is two: the survivor cannot tell a dead peer from a cut link.
  EXPECT_FALSE(sim.node(index(*leader))->has_quorum(sim.local_now(index(*leader))));
}

TEST_F(Scenario, PausedCoordinatorWakesWithoutALease) {
  Simulation sim(exact(3), 8);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  const std::size_t old = index(*leader);
  sim.pause(old, 2000 * kMs);  // SIGSTOP for two seconds
  sim.run_for(1000 * kMs);
  expect_safe(sim);
  EXPECT_FALSE(sim.node(old)->holds_coordinator_lease(sim.local_now(old)));
  sim.run_for(1500 * kMs);  // wakes, reads its queue of stale datagrams, follows the new term
  expect_safe(sim);
  ASSERT_TRUE(sim.agreed());
  EXPECT_NE(*sim.agreed(), *leader);
}

TEST_F(Scenario, OneWayLinkLossFromCoordinatorIsSurvived) {
  Simulation sim(exact(3), 9);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  const std::size_t c = index(*leader);
  // The coordinator still hears everyone but nobody hears it.
  for (std::size_t n = 0; n < 3; ++n) {
    if (n != c) sim.block(c, n);
  }
  sim.run_for(2000 * kMs);
  expect_safe(sim);
  const auto holders = lease_holders(sim, 3);
  ASSERT_EQ(holders.size(), 1u);
  EXPECT_NE(holders[0], c);
}

// docs/design.md, "Quorum lease": a follower's right to run is granted by its peers, not by
// the coordinator. Crash the coordinator: each follower keeps one unbroken lease (same start,
// valid at every millisecond) through the election of the next one.
TEST_F(Scenario, CoordinatorCrashLeavesEveryFollowerItsLease) {
  Simulation sim(exact(3), 11);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  std::vector<std::optional<Instant>> since(3);
  for (std::size_t n = 0; n < 3; ++n) since[n] = sim.node(n)->lease_since();
  sim.crash(index(*leader));
  for (int ms = 0; ms < 1500; ++ms) {
    sim.run_for(kMs);
    for (std::size_t n = 0; n < 3; ++n) {
      if (n == index(*leader)) continue;
      ASSERT_TRUE(sim.node(n)->has_quorum(sim.local_now(n))) << "n" << n + 1 << " at +" << ms;
      ASSERT_EQ(sim.node(n)->lease_since(), since[n]) << "its lease was broken";
    }
  }
  expect_safe(sim);
  EXPECT_EQ(lease_holders(sim, 3).size(), 1u) << "a survivor leads";
}

// docs/design.md, "Releases": a cut-off node's lease is taken as over only once it is over,
// and soon after (node_timeout plus a round trip after its last heartbeat).
TEST_F(Scenario, ACutOffNodeIsReleasedAfterItsLeaseEndedAndNotBefore) {
  Simulation sim(exact(3), 12);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  const std::size_t c = index(*leader);
  const std::size_t f = (c + 1) % 3;
  sim.isolate(f);
  const RealTime cut = sim.now();
  std::optional<RealTime> released;
  for (int ms = 0; ms < 1000 && !released; ++ms) {
    sim.run_for(kMs);
    if (sim.node(c)->lease_released_at(NodeId{static_cast<std::uint16_t>(f)}, sim.local_now(c))) {
      released = sim.now();
      EXPECT_FALSE(sim.node(f)->has_quorum(sim.local_now(f)));
    }
  }
  expect_safe(sim);
  ASSERT_TRUE(released);
  // node_timeout after the last heartbeat heard, which came up to a heartbeat before the cut
  EXPECT_GE(*released - cut, 195 * kMs);
  EXPECT_LE(*released - cut, 310 * kMs);
}

// A node cut off from the coordinator alone still exchanges heartbeats with a majority: it
// keeps its lease, so its release never comes and what it runs stays.
TEST_F(Scenario, ANodeCutOffFromTheCoordinatorAloneKeepsItsLease) {
  Simulation sim(exact(3), 13);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  const std::size_t c = index(*leader);
  const std::size_t f = (c + 1) % 3;
  sim.block(c, f);
  sim.block(f, c);
  sim.run_for(3000 * kMs);
  expect_safe(sim);
  EXPECT_TRUE(sim.node(f)->has_quorum(sim.local_now(f)));
  for (std::size_t n = 0; n < 3; ++n) {
    EXPECT_FALSE(
        sim.node(n)->lease_released_at(NodeId{static_cast<std::uint16_t>(f)}, sim.local_now(n)));
  }
}

// Planned handover (Raft thesis 3.10): the coordinator steps down and its successor is elected
// within a round trip, with no pre-vote and no wait for the voters' promises; nobody's lease
// breaks meanwhile.
TEST_F(Scenario, HandoverElectsTheTargetWithinARoundTrip) {
  Simulation sim(exact(3), 14);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  const std::size_t c = index(*leader);
  const std::size_t target = (c + 2) % 3;
  const Term before = sim.node(c)->term();
  std::vector<std::optional<Instant>> since(3);
  for (std::size_t n = 0; n < 3; ++n) since[n] = sim.node(n)->lease_since();
  sim.hand_over(c, target);
  EXPECT_NE(sim.node(c)->role(), Role::kCoordinator) << "steps down first";
  sim.run_for(2 * kMs);
  expect_safe(sim);
  EXPECT_EQ(sim.node(target)->role(), Role::kCoordinator);
  EXPECT_TRUE(sim.node(target)->holds_coordinator_lease(sim.local_now(target)));
  EXPECT_EQ(sim.node(target)->term(), before.next());
  sim.run_for(500 * kMs);
  expect_safe(sim);
  ASSERT_TRUE(sim.agreed());
  EXPECT_EQ(index(*sim.agreed()), target);
  for (std::size_t n = 0; n < 3; ++n) EXPECT_EQ(sim.node(n)->lease_since(), since[n]);
}

// A handover asked of a follower goes to its coordinator; one to a node that cannot take over
// (down) changes nothing.
TEST_F(Scenario, HandoverAskedOfAFollowerOrToADownNode) {
  Simulation sim(exact(3), 15);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  const std::size_t c = index(*leader);
  const std::size_t down = (c + 1) % 3;
  sim.crash(down);
  sim.run_for(500 * kMs);
  sim.hand_over(c, down);
  sim.run_for(50 * kMs);
  EXPECT_EQ(sim.node(c)->role(), Role::kCoordinator) << "a down node cannot take over";
  sim.restart(down);
  sim.run_for(1000 * kMs);
  ASSERT_EQ(sim.agreed(), leader);
  const std::size_t follower = (c + 2) % 3;
  EXPECT_EQ(sim.node(follower)->role(), Role::kFollower);
  sim.hand_over(follower);
  sim.run_for(5 * kMs);
  expect_safe(sim);
  const auto now_leads = sim.agreed();
  ASSERT_TRUE(now_leads);
  EXPECT_NE(*now_leads, *leader);
}

// `hactl node standby` of the coordinator's own node: once a majority stored it, the runtime
// hands the role over (the rule the agent and the simulator share), to a node not in standby.
TEST_F(Scenario, StandbyOfTheCoordinatorsNodeHandsTheRoleOver) {
  SimOptions o = exact(3);
  o.documents = true;
  Simulation sim(o, 7);
  const auto first = start_and_agree(sim);
  ASSERT_TRUE(first);
  const std::size_t c = index(*first);
  const std::size_t asker = (c + 1) % 3;
  ClusterDoc next = sim.runtime(asker)->doc();
  next.standby = {"n" + std::to_string(c + 1)};
  sim.propose(asker, next);
  std::optional<NodeId> now_agreed;
  for (int i = 0; i < 100; ++i) {
    sim.run_for(5 * kMs);
    now_agreed = sim.agreed();
    if (now_agreed && *now_agreed != *first) break;
  }
  expect_safe(sim);
  ASSERT_TRUE(now_agreed);
  EXPECT_NE(*now_agreed, *first);
  EXPECT_EQ(sim.runtime(c)->doc().standby, next.standby);
  // Handed over, not lost: the old coordinator's term ended by its own step down.
  EXPECT_EQ(sim.node(index(*now_agreed))->term().value, sim.node(c)->term().value);
}

// The same when the node the coordinator would pick first stores documents slowly (a slow
// disk): the role goes to a node that has stored the standby's version. Handed to the slow one,
// it asked for votes with the older version on its disk, the other voter refused it, and the
// cluster waited for an election (0.3 s without a coordinator; test_coordinator_loss saw 0.33 s
// without its VIP).
TEST_F(Scenario, StandbyHandsTheRoleToANodeThatStoredTheDocument) {
  SimOptions o = exact(3);
  o.documents = true;
  Simulation sim(o, 7);
  const auto first = start_and_agree(sim);
  ASSERT_TRUE(first);
  const std::size_t c = index(*first);
  // The peer the coordinator would pick: the shortest round trip, the lowest index first.
  std::size_t slow = c;
  Duration best = Duration::max();
  for (const auto& p : sim.node(c)->status(sim.local_now(c)).peers) {
    const Duration rtt = p.rtt.value_or(Duration::max());
    if (p.id.value != c && (slow == c || rtt < best)) {
      slow = p.id.value;
      best = rtt;
    }
  }
  ASSERT_NE(slow, c);
  const std::size_t asker = 3 - c - slow;
  sim.set_store_delay(slow, 300 * kMs);
  ClusterDoc next = sim.runtime(asker)->doc();
  next.standby = {"n" + std::to_string(c + 1)};
  sim.propose(asker, next);
  std::optional<NodeId> now_agreed;
  for (int i = 0; i < 40; ++i) {  // 200 ms: less than the slow store
    sim.run_for(5 * kMs);
    now_agreed = sim.agreed();
    if (now_agreed && *now_agreed != *first) break;
  }
  expect_safe(sim);
  ASSERT_TRUE(now_agreed);
  EXPECT_EQ(index(*now_agreed), asker);
  EXPECT_EQ(sim.node(asker)->term().value, sim.node(c)->term().value);  // handed over
}

// A new coordinator's first document version reaches every follower at once: its heartbeat
// (which tells them who leads) leaves before its chunks, which they would refuse otherwise and
// get only at the resend, hundreds of milliseconds later.
TEST_F(Scenario, FollowersHoldTheNewCoordinatorsDocumentWithinARoundTrip) {
  SimOptions o = exact(3);
  o.documents = true;
  Simulation sim(o, 3);
  sim.start_all();
  std::optional<NodeId> c;
  for (int i = 0; i < 2000 && !c; ++i) {
    sim.run_for(1 * kMs);
    if (const ElectionCore* n = sim.node(0); n != nullptr && n->coordinator()) c = n->coordinator();
  }
  ASSERT_TRUE(c);
  sim.run_for(5 * kMs);  // a round trip is under 0.3 ms here
  expect_safe(sim);
  const DocVersion v = sim.runtime(index(*c))->replica()->doc().version;
  EXPECT_EQ(v.term, sim.node(index(*c))->term());
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sim.runtime(i)->replica()->doc().version, v) << "n" << i + 1;
  }
}

// A slow path (a round trip of 160 ms, past coordinator_lease - 1.5 h = 146 ms at default
// timing) must not bring the quorum lease within the vip's margin between echoes: heartbeats go
// out more often, so every node keeps more than h/2 of lease at every instant (below it the vip
// is given up; a little slower, the whole lease lapses and everything stops and starts, every
// cycle).
TEST_F(Scenario, ALeaseOverASlowPathIsKeptWithTheVipsMargin) {
  Simulation sim(exact(3), 11);
  ASSERT_TRUE(start_and_agree(sim));
  sim.set_delay(80 * kMs, 2 * kMs);
  sim.run_for(2000 * kMs);
  expect_safe(sim);
  const auto coordinator = sim.agreed();
  ASSERT_TRUE(coordinator);
  Duration least = Duration::max();
  for (int step = 0; step < 3000; ++step) {
    sim.run_for(1 * kMs);
    for (std::size_t i = 0; i < 3; ++i) {
      const auto until = sim.node(i)->lease_until();
      ASSERT_TRUE(until) << "n" << i + 1 << " without a lease at " << sim.now() / kMs << " ms";
      least = std::min(least, *until - sim.local_now(i));
    }
  }
  expect_safe(sim);
  EXPECT_GT(least, std::chrono::milliseconds(50));
  EXPECT_EQ(sim.agreed(), coordinator);
}

// Heartbeats in one burst (docs/design.md): nodes started at scattered instants, so their
// heartbeat timers start out of phase, send their heartbeats within a few milliseconds of each
// other once the cluster has run a little: one burst per interval, not one per node.
TEST_F(Scenario, HeartbeatsFallIntoOneBurstPerInterval) {
  Simulation sim(exact(5), 12);
  for (std::size_t i = 0; i < 5; ++i) {
    sim.restart(i);
    sim.run_for(static_cast<RealTime>(7 + 19 * i) * kMs);  // phases 7, 26, 45, 64 ms apart
  }
  sim.run_for(2000 * kMs);
  ASSERT_TRUE(sim.agreed());
  std::vector<RealTime> sent;  // when a node's own (not answering) heartbeats went out
  sim.observe([&sent](RealTime t, NodeId, NodeId, const Message& m) {
    if (const auto* hb = std::get_if<Heartbeat>(&m); hb != nullptr && !hb->reply) sent.push_back(t);
  });
  sim.run_for(1000 * kMs);
  expect_safe(sim);
  ASSERT_FALSE(sent.empty());
  std::size_t bursts = 1;  // runs of sends each within 10 ms of the one before
  for (std::size_t k = 1; k < sent.size(); ++k) {
    if (sent[k] - sent[k - 1] > 10 * kMs) ++bursts;
  }
  // 10 intervals in the window, one burst each (11 if the window splits one); out of phase, as
  // they started, the five nodes would send in 50.
  EXPECT_LE(bursts, 11U) << sent.size() << " heartbeats";
}

// A restarted node keeps the vote it cast in its term (Raft's votedFor survives a restart):
// asked again in that term by another candidate, once every promise it made has run out (so
// only the vote can hold it back), it refuses. Its answer is what counts, not the copy of its
// hard state the simulator hands back at the restart.
TEST_F(Scenario, RestartedNodeRemembersItsVote) {
  Simulation sim(exact(3), 10);
  const auto leader = start_and_agree(sim);
  ASSERT_TRUE(leader);
  std::optional<std::size_t> f;  // a follower that voted in the leader's term
  for (std::size_t n = 0; n < 3; ++n) {
    if (n != index(*leader) && sim.node(n)->hard_state().voted_for) f = n;
  }
  ASSERT_TRUE(f) << "no follower voted: the scenario proves nothing";
  const HardState before = sim.node(*f)->hard_state();
  ASSERT_EQ(before.term, sim.node(index(*leader))->term());
  std::size_t other = 0;  // a candidate it did not vote for
  while (other == *f || other == before.voted_for->value) ++other;
  sim.crash(*f);
  sim.restart(*f);
  sim.isolate(*f);         // nothing renews a promise or brings a newer term
  sim.run_for(700 * kMs);  // past its boot promise (node_timeout, 300 ms)
  ASSERT_EQ(sim.node(*f)->term(), before.term) << "pre-votes alone never raise the term";
  std::optional<VoteResponse> answer;
  sim.observe([&](RealTime, NodeId from, NodeId to, const Message& m) {
    const auto* r = std::get_if<VoteResponse>(&m);
    if (r != nullptr && from.value == *f && to.value == other) answer = *r;
  });
  sim.inject(other, *f, VoteRequest{before.term, 77, sim.node(*f)->doc_version()});
  ASSERT_TRUE(answer) << "no answer: something else held the vote back";
  EXPECT_EQ(answer->term, before.term);
  EXPECT_FALSE(answer->granted) << "voted twice in term " << before.term.value;
  EXPECT_EQ(sim.node(*f)->hard_state(), before);
  sim.heal_network();
  sim.run_for(1000 * kMs);
  expect_safe(sim);
  EXPECT_EQ(sim.agreed(), leader);
}

// `hactl resource restart`: the sequence lives in the document and the coordinator's runtime
// carries it on (the rule the agent and the simulator share), with no client. The resource
// stops everywhere, the coordinator's agent crashes at that moment, and the next coordinator
// still ends the sequence: the resource runs again and is no longer disabled.
TEST_F(Scenario, ARestartSequenceIsFinishedByTheNextCoordinator) {
  SimOptions o = exact(3);
  o.documents = true;
  o.resources_yaml = R"(resources:
  - id: app
    type: ocf:heartbeat:Dummy
    ops: {monitor: {interval: 1s}, stop: {timeout: 2s}}
)";
  Simulation sim(o, 11);
  sim.start_all();
  const auto running = [&] {
    std::vector<std::size_t> on;
    for (std::size_t n = 0; n < 3; ++n) {
      if (sim.actual(n, 0) != ResourceRole::kStopped) on.push_back(n);
    }
    return on;
  };
  for (int i = 0; i < 300 && running().size() != 1; ++i) sim.run_for(50 * kMs);
  ASSERT_EQ(running().size(), 1U);
  const auto c = sim.agreed();
  ASSERT_TRUE(c);
  const NodeRuntime& rt = *sim.runtime(index(*c));
  const ClusterState unused;
  Intent restart;
  restart.verb = ControlVerb::kResourceRestart;
  restart.resource = "app";
  restart.by = "a test";
  const std::int64_t unix_s = sim.unix_us(index(*c)) / 1'000'000;
  const auto r = decide_intent(IntentContext{rt.base(), rt.doc(), unused, {}, unix_s}, restart);
  ASSERT_TRUE(r && r->next && r->next->sequence);
  sim.propose(index(*c), *r->next);
  for (int i = 0; i < 2000 && !running().empty(); ++i) sim.run_for(5 * kMs);
  ASSERT_TRUE(running().empty()) << "the restart never stopped app";
  ASSERT_TRUE(sim.runtime(index(*c))->doc().sequence) << "ended before the crash";
  sim.crash_agent(index(*c));
  const auto ended = [&] {
    for (std::size_t n = 0; n < 3; ++n) {
      const NodeRuntime* x = sim.runtime(n);
      if (x == nullptr) continue;  // the crashed agent
      if (x->doc().sequence || !x->doc().last_sequence) return false;
    }
    return running().size() == 1;
  };
  for (int i = 0; i < 600 && !ended(); ++i) sim.run_for(50 * kMs);
  expect_safe(sim);
  ASSERT_TRUE(ended()) << "the sequence did not end with app running again";
  const NodeRuntime& after = *sim.runtime(index(*sim.agreed()));
  EXPECT_TRUE(after.doc().last_sequence->done) << after.doc().last_sequence->note;
  EXPECT_TRUE(after.doc().disabled.empty());
  EXPECT_NE(*sim.agreed(), *c);
}

// A reboot attribute (a promotion score) counts on every node while the agent that set it runs,
// by the boot incarnation each node heard from it, and no longer once that agent restarted.
TEST_F(Scenario, ARebootAttributeHoldsForOneRunOfItsNodesAgent) {
  SimOptions o = exact(3);
  o.documents = true;
  o.resources_yaml = "resources:\n  - {id: db, type: \"ocf:heartbeat:Dummy\"}\n";
  Simulation sim(o, 5);
  const auto c = start_and_agree(sim);
  ASSERT_TRUE(c);
  const std::size_t n2 = 1;
  const std::uint64_t run = sim.runtime(n2)->incarnations(sim.local_now(n2)).at(n2);
  ASSERT_NE(run, 0U);
  AttributeRequest set{AttributeRequest::Op::kSet, "n2", "master-db", "5", true};
  const auto next = apply_attribute(sim.runtime(index(*c))->doc(), set, run);
  ASSERT_TRUE(next && *next);
  sim.propose(index(*c), **next);
  const auto in_force = [&](std::size_t at) {
    const NodeRuntime* rt = sim.runtime(at);
    if (rt == nullptr) return false;
    const auto a = rt->attributes(sim.local_now(at));
    return a.at(n2).contains("master-db");
  };
  for (int i = 0; i < 100 && !(in_force(0) && in_force(1) && in_force(2)); ++i) {
    sim.run_for(5 * kMs);
  }
  expect_safe(sim);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(in_force(i)) << "on n" << i + 1;
  sim.crash_agent(n2);
  sim.restart(n2);
  for (int i = 0; i < 200 && (in_force(0) || in_force(2)); ++i) sim.run_for(10 * kMs);
  EXPECT_FALSE(in_force(0)) << "n2's agent runs again with another incarnation";
  EXPECT_FALSE(in_force(2));
  EXPECT_FALSE(in_force(1));
}

// A location rule on a node attribute, through the whole runtime the agent runs: ping-style
// attributes written into the cluster document decide where a resource may run, and one that
// drops to 0 moves it (the coordinator plans again when the attributes in force change).
TEST_F(Scenario, ALocationRuleFollowsANodeAttribute) {
  SimOptions o = exact(3);
  o.documents = true;
  o.resources_yaml = R"(resources:
  - id: app
    type: ocf:heartbeat:Dummy
    ops: {monitor: {interval: 1s}}
constraints:
  location:
    - {resource: app, rule: "not_defined pingd or pingd lte 0", score: -inf}
)";
  Simulation sim(o, 9);
  const auto c = start_and_agree(sim);
  ASSERT_TRUE(c);
  const auto running = [&] {
    std::vector<std::size_t> on;
    for (std::size_t n = 0; n < 3; ++n) {
      if (sim.actual(n, 0) != ResourceRole::kStopped) on.push_back(n);
    }
    return on;
  };
  // pingd set on the nodes named, in one document (forever attributes need no incarnation).
  const auto set_pingd = [&](const std::vector<std::pair<std::string, std::string>>& values) {
    ClusterDoc doc = sim.runtime(index(*sim.agreed()))->doc();
    for (const auto& [node, value] : values) {
      const auto next =
          apply_attribute(doc, {AttributeRequest::Op::kSet, node, "pingd", value, false}, 0);
      ASSERT_TRUE(next && *next) << node;
      doc = **next;
    }
    sim.propose(index(*sim.agreed()), doc);
  };
  sim.run_for(2000 * kMs);
  EXPECT_TRUE(running().empty()) << "no node has pingd: app may run nowhere";
  set_pingd({{"n1", "1"}, {"n2", "1"}, {"n3", "1"}});
  for (int i = 0; i < 200 && running().size() != 1; ++i) sim.run_for(20 * kMs);
  ASSERT_EQ(running(), std::vector<std::size_t>{0}) << "n1 sorts first";
  set_pingd({{"n1", "0"}});
  for (int i = 0; i < 200 && running() != std::vector<std::size_t>{1}; ++i) {
    sim.run_for(20 * kMs);
  }
  expect_safe(sim);
  EXPECT_EQ(running(), std::vector<std::size_t>{1}) << "app left n1 (pingd 0) for n2";
}

}  // namespace
}  // namespace hactl::sim
