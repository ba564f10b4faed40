// The status object's schema (docs/status.md): names, types, and what null means.
#include <gtest/gtest.h>

#include "agent/status_json.hpp"

namespace hactl {
namespace {

using std::chrono::milliseconds;

TEST(StatusJson, SchemaAndValues) {
  ClusterConfig c;
  c.name = "demo";
  c.nodes = {
      NodeConfig{.name = "n1", .address = {"10.213.0.11", 5405}, .witness = false, .capacity = {}},
      NodeConfig{.name = "n2", .address = {"10.213.0.12", 5405}, .witness = false, .capacity = {}},
      NodeConfig{.name = "w", .address = {"10.213.0.13", 5405}, .witness = true, .capacity = {}}};
  const Instant now{Duration{10'000'000}};
  NodeStatus s;
  s.self = NodeId{0};
  s.role = Role::kFollower;
  s.term = Term{4};
  s.coordinator = NodeId{1};
  s.quorum = true;
  s.lease_until = now + milliseconds{150};
  s.peers = {PeerStatus{NodeId{1}, true, now - milliseconds{20}, Duration{300}, ""},
             PeerStatus{NodeId{2}, false, now - milliseconds{2100}, std::nullopt,
                        "no heartbeat for 301ms"}};
  TransportCounters counters;
  counters.sent = 10;
  counters.dropped[static_cast<std::size_t>(DropReason::kAuthFailed)] = 3;
  const auto j = status_json(c, s, now, counters);
  EXPECT_EQ(j["cluster"], "demo");
  EXPECT_EQ(j["node"], "n1");
  EXPECT_EQ(j["role"], "follower");
  EXPECT_EQ(j["coordinator"], "n2");
  EXPECT_EQ(j["term"], 4);
  EXPECT_EQ(j["quorum"], true);
  EXPECT_DOUBLE_EQ(j["lease_remaining_ms"].get<double>(), 150.0);
  EXPECT_EQ(j["no_quorum_policy"], "stop");
  ASSERT_EQ(j["nodes"].size(), 3u);
  EXPECT_EQ(j["nodes"][0]["self"], true);
  EXPECT_EQ(j["nodes"][0]["last_heard_ms"], 0);
  EXPECT_EQ(j["nodes"][1]["coordinator"], true);
  EXPECT_EQ(j["nodes"][1]["state"], "online");
  EXPECT_EQ(j["nodes"][1]["last_heard_ms"], 20);
  EXPECT_DOUBLE_EQ(j["nodes"][1]["rtt_ms"].get<double>(), 0.3);
  EXPECT_EQ(j["nodes"][2]["state"], "offline");
  EXPECT_EQ(j["nodes"][2]["witness"], true);
  EXPECT_TRUE(j["nodes"][2]["rtt_ms"].is_null());
  EXPECT_EQ(j["nodes"][2]["reason"], "no heartbeat for 301ms");
  EXPECT_EQ(j["transport"]["sent"], 10);
  EXPECT_EQ(j["transport"]["dropped"]["auth_failed"], 3);
  EXPECT_EQ(j["transport"]["dropped"].size(), kDropReasonCount);

  s.coordinator.reset();
  s.quorum = false;
  s.lease_until.reset();
  const auto none = status_json(c, s, now, counters);
  EXPECT_TRUE(none["coordinator"].is_null());
  EXPECT_TRUE(none["lease_remaining_ms"].is_null());
}

}  // namespace
}  // namespace hactl
