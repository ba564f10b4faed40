// What an apply does to each resource (coordinator/config_plan.hpp), and the invariant behind
// it (keepalived #2159, #1854, #349: a reload loses unrelated VIPs): over every
// recorded state in tests/scheduler and every primitive in it, redefining it, changing its
// operations or meta, or adding an unrelated resource changes nothing for any resource that is
// not in the changed one's group or clone or colocated with it: each keeps the outcome it has
// with no change at all (usually nothing; in a state that is moving anyway, that move).
#include "coordinator/config_plan.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>

#include "common/cluster_doc.hpp"
#include "coordinator/scheduler.hpp"
#include "coordinator/state_file.hpp"
#include "tests/unit/recorded_case.hpp"

namespace hactl {
namespace {

using Case = testing::RecordedCase;

std::vector<Case> golden_cases() {
  std::vector<Case> out;
  for (const auto& dir : testing::recorded_case_dirs())
    out.push_back(testing::load_case(dir.filename().string()));
  return out;
}

// A new primitive (ocf:heartbeat:Dummy) for the changes that add one.
PrimitiveConfig dummy(const std::string& id) {
  PrimitiveConfig p;
  p.id = id;
  p.cls = ResourceClass::kOcf;
  p.provider = "heartbeat";
  p.type = "Dummy";
  return p;
}

// The primitives an apply that changes `id` may legitimately act on: its whole group or clone
// (apply stops the unit it is in), and every unit colocated with that unit, transitively.
std::set<std::string> related(const ResourceConfig& rc, const std::string& id) {
  std::set<std::string> units = {*top_level_resource(rc, id)};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& c : rc.colocations) {
      if (units.contains(c.with) && units.insert(c.resource).second) grew = true;
    }
  }
  std::set<std::string> out;
  for (const auto& u : units) {
    for (const auto& p : primitives_of(rc, u)) out.insert(p);
  }
  return out;
}

const ResourcePlan& row(const std::vector<ResourcePlan>& plan, const std::string& id) {
  for (const auto& r : plan) {
    if (r.resource == id) return r;
  }
  static const ResourcePlan none;
  ADD_FAILURE() << "no row for " << id;
  return none;
}

TEST(ConfigPlan, AnApplyLeavesUnrelatedResourcesAlone) {
  const auto cases = golden_cases();
  ASSERT_GE(cases.size(), 30u);
  std::size_t checked = 0, acted = 0;
  for (const Case& c : cases) {
    const auto baseline = plan_apply(c.config, c.config, c.state);
    for (const auto& r : baseline) {
      EXPECT_EQ(r.definition, ResourcePlan::Definition::kSame) << c.name << ": " << r.resource;
    }
    std::vector<std::pair<std::string, std::function<void(ClusterConfig&, const std::string&)>>>
        mutations = {
            {"redefine",
             [](ClusterConfig& n, const std::string& id) {
               for (auto& p : n.resources.primitives) {
                 if (p.id == id) p.params["hactl_plan_test"] = "1";
               }
             }},
            {"update",
             [](ClusterConfig& n, const std::string& id) {
               for (auto& p : n.resources.primitives) {
                 if (p.id == id) p.monitor.timeout += std::chrono::seconds{1};
               }
             }},
            {"add",
             [](ClusterConfig& n, const std::string&) {
               n.resources.primitives.push_back(dummy("hactl-plan-extra"));
             }},
        };
    for (const auto& p : c.config.resources.primitives) {
      for (const auto& [what, mutate] : mutations) {
        ClusterConfig next = c.config;
        mutate(next, p.id);
        const auto plan = plan_apply(c.config, next, c.state);
        const auto mine = what == "add" ? std::set<std::string>{"hactl-plan-extra"}
                                        : related(c.config.resources, p.id);
        for (const auto& q : c.config.resources.primitives) {
          const ResourcePlan& before = row(baseline, q.id);
          const ResourcePlan& after = row(plan, q.id);
          if (mine.contains(q.id)) {
            acted += after.outcome != ResourcePlan::Outcome::kNothing ? 1 : 0;
            continue;
          }
          EXPECT_EQ(after.outcome, before.outcome)
              << c.name << ": " << what << " " << p.id << " changed what happens to " << q.id;
          // Where a resource that starts or moves anyway goes may change: the default placement
          // spreads resources by how many each node was given before them in this pass.
          if (before.outcome != ResourcePlan::Outcome::kStart &&
              before.outcome != ResourcePlan::Outcome::kMove) {
            EXPECT_EQ(after.to, before.to) << c.name << ": " << what << " " << p.id << ", " << q.id;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 100u);
  EXPECT_GT(acted, 20u) << "the changed resources themselves should be acted on";
  std::cout << "apply invariant: " << checked << " unrelated resource plans checked across "
            << cases.size() << " recorded states, " << acted << " actions on the changed ones\n";
}

// The same invariant over random clusters at rest: 3 to 5 nodes (some standby or offline), 6 to
// 12 primitives with random stickiness and placement strategy, some in groups, random location
// preferences and colocations, each unit first active on a random node or stopped and then
// settled where the scheduler puts it; one random change (redefine, update, add, remove a
// primitive nothing refers to). Every unrelated resource is left alone.
TEST(ConfigPlan, RandomClustersAnApplyLeavesUnrelatedResourcesAlone) {
  std::mt19937_64 rng(20261127);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::size_t trials = 0, checked = 0;
  for (int attempt = 0; attempt < 600; ++attempt) {
    const std::size_t nodes = 3 + pick(3), prims = 6 + pick(7);
    std::ostringstream y;
    y << "cluster:\n  name: plan\n  auth_key_file: /etc/hactl/authkey\nnodes:\n";
    for (std::size_t i = 1; i <= nodes; ++i)
      y << "  - {name: n" << i << ", address: \"10.213.0." << 10 + i << ":5405\"}\n";
    static const char* kStrategies[] = {"score", "score", "balanced", "hash"};
    y << "resources:\n";
    std::vector<std::string> strategy(prims);
    for (std::size_t r = 0; r < prims; ++r) {
      strategy[r] = kStrategies[pick(4)];
      y << "  - {id: r" << r
        << ", type: \"ocf:heartbeat:Dummy\", meta: {stickiness: " << (pick(3) == 0 ? 0 : 100)
        << "}}\n";
    }
    // Groups of two consecutive primitives; the rest stand alone.
    std::vector<std::string> units;
    std::set<std::size_t> grouped;
    y << "groups:\n";
    bool any_group = false;
    for (std::size_t r = 0; r + 1 < prims; r += 3) {
      if (pick(2) == 0) continue;
      y << "  - {id: g" << r << ", members: [r" << r << ", r" << r + 1 << "]}\n";
      units.push_back("g" + std::to_string(r));
      grouped.insert(r);
      grouped.insert(r + 1);
      any_group = true;
    }
    for (std::size_t r = 0; r < prims; ++r) {
      if (!grouped.contains(r)) units.push_back("r" + std::to_string(r));
    }
    y << "constraints:\n  location:\n";
    for (const auto& u : units) {
      if (pick(2) == 0) {
        y << "    - {resource: " << u << ", node: n" << 1 + pick(nodes)
          << ", score: " << (pick(4) == 0 ? "-inf" : std::to_string(10 * (1 + pick(30)))) << "}\n";
      }
    }
    y << "  colocation:\n";
    for (std::size_t k = 1; k < units.size(); ++k) {
      if (pick(4) == 0) {
        y << "    - {resource: " << units[k] << ", with: " << units[pick(k)]
          << ", score: " << (pick(2) == 0 ? "inf" : "50") << "}\n";
      }
    }
    std::string text = y.str();
    if (!any_group) text.replace(text.find("groups:\n"), 8, "");
    auto parsed = parse_config(text, "random.yaml");
    if (!parsed) continue;
    ClusterConfig config = parsed->config;
    for (std::size_t r = 0; r < prims; ++r) {
      const auto s = strategy[r];
      config.resources.primitives[r].placement = s == "hash"       ? PlacementStrategy::kHash
                                                 : s == "balanced" ? PlacementStrategy::kBalanced
                                                                   : PlacementStrategy::kScore;
    }
    // Group members agree on their strategy.
    for (const auto& g : config.resources.groups) {
      const auto first = config.resources.primitive(g.members.front())->placement;
      for (auto& p : config.resources.primitives) {
        if (std::find(g.members.begin(), g.members.end(), p.id) != g.members.end())
          p.placement = first;
      }
    }
    ClusterState state;
    state.nodes.assign(nodes, NodeCondition::kOnline);
    for (std::size_t i = 0; i < nodes; ++i) {
      const auto roll = pick(8);
      if (roll == 0) state.nodes[i] = NodeCondition::kStandby;
      if (roll == 1) state.nodes[i] = NodeCondition::kOffline;
    }
    for (const auto& u : units) {
      if (pick(4) == 0) continue;
      const std::size_t at = pick(nodes);
      if (state.nodes[at] == NodeCondition::kOffline) continue;
      for (const auto& p : primitives_of(config.resources, u)) {
        auto& roles = state.roles[p];
        roles.assign(nodes, ResourceRole::kStopped);
        roles[at] = ResourceRole::kStarted;
      }
    }
    // Settled: where the scheduler puts everything from there (an apply meets a cluster at
    // rest); with no change at all, nothing is then done to anything.
    const Transition settle = schedule(config, state);
    for (const auto& [id, roles] : settle.target) state.roles[id] = roles;
    const auto baseline = plan_apply(config, config, state);
    for (const auto& r : baseline) {
      EXPECT_EQ(r.outcome, ResourcePlan::Outcome::kNothing) << r.resource << " in\n" << text;
    }
    const std::string x = "r" + std::to_string(pick(prims));
    ClusterConfig next = config;
    std::set<std::string> mine = related(config.resources, x);
    switch (pick(4)) {
      case 0:
        for (auto& p : next.resources.primitives) {
          if (p.id == x) p.params["changed"] = "1";
        }
        break;
      case 1:
        for (auto& p : next.resources.primitives) {
          if (p.id == x) p.monitor.timeout += std::chrono::seconds{1};
        }
        break;
      case 2: {
        next.resources.primitives.push_back(dummy("extra"));
        mine = {"extra"};
        break;
      }
      default: {
        // Removed, when nothing refers to it.
        bool referred = grouped.contains(static_cast<std::size_t>(std::stoul(x.substr(1))));
        for (const auto& c : config.resources.colocations)
          referred = referred || c.with == x || c.resource == x;
        if (referred) continue;
        std::erase_if(next.resources.primitives, [&](const auto& p) { return p.id == x; });
        std::erase_if(next.resources.locations, [&](const auto& l) { return l.resource == x; });
      }
    }
    ++trials;
    const auto plan = plan_apply(config, next, state);
    for (const auto& p : config.resources.primitives) {
      if (mine.contains(p.id)) continue;
      const ResourcePlan& before = row(baseline, p.id);
      const ResourcePlan& after = row(plan, p.id);
      ++checked;
      if (before.outcome == ResourcePlan::Outcome::kNothing) {
        EXPECT_EQ(after.outcome, ResourcePlan::Outcome::kNothing)
            << "changing " << x << " acts on " << p.id << "\n"
            << text;
      }
      const bool disruptive = after.outcome == ResourcePlan::Outcome::kStop ||
                              after.outcome == ResourcePlan::Outcome::kRestart ||
                              after.outcome == ResourcePlan::Outcome::kMove;
      if (disruptive) {
        EXPECT_EQ(after.outcome, before.outcome) << "changing " << x << ", " << p.id << "\n"
                                                 << text;
        EXPECT_EQ(after.to, before.to) << "changing " << x << ", " << p.id << "\n" << text;
      }
    }
  }
  EXPECT_GT(trials, 400u);
  EXPECT_GT(checked, 3000u);
  std::cout << "apply invariant, random clusters: " << trials << " changes, " << checked
            << " unrelated resource plans checked\n";
}

TEST(ConfigPlan, WhatEachChangeDoes) {
  const auto cases = golden_cases();
  const Case* sticky = nullptr;
  for (const auto& c : cases) {
    if (c.name == "10-stickiness-prevents-failback") sticky = &c;
  }
  ASSERT_NE(sticky, nullptr);  // web (web-ip, web-app) on n2, n1 preferred by 100
  using O = ResourcePlan::Outcome;
  using D = ResourcePlan::Definition;
  {
    ClusterConfig next = sticky->config;
    next.resources.primitives[1].monitor.interval += std::chrono::seconds{1};  // web-app
    const auto plan = plan_apply(sticky->config, next, sticky->state);
    EXPECT_EQ(row(plan, "web-app").definition, D::kUpdated);
    EXPECT_EQ(row(plan, "web-app").outcome, O::kUpdate);
    EXPECT_EQ(row(plan, "web-app").from, std::vector<std::string>{"n2"});
    EXPECT_EQ(row(plan, "web-ip").outcome, O::kNothing);
  }
  {
    // Redefined, the group is stopped first, and without its stickiness it goes where the
    // location constraint prefers.
    ClusterConfig next = sticky->config;
    next.resources.primitives[0].params["address"] = "10.213.0.200/24";
    const auto plan = plan_apply(sticky->config, next, sticky->state);
    EXPECT_EQ(row(plan, "web-ip").definition, D::kRedefined);
    EXPECT_EQ(row(plan, "web-ip").outcome, O::kMove);
    EXPECT_EQ(row(plan, "web-ip").to, std::vector<std::string>{"n1"});
    EXPECT_EQ(row(plan, "web-app").definition, D::kSame);
    EXPECT_EQ(row(plan, "web-app").outcome, O::kMove);
  }
  {
    ClusterConfig next = sticky->config;
    next.resources.primitives.push_back(dummy("batch"));
    const auto plan = plan_apply(sticky->config, next, sticky->state);
    EXPECT_EQ(row(plan, "batch").definition, D::kAdded);
    EXPECT_EQ(row(plan, "batch").outcome, O::kStart);
    EXPECT_EQ(row(plan, "web-ip").outcome, O::kNothing);
    const auto back = plan_apply(next, sticky->config, sticky->state);
    EXPECT_EQ(row(back, "batch").definition, D::kRemoved);
    EXPECT_EQ(row(back, "batch").outcome, O::kNothing) << "not running: nothing to stop";
  }
}

}  // namespace
}  // namespace hactl
