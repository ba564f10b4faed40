// `arbiter:` in the cluster file (docs/pairs.md): listed after the nodes as a witness, its name
// and address checked against the nodes', and the timing checked against its round trip.
#include <gtest/gtest.h>

#include "common/config.hpp"

namespace hactl {
namespace {

constexpr const char* kPair = R"(cluster:
  name: pair
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
)";

std::string first_error(const std::string& yaml) {
  auto r = parse_config(yaml, "pair.yaml");
  EXPECT_FALSE(r.has_value()) << yaml;
  return r ? "" : r.error().front().to_string();
}

TEST(ConfigArbiter, APairWithAnArbiterHasThreeVotersAndNoWarning) {
  auto r = parse_config(std::string(kPair) + "arbiter: {address: \"10.213.9.1:5406\"}\n", "p");
  ASSERT_TRUE(r.has_value()) << r.error().front().to_string();
  const ClusterConfig& c = r->config;
  ASSERT_EQ(c.nodes.size(), 3u);
  EXPECT_EQ(c.majority(), 2u);
  ASSERT_TRUE(c.arbiter().has_value());
  EXPECT_EQ(c.arbiter()->value, 2u);
  EXPECT_EQ(c.nodes[2].name, "arbiter");
  EXPECT_TRUE(c.nodes[2].witness);
  EXPECT_EQ(c.nodes[2].address.to_string(), "10.213.9.1:5406");
  EXPECT_EQ(c.arbiter_rtt, std::chrono::milliseconds{50});
  EXPECT_TRUE(r->warnings.empty());
}

TEST(ConfigArbiter, ANameOrAddressOfANodeIsRefused) {
  EXPECT_NE(first_error(std::string(kPair) + "arbiter: {address: \"10.213.9.1:5406\", name: n2}\n")
                .find("arbiter.name: 'n2' is also a node's name"),
            std::string::npos);
  EXPECT_NE(first_error(std::string(kPair) + "arbiter: {address: \"10.213.0.11:5405\"}\n")
                .find("arbiter.address: is also node n1's address"),
            std::string::npos);
  EXPECT_NE(first_error(std::string(kPair) + "arbiter: {adress: \"10.213.9.1:5406\"}\n")
                .find("arbiter.adress"),
            std::string::npos);
}

TEST(ConfigArbiter, AFarArbiterNeedsALongerNodeTimeout) {
  const std::string far =
      std::string(kPair) + "arbiter: {address: \"10.213.9.1:5406\", rtt: 200ms}\n";
  const std::string e = first_error(far);
  EXPECT_NE(e.find("pair.yaml:7:"), std::string::npos) << e;
  EXPECT_NE(e.find("arbiter.rtt: an arbiter 200ms away needs cluster.node_timeout of at least "
                   "2 x rtt + heartbeat_interval (500ms)"),
            std::string::npos)
      << e;
  std::string slower = far;
  slower.replace(slower.find("nodes:"), 0, "  node_timeout: 500ms\n");
  EXPECT_TRUE(parse_config(slower, "p").has_value());
}

TEST(ConfigArbiter, AnArbiterBesideAnOddNumberOfNodesIsWarnedAbout) {
  auto r = parse_config(std::string(kPair) + "  - {name: n3, address: \"10.213.0.13:5405\"}\n" +
                            "arbiter: {address: \"10.213.9.1:5406\"}\n",
                        "p");
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0].path, "arbiter");
}

}  // namespace
}  // namespace hactl
