// Randomized fault schedules over whole simulated clusters. Every run prints its base seed;
// HACTL_SIM_SEED=<seed> replays exactly one schedule, HACTL_SIM_SCHEDULES scales the count.
#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "sim/simulator.hpp"

namespace hactl::sim {
namespace {

struct Shape {
  const char* name;
  std::size_t nodes;
  std::size_t witnesses;
  std::size_t share;  // parts of the schedule budget
  bool arbiter = false;
};

constexpr Shape kShapes[] = {{"3 nodes", 3, 0, 3},
                             {"5 nodes", 5, 0, 2},
                             {"2 nodes + witness", 3, 1, 2},
                             {"2 nodes + arbiter", 2, 0, 3, true}};

TEST(ElectionSim, RandomFaultSchedulesKeepSafetyAndRecover) {
  SeedPlan seeds = plan_seeds("simulation", "HACTL_SIM_SCHEDULES", 10'000, 20'000'000);
  for (const Shape& shape : kShapes) {
    const std::uint64_t count = seeds.count(shape.share);
    RealTime worst_recovery = 0;
    std::size_t elections = 0;
    std::size_t messages = 0;
    for (std::uint64_t k = 0; k < count; ++k) {
      const std::uint64_t seed = seeds.seed();
      SimOptions o;
      o.nodes = shape.nodes;
      o.witnesses = shape.witnesses;
      o.arbiter = shape.arbiter;
      const SimResult r = Simulation(o, seed).run();
      ASSERT_TRUE(r.ok) << shape.name << ": " << r.failure;
      worst_recovery = std::max(worst_recovery, r.recovery_time);
      elections += r.elections;
      messages += r.messages;
    }
    std::cout << shape.name << ": " << count << " schedules, " << elections << " elections, "
              << messages << " messages, worst recovery after heal " << worst_recovery / 1000
              << " ms\n";
  }
}

// The checker must be able to fail: a lease longer than the voters' promise overlaps the next
// coordinator's lease when the old coordinator is cut off, and a node's quorum lease outlives
// the releases a coordinator counted; the simulation has to see one or the other.
TEST(ElectionSim, CheckerCatchesABrokenLease) {
  std::size_t caught = 0;
  std::string example;
  for (std::uint64_t seed = 1; seed <= 300 && caught == 0; ++seed) {
    SimOptions o;
    o.unsafe_lease = true;
    const SimResult r = Simulation(o, seed).run();
    const auto has = [&r](const char* what) { return r.failure.find(what) != std::string::npos; };
    if (!r.ok && (has("coordinator lease at once") || has("took the lease of"))) {
      ++caught;
      example = r.failure.substr(0, r.failure.find('\n'));
    }
  }
  EXPECT_GT(caught, 0u) << "300 schedules with a broken lease and the checker saw nothing";
  std::cout << "broken lease caught: " << example << "\n";
}

// The cluster document through the same faults: proposals from random nodes, stored before they
// are acknowledged; no committed change is ever lost, one version is one content, and every node
// converges after the heal.
TEST(DocumentSim, RandomFaultSchedulesNeverLoseACommittedChange) {
  SeedPlan seeds = plan_seeds("document simulation", "HACTL_SIM_DOC_SCHEDULES", 2'000, 1);
  for (const Shape& shape : kShapes) {
    const std::uint64_t count = seeds.count(shape.share);
    std::size_t proposals = 0, committed = 0;
    for (std::uint64_t k = 0; k < count; ++k) {
      const std::uint64_t seed = seeds.seed();
      SimOptions o;
      o.nodes = shape.nodes;
      o.witnesses = shape.witnesses;
      o.arbiter = shape.arbiter;
      o.documents = true;
      const SimResult r = Simulation(o, seed).run();
      ASSERT_TRUE(r.ok) << shape.name << ": " << r.failure;
      proposals += r.proposals;
      committed += r.committed;
    }
    std::cout << shape.name << ": " << count << " schedules, " << proposals << " proposals, "
              << committed << " committed\n";
    EXPECT_GT(committed, 0u);
  }
}

// Without the election restriction (votes ignore the document) a node that missed a committed
// change can be elected, and the checker has to see the change lost.
TEST(DocumentSim, CheckerCatchesElectionsThatIgnoreTheDocument) {
  std::string example;
  for (std::uint64_t seed = 1; seed <= 500 && example.empty(); ++seed) {
    SimOptions o;
    o.documents = true;
    o.unsafe_votes = true;
    const SimResult r = Simulation(o, seed).run();
    if (!r.ok && r.failure.find("lost a committed change") != std::string::npos) {
      example = r.failure.substr(0, r.failure.find('\n'));
    }
  }
  EXPECT_FALSE(example.empty()) << "500 schedules without the restriction and nothing was lost";
  std::cout << "lost change caught: " << example << "\n";
}

}  // namespace
}  // namespace hactl::sim
