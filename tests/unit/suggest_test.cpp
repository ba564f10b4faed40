#include "common/suggest.hpp"

#include <gtest/gtest.h>

namespace hactl {
namespace {

TEST(Suggest, EditDistanceCountsASwapAsOneEdit) {
  EXPECT_EQ(edit_distance("node2", "node2"), 0u);
  EXPECT_EQ(edit_distance("nod2", "node2"), 1u);
  EXPECT_EQ(edit_distance("ndoe2", "node2"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Suggest, ACloseTypoIsSuggestedAndAStrangerIsNot) {
  const std::vector<std::string> nodes = {"alpha", "bravo", "n1", "n2"};
  EXPECT_EQ(closest_name("bravp", nodes), "bravo");
  EXPECT_EQ(closest_name("alhpa", nodes), "alpha");
  EXPECT_EQ(closest_name("zulu", nodes), std::nullopt);
  EXPECT_EQ(closest_name("n3", nodes), "n1");  // one edit of two characters: still a typo
  EXPECT_EQ(unknown_name_message("node", "bravp", nodes),
            "no node is called 'bravp'; did you mean 'bravo'?");
  EXPECT_EQ(unknown_name_message("node", "zulu", nodes),
            "no node is called 'zulu'; known: alpha, bravo, n1, n2");
}

}  // namespace
}  // namespace hactl
