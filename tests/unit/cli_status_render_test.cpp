// Golden test of the human `hactl status` screen for a fixed cluster state.
#include <gtest/gtest.h>

#include "cli/status_render.hpp"

namespace hactl {
namespace {

TEST(StatusRender, Golden) {
  const auto status = nlohmann::json::parse(R"({
    "cluster": "demo", "node": "n1", "role": "follower", "coordinator": "n2", "term": 7,
    "quorum": true, "lease_remaining_ms": 180.5, "no_quorum_policy": "stop",
    "nodes": [
      {"name": "n1", "state": "online", "witness": false, "coordinator": false, "self": true,
       "last_heard_ms": 0, "rtt_ms": null, "reason": ""},
      {"name": "n2", "state": "online", "witness": false, "coordinator": true, "self": false,
       "last_heard_ms": 20, "rtt_ms": 0.31, "reason": ""},
      {"name": "w", "state": "online", "witness": true, "coordinator": false, "self": false,
       "last_heard_ms": 31, "rtt_ms": 0.2, "reason": ""},
      {"name": "n3", "state": "offline", "witness": false, "coordinator": false, "self": false,
       "last_heard_ms": 2100, "rtt_ms": null, "reason": "no heartbeat for 301ms"}
    ]})");
  EXPECT_EQ(render_status(status),
            "Cluster demo  node n1  term 7  quorum yes\n"
            "Coordinator: n2\n"
            "\n"
            "NODE  STATE    ROLE                LAST HEARD  RTT    REASON\n"
            "n1    online   member (this node)  -           -\n"
            "n2    online   coordinator         20ms ago    0.3ms\n"
            "w     online   witness             31ms ago    0.2ms\n"
            "n3    offline  member              2.1s ago    -      no heartbeat for 301ms\n");
}

TEST(StatusRender, NoQuorumIsSaidPlainly) {
  const auto status = nlohmann::json::parse(R"({"cluster": "demo", "node": "n1", "term": 3,
    "quorum": false, "coordinator": null, "no_quorum_policy": "stop", "nodes": []})");
  const auto text = render_status(status);
  EXPECT_NE(text.find("quorum NO"), std::string::npos);
  EXPECT_NE(text.find("Coordinator: none known"), std::string::npos);
  EXPECT_NE(text.find("This node has no quorum: it runs no resources (no_quorum_policy stop)."),
            std::string::npos);
}

// A `config apply` under way: what it stops first shows beside the resources it disabled.
TEST(StatusRender, ASequenceUnderWay) {
  const auto status = nlohmann::json::parse(R"js({"cluster": "demo", "node": "n1", "term": 3,
    "quorum": true, "coordinator": "n1", "no_quorum_policy": "stop", "nodes": [],
    "document": {"config_version": 4, "config_applied": 0, "config_by": "root",
      "placements": [], "held": [], "disabled": ["db", "web"],
      "sequence": {"id": 2, "kind": "config apply", "stopping": ["db", "web"],
        "enable": ["db", "web"], "started": 100, "deadline": 220, "deadline_in_s": 95,
        "by": "uid 0 (root)"}}})js");
  const auto text = render_status(status);
  EXPECT_NE(text.find("  disabled db\n  disabled web\n"
                      "Under way: config apply #2 by uid 0 (root), stopping db, web first; undone "
                      "in 1m35s if that has not stopped\n"),
            std::string::npos)
      << text;
}

TEST(StatusRender, Ages) {
  EXPECT_EQ(format_age_ms(0), "0ms");
  EXPECT_EQ(format_age_ms(999), "999ms");
  EXPECT_EQ(format_age_ms(2100), "2.1s");
  EXPECT_EQ(format_age_ms(190'000), "3m10s");
  EXPECT_EQ(format_age_ms(7'300'000), "2h1m");
}

}  // namespace
}  // namespace hactl
