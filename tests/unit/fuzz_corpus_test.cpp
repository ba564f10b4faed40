// Every file of tests/fuzz/<target>/ (seeds, the corpus the fuzzers grew, and any input that
// once failed) replayed through its harness in the normal build: a fuzz finding, once committed
// there, is a permanent test.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/fuzz/harness.hpp"

namespace hactl::fuzz {

// gtest names a target by its name (found by argument-dependent lookup, so not in the
// anonymous namespace).
void PrintTo(const Target& target, std::ostream* os);
void PrintTo(const Target& target, std::ostream* os) { *os << target.name; }

namespace {

class FuzzCorpus : public testing::TestWithParam<Target> {};

TEST_P(FuzzCorpus, EveryFileHolds) {
  const Target target = GetParam();
  const auto dir = std::filesystem::path(HACTL_SOURCE_DIR) / "tests/fuzz" / target.name;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
    EXPECT_EQ(target.run(bytes), "") << entry.path();
    ++files;
  }
  EXPECT_GT(files, 0U) << "no corpus in " << dir;
}

std::string target_name(const testing::TestParamInfo<Target>& param) {
  return std::string(param.param.name);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpus, testing::ValuesIn(kTargets), target_name);

// The seeds are what the codec seals now, so each opens and re-seals (a change of the wire
// format that leaves the committed seeds behind still passes: they are then dropped, not lost).
TEST(FuzzSeeds, DatagramSeedsOpen) {
  const auto seeds = datagram_seeds();
  ASSERT_EQ(seeds.size(), 19U + 6U);  // every node message, and the arbiter's six
  for (const auto& s : seeds) EXPECT_EQ(datagram(s), "");
}

}  // namespace
}  // namespace hactl::fuzz
