// Config loader: defaults, every error class with its file:line:column and field path, warnings.
#include "common/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "common/cluster_doc.hpp"
#include "common/limits.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMinimal = R"(cluster:
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
)";

std::vector<ConfigError> errors_of(const std::string& yaml) {
  auto r = parse_config(yaml, "cluster.yaml");
  EXPECT_FALSE(r.has_value()) << "expected errors for:\n" << yaml;
  return r ? std::vector<ConfigError>{} : r.error();
}

// The single error's text, e.g. "cluster.yaml:3:23: cluster.heartbeat_interval: ...".
std::string only_error(const std::string& yaml) {
  const auto errors = errors_of(yaml);
  EXPECT_EQ(errors.size(), 1u);
  return errors.empty() ? "" : errors.front().to_string();
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

TEST(Config, MinimalParsesWithDefaults) {
  auto r = parse_config(kMinimal, "cluster.yaml");
  ASSERT_TRUE(r) << r.error().front().to_string();
  const ClusterConfig& c = r->config;
  EXPECT_EQ(c.name, "demo");
  EXPECT_EQ(c.nodes.size(), 3u);
  EXPECT_TRUE(c.nodes[2].witness);
  EXPECT_EQ(c.nodes[1].address.host, "10.213.0.12");
  EXPECT_EQ(c.nodes[1].address.port, 5405);
  EXPECT_EQ(c.timing.heartbeat_interval, 100ms);
  EXPECT_EQ(c.timing.node_timeout, 300ms);
  EXPECT_EQ(c.no_quorum_policy, NoQuorumPolicy::kStop);
  EXPECT_EQ(c.state_dir, "/var/lib/hactl");
  EXPECT_EQ(c.find_node("w")->value, 2);
  EXPECT_FALSE(c.find_node("x"));
  EXPECT_EQ(c.majority(), 2u);
  EXPECT_TRUE(r->warnings.empty());
}

TEST(Config, TimingAndPolicy) {
  auto yaml = replace(kMinimal, "  auth_key_file: /etc/hactl/authkey\n",
                      "  auth_key_file: /etc/hactl/authkey\n  heartbeat_interval: 50ms\n"
                      "  node_timeout: 1.5s\n  no_quorum_policy: freeze\n");
  auto r = parse_config(yaml, "f");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->config.timing.heartbeat_interval, 50ms);
  EXPECT_EQ(r->config.timing.node_timeout, 1500ms);
  EXPECT_EQ(r->config.no_quorum_policy, NoQuorumPolicy::kFreeze);
}

TEST(Config, AccessGroupsAndMetricsAddress) {
  const std::string key = "  auth_key_file: /etc/hactl/authkey\n";
  auto r = parse_config(replace(kMinimal, key,
                                key + "  read_group: ops\n  admin_group: ha-admin\n"
                                      "  metrics_address: \"[::1]:9500\"\n"),
                        "f");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->config.read_group, "ops");
  EXPECT_EQ(r->config.admin_group, "ha-admin");
  EXPECT_EQ(r->config.metrics_address, "[::1]:9500");
  auto defaults = parse_config(kMinimal, "f");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->config.read_group, "haclient");
  EXPECT_EQ(defaults->config.admin_group, "");
  EXPECT_EQ(defaults->config.metrics_address, "127.0.0.1:9405");
  auto off = parse_config(replace(kMinimal, key, key + "  metrics_address: \"\"\n"), "f");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->config.metrics_address, "");
  EXPECT_NE(only_error(replace(kMinimal, key, key + "  metrics_address: localhost\n"))
                .find("cluster.yaml:4:20: cluster.metrics_address:"),
            std::string::npos);
  EXPECT_NE(only_error(replace(kMinimal, key, key + "  admin_group: \"bad group\"\n"))
                .find("cluster.admin_group: must be a group name"),
            std::string::npos);
}

TEST(Config, SyntaxErrorHasLineAndColumn) {
  const auto e = only_error("cluster:\n  name: [unclosed\nnodes: []\n");
  EXPECT_NE(e.find("cluster.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("YAML syntax"), std::string::npos) << e;
}

// An accepted file is stored in the cluster document, which is JSON and so UTF-8: a file
// yaml-cpp would take with a Latin-1 byte in it (found by tests/fuzz, config) made
// doc_to_bytes throw, in the agent's start and in hactl config diff/apply.
TEST(Config, TextThatIsNotUtf8IsRefusedWithItsPlace) {
  EXPECT_EQ(only_error(std::string("# caf\xe9 au lait\n") + kMinimal),
            "cluster.yaml:1:6: the file is not UTF-8 text: byte 0xe9 is not part of a UTF-8 "
            "character (save it as UTF-8)");
  // The first byte (a Latin-1 file's first letter, or a UTF-16 file's byte order mark).
  EXPECT_EQ(only_error(std::string("\xff\xfe") + kMinimal).substr(0, 50),
            "cluster.yaml:1:1: the file is not UTF-8 text: byte");
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xff"}) {
    const auto e = only_error(std::string(kMinimal) + "# " + bad + "\n");
    EXPECT_NE(e.find("cluster.yaml:12:3: the file is not UTF-8 text"), std::string::npos) << e;
  }
  const auto ok = parse_config(
      std::string("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n") + kMinimal, "cluster.yaml");
  ASSERT_TRUE(ok);
  ClusterDoc doc;
  doc.config_text = std::string("# caf\xc3\xa9\n") + kMinimal;
  EXPECT_EQ(doc_from_bytes(doc_to_bytes(doc)), doc);
}

TEST(Config, UnknownKeySuggestsTheCloseOne) {
  const auto e =
      only_error(replace(kMinimal, "  name: demo\n", "  name: demo\n  heartbeat_intervl: 1s\n"));
  EXPECT_EQ(e.rfind("cluster.yaml:3:3: cluster.heartbeat_intervl: unknown key 'heartbeat_intervl' "
                    "(did you mean 'heartbeat_interval'?)",
                    0),
            0u)
      << e;
}

TEST(Config, UnknownTopLevelSectionAndNodeKey) {
  EXPECT_NE(only_error(std::string(kMinimal) + "nodez: 1\n")
                .find("cluster.yaml:12:1: nodez: unknown key 'nodez' (did you mean 'nodes'?)"),
            std::string::npos);
  const auto e = only_error(replace(kMinimal, "    witness: true\n", "    witnes: true\n"));
  EXPECT_NE(e.find("nodes[2].witnes: unknown key 'witnes' (did you mean 'witness'?)"),
            std::string::npos)
      << e;
}

TEST(Config, WrongTypes) {
  EXPECT_NE(only_error(replace(kMinimal, "  name: demo\n", "  name: [a, b]\n"))
                .find("cluster.yaml:2:9: cluster.name: expected a string, got a list"),
            std::string::npos);
  const auto scalar = errors_of("cluster: 5\nnodes: []\n");
  ASSERT_FALSE(scalar.empty());
  EXPECT_EQ(scalar[0].to_string(), "cluster.yaml:1:10: cluster: expected a map, got a scalar");
  const auto nodes_map = errors_of("cluster:\n  name: d\n  auth_key_file: /k\nnodes:\n  n1: x\n");
  ASSERT_FALSE(nodes_map.empty());
  EXPECT_NE(nodes_map[0].to_string().find("nodes: expected a list of nodes, got a map"),
            std::string::npos);
  EXPECT_NE(only_error(replace(kMinimal, "witness: true", "witness: maybe"))
                .find("nodes[2].witness: expected true or false, got 'maybe'"),
            std::string::npos);
}

TEST(Config, MissingRequired) {
  auto e = errors_of("cluster:\n  name: demo\nnodes:\n  - address: 10.213.0.1:1\n");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_NE(e[0].to_string().find("cluster.auth_key_file: required key 'auth_key_file' is missing"),
            std::string::npos);
  EXPECT_NE(e[1].to_string().find("nodes[0].name: required key 'name' is missing"),
            std::string::npos);
  const auto none = errors_of("nodes: []\n");
  ASSERT_FALSE(none.empty());
  EXPECT_EQ(none[0].to_string(),
            "cluster.yaml:1:1: cluster: required section 'cluster' is missing");
}

TEST(Config, BadDurationsAndTimeoutTooSmall) {
  const auto base = std::string(kMinimal);
  auto with = [&](const std::string& lines) {
    return only_error(replace(base, "  name: demo\n", "  name: demo\n" + lines));
  };
  EXPECT_NE(with("  heartbeat_interval: 100\n")
                .find("cluster.yaml:3:23: cluster.heartbeat_interval: '100' has no unit"),
            std::string::npos);
  EXPECT_NE(with("  node_timeout: fast\n").find("'fast' is not a duration"), std::string::npos);
  EXPECT_NE(with("  heartbeat_interval: 1ms\n").find("must be between 10ms and 10s"),
            std::string::npos);
  const auto e = with("  heartbeat_interval: 100ms\n  node_timeout: 250ms\n");
  EXPECT_NE(e.find("cluster.yaml:4:17: cluster.node_timeout: must be at least 3 heartbeat "
                   "intervals (300ms)"),
            std::string::npos)
      << e;
  EXPECT_NE(with("  no_quorum_policy: panic\n").find("must be stop, freeze or ignore, got 'panic'"),
            std::string::npos);
  EXPECT_NE(with("  state_dir: relative/dir\n").find("cluster.state_dir: must be an absolute path"),
            std::string::npos);
}

TEST(Config, BadAddresses) {
  auto addr = [&](const std::string& a) {
    return only_error(replace(kMinimal, "10.213.0.12:5405", a));
  };
  EXPECT_NE(addr("db2.example:5405")
                .find("cluster.yaml:8:14: nodes[1].address: 'db2.example' is not an IPv4 address: "
                      "use a numeric IP address"),
            std::string::npos);
  EXPECT_NE(addr("10.213.0.12").find("expected 'host:port'"), std::string::npos);
  EXPECT_NE(addr("10.213.0.12:0").find("port '0' is not a number from 1 to 65535"),
            std::string::npos);
  EXPECT_NE(addr("10.213.0.12:70000").find("port '70000'"), std::string::npos);
  EXPECT_NE(addr("\"[fe80::zz]:1\"").find("'fe80::zz' is not an IPv6 address"), std::string::npos);
  auto v6 = parse_config(replace(kMinimal, "10.213.0.12:5405", "\"[fd00::12]:5405\""), "f");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->config.nodes[1].address.host, "fd00::12");
  EXPECT_EQ(v6->config.nodes[1].address.to_string(), "[fd00::12]:5405");
}

TEST(Config, DuplicatesNameBothEntries) {
  auto e = only_error(replace(kMinimal, "  - name: n2\n", "  - name: n1\n"));
  EXPECT_NE(e.find("nodes[1].name: duplicate node name 'n1' (also nodes[0])"), std::string::npos)
      << e;
  e = only_error(replace(kMinimal, "10.213.0.12:5405", "10.213.0.11:5405"));
  EXPECT_NE(e.find("nodes[1].address: duplicate address 10.213.0.11:5405 (also nodes[0])"),
            std::string::npos)
      << e;
}

// A node's address is where its peers send heartbeats: it must name one host they reach.
TEST(Config, UnusableNodeAddressesAreRefused) {
  const auto why = [](const std::string& address) {
    return only_error(replace(kMinimal, "10.213.0.12:5405", address));
  };
  EXPECT_NE(why("0.0.0.0:5405").find("nodes[1].address: 0.0.0.0 is the unspecified address"),
            std::string::npos);
  EXPECT_NE(why("255.255.255.255:5405").find("is the broadcast address"), std::string::npos);
  EXPECT_NE(why("224.0.0.18:5405").find("is a multicast address"), std::string::npos);
  EXPECT_NE(why("127.0.0.1:5405").find("127.0.0.1 is a loopback address"), std::string::npos);
  EXPECT_NE(why("\"[::1]:5405\"").find("::1 is a loopback address"), std::string::npos);
  EXPECT_NE(why("\"[::]:5405\"").find(":: is the unspecified address"), std::string::npos);
  EXPECT_NE(why("\"[ff02::1]:5405\"").find("is a multicast address"), std::string::npos);
  // One node alone may listen on loopback (a test or a demo on one host).
  EXPECT_TRUE(
      parse_config("cluster:\n  name: one\n  auth_key_file: /k\nnodes:\n"
                   "  - name: a\n    address: 127.0.0.1:5405\n",
                   "one.yaml"));
}

// YAML would keep the first of two equal keys silently; the loader names both lines.
TEST(Config, DuplicateKeysAreRefusedNamingBothLines) {
  auto e = only_error(replace(kMinimal, "  - name: n2\n", "  - name: n2\n    name: n9\n"));
  EXPECT_NE(e.find("nodes[1].name: duplicate key 'name' (first at line"), std::string::npos) << e;
  e = only_error(replace(kMinimal, "nodes:\n", "cluster:\n  name: again\nnodes:\n"));
  EXPECT_NE(e.find("cluster: duplicate key 'cluster' (first at line 1)"), std::string::npos) << e;
  // Aliases nine deep would expand to 10^9 nodes: the walk stops at the text's size.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    const std::string p = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + p;
    for (int k = 1; k < 10; ++k) bomb += ", " + p;
    bomb += "]\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(parse_config(bomb, "bomb.yaml"));  // unknown top-level keys, found fast
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

// One limit for every path that loads a configuration: a file over it is refused before it is
// read whole (a 50 MB file took 26 s and 3.8 GB in `hactl validate`), and so is text.
TEST(Config, AConfigurationOverTheSizeLimitIsRefused) {
  const std::string big =
      std::string(kMinimal) + "# " + std::string(limits::kMaxConfigBytes, 'x') + "\n";
  const auto e = only_error(big);
  EXPECT_NE(e.find("larger than the 2 MiB a configuration may have"), std::string::npos) << e;
  const std::string path = ::testing::TempDir() + "/hactl-big.yaml";
  {
    std::ofstream f(path);
    f << big << big;
  }
  const auto r = load_config_file(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().front().to_string().find("larger than the 2 MiB"), std::string::npos);
  std::remove(path.c_str());
}

TEST(Config, NodeCountNamesAndWitnesses) {
  std::string many = "cluster:\n  name: d\n  auth_key_file: /k\nnodes:\n";
  for (int i = 0; i < 33; ++i) {
    many += "  - {name: n" + std::to_string(i) + ", address: \"10.213.1." + std::to_string(i + 1) +
            ":1\"}\n";
  }
  EXPECT_NE(only_error(many).find("must list 1 to 32 nodes, got 33"), std::string::npos);
  EXPECT_NE(only_error(replace(kMinimal, "name: n2", "name: n 2"))
                .find("nodes[1].name: must be 1 to 63 characters"),
            std::string::npos);
  EXPECT_NE(
      only_error(replace(kMinimal, "name: demo", "name: de/mo")).find("cluster.name: must be"),
      std::string::npos);
  const std::string all_witness =
      "cluster:\n  name: d\n  auth_key_file: /k\nnodes:\n  - {name: a, address: \"10.213.0.1:1\", "
      "witness: true}\n";
  EXPECT_NE(only_error(all_witness).find("every node is a witness"), std::string::npos);
}

TEST(Config, TwoNodesWithoutWitnessWarns) {
  const std::string two =
      "cluster:\n  name: d\n  auth_key_file: /k\nnodes:\n"
      "  - {name: a, address: \"10.213.0.1:1\"}\n  - {name: b, address: \"10.213.0.2:1\"}\n";
  auto r = parse_config(two, "f");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].message.find("cannot tell a dead peer from a cut link"),
            std::string::npos);
  // It names what to add.
  EXPECT_NE(r->warnings[0].message.find("arbiter: {address: HOST:5406}"), std::string::npos);
  EXPECT_NE(r->warnings[0].message.find("witness: true"), std::string::npos);
  EXPECT_NE(r->warnings[0].message.find("two_node: true with a fence device for each node"),
            std::string::npos);
}

TEST(Config, UnreadableFileIsNamed) {
  auto r = load_config_file("/nonexistent/hactl.yaml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error()[0].to_string().find("/nonexistent/hactl.yaml: cannot read the file"),
            std::string::npos);
}

TEST(Config, ShippedExampleIsValid) {
  auto r = load_config_file(std::string(HACTL_SOURCE_DIR) + "/etc/cluster.yaml");
  ASSERT_TRUE(r) << r.error()[0].to_string();
  EXPECT_EQ(r->config.nodes.size(), 3u);
}

// Utilization names against capacity names, both from the file: 440 of each, every one a typo
// of a capacity name. Each is refused, but only the first few get a did-you-mean (an edit
// distance against every capacity name each): 440 of them took the agent's loop 2.1 s.
TEST(Config, UnknownUtilizationNamesGetAFewSuggestionsNotOneEach) {
  std::string caps, uses;
  for (int i = 0; i < 440; ++i) {
    const std::string name = "resource-kind-" + std::to_string(100000 + i);
    caps += "      " + name + ": 10\n";
    uses += "      " + name + "x: 1\n";  // one letter more: within the did-you-mean distance
  }
  const std::string yaml = std::string(R"(cluster:
  name: c
  auth_key_file: /etc/hactl/authkey
nodes:
  - name: n1
    address: "10.213.0.11:5405"
    capacity:
)") + caps + R"(  - {name: n2, address: "10.213.0.12:5405"}
resources:
  - id: d1
    type: ocf:heartbeat:Dummy
    utilization:
)" + uses;
  auto r = parse_config(yaml, "c.yaml");
  ASSERT_FALSE(r.has_value());
  std::size_t unknown = 0, suggested = 0;
  for (const auto& e : r.error()) {
    if (e.message.find("in its capacity") == std::string::npos) continue;
    ++unknown;
    if (e.message.find("did you mean") != std::string::npos) ++suggested;
  }
  EXPECT_EQ(unknown, 440U);
  EXPECT_EQ(suggested, 8U);
}

TEST(Duration, ParseAndFormat) {
  EXPECT_EQ(parse_duration("100ms").value(), 100ms);
  EXPECT_EQ(parse_duration("2s").value(), 2s);
  EXPECT_EQ(parse_duration("1.5s").value(), 1500ms);
  EXPECT_EQ(parse_duration("250us").value(), 250us);
  EXPECT_EQ(parse_duration("1m").value(), 60s);
  EXPECT_EQ(parse_duration("1h").value(), 3600s);
  for (const char* bad : {"", "100", "-1s", "1x", "ms", "1.0.0s", "1e99h", "0.5us", " 1s"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(format_duration(100ms), "100ms");
  EXPECT_EQ(format_duration(2s), "2s");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(250us), "250us");
  EXPECT_EQ(format_duration(120s), "2m");
}

}  // namespace
}  // namespace hactl
