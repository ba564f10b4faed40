// Golden tests of the human `hactl status` screen: every tests/golden/status-*.json (a fixed
// `hactl status --json` answer, in the shape Agent::status() emits; docs/status.schema.json
// describes it and tests/integration/test_status_schema.py checks the fixtures against it) is
// rendered by render_status() and compared byte for byte with the .txt file of the same name.
//
// A failure prints a line diff ("-" golden, "+" rendered; trailing blanks shown as '~', so
// whitespace changes are visible) and the rendered text in full.
//
// After an intended change to the screen, regenerate the golden files and review the diff:
//   HACTL_UPDATE_GOLDEN=1 <build>/bin/hactl_unit_tests --gtest_filter='*StatusGolden*'
//   git diff tests/golden/
// A new fixture is picked up by adding tests/golden/status-NAME.json (run once with
// HACTL_UPDATE_GOLDEN=1 to write its .txt, then read it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/status_render.hpp"
#include "tests/unit/line_diff.hpp"

namespace hactl {
namespace {

namespace fs = std::filesystem;
using testing::line_diff;

fs::path golden_dir() { return fs::path(HACTL_SOURCE_DIR) / "tests" / "golden"; }

// The fixtures' names ("healthy" for status-healthy.json), sorted.
std::vector<std::string> fixtures() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(golden_dir(), ec)) {
    const std::string file = e.path().filename().string();
    if (file.starts_with("status-") && file.ends_with(".json")) {
      names.push_back(file.substr(7, file.size() - 7 - 5));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class StatusGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(StatusGolden, RendersAsGolden) {
  const fs::path json_path = golden_dir() / ("status-" + GetParam() + ".json");
  const fs::path txt_path = golden_dir() / ("status-" + GetParam() + ".txt");
  const auto status = nlohmann::json::parse(read_file(json_path), nullptr, false);
  ASSERT_FALSE(status.is_discarded()) << json_path << " is not valid JSON";
  const std::string got = render_status(status);

  const char* update = std::getenv("HACTL_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(txt_path, std::ios::binary | std::ios::trunc) << got;
    std::cout << "[ golden   ] wrote " << txt_path.string() << "\n";
    return;
  }
  ASSERT_TRUE(fs::exists(txt_path))
      << txt_path << " is missing; write it with HACTL_UPDATE_GOLDEN=1 and review it";
  const std::string want = read_file(txt_path);
  if (got == want) return;
  ADD_FAILURE() << "render_status(" << json_path.filename().string() << ") differs from "
                << txt_path.string() << "\n--- golden\n+++ rendered\n"
                << line_diff(want, got) << "----- rendered, in full -----\n"
                << got << "----- end -----\n"
                << "If the change is intended: HACTL_UPDATE_GOLDEN=1 hactl_unit_tests "
                   "--gtest_filter='*StatusGolden*', then review git diff tests/golden/";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StatusGolden, ::testing::ValuesIn(fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(StatusGoldenFixtures, AtLeastAHealthyAndANoQuorumCluster) {
  const auto names = fixtures();
  EXPECT_NE(std::find(names.begin(), names.end(), "healthy"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "no-quorum"), names.end());
}

TEST(StatusGoldenDiff, ShowsChangedLinesAndTrailingBlanks) {
  EXPECT_EQ(line_diff("a\nb\nc\n", "a\nb \nc\n"), "  a\n- b\n+ b~\n  c\n");
  EXPECT_EQ(line_diff("a\n", "a\nb\n"), "  a\n+ b\n");
  EXPECT_EQ(line_diff("a\nb", "a\n"), "  a\n- b\\ (no newline at end)\n");
}

}  // namespace
}  // namespace hactl
