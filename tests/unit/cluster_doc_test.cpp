// The cluster document: its bytes, and what the scheduler takes from it.
#include "common/cluster_doc.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace hactl {
namespace {

const char* kConfig = R"(cluster:
  name: c
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
resources:
  - id: ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
  - id: app
    type: exec:/bin/true
groups:
  - id: web
    members: [ip, app]
)";

TEST(ClusterDoc, RoundTripsWithFlapHolds) {
  ClusterDoc d;
  d.config_version = 3;
  d.config_text = kConfig;
  d.standby = {"n2"};
  d.placements.push_back({PlacementIntent::Kind::kPrefer, "web", "n1", 10, 0, "uid 0"});
  d.placements.push_back(
      {PlacementIntent::Kind::kBan, "db", "n2", 10, 0, "uid 0", RoleFilter::kPromoted});
  d.held.push_back(FlapHold{"web", "n2", 1700000000, 7, 3600});
  const auto back = doc_from_bytes(doc_to_bytes(d));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, d);
  EXPECT_EQ(d.held[0].why(), "7 moves within 1h");
  // A placement of the whole resource names no role (an agent of an earlier version reads it).
  const auto j = nlohmann::json::parse(doc_to_bytes(d));
  EXPECT_FALSE(j["placements"][0].contains("role"));
  EXPECT_EQ(j["placements"][1]["role"], "promoted");
  auto bad = j;
  bad["placements"][1]["role"] = "unpromoted";
  EXPECT_FALSE(doc_from_bytes(bad.dump()));
}

TEST(ClusterDoc, RoundTripsWithSequences) {
  ClusterDoc d;
  d.config_text = kConfig;
  // Without one, the bytes name none (an agent of an earlier version reads them as before).
  EXPECT_EQ(doc_to_bytes(d).find("sequence"), std::string::npos);
  OperatorSequence s;
  s.kind = OperatorSequence::Kind::kConfigApply;
  s.id = 4;
  s.stopping = {"web"};
  s.enable = {"web"};
  s.started = 100;
  s.deadline = 220;
  s.by = "uid 0 from v2.yaml";
  s.config_text = "text";
  s.over_version = 2;
  s.removed = {"app"};
  d.sequence = s;
  d.last_sequence = SequenceEnd{3, OperatorSequence::Kind::kRestart, false, "why", 90, 0};
  const auto back = doc_from_bytes(doc_to_bytes(d));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, d);
  auto bytes = doc_to_bytes(d);
  bytes.replace(bytes.find("\"config_apply\""), 14, "\"reboot\"");
  EXPECT_FALSE(doc_from_bytes(bytes).has_value());
}

TEST(ClusterDoc, ADocumentFromBeforeFlapHoldsHasNone) {
  ClusterDoc d;
  d.config_text = kConfig;
  auto j = doc_to_bytes(d);
  const auto at = j.find(",\"held\":[]");
  ASSERT_NE(at, std::string::npos) << j;
  j.erase(at, std::string(",\"held\":[]").size());
  const auto back = doc_from_bytes(j);
  ASSERT_TRUE(back) << back.error();
  EXPECT_TRUE(back->held.empty());
}

TEST(ClusterDoc, HeldResourcesAreTopLevelOnesTheConfigurationHas) {
  auto cfg = parse_config(kConfig, "c.yaml");
  ASSERT_TRUE(cfg);
  ClusterDoc d;
  d.held = {FlapHold{"web", "n1", 1, 7, 3600}, FlapHold{"ip", "n1", 1, 7, 3600},
            FlapHold{"gone", "n1", 1, 7, 3600}};
  const auto held = held_resources(cfg->config.resources, d);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held.at("web"), "7 moves within 1h");
}

TEST(ClusterDoc, AnOperatorsMoveIsMarkedAsAnIntent) {
  auto cfg = parse_config(kConfig, "c.yaml");
  ASSERT_TRUE(cfg);
  ClusterDoc d;
  d.placements.push_back({PlacementIntent::Kind::kPrefer, "web", "n2", 10, 0, "uid 0"});
  d.placements.push_back({PlacementIntent::Kind::kBan, "web", "n1", 10, 0, "uid 0"});
  const auto eff = effective_config(cfg->config, d, 20);
  ASSERT_EQ(eff.resources.locations.size(), 2u);
  EXPECT_TRUE(eff.resources.locations[0].is_move());
  EXPECT_EQ(eff.resources.locations[0].node, "n2");
  EXPECT_FALSE(eff.resources.locations[1].is_move()) << "a ban is not a place to move to";
  EXPECT_EQ(eff.resources.locations[1].origin, LocationConstraint::Origin::kBan);
}

}  // namespace
}  // namespace hactl
