// The agent's durable term/vote file: round trip, atomic replace, refusal of corrupt state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/state_store.hpp"

namespace hactl {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hactl-state-" + std::to_string(getpid()));
    config_.nodes = {
        NodeConfig{.name = "n1", .address = {"127.0.0.1", 1}, .witness = false, .capacity = {}},
        NodeConfig{.name = "n2", .address = {"127.0.0.1", 2}, .witness = false, .capacity = {}}};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  ClusterConfig config_;
};

TEST_F(StateStoreTest, MissingFileIsAFreshNode) {
  StateStore s(config_, dir_.string(), "n1");
  ASSERT_TRUE(s.prepare());
  auto st = s.load();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->hard.term, Term{0});
  EXPECT_FALSE(st->hard.voted_for);
}

TEST_F(StateStoreTest, RoundTripAndReplace) {
  StateStore s(config_, dir_.string(), "n1");
  ASSERT_TRUE(s.prepare());
  ASSERT_TRUE(s.save(PersistentState{HardState{Term{7}, NodeId{1}}, 42}));
  ASSERT_TRUE(s.save(PersistentState{HardState{Term{8}, std::nullopt}, 43}));
  auto st = s.load();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->hard, (HardState{Term{8}, std::nullopt}));
  EXPECT_EQ(st->incarnation, 43u);
  EXPECT_FALSE(std::filesystem::exists(s.path() + ".tmp"));
  EXPECT_EQ(std::filesystem::status(dir_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
}

TEST_F(StateStoreTest, CorruptOrForeignStateIsRefused) {
  StateStore s(config_, dir_.string(), "n1");
  ASSERT_TRUE(s.prepare());
  for (const char* text : {"", "{", "[]", "{\"term\": -1, \"incarnation\": 1}", "{\"term\": 1}",
                           "{\"term\": 1, \"incarnation\": 1, \"voted_for\": \"n9\"}"}) {
    std::ofstream(s.path()) << text;
    auto st = s.load();
    ASSERT_FALSE(st) << text;
    EXPECT_NE(st.error().find("refusing to start"), std::string::npos) << st.error();
  }
}

TEST(Incarnation, NeverGoesBackwards) {
  EXPECT_EQ(next_incarnation(0, 1000), 1000u);
  EXPECT_EQ(next_incarnation(5000, 1000), 5001u);  // wall clock stepped back
  EXPECT_EQ(next_incarnation(1000, 1000), 1001u);
}

}  // namespace
}  // namespace hactl
