// The scheduler's recorded cases (tests/scheduler/<case>/{config.yaml,state.yaml}), loaded for
// the unit tests that run the pure core on them (golden, simulate, explain, config plans).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "coordinator/cluster_state.hpp"
#include "coordinator/state_file.hpp"

namespace hactl::testing {

inline const std::filesystem::path& recorded_cases_dir() {
  static const std::filesystem::path dir =
      std::filesystem::path(HACTL_SOURCE_DIR) / "tests" / "scheduler";
  return dir;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct RecordedCase {
  std::string name;
  ClusterConfig config;
  ClusterState state;
};

// A case's configuration and its state (or `state_yaml` instead, when given); nullopt with the
// first error, file and line, in `error`.
inline std::optional<RecordedCase> read_case(const std::filesystem::path& dir, std::string& error,
                                             const std::string& state_yaml = "") {
  auto config = load_config_file((dir / "config.yaml").string());
  if (!config) {
    error = "config error: " + config.error().front().to_string();
    return std::nullopt;
  }
  const std::string text = state_yaml.empty() ? slurp(dir / "state.yaml") : state_yaml;
  auto state = parse_state(config->config, text, (dir / "state.yaml").string());
  if (!state) {
    error = "state error: " + state.error().front().to_string();
    return std::nullopt;
  }
  return RecordedCase{dir.filename().string(), config->config, *state};
}

// The same, failing the test on an error.
inline RecordedCase load_case(const std::string& name, const std::string& state_yaml = "") {
  std::string error;
  auto c = read_case(recorded_cases_dir() / name, error, state_yaml);
  EXPECT_TRUE(c.has_value()) << name << ": " << error;
  return c ? *c : RecordedCase{};
}

// Every case directory, sorted.
inline std::vector<std::filesystem::path> recorded_case_dirs() {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(recorded_cases_dir())) {
    if (e.is_directory()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace hactl::testing
