// `hactl simulate`'s pure core: requests (kill nodes, fail resources) applied to recorded
// states from tests/scheduler, the transition and the placement after it, its text and JSON
// renderings, and the STATE.yaml writer (write then parse gives the same state).
#include "coordinator/simulate.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/state_file.hpp"
#include "tests/unit/recorded_case.hpp"

namespace hactl {
namespace {

namespace fs = std::filesystem;

const fs::path& kGolden = testing::recorded_cases_dir();
using testing::slurp;
using Case = testing::RecordedCase;
// A recorded case's configuration, and its state (or `state_yaml` instead, when given).
Case load(const std::string& name, const std::string& state_yaml = "") {
  return testing::load_case(name, state_yaml);
}

SimulateResult run(const Case& c, SimulateRequest request) {
  auto r = simulate(c.config, c.state, request);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error());
  return r ? *r : SimulateResult{};
}

// Same state, as the scheduler sees it: every role, failed monitor, settling mark (where it
// matters: where the primitive is active), live failure count and failure age.
void expect_same_state(const ClusterConfig& config, const ClusterState& a, const ClusterState& b,
                       const std::string& what) {
  ASSERT_EQ(a.nodes, b.nodes) << what;
  for (const auto& p : config.resources.primitives) {
    for (std::size_t i = 0; i < config.nodes.size(); ++i) {
      const NodeId n{static_cast<std::uint16_t>(i)};
      const std::string at = what + ": " + p.id + " on " + config.nodes[i].name;
      EXPECT_EQ(a.role(p.id, n), b.role(p.id, n)) << at;
      EXPECT_EQ(a.is_failed(p.id, n), b.is_failed(p.id, n)) << at;
      if (a.role(p.id, n) != ResourceRole::kStopped) {
        EXPECT_EQ(a.is_settling(p.id, n), b.is_settling(p.id, n)) << at;
      }
      EXPECT_EQ(a.fail_count(p, n), b.fail_count(p, n)) << at;
      const auto fa = a.failures.find(p.id), fb = b.failures.find(p.id);
      const int ca = fa == a.failures.end() ? 0 : fa->second[i].count;
      const int cb = fb == b.failures.end() ? 0 : fb->second[i].count;
      EXPECT_EQ(ca, cb) << at;
      if (ca > 0 && cb > 0) {
        EXPECT_EQ(a.now - fa->second[i].last, b.now - fb->second[i].last) << at;
      }
    }
  }
}

TEST(Simulate, AnEmptyRequestGivesTheGoldenTransition) {
  const Case c = load("04-standby-stops-in-reverse-then-moves");
  const std::string explained =
      slurp(kGolden / "04-standby-stops-in-reverse-then-moves" / "explain.txt");
  const std::string printed = format_transition(run(c, {}));
  // explain.txt starts with what simulate prints for the case, then the explanations.
  EXPECT_EQ(explained.substr(0, explained.find("\n$ hactl explain")),
            "$ hactl simulate --config config.yaml --state state.yaml\n" + printed);
}

TEST(Simulate, KillingTheHolderStartsTheGroupElsewhereInOrder) {
  const Case c = load("10-stickiness-prevents-failback");  // web-ip, web-app on n2
  const SimulateResult r = run(c, {.kill = {"n2"}, .fail = {}});
  EXPECT_EQ(format_transition(r),
            "actions:\n"
            "  1. start web-ip on n1  (placed here)\n"
            "       why: score on n1 100 (+100 location constraint in the configuration (n1: "
            "100)); best other: n3 0\n"
            "  2. start web-app on n1 after 1  (placed here)\n"
            "       why: score on n1 100 (+100 location constraint in the configuration (n1: "
            "100)); best other: n3 0\n"
            "interruptions:\n"
            "  web-ip: down since n2 died until 1 (start on n1)\n"
            "  web-app: down since n2 died until 2 (start on n1)\n"
            "placement:\n"
            "  web-ip: started on n1\n"
            "  web-app: started on n1\n");
  EXPECT_EQ(r.state.nodes[1], NodeCondition::kOffline);
  EXPECT_EQ(r.state.role("web-app", NodeId{1}), ResourceRole::kStopped);
  EXPECT_EQ(r.placement, (std::vector<PlacedResource>{{"web-ip", "n1", ResourceRole::kStarted},
                                                      {"web-app", "n1", ResourceRole::kStarted}}));
}

TEST(Simulate, KillingThePromotedNodePromotesAnother) {
  const Case c = load("11-group-follows-promoted-instance");  // db promoted on n2
  const SimulateResult r = run(c, {.kill = {"n2"}, .fail = {}});
  ASSERT_FALSE(r.actions.empty());
  const auto promote = std::find_if(r.actions.begin(), r.actions.end(), [](const auto& a) {
    return a.resource == "db" && a.kind == ActionKind::kPromote;
  });
  ASSERT_NE(promote, r.actions.end());
  EXPECT_NE(promote->node, "n2");
  std::size_t promoted = 0;
  for (const auto& p : r.placement) {
    EXPECT_NE(p.node, "n2");
    if (p.resource == "db" && p.role == ResourceRole::kPromoted) ++promoted;
  }
  EXPECT_EQ(promoted, 1u);
}

TEST(Simulate, KillingAnIdleNodeChangesNothing) {
  const Case c = load("10-stickiness-prevents-failback");
  const SimulateResult r = run(c, {.kill = {"n3"}, .fail = {}});
  EXPECT_TRUE(r.actions.empty());
  EXPECT_EQ(r.placement.size(), 2u);
}

TEST(Simulate, AFailedMonitorIsRecoveredInPlace) {
  const Case c = load("10-stickiness-prevents-failback");
  const SimulateResult r = run(c, {.kill = {}, .fail = {"web-app"}});
  EXPECT_EQ(format_transition(r),
            "actions:\n"
            "  1. stop web-app on n2  (recover: monitor failed)\n"
            "       why: score on n2 200 (+100 web-ip runs here (stickiness 100); +100 web-app "
            "runs here (stickiness 100))\n"
            "  2. start web-app on n2 after 1  (recover: monitor failed)\n"
            "       why: score on n2 200 (+100 web-ip runs here (stickiness 100); +100 web-app "
            "runs here (stickiness 100))\n"
            "interruptions:\n"
            "  web-app: down from 1 (stop on n2) until 2 (start on n2)\n"
            "placement:\n"
            "  web-ip: started on n2\n"
            "  web-app: started on n2\n");
  EXPECT_TRUE(r.state.is_failed("web-app", NodeId{1}));
  ASSERT_TRUE(r.state.failures.contains("web-app"));
  EXPECT_EQ(r.state.failures.at("web-app")[1].count, 1);
  EXPECT_EQ(r.state.failures.at("web-app")[1].last, r.state.now);
  EXPECT_FALSE(r.state.is_failed("web-ip", NodeId{1}));
}

TEST(Simulate, FailingAGroupFailsEachActiveMember) {
  const Case c = load("10-stickiness-prevents-failback");
  const SimulateResult r = run(c, {.kill = {}, .fail = {"web"}});
  EXPECT_TRUE(r.state.is_failed("web-ip", NodeId{1}));
  EXPECT_TRUE(r.state.is_failed("web-app", NodeId{1}));
  ASSERT_EQ(r.actions.size(), 4u);
  EXPECT_EQ(r.actions[0].resource, "web-app");  // stopped in reverse, started in order
  EXPECT_EQ(r.actions[0].kind, ActionKind::kStop);
  EXPECT_EQ(r.actions[1].resource, "web-ip");
  EXPECT_EQ(r.actions[1].kind, ActionKind::kStop);
  EXPECT_EQ(r.actions[2].resource, "web-ip");
  EXPECT_EQ(r.actions[2].kind, ActionKind::kStart);
  EXPECT_EQ(r.actions[3].resource, "web-app");
  EXPECT_EQ(r.actions[3].kind, ActionKind::kStart);
  for (const auto& a : r.actions) EXPECT_EQ(a.node, "n2");
}

TEST(Simulate, TheFailureThatReachesTheThresholdMovesTheGroup) {
  // migration_threshold 3: two failures already on n2, the third moves the group away.
  const Case c = load("10-stickiness-prevents-failback",
                      "resources:\n"
                      "  web-ip: {n2: started}\n"
                      "  web-app: {n2: started}\n"
                      "failures:\n"
                      "  web-app: {n2: 2}\n");
  EXPECT_EQ(format_transition(run(c, {.kill = {}, .fail = {"web-app"}})),
            "actions:\n"
            "  1. stop web-app on n2  (placed on n1)\n"
            "       why: score on n2 -inf (+100 web-ip runs here (stickiness 100); -inf web-app "
            "failed 3 times here (migration_threshold 3); +100 web-app runs here (stickiness "
            "100))\n"
            "  2. stop web-ip on n2 after 1  (placed on n1)\n"
            "       why: score on n2 -inf (+100 web-ip runs here (stickiness 100); -inf web-app "
            "failed 3 times here (migration_threshold 3); +100 web-app runs here (stickiness "
            "100))\n"
            "  3. start web-ip on n1 after 1,2  (placed here)\n"
            "       why: score on n1 100 (+100 location constraint in the configuration (n1: "
            "100)); best other: n3 0\n"
            "  4. start web-app on n1 after 1,3  (placed here)\n"
            "       why: score on n1 100 (+100 location constraint in the configuration (n1: "
            "100)); best other: n3 0\n"
            "interruptions:\n"
            "  web-app: down from 1 (stop on n2) until 4 (start on n1)\n"
            "  web-ip: down from 2 (stop on n2) until 3 (start on n1)\n"
            "placement:\n"
            "  web-ip: started on n1\n"
            "  web-app: started on n1\n");
}

TEST(Simulate, UnknownNamesAreRefusedWithASuggestion) {
  const Case c = load("10-stickiness-prevents-failback");
  const auto r = simulate(c.config, c.state, {.kill = {"nd2"}, .fail = {"wbe-app"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(),
            "no node is called 'nd2'; did you mean 'n2'?\n"
            "no resource is called 'wbe-app'; did you mean 'web-app'?");
  const auto far = simulate(c.config, c.state, {.kill = {"zulu"}, .fail = {}});
  ASSERT_FALSE(far.has_value());
  EXPECT_EQ(far.error(), "no node is called 'zulu'; known: n1, n2, n3");
  const auto group = simulate(c.config, c.state, {.kill = {}, .fail = {"wbe"}});
  ASSERT_FALSE(group.has_value());
  EXPECT_EQ(group.error(), "no resource is called 'wbe'; did you mean 'web'?");
}

TEST(Simulate, FailingWhatRunsNowhereIsRefused) {
  const Case c = load("01-fresh-group-starts-in-order");
  const auto r = simulate(c.config, c.state, {.kill = {}, .fail = {"web-ip"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("'web-ip' is not active"), std::string::npos) << r.error();
  // Killed first, then failed: nothing is left to fail on the killed node.
  const Case held = load("10-stickiness-prevents-failback");
  EXPECT_FALSE(simulate(held.config, held.state, {.kill = {"n2"}, .fail = {"web"}}).has_value());
}

TEST(Simulate, AStateThatDoesNotFitTheConfigurationIsRefused) {
  Case c = load("10-stickiness-prevents-failback");
  c.state.nodes.pop_back();
  EXPECT_FALSE(simulate(c.config, c.state, {}).has_value());
}

TEST(Simulate, JsonHasActionsAndPlacement) {
  const Case c = load("10-stickiness-prevents-failback");
  const nlohmann::json j = to_json(run(c, {.kill = {"n2"}, .fail = {}}));
  EXPECT_EQ(j, nlohmann::json::parse(R"({
    "actions": [
      {"resource": "web-ip", "action": "start", "node": "n1", "reason": "placed here",
       "why": "score on n1 100 (+100 location constraint in the configuration (n1: 100)); best other: n3 0",
       "after": []},
      {"resource": "web-app", "action": "start", "node": "n1", "reason": "placed here",
       "why": "score on n1 100 (+100 location constraint in the configuration (n1: 100)); best other: n3 0",
       "after": [0]}
    ],
    "interruptions": [
      {"resource": "web-ip", "node": null, "down": "stop", "from": null, "lost_on": "n2",
       "until": 0, "back_on": "n1"},
      {"resource": "web-app", "node": null, "down": "stop", "from": null, "lost_on": "n2",
       "until": 1, "back_on": "n1"}
    ],
    "placement": [
      {"resource": "web-ip", "node": "n1", "role": "started"},
      {"resource": "web-app", "node": "n1", "role": "started"}
    ],
    "notes": []
  })"));
  const Case promoted = load("08-promoted-node-lost-another-promoted");
  const nlohmann::json p = to_json(run(promoted, {}));
  ASSERT_TRUE(p["placement"].is_array());
  EXPECT_EQ(p["placement"][0],
            (nlohmann::json{{"resource", "db"}, {"node", "n2"}, {"role", "promoted"}}));
  EXPECT_EQ(p["actions"][0]["action"], "promote");
  // A promotable clone's instance that is not promoted is "unpromoted", as in STATE.yaml.
  EXPECT_EQ(p["placement"][1],
            (nlohmann::json{{"resource", "db"}, {"node", "n3"}, {"role", "unpromoted"}}));
  // What a move interrupts, and until which action.
  const nlohmann::json moved = to_json(run(c, {.kill = {}, .fail = {"web-app"}}));
  EXPECT_EQ(moved["interruptions"], nlohmann::json::parse(R"([
    {"resource": "web-app", "node": null, "down": "stop", "from": 0, "lost_on": null, "until": 1,
     "back_on": "n2"}
  ])"));
}

TEST(Simulate, HeldResourcesStayInThePlacementAndAreNoted) {
  const Case c = load("03-holder-unclean-nothing-moves");
  const SimulateResult r = run(c, {});
  EXPECT_TRUE(r.actions.empty());
  EXPECT_EQ(r.placement.size(), 2u);
  EXPECT_FALSE(r.notes.empty());
  EXPECT_EQ(to_json(r)["notes"].size(), r.notes.size());
}

TEST(SimulateStateWriter, EveryGoldenStateSurvivesARoundTrip) {
  std::size_t cases = 0;
  for (const auto& e : fs::directory_iterator(kGolden)) {
    if (!e.is_directory()) continue;
    const Case c = load(e.path().filename().string());
    const std::string text = write_state_yaml(c.config, c.state);
    const auto back = parse_state(c.config, text, "written.yaml");
    ASSERT_TRUE(back.has_value()) << e.path() << "\n"
                                  << text << (back ? "" : back.error().front().to_string());
    EXPECT_EQ(back->now, c.state.now);
    expect_same_state(c.config, c.state, *back, e.path().filename().string());
    // Written again, the same text; and the same transition either way.
    EXPECT_EQ(write_state_yaml(c.config, *back), text);
    EXPECT_EQ(format_transition(run({c.name, c.config, *back}, {})), format_transition(run(c, {})));
    ++cases;
  }
  EXPECT_GE(cases, 10u);
}

TEST(SimulateStateWriter, WritesEveryKindOfEntry) {
  const Case c = load("08-promoted-node-lost-another-promoted",
                      "nodes: {n1: offline, n3: standby}\n"
                      "resources:\n"
                      "  db: {n1: settling-promoted, n2: unpromoted, n3: unpromoted}\n"
                      "failed:\n"
                      "  db: [n2]\n"
                      "failures:\n"
                      "  db: {n2: 2, n3: {count: 1, age: 90s}}\n");
  EXPECT_EQ(write_state_yaml(c.config, c.state),
            "nodes: {n1: offline, n2: online, n3: standby}\n"
            "resources:\n"
            "  db: {n1: settling-promoted, n2: unpromoted, n3: unpromoted}\n"
            "failed:\n"
            "  db: [n2]\n"
            "failures:\n"
            "  db: {n2: 2, n3: {count: 1, age: 90s}}\n");
}

TEST(SimulateStateWriter, AgesAreRelativeToTheStatesClock) {
  // A live coordinator's clock is anywhere; the file keeps ages, which is what counts.
  Case c = load("10-stickiness-prevents-failback");
  ClusterState live = c.state;
  live.now = Instant{std::chrono::hours{5}};
  live.failures["web-app"].assign(3, FailureRecord{});
  live.failures["web-app"][1] = FailureRecord{2, live.now - std::chrono::milliseconds{1500}};
  live.settling["web-app"].assign(3, false);  // all-false marks are the same as none
  const std::string text = write_state_yaml(c.config, live);
  EXPECT_NE(text.find("web-app: {n2: {count: 2, age: 1500ms}}"), std::string::npos) << text;
  const auto back = parse_state(c.config, text, "written.yaml");
  ASSERT_TRUE(back.has_value());
  expect_same_state(c.config, live, *back, "live");
}

}  // namespace
}  // namespace hactl
