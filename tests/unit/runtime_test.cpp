// NodeRuntime's own wiring (coordinator/runtime.hpp): what the cluster document says reaches the
// resource host and the handover, intents expire by the wall clock it is given, and the
// replica's validator refuses what the agent would.
#include "coordinator/runtime.hpp"

#include <gtest/gtest.h>

#include <random>

namespace hactl {
namespace {

constexpr const char* kYaml = R"(cluster:
  name: rt
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
resources:
  - id: web-ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
)";

constexpr std::int64_t kUnix = 1'800'000'000;  // seconds

class FixedRng final : public Rng {
 public:
  std::uint64_t next() override { return gen_(); }

 private:
  std::mt19937_64 gen_{7};
};

class RuntimeTest : public ::testing::Test {
 protected:
  void start(const ClusterDoc& doc) {
    auto cfg = parse_config(kYaml, "rt.yaml");
    ASSERT_TRUE(cfg.has_value());
    RuntimeOptions o;
    o.self = NodeId{0};
    o.timing = make_timing(cfg->config.timing);
    o.document = StoredDoc{DocVersion{}, doc_to_bytes(doc)};
    rt_ = std::make_unique<NodeRuntime>(cfg->config, std::move(o), rng_, t0_);
  }
  static ClusterDoc doc() {
    ClusterDoc d;
    d.config_version = 1;
    d.config_text = kYaml;
    return d;
  }
  RuntimeOutput advance(std::int64_t unix_s) { return rt_->advance(t0_, unix_s * 1'000'000, true); }
  // The validator's verdict, with the parse it waits for done as a shell does it (off the loop,
  // answered through on_parsed): at most one round.
  std::string check(const std::string& bytes) {
    auto v = rt_->validate(bytes);
    if (!v.pending) return v.error;
    const RuntimeOutput out = advance(kUnix);
    EXPECT_EQ(out.parses.size(), 1u);
    for (const ParseRequest& p : out.parses) {
      rt_->on_parsed(p.text, parse_config(p.text, p.source), t0_);
    }
    v = rt_->validate(bytes);
    EXPECT_FALSE(v.pending);
    return v.error;
  }
  bool banned(const std::string& node) const {
    for (const auto& l : rt_->config().resources.locations) {
      if (l.resource == "web-ip" && l.node == node && l.origin == LocationConstraint::Origin::kBan)
        return true;
    }
    return false;
  }

  FixedRng rng_;
  Instant t0_{Duration{5'000'000}};
  std::unique_ptr<NodeRuntime> rt_;
};

TEST_F(RuntimeTest, StandbyAndMaintenanceInTheDocumentShapeTheHandoverAndTheGuard) {
  ClusterDoc d = doc();
  d.standby = {"n2"};
  d.maintenance = {"n1"};
  start(d);
  const RuntimeOutput out = advance(kUnix);
  EXPECT_TRUE(out.maintenance);  // this node's guard leaves everything alone
  EXPECT_EQ(rt_->handover_avoid(), (std::vector<bool>{true, true, false}));
}

// crm_master from a demote or stop on a node cut off from the majority: refused at once (the
// proposal would wait 10 s for a majority, holding the stop of what the node must give up).
TEST_F(RuntimeTest, AnAttributeWriteWithoutQuorumIsRefusedAtOnce) {
  start(doc());
  advance(kUnix);
  AttributeRequest r;
  r.op = AttributeRequest::Op::kSet;
  r.node = "n1";
  r.name = "master-db";
  r.value = "5";
  r.reboot = true;
  const auto id = rt_->change_attribute(r, t0_);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error(), "no quorum: this node cannot have a majority store the change now");
}

TEST_F(RuntimeTest, ABanExpiresByTheWallClockGiven) {
  ClusterDoc d = doc();
  d.placements.push_back(
      {PlacementIntent::Kind::kBan, "web-ip", "n2", kUnix - 10, kUnix + 60, "uid 0"});
  start(d);
  advance(kUnix);
  EXPECT_TRUE(banned("n2"));
  advance(kUnix + 59);
  EXPECT_TRUE(banned("n2"));
  advance(kUnix + 60);
  EXPECT_FALSE(banned("n2"));
}

TEST_F(RuntimeTest, TheValidatorRefusesWhatTheAgentWould) {
  start(doc());
  advance(kUnix);
  ClusterDoc ok = doc();
  ok.standby = {"n3"};
  EXPECT_EQ(check(doc_to_bytes(ok)), "");  // the applied configuration: no parse
  EXPECT_TRUE(advance(kUnix).parses.empty());
  ClusterDoc unknown = doc();
  unknown.standby = {"n9"};
  EXPECT_NE(check(doc_to_bytes(unknown)).find("unknown node 'n9'"), std::string::npos);
  ClusterDoc broken = doc();
  broken.config_text += "  - {not: [closed\n";
  EXPECT_NE(check(doc_to_bytes(broken)).find("invalid"), std::string::npos);
  ClusterDoc timing = doc();
  timing.config_text =
      std::string(kYaml).insert(std::string(kYaml).find("nodes:"), "  node_timeout: 900ms\n");
  EXPECT_NE(check(doc_to_bytes(timing)).find("restarted"), std::string::npos);
  EXPECT_NE(check("not a document").find("not a cluster document"), std::string::npos);
}

// A stored document's new configuration is parsed off the loop: asked for once, taken up
// when the parse comes back, and a newer document's supersedes one still being parsed.
TEST_F(RuntimeTest, ANewConfigurationIsTakenUpOnceItsParseIsBack) {
  start(doc());
  advance(kUnix);
  const std::string two = std::string(kYaml) + "  - {id: two, type: 'ocf:heartbeat:Dummy'}\n";
  const std::string three = std::string(kYaml) + "  - {id: three, type: 'ocf:heartbeat:Dummy'}\n";
  ASSERT_TRUE(parse_config(two, "x") && parse_config(three, "x"));
  EXPECT_EQ(check(doc_to_bytes(doc())), "");
  ClusterDoc d = doc();
  d.config_version = 2;
  d.config_text = two;
  auto v = rt_->validate(doc_to_bytes(d));
  EXPECT_TRUE(v.pending);
  RuntimeOutput out = advance(kUnix);
  ASSERT_EQ(out.parses.size(), 1u);
  EXPECT_EQ(out.parses[0].text, two);
  EXPECT_EQ(out.parses[0].source, "configuration version 2");
  EXPECT_TRUE(rt_->validate(doc_to_bytes(d)).pending);  // asked once
  EXPECT_TRUE(advance(kUnix).parses.empty());
  d.config_text = three;  // another text meanwhile: asked for as well
  EXPECT_TRUE(rt_->validate(doc_to_bytes(d)).pending);
  out = advance(kUnix);
  ASSERT_EQ(out.parses.size(), 1u);
  rt_->on_parsed(three, parse_config(three, "x"), t0_);
  rt_->on_parsed(two, parse_config(two, "x"), t0_);
  rt_->on_parsed(two, parse_config(two, "x"), t0_);  // unasked: ignored
  EXPECT_EQ(rt_->validate(doc_to_bytes(d)).error, "");
  EXPECT_FALSE(rt_->validate(doc_to_bytes(d)).pending);
  EXPECT_EQ(rt_->base().resources.primitives.size(), 1u);  // nothing stored, nothing taken up
}

// The document's store may finish after advance() (the agent writes it on a thread): until the
// shell says it is on disk, the node neither acknowledges that version nor votes with it.
TEST_F(RuntimeTest, ADocumentIsAcknowledgedAndVotedWithOnlyOnceOnDisk) {
  start(doc());
  advance(kUnix);
  const NodeId n2{1};
  Heartbeat hb;
  hb.term = Term{1};
  hb.coordinator = n2;
  hb.ping = 11;
  rt_->step(n2, 1, hb, t0_);
  ASSERT_EQ(rt_->node().coordinator(), n2);
  ClusterDoc d = doc();
  d.standby = {"n3"};
  const std::string bytes = doc_to_bytes(d);
  ASSERT_LE(bytes.size(), kDocChunkBytes);
  const DocVersion v{Term{1}, 1};
  rt_->step(n2, 1,
            DocChunk{Term{1}, DocChunkKind::kReplicate, v, 0, text_digest(bytes), 0,
                     static_cast<std::uint32_t>(bytes.size()), 0, bytes},
            t0_);
  const auto acks = [&](const RuntimeOutput& out) {
    std::vector<DocVersion> seen;
    for (const auto& [to, m] : out.messages) {
      if (const auto* a = std::get_if<DocAck>(&m); a != nullptr && to == n2)
        seen.push_back(a->version);
    }
    return seen;
  };
  RuntimeOutput out = advance(kUnix);
  ASSERT_TRUE(out.store);
  EXPECT_EQ(out.store->version, v);
  EXPECT_EQ(rt_->doc().standby, std::vector<std::string>{"n3"});  // taken up at once
  EXPECT_EQ(rt_->node().doc_version(), DocVersion{});             // not claimed in a vote
  EXPECT_TRUE(acks(out).empty());
  EXPECT_TRUE(acks(advance(kUnix)).empty());
  rt_->on_doc_stored(v, t0_);
  EXPECT_EQ(rt_->node().doc_version(), v);
  EXPECT_EQ(acks(advance(kUnix)), std::vector<DocVersion>{v});
}

// A new configuration is taken up once the document that brings it is on disk here: an agent
// restarted before that starts from the configuration it was running, not from one it ran
// without a copy of it.
TEST_F(RuntimeTest, ANewConfigurationIsTakenUpOnceItsDocumentIsOnDisk) {
  start(doc());
  advance(kUnix);
  const NodeId n2{1};
  Heartbeat hb;
  hb.term = Term{1};
  hb.coordinator = n2;
  hb.ping = 11;
  rt_->step(n2, 1, hb, t0_);
  ClusterDoc d = doc();
  d.config_version = 2;
  d.config_text = std::string(kYaml) + "  - {id: two, type: 'ocf:heartbeat:Dummy'}\n";
  const std::string bytes = doc_to_bytes(d);
  ASSERT_LE(bytes.size(), kDocChunkBytes);
  const DocVersion v{Term{1}, 1};
  rt_->step(n2, 1,
            DocChunk{Term{1}, DocChunkKind::kReplicate, v, 0, text_digest(bytes), 0,
                     static_cast<std::uint32_t>(bytes.size()), 0, bytes},
            t0_);
  RuntimeOutput out = advance(kUnix);
  ASSERT_TRUE(out.store);
  ASSERT_EQ(out.parses.size(), 1u);
  rt_->on_parsed(out.parses[0].text, parse_config(out.parses[0].text, "x"), t0_);
  EXPECT_FALSE(advance(kUnix).reconfigured);  // parsed, not on disk yet
  EXPECT_TRUE(rt_->config_pending());
  rt_->on_doc_stored(v, t0_);
  out = advance(kUnix);
  ASSERT_TRUE(out.reconfigured);
  EXPECT_EQ(out.reconfigured->config_version, 2u);
  EXPECT_EQ(rt_->base().resources.primitives.size(), 2u);
}

}  // namespace
}  // namespace hactl
