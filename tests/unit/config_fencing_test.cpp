// The `fencing:` section of the cluster YAML: devices and levels, defaults, what the agent is
// given on standard input, and each error with its file:line:column and field path.
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
)";  // 11 lines: `fencing:` is on line 12

std::expected<LoadedConfig, std::vector<ConfigError>> parse(const std::string& fencing) {
  return parse_config(std::string(kBase) + fencing, "cluster.yaml");
}

LoadedConfig parsed(const std::string& fencing) {
  auto r = parse(fencing);
  EXPECT_TRUE(r) << (r ? "" : r.error().front().to_string());
  return r ? *r : LoadedConfig{};
}

std::string only_error(const std::string& fencing) {
  auto r = parse(fencing);
  EXPECT_FALSE(r) << "expected an error for:\n" << fencing;
  if (r) return "";
  EXPECT_EQ(r.error().size(), 1u) << r.error().front().to_string();
  return r.error().front().to_string();
}

constexpr const char* kTwoDevices = R"(fencing:
  devices:
    - id: ipmi-n1
      agent: fence_ipmilan
      params: {ip: 192.0.2.101, username: admin, password: "s3cret x", lanplus: "1"}
      nodes: [n1]
    - id: pdu
      agent: /usr/local/sbin/fence_mypdu
      nodes: [n1, n2]
      host_map: {n1: "4", n2: "7"}
      action: reboot
      timeout: 20s
)";

TEST(ConfigFencing, AbsentMeansNoFencing) {
  const auto c = parsed("").config;
  EXPECT_FALSE(c.fencing.enabled());
  EXPECT_TRUE(c.fencing.levels_for("n1").empty());
}

TEST(ConfigFencing, DevicesWithDefaultsAndEveryKey) {
  const auto loaded = parsed(kTwoDevices);
  const FencingConfig& f = loaded.config.fencing;
  ASSERT_TRUE(f.enabled());
  ASSERT_EQ(f.devices.size(), 2u);
  const FenceDevice& ipmi = f.devices[0];
  EXPECT_EQ(ipmi.agent, "/usr/sbin/fence_ipmilan");
  EXPECT_EQ(ipmi.action, FenceAction::kOff);
  EXPECT_EQ(ipmi.timeout, 60s);
  EXPECT_EQ(ipmi.plug_for("n1"), "n1");
  const FenceDevice& pdu = f.devices[1];
  EXPECT_EQ(pdu.agent, "/usr/local/sbin/fence_mypdu");
  EXPECT_EQ(pdu.action, FenceAction::kReboot);
  EXPECT_EQ(pdu.timeout, 20s);
  EXPECT_EQ(pdu.plug_for("n2"), "7");
  EXPECT_TRUE(pdu.can_fence("n2"));
  EXPECT_FALSE(ipmi.can_fence("n2"));
  // No levels: each device that can fence a node is a level of its own, in file order.
  EXPECT_EQ(f.levels_for("n1"), (std::vector<std::vector<std::string>>{{"ipmi-n1"}, {"pdu"}}));
  EXPECT_EQ(f.levels_for("n2"), (std::vector<std::vector<std::string>>{{"pdu"}}));
  // The witness runs nothing: no warning for it, nor for n1 and n2 which can be fenced.
  EXPECT_TRUE(loaded.warnings.empty()) << loaded.warnings.front().message;
}

TEST(ConfigFencing, StdinCarriesActionPlugAndParams) {
  const auto c = parsed(kTwoDevices).config;
  EXPECT_EQ(c.fencing.devices[0].stdin_for("n1"),
            "action=off\nplug=n1\nip=192.0.2.101\nlanplus=1\npassword=s3cret x\n"
            "username=admin\n");
  EXPECT_EQ(c.fencing.devices[1].stdin_for("n1"), "action=reboot\nplug=4\n");
}

TEST(ConfigFencing, LevelsAsConfigured) {
  const auto c = parsed(std::string(kTwoDevices) +
                        "  levels:\n"
                        "    n1: [[pdu], [ipmi-n1, pdu]]\n")
                     .config;
  EXPECT_EQ(c.fencing.levels_for("n1"),
            (std::vector<std::vector<std::string>>{{"pdu"}, {"ipmi-n1", "pdu"}}));
  EXPECT_EQ(c.fencing.levels_for("n2"), (std::vector<std::vector<std::string>>{{"pdu"}}));
}

TEST(ConfigFencing, ANodeNoDeviceCanFenceIsAWarning) {
  const auto loaded =
      parsed("fencing:\n  devices:\n    - {id: only-n1, agent: fence_dummy, nodes: [n1]}\n");
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_EQ(loaded.warnings[0].path, "fencing");
  EXPECT_NE(loaded.warnings[0].message.find("no fence device can fence n2"), std::string::npos);
}

TEST(ConfigFencing, ErrorsNameFileLineAndField) {
  EXPECT_EQ(only_error("fencing:\n  devices:\n    - {id: d, agent: ipmitool, nodes: [n1]}\n"),
            "cluster.yaml:14:22: fencing.devices[0].agent: must be a fence agent's name, fence_ "
            "and a-z 0-9 _ (fence_ipmilan: /usr/sbin/fence_ipmilan), or an absolute path, got "
            "'ipmitool'");
  EXPECT_EQ(only_error("fencing:\n  devices:\n    - {id: d, agent: fence_dummy, nodes: [n9]}\n"),
            "cluster.yaml:14:43: fencing.devices[0].nodes[0]: no node named 'n9' in nodes:");
  EXPECT_EQ(only_error("fencing:\n  devices:\n    - id: d\n      agent: fence_dummy\n"
                       "      nodes: [n1]\n      params: {plug: x}\n"),
            "cluster.yaml:17:16: fencing.devices[0].params.plug: hactl sets 'plug' itself "
            "(action: and host_map: choose them)");
  EXPECT_EQ(only_error("fencing:\n  devices:\n    - id: d\n      agent: fence_dummy\n"
                       "      nodes: [n1]\n      action: on\n"),
            "cluster.yaml:17:15: fencing.devices[0].action: must be off or reboot, got 'on'");
  EXPECT_EQ(only_error("fencing:\n  devices:\n    - id: d\n      agent: fence_dummy\n"
                       "      nodes: [n1]\n      host_map: {n2: \"3\"}\n"),
            "cluster.yaml:17:18: fencing.devices[0].host_map.n2: 'n2' is not in this device's "
            "nodes");
  EXPECT_EQ(only_error("fencing:\n  devices:\n    - id: d\n      agent: fence_dummy\n"
                       "      nodes: [n1]\n      timeout: 0s\n"),
            "cluster.yaml:17:16: fencing.devices[0].timeout: must be between 1s and 10m, got 0s");
  EXPECT_EQ(only_error("fencing:\n  devices:\n    - {id: d, agent: fence_dummy, nodes: [n1]}\n"
                       "    - {id: d, agent: fence_dummy, nodes: [n2]}\n"),
            "cluster.yaml:15:12: fencing.devices[1].id: 'd' is used twice");
  EXPECT_EQ(only_error(std::string(kTwoDevices) + "  levels:\n    n2: [[ipmi-n1]]\n"),
            "cluster.yaml:25:11: fencing.levels.n2[0][0]: device 'ipmi-n1' does not list 'n2' "
            "in its nodes");
  EXPECT_EQ(only_error(std::string(kTwoDevices) + "  levels:\n    n1: [[nope]]\n"),
            "cluster.yaml:25:11: fencing.levels.n1[0][0]: no fence device 'nope' in "
            "fencing.devices");
  EXPECT_EQ(only_error("fencing:\n  levels:\n    n1: [[x]]\n"),
            "cluster.yaml:14:5: fencing.levels: levels need fencing.devices");
  EXPECT_EQ(only_error("fencing:\n  device: []\n"),
            "cluster.yaml:13:3: fencing.device: unknown key 'device' (did you mean 'devices'?); "
            "known keys: devices, levels");
}

// two_node: a pair kept safe by fencing (docs/pairs.md).
constexpr const char* kPair = R"(cluster:
  name: pair
  auth_key_file: /etc/hactl/authkey
  two_node: true
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
)";
constexpr const char* kPairFencing = R"(fencing:
  devices:
    - {id: ipmi-n1, agent: /bin/true, nodes: [n1], delay: 5s}
    - {id: ipmi-n2, agent: /bin/true, nodes: [n2]}
)";

std::expected<LoadedConfig, std::vector<ConfigError>> pair(const std::string& text) {
  return parse_config(text, "pair.yaml");
}

TEST(ConfigTwoNode, APairWithADeviceForEachNodeLoads) {
  const auto r = pair(std::string(kPair) + kPairFencing);
  ASSERT_TRUE(r) << r.error().front().to_string();
  const ClusterConfig& c = r->config;
  EXPECT_TRUE(c.two_node);
  EXPECT_TRUE(c.wait_for_all) << "on by default with two_node";
  EXPECT_EQ(c.no_quorum_policy, NoQuorumPolicy::kFreeze);
  EXPECT_EQ(c.fencing.device("ipmi-n1")->delay, 5s);
  EXPECT_EQ(c.fencing.device("ipmi-n2")->delay, 0s);
  for (const auto& w : r->warnings) {
    EXPECT_EQ(w.message.find("cannot tell a dead peer"), std::string::npos) << w.message;
  }
}

TEST(ConfigTwoNode, WaitForAllMayBeTurnedOff) {
  std::string text = kPair;
  text.replace(text.find("  two_node: true\n"), 17, "  two_node: true\n  wait_for_all: false\n");
  const auto r = pair(text + kPairFencing);
  ASSERT_TRUE(r) << r.error().front().to_string();
  EXPECT_FALSE(r->config.wait_for_all);
}

TEST(ConfigTwoNode, EachRefusalNamesItsField) {
  auto error_of = [](const std::string& text) {
    const auto r = pair(text);
    EXPECT_FALSE(r) << text;
    return r ? std::string() : r.error().front().to_string();
  };
  // A node no device can fence.
  std::string e = error_of(std::string(kPair) + R"(fencing:
  devices:
    - {id: ipmi-n1, agent: /bin/true, nodes: [n1]}
)");
  EXPECT_NE(e.find("pair.yaml:9:"), std::string::npos) << e;  // the fencing section
  EXPECT_NE(e.find("fencing: two_node needs a fence device for every node, and none can fence n2"),
            std::string::npos)
      << e;
  // No fencing at all.
  e = error_of(kPair);
  EXPECT_NE(e.find("pair.yaml:4:"), std::string::npos) << e;
  EXPECT_NE(e.find("none can fence n1"), std::string::npos) << e;
  // Three nodes.
  e = error_of(std::string(kPair) + "  - {name: n3, address: \"10.213.0.13:5405\"}\n" +
               kPairFencing);
  EXPECT_NE(e.find("cluster.two_node: is for exactly two nodes"), std::string::npos) << e;
  // A witness.
  std::string witness = kPair;
  witness.replace(witness.find("10.213.0.12:5405\"}"), 18, "10.213.0.12:5405\", witness: true}");
  e = error_of(witness + kPairFencing);
  EXPECT_NE(e.find("cluster.two_node: is for exactly two nodes and no witness"), std::string::npos)
      << e;
  // An arbiter.
  e = error_of(std::string(kPair) + "arbiter: {address: \"10.213.9.1:5406\"}\n" + kPairFencing);
  EXPECT_NE(e.find("cluster.two_node: a cluster with an arbiter has its third vote"),
            std::string::npos)
      << e;
  // no_quorum_policy stop, said outright.
  std::string stop = kPair;
  stop.replace(stop.find("  two_node: true\n"), 17, "  two_node: true\n  no_quorum_policy: stop\n");
  e = error_of(stop + kPairFencing);
  EXPECT_NE(e.find("cluster.no_quorum_policy: stop cannot go with two_node"), std::string::npos)
      << e;
  // wait_for_all without two_node.
  std::string wfa = kPair;
  wfa.replace(wfa.find("  two_node: true\n"), 17, "  wait_for_all: true\n");
  e = error_of(wfa + kPairFencing);
  EXPECT_NE(e.find("cluster.wait_for_all: goes with two_node: true"), std::string::npos) << e;
  // A delay past the bound, and not a duration.
  std::string fencing = kPairFencing;
  fencing.replace(fencing.find("delay: 5s"), 9, "delay: 6m");
  e = error_of(std::string(kPair) + fencing);
  EXPECT_NE(e.find("fencing.devices[0].delay: must be at most 5m"), std::string::npos) << e;
}

TEST(ConfigTwoNode, TheLastResortIsOptInAndWarnedAsUnsafe) {
  std::string text = kPair;
  text.replace(text.find("  two_node: true\n"), 17,
               "  two_node: true\n  last_resort: unsafe_take_over\n");
  const auto r = pair(text);  // no fence device: that is what it is for
  ASSERT_TRUE(r) << r.error().front().to_string();
  EXPECT_TRUE(r->config.last_resort_unsafe);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0].path, "cluster.last_resort");
  EXPECT_NE(r->warnings[0].message.find("UNSAFE"), std::string::npos);
  EXPECT_NE(r->warnings[0].message.find("runs every resource on both nodes"), std::string::npos);
  // With fence devices it is refused (they decide safely), without two_node too, and any
  // other policy name.
  auto error_of = [](const std::string& t) {
    const auto e = pair(t);
    EXPECT_FALSE(e) << t;
    return e ? std::string() : e.error().front().to_string();
  };
  EXPECT_NE(error_of(text + kPairFencing).find("cluster.last_resort: is for a pair with no fence"),
            std::string::npos);
  std::string no_pair = text;
  no_pair.erase(no_pair.find("  two_node: true\n"), 17);
  EXPECT_NE(error_of(no_pair).find("cluster.last_resort: goes with two_node: true"),
            std::string::npos);
  std::string other = text;
  other.replace(other.find("unsafe_take_over"), 16, "yes");
  EXPECT_NE(error_of(other).find("cluster.last_resort: the only policy is unsafe_take_over"),
            std::string::npos);
}

}  // namespace
}  // namespace hactl
