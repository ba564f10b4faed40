// ElectionCore's heartbeat rule, step by step (docs/design.md "Heartbeats in one burst"): a peer's
// heartbeat that arrives when this node's own are due within half a gap sends them at once,
// echoing it; earlier it gets a single answer; answers never pull anything. Round trips are
// measured from a heartbeat's first echo, in an answer or in the heartbeat it pulled.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <variant>

#include "common/config.hpp"
#include "coordinator/election_core.hpp"

namespace hactl {
namespace {

constexpr const char* kYaml = R"(cluster:
  name: hb
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
)";

class FixedRng final : public Rng {
 public:
  std::uint64_t next() override { return gen_(); }

 private:
  std::mt19937_64 gen_{3};
};

constexpr Duration kMs = std::chrono::milliseconds{1};

class NodeHeartbeat : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = parse_config(kYaml, "hb.yaml");
    ASSERT_TRUE(cfg.has_value());
    config_ = cfg->config;
    node_ = std::make_unique<ElectionCore>(config_, NodeId{0}, make_timing(config_.timing), rng_,
                                           HardState{}, t0_);
    node_->tick(t0_);  // the first heartbeats go out at boot
    const Ready r = node_->take_ready();
    ASSERT_EQ(r.messages.size(), 2U);
    for (const Outgoing& o : r.messages) boot_pings_[o.to.value] = heartbeat(o).ping;
  }
  // A heartbeat from `from` carrying ping `ping`, as it arrives at t0 + at.
  std::vector<Outgoing> hear(std::uint16_t from, std::uint64_t ping, Duration at,
                             bool reply = false) {
    Heartbeat hb;
    hb.ping = ping;
    hb.reply = reply;
    node_->step(NodeId{from}, hb, t0_ + at);
    return node_->take_ready().messages;
  }
  static const Heartbeat& heartbeat(const Outgoing& o) { return std::get<Heartbeat>(o.message); }

  ClusterConfig config_;
  FixedRng rng_;
  Instant t0_{std::chrono::seconds{10}};
  std::unique_ptr<ElectionCore> node_;
  std::map<std::uint16_t, std::uint64_t> boot_pings_;  // by peer: our boot heartbeat's ping
};

TEST_F(NodeHeartbeat, EarlyInTheGapAPeersHeartbeatGetsOneAnswer) {
  const auto out = hear(1, 41, 30 * kMs);  // ours are due at 100 ms: 70 ms away
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].to, NodeId{1});
  EXPECT_TRUE(heartbeat(out[0]).reply);
  EXPECT_EQ(heartbeat(out[0]).echo, 41U);
  EXPECT_EQ(node_->next_deadline(), t0_ + 100 * kMs);
}

TEST_F(NodeHeartbeat, LateInTheGapAPeersHeartbeatSendsOursAtOnce) {
  const auto out = hear(2, 77, 55 * kMs);  // 45 ms before ours: within half the gap
  ASSERT_EQ(out.size(), 2U);
  for (const Outgoing& o : out) {
    EXPECT_FALSE(heartbeat(o).reply) << "to n" << o.to.value + 1;  // each is answered in turn
  }
  EXPECT_EQ(out[1].to, NodeId{2});
  EXPECT_EQ(heartbeat(out[1]).echo, 77U);              // the pulling heartbeat is echoed by ours
  EXPECT_EQ(node_->next_deadline(), t0_ + 155 * kMs);  // the next a whole gap later
  // A heartbeat that comes right after is early in the new gap: one answer.
  EXPECT_EQ(hear(1, 90, 56 * kMs).size(), 1U);
}

// The node whose heartbeat pulls the others' hears its pings echoed in their heartbeats, never
// in answers: counting only answers, it never measured a round trip (and its gap ignored a slow
// path). An echo of an answer's ping is no round trip: the peer held it until its own heartbeat.
TEST_F(NodeHeartbeat, RoundTripsComeFromTheFirstEchoOfAHeartbeat) {
  auto rtt_of = [this](std::uint16_t peer) {
    for (const PeerStatus& p : node_->status(t0_).peers) {
      if (p.id == NodeId{peer}) return p.rtt;
    }
    return std::optional<Duration>{};
  };
  Heartbeat hb;
  hb.ping = 20;
  hb.echo = boot_pings_.at(1);  // n2's heartbeat, pulled by our boot heartbeat 3 ms before
  node_->step(NodeId{1}, hb, t0_ + 3 * kMs);
  EXPECT_EQ(rtt_of(1), 3 * kMs);
  const auto answer = node_->take_ready().messages;  // our answer, with a ping of its own
  ASSERT_EQ(answer.size(), 1U);
  ASSERT_TRUE(heartbeat(answer[0]).reply);
  hb.ping = 21;
  hb.echo = boot_pings_.at(1);  // the same echo again, 40 ms later
  node_->step(NodeId{1}, hb, t0_ + 43 * kMs);
  EXPECT_EQ(rtt_of(1), 3 * kMs);
  hb.ping = 22;
  hb.echo = heartbeat(answer[0]).ping;  // the answer's ping, echoed by n2's next heartbeat
  node_->step(NodeId{1}, hb, t0_ + 53 * kMs);
  EXPECT_EQ(rtt_of(1), 3 * kMs);
}

TEST_F(NodeHeartbeat, AnAnswerPullsNothing) {
  EXPECT_TRUE(hear(1, 12, 95 * kMs, /*reply=*/true).empty());
  EXPECT_EQ(node_->next_deadline(), t0_ + 100 * kMs);
}

}  // namespace
}  // namespace hactl
