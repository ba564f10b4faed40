// Scheduler regression cases (Pacemaker's cts/scheduler habit): each directory of
// tests/scheduler holds config.yaml, state.yaml and expected.txt, the transition a person
// checked. HACTL_REGEN=1 rewrites expected.txt (commit it only once the diff is understood).
// They run through simulate() with an empty request, the same path as `hactl simulate --state`,
// so what the daemon decides and what simulate prints cannot differ. expected.txt is written by
// describe() (the scheduler's target as the placement); simulate's format_transition() prints the
// same action lines and the placement after the actions, checked here to match that target on
// every reachable node.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/explain.hpp"
#include "coordinator/placement.hpp"
#include "coordinator/scheduler.hpp"
#include "coordinator/simulate.hpp"
#include "coordinator/state_file.hpp"

namespace hactl {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string run_case(const fs::path& dir) {
  auto config = load_config_file((dir / "config.yaml").string());
  if (!config) return "config error: " + config.error().front().to_string();
  auto state =
      parse_state(config->config, slurp(dir / "state.yaml"), (dir / "state.yaml").string());
  if (!state) return "state error: " + state.error().front().to_string();
  const auto result = simulate(config->config, *state, SimulateRequest{});
  if (!result) return "simulate error: " + result.error();
  const std::string text = describe(config->config, result->transition);
  // The same input must give byte-identical output.
  const auto again = simulate(config->config, *state, SimulateRequest{});
  EXPECT_TRUE(again.has_value());
  if (again) {
    EXPECT_EQ(describe(config->config, again->transition), text);
    EXPECT_EQ(format_transition(*again), format_transition(*result));
  }
  // What simulate prints: the same actions, and a placement that is the scheduler's target on
  // every node it can reach (on a lost node, the target of a held unit names all its members).
  // (simulate also prints why under each action and the interruptions: left out here).
  std::string printed;
  {
    std::istringstream lines(format_transition(*result));
    bool skipping = false;
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("interruptions:", 0) == 0) skipping = true;
      if (line.rfind("placement:", 0) == 0) skipping = false;
      if (!skipping && line.rfind("       why: ", 0) != 0) printed += line + "\n";
    }
  }
  EXPECT_EQ(printed.substr(0, printed.find("placement:")), text.substr(0, text.find("placement:")))
      << dir.filename().string();
  for (const auto& p : config->config.resources.primitives) {
    const auto target = result->transition.target.find(p.id);
    for (std::size_t i = 0; i < config->config.nodes.size(); ++i) {
      const NodeCondition c = result->state.nodes[i];
      if (c != NodeCondition::kOnline && c != NodeCondition::kStandby) continue;
      const ResourceRole want =
          target == result->transition.target.end() ? ResourceRole::kStopped : target->second[i];
      ResourceRole got = ResourceRole::kStopped;
      for (const auto& placed : result->placement) {
        if (placed.resource == p.id && placed.node == config->config.nodes[i].name)
          got = placed.role;
      }
      EXPECT_EQ(got, want) << dir.filename().string() << ": " << p.id << " on "
                           << config->config.nodes[i].name;
    }
  }
  return text;
}

// What `hactl simulate --state` prints for the case (with why lines and interruptions), then
// `hactl explain` of every unit in it: tests/scheduler/<case>/explain.txt.
std::string explain_case(const fs::path& dir) {
  auto config = load_config_file((dir / "config.yaml").string());
  if (!config) return "config error: " + config.error().front().to_string();
  auto state =
      parse_state(config->config, slurp(dir / "state.yaml"), (dir / "state.yaml").string());
  if (!state) return "state error: " + state.error().front().to_string();
  const auto result = simulate(config->config, *state, SimulateRequest{});
  if (!result) return "simulate error: " + result.error();
  std::string out =
      "$ hactl simulate --config config.yaml --state state.yaml\n" + format_transition(*result);
  for (const Unit& u : make_units(config->config.resources)) {
    const auto e = explain(config->config, *state, u.id, std::nullopt);
    out += "\n$ hactl explain " + u.id + " --config config.yaml --state state.yaml\n";
    out += e ? format_explanation(*e) : "error: " + e.error() + "\n";
  }
  return out;
}

TEST(SchedulerGolden, EveryRecordedCaseExplained) {
  const fs::path root = fs::path(HACTL_SOURCE_DIR) / "tests" / "scheduler";
  const bool regen = std::getenv("HACTL_REGEN") != nullptr;
  std::size_t checked = 0;
  for (const auto& e : fs::directory_iterator(root)) {
    if (!e.is_directory()) continue;
    const std::string got = explain_case(e.path());
    if (regen) {
      std::ofstream(e.path() / "explain.txt") << got;
      continue;
    }
    EXPECT_EQ(got, slurp(e.path() / "explain.txt"))
        << "case " << e.path().filename().string() << " (HACTL_REGEN=1 rewrites expectations)";
    ++checked;
  }
  if (!regen) {
    EXPECT_GE(checked, 10u);
  }
}

TEST(SchedulerGolden, EveryRecordedCase) {
  const fs::path root = fs::path(HACTL_SOURCE_DIR) / "tests" / "scheduler";
  const bool regen = std::getenv("HACTL_REGEN") != nullptr;
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory()) cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  ASSERT_GE(cases.size(), 10u);
  for (const auto& dir : cases) {
    const std::string got = run_case(dir);
    if (regen) {
      std::ofstream(dir / "expected.txt") << got;
      continue;
    }
    EXPECT_EQ(got, slurp(dir / "expected.txt"))
        << "case " << dir.filename().string() << " (HACTL_REGEN=1 rewrites expectations)";
  }
}

}  // namespace
}  // namespace hactl
