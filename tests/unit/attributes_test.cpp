// Node attributes and promotion scores (coordinator/attributes.hpp, docs/replication.md): the
// requests crm_attribute, crm_master and attrd_updater send, checked and turned into the next
// cluster document; reboot attributes that hold for one run of a node's agent; and the
// promotion stage, which promotes only an instance with a positive promotion score.
#include "coordinator/attributes.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/cluster_doc.hpp"
#include "common/config.hpp"
#include "common/limits.hpp"
#include "common/yaml_reader.hpp"
#include "coordinator/explain.hpp"
#include "coordinator/scheduler.hpp"

namespace hactl {
namespace {

const char* kConfig = R"(cluster:
  name: attrs
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
resources:
  - id: db
    type: ocf:heartbeat:Stateful
clones:
  - {id: db-clone, resource: db, promotable: true}
)";

ClusterConfig config() {
  auto c = parse_config(kConfig, "attrs.yaml");
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().front().to_string());
  return c ? c->config : ClusterConfig{};
}

std::expected<AttributeRequest, std::string> request(ControlVerb v, nlohmann::json body) {
  return attribute_request(v, body, config(), "n1");
}

TEST(Attributes, ARequestDefaultsToThisNodeAndForever) {
  const auto r = request(ControlVerb::kAttributeSet, {{"name", "pgsql-status"}, {"value", "HS"}});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->node, "n1");
  EXPECT_FALSE(r->reboot);
  EXPECT_EQ(r->value, "HS");
  const auto q = request(ControlVerb::kAttributeQuery,
                         {{"node", "n2"}, {"name", "master-db"}, {"lifetime", "reboot"}});
  ASSERT_TRUE(q) << q.error();
  EXPECT_EQ(q->node, "n2");
  EXPECT_TRUE(q->reboot);
  EXPECT_EQ(q->op, AttributeRequest::Op::kQuery);
}

TEST(Attributes, BadRequestsAreRefusedWithTheReason) {
  const auto node =
      request(ControlVerb::kAttributeSet, {{"node", "n4"}, {"name", "a"}, {"value", "1"}});
  ASSERT_FALSE(node);
  EXPECT_NE(node.error().find("n4"), std::string::npos) << node.error();
  EXPECT_FALSE(request(ControlVerb::kAttributeSet, {{"name", "a b"}, {"value", "1"}}));
  EXPECT_FALSE(request(ControlVerb::kAttributeSet, {{"name", "#uname"}, {"value", "1"}}));
  EXPECT_FALSE(request(ControlVerb::kAttributeSet, {{"name", ""}, {"value", "1"}}));
  EXPECT_FALSE(
      request(ControlVerb::kAttributeSet,
              {{"name", std::string(limits::kMaxAttributeNameLength + 1, 'a')}, {"value", "1"}}));
  EXPECT_FALSE(request(ControlVerb::kAttributeSet, {{"name", "a"}}));
  EXPECT_FALSE(request(ControlVerb::kAttributeSet, {{"name", "a"}, {"value", 5}}));
  EXPECT_FALSE(request(ControlVerb::kAttributeSet, {{"name", "a"}, {"value", "x\ny"}}));
  EXPECT_FALSE(
      request(ControlVerb::kAttributeSet,
              {{"name", "a"}, {"value", std::string(limits::kMaxAttributeValueLength + 1, 'v')}}));
  EXPECT_FALSE(
      request(ControlVerb::kAttributeSet, {{"name", "a"}, {"value", "1"}, {"lifetime", "week"}}));
  EXPECT_FALSE(request(ControlVerb::kAttributeQuery, {{"node", 3}, {"name", "a"}}));
  // UTF-8 passes; a byte that is not UTF-8 does not (the document is JSON).
  EXPECT_TRUE(request(ControlVerb::kAttributeSet, {{"name", "a"}, {"value", "caf\xc3\xa9"}}));
  nlohmann::json bad = {{"name", "a"}};
  bad["value"] = std::string("caf\xc3", 4);
  EXPECT_FALSE(request(ControlVerb::kAttributeSet, bad));
}

TEST(Attributes, ASetChangesTheDocumentOnlyWhenTheValueDiffers) {
  ClusterDoc doc;
  const auto set = [&](const std::string& node, const std::string& name, const std::string& v,
                       bool reboot, std::uint64_t inc) {
    AttributeRequest r{AttributeRequest::Op::kSet, node, name, v, reboot};
    return apply_attribute(doc, r, inc);
  };
  auto next = set("n2", "master-db", "100", true, 7);
  ASSERT_TRUE(next && *next);
  doc = **next;
  next = set("n1", "pgsql-data-status", "LATEST", false, 3);
  ASSERT_TRUE(next && *next);
  doc = **next;
  ASSERT_EQ(doc.attributes.size(), 2U);
  EXPECT_EQ(doc.attributes[0].node, "n1");  // sorted by node, name, lifetime
  EXPECT_EQ(doc.attributes[1].incarnation, 7U);
  EXPECT_EQ(doc.attributes[0].incarnation, 0U);  // forever: no incarnation
  next = set("n2", "master-db", "100", true, 7);
  ASSERT_TRUE(next);
  EXPECT_FALSE(*next) << "the same value again writes nothing";
  // The same value from a new run of the node's agent is a new attribute.
  next = set("n2", "master-db", "100", true, 8);
  ASSERT_TRUE(next && *next);
  const AttributeRequest del{AttributeRequest::Op::kDelete, "n2", "master-db", "", true};
  next = apply_attribute(doc, del, 0);
  ASSERT_TRUE(next && *next);
  EXPECT_EQ((*next)->attributes.size(), 1U);
  next = apply_attribute(**next, del, 0);
  ASSERT_TRUE(next);
  EXPECT_FALSE(*next) << "deleting what is not there writes nothing";
}

TEST(Attributes, ANodeHoldsABoundedNumber) {
  ClusterDoc doc;
  for (std::size_t i = 0; i < limits::kMaxAttributesPerNode; ++i) {
    doc.attributes.push_back({"n1", "a" + std::to_string(i), "1", false, 0});
  }
  sort_attributes(doc.attributes);
  const AttributeRequest more{AttributeRequest::Op::kSet, "n1", "one-more", "1", false};
  EXPECT_FALSE(apply_attribute(doc, more, 0));
  const AttributeRequest change{AttributeRequest::Op::kSet, "n1", "a7", "2", false};
  EXPECT_TRUE(apply_attribute(doc, change, 0)) << "changing one is fine";
  const AttributeRequest elsewhere{AttributeRequest::Op::kSet, "n2", "one-more", "1", false};
  EXPECT_TRUE(apply_attribute(doc, elsewhere, 0));
}

TEST(Attributes, RebootAttributesHoldForOneRunOfTheNodesAgent) {
  ClusterDoc doc;
  doc.attributes = {{"n1", "master-db", "5", false, 0},
                    {"n1", "master-db", "10", true, 41},
                    {"n2", "master-db", "100", true, 52}};
  sort_attributes(doc.attributes);
  const ClusterConfig c = config();
  auto in_force = attributes_in_force(c, doc, {41, 52, 0});
  EXPECT_EQ(in_force[0].at("master-db"), "10") << "reboot overrides forever";
  EXPECT_EQ(in_force[1].at("master-db"), "100");
  in_force = attributes_in_force(c, doc, {42, 0, 0});  // n1's agent restarted, n2 down
  EXPECT_EQ(in_force[0].at("master-db"), "5");
  EXPECT_TRUE(in_force[1].empty());
  const AttributeRequest q{AttributeRequest::Op::kQuery, "n2", "master-db", "", true};
  EXPECT_EQ(query_attribute(doc, q, 52), "100");
  EXPECT_EQ(query_attribute(doc, q, 53), std::nullopt);
  EXPECT_EQ(query_attribute(doc, q, 0), std::nullopt);
}

TEST(Attributes, TheDocumentKeepsThem) {
  ClusterDoc doc;
  doc.attributes = {{"n1", "pgsql-data-status", "LATEST", false, 0},
                    {"n2", "master-db", "-INFINITY", true, 9}};
  const auto back = doc_from_bytes(doc_to_bytes(doc));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, doc);
}

TEST(Attributes, ClusterPropertiesBelongToNoNode) {
  // redis's replication info: crm_attribute -t crm_config -n redis_REPL_INFO -v n2
  const auto r = request(ControlVerb::kAttributeSet,
                         {{"scope", "cluster"}, {"name", "redis_REPL_INFO"}, {"value", "n2"}});
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->cluster);
  EXPECT_EQ(r->node, "");
  EXPECT_FALSE(request(ControlVerb::kAttributeSet,
                       {{"scope", "cluster"}, {"node", "n2"}, {"name", "a"}, {"value", "1"}}));
  EXPECT_FALSE(
      request(ControlVerb::kAttributeSet,
              {{"scope", "cluster"}, {"lifetime", "reboot"}, {"name", "a"}, {"value", "1"}}));
  EXPECT_FALSE(request(ControlVerb::kAttributeSet, {{"scope", "rsc_defaults"}, {"name", "a"}}));
  ClusterDoc doc;
  auto next = apply_attribute(doc, *r, 0);
  ASSERT_TRUE(next && *next);
  doc = **next;
  EXPECT_EQ(doc.properties.at("redis_REPL_INFO"), "n2");
  EXPECT_TRUE(doc.attributes.empty());
  next = apply_attribute(doc, *r, 0);
  ASSERT_TRUE(next);
  EXPECT_FALSE(*next) << "the same value again writes nothing";
  AttributeRequest q = *r;
  q.op = AttributeRequest::Op::kQuery;
  EXPECT_EQ(query_attribute(doc, q, 0), "n2");
  const auto back = doc_from_bytes(doc_to_bytes(doc));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, doc);
  AttributeRequest del = *r;
  del.op = AttributeRequest::Op::kDelete;
  next = apply_attribute(doc, del, 0);
  ASSERT_TRUE(next && *next);
  EXPECT_TRUE((*next)->properties.empty());
  EXPECT_EQ(query_attribute(**next, q, 0), std::nullopt);
  // Bounded, as a node's attributes are.
  for (std::size_t i = 0; i < limits::kMaxClusterProperties; ++i) {
    doc.properties["p" + std::to_string(i)] = "1";
  }
  AttributeRequest more = *r;
  more.name = "one-more";
  EXPECT_FALSE(apply_attribute(doc, more, 0));
}

TEST(Attributes, ScoresAreReadAsPacemakerWritesThem) {
  EXPECT_EQ(parse_score("100"), 100);
  EXPECT_EQ(parse_score("+5"), 5);
  EXPECT_EQ(parse_score("-1000"), -1000);
  EXPECT_EQ(parse_score("INFINITY"), limits::kInfinity);
  EXPECT_EQ(parse_score("+INFINITY"), limits::kInfinity);
  EXPECT_EQ(parse_score("-INFINITY"), -limits::kInfinity);
  EXPECT_EQ(parse_score("99999999999"), limits::kInfinity);
  EXPECT_EQ(parse_score(""), std::nullopt);
  EXPECT_EQ(parse_score("1x"), std::nullopt);
  EXPECT_EQ(parse_score("LATEST"), std::nullopt);
}

// Every instance started; `scores` by node ("" none).
ClusterState started(const ClusterConfig& c, const std::vector<std::string>& scores) {
  ClusterState s;
  s.nodes.assign(c.nodes.size(), NodeCondition::kOnline);
  s.roles["db"].assign(c.nodes.size(), ResourceRole::kStarted);
  s.attributes.resize(c.nodes.size());
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (!scores[i].empty()) s.attributes[i][promotion_attribute("db")] = scores[i];
  }
  return s;
}

std::vector<ResourceRole> target(const ClusterConfig& c, const ClusterState& s) {
  return schedule(c, s).target.at("db");
}

constexpr auto P = ResourceRole::kPromoted;
constexpr auto S = ResourceRole::kStarted;

TEST(PromotionScores, NoInstanceIsPromotedWithoutAPositiveScore) {
  const ClusterConfig c = config();
  EXPECT_EQ(target(c, started(c, {"", "", ""})), (std::vector{S, S, S}));
  EXPECT_EQ(target(c, started(c, {"0", "-INFINITY", "-5"})), (std::vector{S, S, S}));
}

TEST(PromotionScores, TheHighestPositiveScoreIsPromoted) {
  const ClusterConfig c = config();
  EXPECT_EQ(target(c, started(c, {"5", "1000", "-INFINITY"})), (std::vector{S, P, S}));
  EXPECT_EQ(target(c, started(c, {"", "", "1"})), (std::vector{S, S, P}));
}

TEST(PromotionScores, APromotedInstanceWhoseScoreFallsIsDemoted) {
  const ClusterConfig c = config();
  ClusterState s = started(c, {"-INFINITY", "100", ""});
  s.roles["db"][0] = ResourceRole::kPromoted;  // its agent found its data stale
  EXPECT_EQ(target(c, s), (std::vector{S, P, S}));
}

TEST(PromotionScores, APromotionLocationCountsAndExplainSaysWhy) {
  std::string yaml = kConfig;
  yaml +=
      "constraints:\n  location:\n    - {resource: db-clone, node: n3, score: 50, role: "
      "promoted}\n";
  auto parsed = parse_config(yaml, "attrs.yaml");
  ASSERT_TRUE(parsed) << parsed.error().front().to_string();
  const ClusterConfig& c = parsed->config;
  EXPECT_EQ(target(c, started(c, {"", "", ""})), (std::vector{S, S, P}));
  // An agent's -INFINITY outweighs the location: that replica must not be promoted.
  EXPECT_EQ(target(c, started(c, {"", "", "-INFINITY"})), (std::vector{S, S, S}));
  const ClusterState s = started(c, {"20", "", "-INFINITY"});
  EXPECT_EQ(target(c, s), (std::vector{P, S, S}));
  const auto why = explain(c, s, "db", std::nullopt);
  ASSERT_TRUE(why) << why.error();
  const std::string text = why->dump() + format_explanation(*why);
  EXPECT_NE(text.find("promotion_score"), std::string::npos) << text;
  EXPECT_NE(text.find("no_promotion_score"), std::string::npos) << text;
}

}  // namespace
}  // namespace hactl
