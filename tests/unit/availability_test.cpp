// Availability accounting (coordinator/availability.hpp): what the watch reports as the cluster
// state changes, and the figures computed from such a history.
#include "coordinator/availability.hpp"

#include <gtest/gtest.h>

namespace hactl {
namespace {

ClusterConfig three_nodes() {
  auto c = parse_config(
      "cluster:\n  name: a\n  auth_key_file: /etc/hactl/authkey\n"
      "nodes:\n"
      "  - {name: n1, address: \"10.213.0.11:5405\"}\n"
      "  - {name: n2, address: \"10.213.0.12:5405\"}\n"
      "  - {name: n3, address: \"10.213.0.13:5405\"}\n"
      "resources:\n"
      "  - {id: ip, type: vip, params: {address: 10.213.0.100/24, interface: eth0}}\n"
      "  - {id: db, type: \"ocf:heartbeat:Dummy\"}\n",
      "a.yaml");
  EXPECT_TRUE(c.has_value());
  return c->config;
}

ClusterState on(const ClusterConfig& c, const std::string& ip, const std::string& db) {
  ClusterState s;
  s.nodes.assign(3, NodeCondition::kOnline);
  for (const auto& [id, where] : {std::pair{"ip", ip}, std::pair{"db", db}}) {
    auto& roles = s.roles[id];
    roles.assign(3, ResourceRole::kStopped);
    if (!where.empty()) roles[c.find_node(where)->value] = ResourceRole::kStarted;
  }
  return s;
}

using K = AvailabilityChange::Kind;

TEST(AvailabilityWatch, AVipOnANewNodeIsUpOnceVerified) {
  const ClusterConfig c = three_nodes();
  AvailabilityWatch w;
  EXPECT_TRUE(w.observe(c, on(c, "n1", ""), 1, {"ip"}).empty()) << "announced, not confirmed";
  EXPECT_EQ(w.observe(c, on(c, "n1", ""), 2),
            (std::vector<AvailabilityChange>{{K::kUp, "ip", "n1", "", 2}}));
  ClusterState lost = on(c, "n2", "");
  lost.nodes[0] = NodeCondition::kOffline;
  EXPECT_EQ(w.observe(c, lost, 3, {"ip"}),
            (std::vector<AvailabilityChange>{{K::kDown, "ip", "n1", "node_lost", 3}}));
  EXPECT_EQ(w.observe(c, lost, 4), (std::vector<AvailabilityChange>{{K::kUp, "ip", "n2", "", 4}}));
}

TEST(AvailabilityWatch, ReportsUpsDownsAndTheirCauses) {
  const ClusterConfig c = three_nodes();
  AvailabilityWatch w;
  EXPECT_EQ(w.observe(c, on(c, "n1", ""), 1),
            (std::vector<AvailabilityChange>{{K::kUp, "ip", "n1", "initial", 1}}));
  EXPECT_TRUE(w.observe(c, on(c, "n1", ""), 2).empty());
  // n1 lost: its resources are down, and why.
  ClusterState lost = on(c, "n1", "");
  lost.nodes[0] = NodeCondition::kUnclean;
  EXPECT_EQ(w.observe(c, lost, 3),
            (std::vector<AvailabilityChange>{{K::kDown, "ip", "n1", "node_lost", 3}}));
  EXPECT_EQ(
      w.observe(c, on(c, "n2", "n3"), 4),
      (std::vector<AvailabilityChange>{{K::kUp, "ip", "n2", "", 4}, {K::kUp, "db", "n3", "", 4}}));
  // Between two looks, n2 was lost and ip already started on n1 (a vip starts when the lost
  // node's lease is over): a down and an up at once.
  ClusterState moved = on(c, "n1", "n3");
  moved.nodes[1] = NodeCondition::kOffline;
  moved.roles["ip"][1] = ResourceRole::kStarted;
  EXPECT_EQ(w.observe(c, moved, 5),
            (std::vector<AvailabilityChange>{{K::kDown, "ip", "n2", "node_lost", 5},
                                             {K::kUp, "ip", "n1", "", 5}}));
  EXPECT_TRUE(w.observe(c, on(c, "n1", "n3"), 6).empty());
  // A refresh of the vip where it is up (its check pending again) changes nothing.
  EXPECT_TRUE(w.observe(c, on(c, "n1", "n3"), 6, {"ip"}).empty());
  // db's monitor failed and it was stopped for recovery; ip stopped by an operator.
  ClusterState failed = on(c, "", "");
  failed.failed["db"] = {false, false, true};
  EXPECT_EQ(w.observe(c, failed, 7),
            (std::vector<AvailabilityChange>{{K::kDown, "ip", "n1", "stopped", 7},
                                             {K::kDown, "db", "n3", "failed", 7}}));
}

constexpr std::int64_t kS = 1'000'000;

TEST(Availability, UptimeOutagesFailoversAndTimeToRecover) {
  // Observed from t=0 to t=100 s: ip up on n1, n1 lost at 50 s, up on n2 at 50.5 s; stopped by
  // an operator at 80 s, started again on n2 at 81 s. db never up.
  const std::vector<AvailabilityChange> h = {
      {K::kUp, "ip", "n1", "initial", 0},         {K::kDown, "ip", "n1", "node_lost", 50 * kS},
      {K::kUp, "ip", "n2", "", 50 * kS + kS / 2}, {K::kDown, "ip", "n2", "stopped", 80 * kS},
      {K::kUp, "ip", "n2", "", 81 * kS},
  };
  const auto st = availability(h, {"ip", "db"}, 100 * kS, 86'400 * kS);
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].resource, "ip");
  EXPECT_DOUBLE_EQ(st[0].uptime_percent, 98.5);
  EXPECT_EQ(st[0].observed_s, 100);
  EXPECT_EQ(st[0].outages, 2);
  EXPECT_EQ(st[0].failovers, 1);
  ASSERT_TRUE(st[0].mttr_s.has_value());
  EXPECT_DOUBLE_EQ(*st[0].mttr_s, 0.5);
  EXPECT_TRUE(st[0].up);
  EXPECT_EQ(st[1].resource, "db");
  EXPECT_DOUBLE_EQ(st[1].uptime_percent, 0.0);
  EXPECT_FALSE(st[1].mttr_s.has_value());
  EXPECT_FALSE(st[1].up);
}

TEST(Availability, OnlyTheWindowCountsAndARecoveryInPlaceIsNoFailover) {
  // A 10 s window ending at 100 s: the fault at 20 s is outside it; a failure recovered on the
  // same node at 95 s (down 1 s) is an outage with a recovery time, not a failover; still down
  // at the end counts to the end.
  const std::vector<AvailabilityChange> h = {
      {K::kUp, "ip", "n1", "initial", 0}, {K::kDown, "ip", "n1", "node_lost", 20 * kS},
      {K::kUp, "ip", "n2", "", 22 * kS},  {K::kDown, "ip", "n2", "failed", 94 * kS},
      {K::kUp, "ip", "n2", "", 95 * kS},  {K::kDown, "ip", "n2", "node_lost", 99 * kS},
  };
  const auto st = availability(h, {"ip"}, 100 * kS, 10 * kS);
  EXPECT_EQ(st[0].observed_s, 10);
  EXPECT_DOUBLE_EQ(st[0].uptime_percent, 80.0);  // down 94-95 and 99-100
  EXPECT_EQ(st[0].outages, 2);
  EXPECT_EQ(st[0].failovers, 0);
  ASSERT_TRUE(st[0].mttr_s.has_value());
  EXPECT_DOUBLE_EQ(*st[0].mttr_s, 1.0);
  EXPECT_FALSE(st[0].up);
}

}  // namespace
}  // namespace hactl
