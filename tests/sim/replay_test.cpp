// Every simulation replays from its seed, which is what the printed base seeds and
// HACTL_SIM_SEED rely on: the same options and seed give the same run, event for event (no
// clock, address or unordered container decides anything), and another seed another run.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sim/simulator.hpp"

namespace hactl::sim {
namespace {

struct Run {
  SimResult result;
  std::vector<std::string> journal;
  std::uint64_t datagrams = 14695981039346656037ULL;  // FNV-1a of every datagram's when, whom
};

Run run(SimOptions o, std::uint64_t seed) {
  o.journal = true;
  Simulation sim(o, seed);
  Run r;
  sim.observe([&r](RealTime t, NodeId from, NodeId to, const Message& m) {
    for (const std::uint64_t v : {static_cast<std::uint64_t>(t), std::uint64_t{from.value},
                                  std::uint64_t{to.value}, std::uint64_t{m.index()}}) {
      r.datagrams = (r.datagrams ^ v) * 1099511628211ULL;
    }
  });
  r.result = sim.run();
  r.journal = sim.take_journal();
  return r;
}

void expect_replays(const SimOptions& o, const char* what) {
  for (std::uint64_t seed : {3ULL, 20'000'017ULL}) {
    const Run first = run(o, seed);
    const Run again = run(o, seed);
    ASSERT_TRUE(first.result.ok) << what << ": " << first.result.failure;
    ASSERT_GT(first.result.messages, 100U) << what << ": too short a run to prove anything";
    EXPECT_EQ(first.journal, again.journal) << what << ", seed " << seed;
    EXPECT_EQ(first.datagrams, again.datagrams) << what << ", seed " << seed;
    EXPECT_EQ(first.result.messages, again.result.messages) << what << ", seed " << seed;
    EXPECT_EQ(first.result.recovery_time, again.result.recovery_time) << what;
    EXPECT_NE(first.datagrams, run(o, seed + 1).datagrams) << what << ": the seed changes nothing";
  }
}

TEST(Replay, ElectionSchedules) {
  SimOptions o;
  o.nodes = 3;
  expect_replays(o, "3 nodes");
  o.nodes = 2;
  o.arbiter = true;
  expect_replays(o, "2 nodes + arbiter");
}

TEST(Replay, DocumentSchedules) {
  SimOptions o;
  o.documents = true;
  expect_replays(o, "documents");
}

TEST(Replay, ResourceSchedules) {
  SimOptions o;
  o.resources_yaml = R"(resources:
  - id: ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
    ops: {monitor: {interval: 500ms}}
  - id: app
    type: ocf:heartbeat:Dummy
    ops: {monitor: {interval: 1s}, stop: {timeout: 2s}}
)";
  o.fault_phase = 8'000'000;
  o.agent_restart_within = 6'000'000;
  o.max_pause = 5'000'000;
  expect_replays(o, "resources");
  o.coordinator_faults = true;
  expect_replays(o, "coordinator faults");
}

}  // namespace
}  // namespace hactl::sim
