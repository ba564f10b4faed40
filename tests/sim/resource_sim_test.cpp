// Randomized fault schedules with resources: every node runs its keeper and conductor over a
// simulated executor and world (see SimOptions::resources_yaml). Prints its base seed;
// HACTL_SIM_SEED=<seed> replays one schedule, HACTL_SIM_RESOURCE_SCHEDULES scales the count.
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <span>
#include <string>

#include "sim/simulator.hpp"

namespace hactl::sim {
namespace {

// The issue's group, a lone primitive and a promotable clone. A non-vip resource's takeover
// delay is 3 x node_timeout + its stop timeout (2.9 s here): a lost node stops it when its lease
// ends; if its agent is stopped or dead with the host up, its guard does, at the lease deadline
// + 3 x node_timeout. Pauses and agent restarts in the schedule go well past that delay.
// The clone's instances may be promoted on every host (`hosts`, n1..): a promotion location of
// score 1 each, as an agent's positive promotion score would (hactl promotes only an instance
// with one). The simulated agents set no scores.
// With `notify`, the clone's instances are notified around each of its operations (the
// simulated agents answer every notify at once).
std::string resources(int promoted_max, std::size_t hosts, bool notify = false) {
  std::string promotion = "constraints:\n  location:\n";
  for (std::size_t i = 1; i <= hosts; ++i) {
    promotion +=
        "    - {resource: db-clone, node: n" + std::to_string(i) + ", score: 1, role: promoted}\n";
  }
  return R"(resources:
  - id: web-ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
    ops: {monitor: {interval: 500ms}}
  - id: web-app
    type: ocf:heartbeat:Dummy
    ops: {monitor: {interval: 1s}, stop: {timeout: 2s}}
  - id: solo
    type: ocf:heartbeat:Dummy
    ops: {monitor: {interval: 1s}, stop: {timeout: 2s}}
  - id: db
    type: ocf:heartbeat:Stateful
    ops: {monitor: {interval: 1s}, stop: {timeout: 2s}}
groups:
  - id: web
    members: [web-ip, web-app]
clones:
  - id: db-clone
    resource: db
    promotable: true
    promoted_max: )" +
         std::to_string(promoted_max) + "\n" + (notify ? "    notify: true\n" : "") + promotion;
}

struct Shape {
  const char* name;
  std::size_t nodes;
  std::size_t witnesses;
  int promoted_max;
  std::size_t share;  // parts of the schedule budget
  bool arbiter = false;
  bool two_node = false;
  bool notify = false;
};

constexpr Shape kShapes[] = {{"3 nodes, master/slave", 3, 0, 1, 3},
                             {"3 nodes, multi-master (promoted_max 2)", 3, 0, 2, 2},
                             {"5 nodes, promoted_max 2", 5, 0, 2, 1},
                             {"2 nodes + witness", 3, 1, 1, 2},
                             {"2 nodes + arbiter", 2, 0, 1, 2, true},
                             {"3 nodes, master/slave, notify", 3, 0, 1, 1, false, false, true}};

// Runs `seeds` over `shapes` (each its share of the count), each schedule with the options
// every shape shares, then `extra`; prints what moved.
void run_shapes(SeedPlan& seeds, std::span<const Shape> shapes,
                const std::function<void(SimOptions&)>& extra) {
  for (const Shape& shape : shapes) {
    const std::uint64_t count = seeds.count(shape.share);
    std::size_t actions = 0;
    std::size_t failovers = 0;
    for (std::uint64_t k = 0; k < count; ++k) {
      const std::uint64_t seed = seeds.seed();
      SimOptions o;
      o.nodes = shape.nodes;
      o.witnesses = shape.witnesses;
      o.arbiter = shape.arbiter;
      o.two_node = shape.two_node;
      o.resources_yaml = resources(shape.promoted_max, shape.nodes - shape.witnesses, shape.notify);
      o.fault_phase = 8'000'000;
      // Longer than the takeover delay (2.9 s): the guard must stop what the agent cannot.
      o.agent_restart_within = 6'000'000;
      o.max_pause = 5'000'000;
      extra(o);
      const SimResult r = Simulation(o, seed).run();
      ASSERT_TRUE(r.ok) << shape.name << ": " << r.failure;
      actions += r.actions;
      failovers += r.failovers;
    }
    std::cout << shape.name << ": " << count << " schedules, " << actions << " actions, "
              << failovers << " failovers\n";
    if (count >= 20) {
      EXPECT_GT(failovers, 0u) << "the faults should move resources around";
    }
  }
}

// The first of 200 schedules (3 nodes, master/slave) whose failure contains `needle`, or "".
std::string first_caught(const std::function<void(SimOptions&)>& breakage,
                         const std::string& needle) {
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    SimOptions o;
    o.fault_phase = 8'000'000;
    breakage(o);
    o.resources_yaml = resources(1, o.nodes - o.witnesses);
    const SimResult r = Simulation(o, seed).run();
    if (!r.ok && r.failure.find(needle) != std::string::npos) {
      return r.failure.substr(0, r.failure.find('\n'));
    }
  }
  return "";
}

// Gives primitive `id` of the simulated configuration the meta map `m` (after its ops).
void add_meta(SimOptions& o, const std::string& id, const std::string& m) {
  const std::string at = "  - id: " + id + "\n";
  const auto pos = o.resources_yaml.find(at);
  ASSERT_NE(pos, std::string::npos) << id;
  const auto ops = o.resources_yaml.find("    ops:", pos);
  const auto end = o.resources_yaml.find('\n', ops) + 1;
  o.resources_yaml.insert(end, "    meta: " + m + "\n");
}

TEST(ResourceSim, RandomFaultSchedulesNeverRunAResourceTwice) {
  // A fixed base seed by default, so CI runs a known set; HACTL_SIM_RANDOM=1 explores new ones.
  SeedPlan seeds = plan_seeds("resource simulation", "HACTL_SIM_RESOURCE_SCHEDULES", 1'000, 1);
  run_shapes(seeds, kShapes, [](SimOptions&) {});
}

// Losing the coordinator costs nobody else their service: faults only on the coordinator
// (host crash, agent crash, agent stopped up to 3 s, links cut), three per schedule, and no
// resource on another node may be stopped, demoted or taken by a guard until the cluster has
// settled again (Simulation's disruption rule).
TEST(ResourceSim, CoordinatorFaultsDisruptNoOtherNode) {
  SeedPlan seeds = plan_seeds("coordinator fault simulation", "HACTL_SIM_COORDINATOR_SCHEDULES",
                              200, 12'000'000);
  run_shapes(seeds, kShapes, [](SimOptions& o) { o.coordinator_faults = true; });
}

// Per-resource behaviour on quorum loss: the lone Dummy says on_quorum_loss freeze (the
// cluster stops the rest). A lost node keeps it, and its guard never stops it; the cluster must
// never start it elsewhere while that node may still run it, through the same faults.
TEST(ResourceSim, OnQuorumLossFreezeNeverRunsAResourceTwice) {
  SeedPlan seeds =
      plan_seeds("on_quorum_loss freeze simulation", "HACTL_SIM_FREEZE_SCHEDULES", 400, 9'000'000);
  const Shape shapes[] = {{"3 nodes, solo frozen on quorum loss", 3, 0, 1, 3},
                          {"2 nodes + witness, solo frozen on quorum loss", 3, 1, 1, 2},
                          {"2 nodes + arbiter, solo frozen on quorum loss", 2, 0, 1, 2, true}};
  run_shapes(seeds, shapes, [](SimOptions& o) {
    const std::string solo = "  - id: solo\n    type: ocf:heartbeat:Dummy\n";
    const auto at = o.resources_yaml.find(solo);
    ASSERT_NE(at, std::string::npos);
    o.resources_yaml.insert(at + solo.size(), "    meta: {on_quorum_loss: freeze}\n");
  });
}

// The checker must be able to fail: a vip whose removal leaves the address in place (in the
// stop and in the guard) is still there when the cluster starts it elsewhere.
// Failback modes and flap damping change only the scores, never the order of actions: with
// location preferences that pull resources back (immediate for the group, after 2s for solo,
// never for the database's promoted role) and damping after 2 moves within 10 s, the same
// faults must still never run anything twice.
TEST(ResourceSim, FailbackAndFlapDampingNeverRunAResourceTwice) {
  SeedPlan seeds =
      plan_seeds("failback simulation", "HACTL_SIM_FAILBACK_SCHEDULES", 300, 11'000'000);
  const Shape shapes[] = {{"3 nodes, failback modes", 3, 0, 1, 2},
                          {"2 nodes + witness, failback modes", 3, 1, 1, 1}};
  run_shapes(seeds, shapes, [](SimOptions& o) {
    add_meta(o, "web-ip", "{failback: immediate, flap_damping: {moves: 2, within: 10s}}");
    add_meta(o, "web-app", "{failback: immediate, flap_damping: {moves: 2, within: 10s}}");
    add_meta(o, "solo", "{failback: {after: 2s}}");
    add_meta(o, "db", "{failback: never}");
    o.resources_yaml +=  // more of resources()' location list
        "    - {resource: web, node: n1, score: 100}\n"
        "    - {resource: solo, node: n2, score: 100}\n"
        "    - {resource: db-clone, node: n1, score: 100, role: promoted}\n";
  });
}

// Placement strategies only choose among nodes of the best score: the group balanced, solo
// hashed (no stickiness: it goes back to its ring node when that node returns). The same
// faults must never run anything twice.
TEST(ResourceSim, PlacementStrategiesNeverRunAResourceTwice) {
  SeedPlan seeds =
      plan_seeds("placement strategy simulation", "HACTL_SIM_PLACEMENT_SCHEDULES", 200, 13'000'000);
  const Shape shapes[] = {{"3 nodes, balanced and hash", 3, 0, 1, 2},
                          {"2 nodes + witness, balanced and hash", 3, 1, 1, 1}};
  run_shapes(seeds, shapes, [](SimOptions& o) {
    add_meta(o, "web-ip", "{placement: balanced}");
    add_meta(o, "web-app", "{placement: balanced}");
    add_meta(o, "solo", "{placement: hash}");
  });
}

TEST(ResourceSim, CheckerCatchesAVipThatDoesNotStop) {
  const std::string example = first_caught([](SimOptions& o) { o.broken_vip_stop = true; },
                                           "web-ip is active on two hosts");
  EXPECT_FALSE(example.empty()) << "200 schedules with a vip that never stops, nothing seen";
  std::cout << "broken vip stop caught: " << example << "\n";
}

// Frozen hosts (a paused VM: the agent, its guard and its resource agents all stopped, the
// kernel keeping the vip) with fencing: the coordinator fences a lost host before anything it
// ran starts elsewhere; a quarter of the fence operations fail and are retried.
TEST(ResourceSim, FencingKeepsFrozenHostsSafe) {
  SeedPlan seeds = plan_seeds("fencing simulation", "HACTL_SIM_FENCING_SCHEDULES", 300, 7'000'000);
  const Shape shapes[] = {{"3 nodes, fencing, frozen hosts", 3, 0, 1, 6},
                          {"2 nodes + witness, fencing, frozen hosts", 3, 1, 1, 2},
                          {"2 nodes + arbiter, fencing, frozen hosts", 2, 0, 1, 2, true},
                          {"2 nodes, two_node, fencing, frozen hosts", 2, 0, 1, 3, false, true}};
  run_shapes(seeds, shapes, [](SimOptions& o) {
    o.fencing = true;
    o.host_freeze = true;
    // A fence running at the heal still power-cycles its target (up to 1.5 s, then a boot
    // within 3 s), and fencing retries back off (2 s, 4 s, ...).
    o.liveness_bound = 8'000'000;
    o.resources_settle_bound = 30'000'000;
  });
}

// The same frozen hosts without fencing: the lease rule cannot take a vip from a host whose
// guard is frozen with it, and the checker must see two holders.
TEST(ResourceSim, CheckerCatchesFrozenHostsWithoutFencing) {
  const std::string example = first_caught(
      [](SimOptions& o) {
        o.host_freeze = true;
        o.max_pause = 5'000'000;
      },
      "is active on two hosts");
  EXPECT_FALSE(example.empty()) << "200 schedules with frozen hosts and no fencing, nothing seen";
  std::cout << "frozen host without fencing caught: " << example << "\n";
}

// two_node stakes everything on the fence devices: one that says it cut the power and did not
// leaves a stand-in that still runs, and the checker must see two holders once the link is cut.
TEST(ResourceSim, CheckerCatchesTwoNodeWithAnIneffectiveFenceDevice) {
  const std::string example = first_caught(
      [](SimOptions& o) {
        o.nodes = 2;
        o.witnesses = 0;
        o.fencing = true;
        o.two_node = true;
        o.ineffective_fencing = true;
      },
      "is active on two hosts");
  EXPECT_FALSE(example.empty()) << "200 two_node schedules with a lying fence device, nothing seen";
  std::cout << "two_node with an ineffective fence device caught: " << example << "\n";
}

// last_resort unsafe_take_over: a cut link runs a resource on both sides (counted, as the
// policy's name warns), nothing else breaks (no lease rule, vote or document check fails, no
// agent asserts when two coordinators of one term meet), and after the heal everything settles
// on one host.
TEST(ResourceSim, TheLastResortRunsBothSidesOfASplitThenSettles) {
  SeedPlan seeds =
      plan_seeds("last resort simulation", "HACTL_SIM_LAST_RESORT_SCHEDULES", 100, 8'000'000);
  const std::uint64_t count = seeds.count(10);
  std::size_t with_two = 0;
  for (std::uint64_t k = 0; k < count; ++k) {
    const std::uint64_t seed = seeds.seed();
    SimOptions o;
    o.nodes = 2;
    o.witnesses = 0;
    o.two_node = true;
    o.last_resort = true;
    o.resources_yaml = resources(1, 2);
    o.fault_phase = 8'000'000;
    o.agent_restart_within = 6'000'000;
    o.max_pause = 5'000'000;
    o.liveness_bound = 8'000'000;
    o.resources_settle_bound = 30'000'000;
    const SimResult r = Simulation(o, seed).run();
    ASSERT_TRUE(r.ok) << r.failure;
    with_two += r.two_holders > 0 ? 1 : 0;
  }
  std::cout << "last resort: " << count << " schedules, " << with_two
            << " ran both sides (a resource on two hosts, or two coordinators) during the faults, "
               "all settled after the heal\n";
  EXPECT_GT(with_two, 0u) << "a cut link never ran both sides: the schedules do not split";
}

}  // namespace
}  // namespace hactl::sim
