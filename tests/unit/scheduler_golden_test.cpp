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
#include <functional>
#include <sstream>

#include "coordinator/explain.hpp"
#include "coordinator/placement.hpp"
#include "coordinator/scheduler.hpp"
#include "coordinator/simulate.hpp"
#include "coordinator/state_file.hpp"
#include "tests/unit/recorded_case.hpp"

namespace hactl {
namespace {

namespace fs = std::filesystem;

using testing::slurp;

std::string run_case(const fs::path& dir) {
  std::string error;
  const auto c = testing::read_case(dir, error);
  if (!c) return error;
  const auto result = simulate(c->config, c->state, SimulateRequest{});
  if (!result) return "simulate error: " + result.error();
  const std::string text = describe(c->config, result->transition);
  // The same input must give byte-identical output.
  const auto again = simulate(c->config, c->state, SimulateRequest{});
  EXPECT_TRUE(again.has_value());
  if (again) {
    EXPECT_EQ(describe(c->config, again->transition), text);
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
  for (const auto& p : c->config.resources.primitives) {
    const auto target = result->transition.target.find(p.id);
    for (std::size_t i = 0; i < c->config.nodes.size(); ++i) {
      const NodeCondition cond = result->state.nodes[i];
      if (cond != NodeCondition::kOnline && cond != NodeCondition::kStandby) continue;
      const ResourceRole want =
          target == result->transition.target.end() ? ResourceRole::kStopped : target->second[i];
      ResourceRole got = ResourceRole::kStopped;
      for (const auto& placed : result->placement) {
        if (placed.resource == p.id && placed.node == c->config.nodes[i].name) got = placed.role;
      }
      EXPECT_EQ(got, want) << dir.filename().string() << ": " << p.id << " on "
                           << c->config.nodes[i].name;
    }
  }
  return text;
}

// What `hactl simulate --state` prints for the case (with why lines and interruptions), then
// `hactl explain` of every unit in it: tests/scheduler/<case>/explain.txt.
std::string explain_case(const fs::path& dir) {
  std::string error;
  const auto c = testing::read_case(dir, error);
  if (!c) return error;
  const auto result = simulate(c->config, c->state, SimulateRequest{});
  if (!result) return "simulate error: " + result.error();
  std::string out =
      "$ hactl simulate --config config.yaml --state state.yaml\n" + format_transition(*result);
  for (const Unit& u : make_units(c->config.resources)) {
    const auto e = explain(c->config, c->state, u.id, std::nullopt);
    out += "\n$ hactl explain " + u.id + " --config config.yaml --state state.yaml\n";
    out += e ? format_explanation(*e) : "error: " + e.error() + "\n";
  }
  return out;
}

// Each case's output against the file that holds what a person checked (HACTL_REGEN=1 rewrites
// them: commit only once the diff is understood).
void check_every_case(const char* file, const std::function<std::string(const fs::path&)>& run) {
  const bool regen = std::getenv("HACTL_REGEN") != nullptr;
  const auto cases = testing::recorded_case_dirs();
  ASSERT_GE(cases.size(), 10u);
  for (const auto& dir : cases) {
    const std::string got = run(dir);
    if (regen) {
      std::ofstream(dir / file) << got;
      continue;
    }
    EXPECT_EQ(got, slurp(dir / file))
        << "case " << dir.filename().string() << " (HACTL_REGEN=1 rewrites expectations)";
  }
}

TEST(SchedulerGolden, EveryRecordedCaseExplained) { check_every_case("explain.txt", explain_case); }

TEST(SchedulerGolden, EveryRecordedCase) { check_every_case("expected.txt", run_case); }

}  // namespace
}  // namespace hactl
