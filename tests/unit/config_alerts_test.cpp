// The `alerts:` section of the cluster YAML: defaults, every key, and each error with its
// file:line:column and field path.
#include <gtest/gtest.h>

#include "common/config.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

constexpr const char* kBase = R"(cluster:
  name: demo
  auth_key_file: /etc/hactl/authkey
nodes:
  - name: n1
    address: 10.213.0.11:5405
  - name: n2
    address: 10.213.0.12:5405
  - name: w
    address: 10.213.0.13:5405
    witness: true
)";  // 11 lines: `alerts:` is on line 12

ClusterConfig parsed(const std::string& alerts) {
  auto r = parse_config(std::string(kBase) + alerts, "cluster.yaml");
  EXPECT_TRUE(r) << (r ? "" : r.error().front().to_string());
  return r ? r->config : ClusterConfig{};
}

std::vector<std::string> errors(const std::string& alerts) {
  auto r = parse_config(std::string(kBase) + alerts, "cluster.yaml");
  EXPECT_FALSE(r) << "expected errors for:\n" << alerts;
  std::vector<std::string> out;
  if (!r) {
    for (const auto& e : r.error()) out.push_back(e.to_string());
  }
  return out;
}

std::string only_error(const std::string& alerts) {
  const auto e = errors(alerts);
  EXPECT_EQ(e.size(), 1u) << ::testing::PrintToString(e);
  return e.empty() ? "" : e.front();
}

TEST(ConfigAlerts, AbsentMeansNone) { EXPECT_TRUE(parsed("").alerts.empty()); }

TEST(ConfigAlerts, DefaultsFromPathOnly) {
  const auto c = parsed("alerts:\n  - path: /usr/local/lib/hactl/notify-mail.sh\n");
  ASSERT_EQ(c.alerts.size(), 1u);
  const AlertConfig& a = c.alerts[0];
  EXPECT_EQ(a.id, "notify-mail.sh");
  EXPECT_EQ(a.path, "/usr/local/lib/hactl/notify-mail.sh");
  EXPECT_EQ(a.timeout, 30s);
  EXPECT_TRUE(a.kinds.empty());
  EXPECT_EQ(a.retries, 2);
  EXPECT_EQ(a.retry_delay, 5s);
  EXPECT_TRUE(a.wants("node_down"));
  EXPECT_TRUE(a.wants("anything"));
}

TEST(ConfigAlerts, EveryKey) {
  const auto c = parsed(
      "alerts:\n"
      "  - id: pager\n"
      "    path: /opt/hooks/page\n"
      "    timeout: 10m\n"
      "    kinds: [node_down, action_finished]\n"
      "    retries: 0\n"
      "    retry_delay: 0s\n"
      "  - {path: /opt/hooks/page, id: page2, retries: 10, retry_delay: 1h, timeout: 1ms}\n");
  ASSERT_EQ(c.alerts.size(), 2u);
  const AlertConfig& a = c.alerts[0];
  EXPECT_EQ(a.id, "pager");
  EXPECT_EQ(a.timeout, 10min);
  EXPECT_EQ(a.kinds, (std::vector<std::string>{"node_down", "action_finished"}));
  EXPECT_EQ(a.retries, 0);
  EXPECT_EQ(a.retry_delay, 0s);
  EXPECT_TRUE(a.wants("action_finished"));
  EXPECT_FALSE(a.wants("node_up"));
  EXPECT_EQ(c.alerts[1].id, "page2");
  EXPECT_EQ(c.alerts[1].retries, 10);
  EXPECT_EQ(c.alerts[1].retry_delay, 1h);
  EXPECT_EQ(c.alerts[1].timeout, 1ms);
}

TEST(ConfigAlerts, WrongShapes) {
  EXPECT_EQ(only_error("alerts:\n  path: /x\n"),
            "cluster.yaml:13:3: alerts: expected a list of alert hooks, got a map");
  EXPECT_EQ(only_error("alerts:\n"),
            "cluster.yaml:13:1: alerts: expected a list of alert hooks, got nothing");
  EXPECT_EQ(only_error("alerts:\n  - /bin/true\n"),
            "cluster.yaml:13:5: alerts[0]: expected a map, got a scalar");
  std::string many = "alerts:\n";
  for (int i = 0; i < 33; ++i) many += "  - {path: /h/a" + std::to_string(i) + "}\n";
  EXPECT_NE(only_error(many).find("alerts: must list at most 32 alert hooks, got 33"),
            std::string::npos);
}

TEST(ConfigAlerts, UnknownKeySuggestsTheCloseOne) {
  const auto e = only_error("alerts:\n  - path: /x/y\n    retrys: 3\n");
  EXPECT_EQ(e.rfind("cluster.yaml:14:5: alerts[0].retrys: unknown key 'retrys' (did you mean "
                    "'retries'?)",
                    0),
            0u)
      << e;
}

TEST(ConfigAlerts, PathRequiredAndAbsolute) {
  EXPECT_EQ(only_error("alerts:\n  - timeout: 1s\n"),
            "cluster.yaml:13:5: alerts[0].path: required key 'path' is missing");
  EXPECT_EQ(only_error("alerts:\n  - path: hooks/page\n"),
            "cluster.yaml:13:11: alerts[0].path: must be the absolute path of an executable file, "
            "got 'hooks/page'");
  EXPECT_NE(only_error("alerts:\n  - path: /opt/hooks/\n").find("alerts[0].path: must be"),
            std::string::npos);
  EXPECT_NE(
      only_error("alerts:\n  - path: [/a]\n").find("alerts[0].path: expected a string, got a list"),
      std::string::npos);
}

TEST(ConfigAlerts, IdsValidAndUnique) {
  EXPECT_EQ(only_error("alerts:\n  - {path: /a/page}\n  - {path: /b/page}\n"),
            "cluster.yaml:14:12: alerts[1].path: duplicate alert id 'page' (also alerts[0]); set "
            "'id' to tell them apart");
  EXPECT_EQ(only_error("alerts:\n  - {path: /a/page}\n  - {path: /b/x, id: page}\n"),
            "cluster.yaml:14:22: alerts[1].id: duplicate alert id 'page' (also alerts[0])");
  EXPECT_NE(only_error("alerts:\n  - {path: /a/x, id: 'a b'}\n")
                .find("alerts[0].id: must be 1 to 63 characters"),
            std::string::npos);
  EXPECT_NE(only_error("alerts:\n  - {path: '/a/my hook'}\n")
                .find("alerts[0].path: the file name 'my hook' is not a valid alert id"),
            std::string::npos);
  // An explicit id makes any file name fine.
  EXPECT_EQ(parsed("alerts:\n  - {path: '/a/my hook', id: mine}\n").alerts[0].id, "mine");
}

TEST(ConfigAlerts, DurationsBounded) {
  EXPECT_EQ(only_error("alerts:\n  - path: /a/b\n    timeout: 11m\n"),
            "cluster.yaml:14:14: alerts[0].timeout: must be between 1ms and 10m, got 11m");
  EXPECT_NE(only_error("alerts:\n  - path: /a/b\n    timeout: 0s\n")
                .find("alerts[0].timeout: must be between 1ms and 10m"),
            std::string::npos);
  EXPECT_NE(only_error("alerts:\n  - path: /a/b\n    timeout: 30\n")
                .find("cluster.yaml:14:14: alerts[0].timeout: '30' has no unit"),
            std::string::npos);
  EXPECT_NE(only_error("alerts:\n  - path: /a/b\n    retry_delay: 2h\n")
                .find("alerts[0].retry_delay: must be between 0ms and 1h, got 2h"),
            std::string::npos);
}

TEST(ConfigAlerts, RetriesBounded) {
  EXPECT_EQ(only_error("alerts:\n  - path: /a/b\n    retries: 11\n"),
            "cluster.yaml:14:14: alerts[0].retries: expected a whole number from 0 to 10, got "
            "'11'");
  EXPECT_NE(only_error("alerts:\n  - path: /a/b\n    retries: -1\n").find("alerts[0].retries"),
            std::string::npos);
  EXPECT_NE(only_error("alerts:\n  - path: /a/b\n    retries: two\n").find("got 'two'"),
            std::string::npos);
}

TEST(ConfigAlerts, Kinds) {
  EXPECT_EQ(only_error("alerts:\n  - path: /a/b\n    kinds: node_down\n"),
            "cluster.yaml:14:12: alerts[0].kinds: expected a list, got a scalar");
  EXPECT_NE(only_error("alerts:\n  - path: /a/b\n    kinds: []\n")
                .find("alerts[0].kinds: must name at least one event kind (leave 'kinds' out"),
            std::string::npos);
  EXPECT_EQ(only_error("alerts:\n  - path: /a/b\n    kinds: [node_down, node_down]\n"),
            "cluster.yaml:14:24: alerts[0].kinds[1]: duplicate event kind 'node_down'");
  EXPECT_NE(only_error("alerts:\n  - path: /a/b\n    kinds: [node_down, 'no way']\n")
                .find("alerts[0].kinds[1]: must be an event kind such as node_down"),
            std::string::npos);
  // A kind no event has would never run the hook: refused, with the kind meant if it is close.
  EXPECT_EQ(only_error("alerts:\n  - path: /a/b\n    kinds: [node_dwn]\n"),
            "cluster.yaml:14:13: alerts[0].kinds[0]: no event is of kind 'node_dwn'; did you mean "
            "'node_down'?");
  EXPECT_EQ(only_error("alerts:\n  - path: /a/b\n    kinds: [election]\n"),
            "cluster.yaml:14:13: alerts[0].kinds[0]: no event is of kind 'election' "
            "(docs/events.md lists the kinds)");
  EXPECT_NE(only_error("alerts:\n  - path: /a/b\n    kinds: [[a]]\n")
                .find("alerts[0].kinds[0]: expected a name, got a list"),
            std::string::npos);
}

TEST(ConfigAlerts, EveryProblemReportedInOnePass) {
  const auto e = errors(
      "alerts:\n  - {path: rel, timeout: 1y, retries: 99}\n  - {id: x}\n  - {path: /ok/fine}\n");
  ASSERT_EQ(e.size(), 4u) << ::testing::PrintToString(e);
  EXPECT_NE(e[0].find("alerts[0].path"), std::string::npos);
  EXPECT_NE(e[1].find("alerts[0].timeout"), std::string::npos);
  EXPECT_NE(e[2].find("alerts[0].retries"), std::string::npos);
  EXPECT_NE(e[3].find("alerts[1].path: required key 'path' is missing"), std::string::npos);
}

}  // namespace
}  // namespace hactl
