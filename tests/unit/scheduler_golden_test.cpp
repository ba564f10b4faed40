// Scheduler regression cases (Pacemaker's cts/scheduler habit): each directory of
// tests/scheduler holds config.yaml, state.yaml and expected.txt, the transition a person
// checked. HACTL_REGEN=1 rewrites expected.txt (commit it only once the diff is understood).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/scheduler.hpp"
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
  const Transition t = schedule(config->config, *state);
  // The same input must give byte-identical output.
  EXPECT_EQ(describe(config->config, schedule(config->config, *state)),
            describe(config->config, t));
  return describe(config->config, t);
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
