// `hactl explain`'s pure core beyond the golden cases (tests/scheduler/*/explain.txt): operators'
// intents with the time left and the command that lifts them, a member explained as its group,
// one node only, quorum, unknown names, and that the terms account for every score.
#include "coordinator/explain.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/cluster_doc.hpp"
#include "common/limits.hpp"
#include "coordinator/state_file.hpp"
#include "tests/unit/recorded_case.hpp"

namespace hactl {
namespace {

namespace fs = std::filesystem;

using Case = testing::RecordedCase;
Case load(const std::string& name) { return testing::load_case(name); }

const nlohmann::json& node_of(const nlohmann::json& j, const std::string& node) {
  for (const auto& n : j["nodes"]) {
    if (n["node"] == node) return n;
  }
  static const nlohmann::json none;
  ADD_FAILURE() << "no node " << node << " in " << j.dump();
  return none;
}

TEST(Explain, AnOperatorsMoveAndBanNameTheirTimeLeftAndTheirUndo) {
  Case c = load("10-stickiness-prevents-failback");  // web (web-ip, web-app) on n2
  ClusterDoc doc;
  doc.placements.push_back({PlacementIntent::Kind::kPrefer, "web", "n3", 1000, 1000 + 3600, "op"});
  doc.placements.push_back({PlacementIntent::Kind::kBan, "web", "n1", 1000, 0, "op"});
  const ClusterConfig eff = effective_config(c.config, doc, 1000);
  const auto j = explain(eff, c.state, "web-app", std::nullopt, {.quorum = true, .now_unix = 1600});
  ASSERT_TRUE(j.has_value()) << j.error();
  EXPECT_EQ((*j)["unit"], "web");
  EXPECT_EQ((*j)["resource"], "web-app");
  EXPECT_EQ((*j)["decision"], "runs on n2; goes to n3");
  const auto& n3 = node_of(*j, "n3");
  ASSERT_EQ(n3["reasons"].size(), 1u);
  EXPECT_EQ(n3["reasons"][0]["kind"], "move");
  EXPECT_EQ(n3["reasons"][0]["text"],
            "an operator moved it here (hactl resource move, for another 50m)");
  EXPECT_EQ(n3["reasons"][0]["change"], "hactl resource clear web");
  const auto& n1 = node_of(*j, "n1");
  EXPECT_TRUE(n1["excluded"].get<bool>());
  bool ban = false;
  for (const auto& r : n1["reasons"]) {
    if (r["kind"] != "ban") continue;
    ban = true;
    EXPECT_EQ(r["text"], "an operator banned it from here (hactl resource ban, until cleared)");
    EXPECT_EQ(r["change"], "hactl resource clear web --node n1");
  }
  EXPECT_TRUE(ban) << n1.dump();
  EXPECT_EQ((*j)["quorum"], true);
  const std::string text = format_explanation(*j);
  EXPECT_NE(text.find("web-app (in group web) runs on n2; goes to n3."), std::string::npos) << text;
  EXPECT_NE(text.find("to change: hactl resource clear web --node n1"), std::string::npos) << text;
}

TEST(Explain, TheTermsAccountForEveryScore) {
  // Each node's score is the sum of its terms (saturating), or -inf when one of them is; held
  // back scores are capped. Over every golden case and unit.
  std::size_t checked = 0;
  for (const auto& dir : testing::recorded_case_dirs()) {
    const Case c = load(dir.filename().string());
    const Transition t = schedule(c.config, c.state, true);
    for (const UnitWhy& u : t.why) {
      for (std::size_t i = 0; i < c.config.nodes.size(); ++i) {
        int sum = 0;
        std::optional<int> cap;
        for (const auto& term : u.terms) {
          if (term.node != i || term.promotion()) continue;  // the promotion scores' own
          switch (term.kind) {
            case ScoreTerm::Kind::kHeldBack:
              cap = term.value;
              continue;
            default:
              sum = term.value >= limits::kInfinity ? sum : add_scores(sum, term.value);
          }
        }
        if (cap && sum > -limits::kInfinity) sum = *cap;
        EXPECT_EQ(u.scores[i], sum)
            << dir.filename().string() << ": " << u.unit << " on " << c.config.nodes[i].name;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 90u);
}

TEST(Explain, OneNodeOnlyAndNoQuorum) {
  const Case c = load("19-location-ban-and-preference");
  const auto j = explain(c.config, c.state, "db", "n3", {.quorum = false, .now_unix = 0});
  ASSERT_TRUE(j.has_value());
  ASSERT_EQ((*j)["nodes"].size(), 1u);
  EXPECT_EQ((*j)["nodes"][0]["node"], "n3");
  EXPECT_EQ((*j)["nodes"][0]["condition"], "offline");
  const std::string text = format_explanation(*j);
  EXPECT_NE(text.find("this node's partition has no quorum"), std::string::npos) << text;
  EXPECT_EQ(text.find("  n1:"), std::string::npos) << text;
  EXPECT_NE(text.find("-inf  n3 is offline"), std::string::npos) << text;
  EXPECT_NE(text.find("+50   location constraint in the configuration (n3: 50)"), std::string::npos)
      << text;
}

TEST(Explain, AMoveTheSchedulerWouldNotCarryOutIsRefusedWithWhy) {
  // 06: web-app failed 3 times on n1 (migration_threshold 3); the group runs there now.
  Case c = load("06-migration-threshold-moves-group");
  ClusterDoc doc;
  doc.placements.push_back({PlacementIntent::Kind::kPrefer, "web", "n1", 1000, 0, "op"});
  const auto r = check_intent(effective_config(c.config, doc, 1000), c.state, "web", "n1", true);
  ASSERT_TRUE(r.has_value()) << r.error();
  ASSERT_TRUE(r->refusal.has_value());
  EXPECT_EQ(*r->refusal,
            "cannot move web to n1: web-app failed 3 times here (migration_threshold 3); "
            "failures are forgotten 10m after the last (`hactl resource cleanup web-app --node "
            "n1`); nothing was changed");
  // Standby names the node's condition and its undo; a move that works is not refused.
  c.state.nodes[2] = NodeCondition::kStandby;
  ClusterDoc to3;
  to3.placements.push_back({PlacementIntent::Kind::kPrefer, "web", "n3", 1000, 0, "op"});
  const auto s = check_intent(effective_config(c.config, to3, 1000), c.state, "web", "n3", true);
  ASSERT_TRUE(s.has_value() && s->refusal.has_value());
  EXPECT_EQ(*s->refusal,
            "cannot move web to n3: n3 is in standby (`hactl node online n3`); nothing was "
            "changed");
  ClusterDoc to2;
  to2.placements.push_back({PlacementIntent::Kind::kPrefer, "web", "n2", 1000, 0, "op"});
  const auto ok = check_intent(effective_config(c.config, to2, 1000), c.state, "web", "n2", true);
  ASSERT_TRUE(ok.has_value());
  EXPECT_FALSE(ok->refusal.has_value()) << *ok->refusal;
  EXPECT_EQ(ok->nodes, std::vector<std::string>{"n2"});
}

TEST(Explain, UnknownNamesAreRefusedWithASuggestion) {
  const Case c = load("01-fresh-group-starts-in-order");
  const auto r = explain(c.config, c.state, "wbe-app", std::nullopt);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), "no resource is called 'wbe-app'; did you mean 'web-app'?");
  const auto n = explain(c.config, c.state, "web", "nn2");
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error(), "no node is called 'nn2'; did you mean 'n2'?");
}

}  // namespace
}  // namespace hactl
