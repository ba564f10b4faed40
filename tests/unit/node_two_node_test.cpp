// ElectionCore's side of two_node (docs/design.md, "Two nodes with fencing"), step by step: a pair
// member that loses its peer has no lease and cannot be elected; once the shell lists the peer
// as a stand-in (fenced in its boot, or gone after leaving cleanly) it is elected at once and
// holds both leases for as long as the peer stays a stand-in; a stand-in heard again counts
// only by its own grants. Without two_node, stand-ins are ignored.
#include <gtest/gtest.h>

#include <random>
#include <variant>

#include "common/config.hpp"
#include "coordinator/election_core.hpp"

namespace hactl {
namespace {

constexpr const char* kPair = R"(cluster:
  name: pair
  auth_key_file: /etc/hactl/authkey
  two_node: true
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
fencing:
  devices:
    - {id: p1, agent: /bin/true, nodes: [n1]}
    - {id: p2, agent: /bin/true, nodes: [n2]}
)";

class FixedRng final : public Rng {
 public:
  std::uint64_t next() override { return gen_(); }

 private:
  std::mt19937_64 gen_{7};
};

constexpr Duration kMs = std::chrono::milliseconds{1};
constexpr NodeId kPeer{1};

class NodeTwoNode : public ::testing::Test {
 protected:
  void load(const std::string& yaml) {
    auto cfg = parse_config(yaml, "pair.yaml");
    ASSERT_TRUE(cfg.has_value()) << cfg.error().front().to_string();
    config_ = cfg->config;
    node_ = std::make_unique<ElectionCore>(config_, NodeId{0}, make_timing(config_.timing), rng_,
                                           HardState{}, t0_);
  }
  Instant at(int ms) const { return t0_ + ms * kMs; }
  // Ticks every millisecond up to `ms`; n2, the coordinator of term 1, answers every heartbeat
  // of ours (granting it past its boot promise) while `peer_alive`.
  void run_to(int ms, bool peer_alive) {
    for (; now_ms_ <= ms; ++now_ms_) {
      node_->tick(at(now_ms_));
      for (const Outgoing& o : node_->take_ready().messages) {
        const auto* hb = std::get_if<Heartbeat>(&o.message);
        if (!peer_alive || hb == nullptr || hb->reply) continue;
        Heartbeat answer;
        answer.term = Term{1};
        answer.coordinator = kPeer;
        answer.ping = ++peer_ping_;
        answer.echo = hb->ping;
        answer.reply = true;
        answer.grant = now_ms_ >= 300;
        node_->step(kPeer, answer, at(now_ms_));
        node_->take_ready();
      }
    }
  }
  ClusterConfig config_;
  FixedRng rng_;
  Instant t0_{Duration{5'000'000'000}};
  std::unique_ptr<ElectionCore> node_;
  int now_ms_ = 0;
  std::uint64_t peer_ping_ = 0;
};

TEST_F(NodeTwoNode, AFencedPeerStandsInUntilItIsHeardAgain) {
  load(kPair);
  run_to(1000, true);
  ASSERT_TRUE(node_->has_quorum(at(1000)));
  ASSERT_EQ(node_->coordinator(), kPeer);
  // The peer goes silent: without a stand-in no lease and no election (2 of 2 needed).
  run_to(3000, false);
  EXPECT_FALSE(node_->peer_up(kPeer));
  EXPECT_FALSE(node_->has_quorum(at(3000)));
  EXPECT_NE(node_->role(), Role::kCoordinator);
  // Fenced: it stands in. Elected at the next tick, with both leases.
  node_->set_stand_ins({false, true});
  run_to(3001, false);
  EXPECT_EQ(node_->role(), Role::kCoordinator);
  EXPECT_TRUE(node_->has_quorum(at(3001)));
  EXPECT_TRUE(node_->holds_coordinator_lease(at(3001)));
  EXPECT_GT(node_->term(), Term{1});
  // ... and keeps them while the stand-in lasts.
  run_to(10'000, false);
  EXPECT_EQ(node_->role(), Role::kCoordinator);
  EXPECT_TRUE(node_->has_quorum(at(10'000)));
  // The shell stops listing it (heard in a new boot, say): its own grants count, none come.
  node_->set_stand_ins({false, false});
  run_to(11'000, false);
  EXPECT_FALSE(node_->has_quorum(at(11'000)));
  EXPECT_NE(node_->role(), Role::kCoordinator);
}

TEST_F(NodeTwoNode, APeerThatIsHeardIsNoStandIn) {
  load(kPair);
  run_to(1000, true);
  node_->set_stand_ins({false, true});  // listed, but up: only its grants count
  EXPECT_FALSE(node_->stands_in(kPeer.value));
  EXPECT_EQ(node_->coordinator(), kPeer);
}

TEST_F(NodeTwoNode, WithoutTwoNodeStandInsAreIgnored) {
  std::string yaml = kPair;
  yaml.erase(yaml.find("  two_node: true\n"), 17);
  load(yaml);
  run_to(1000, true);
  run_to(3000, false);
  node_->set_stand_ins({false, true});
  run_to(6000, false);
  EXPECT_FALSE(node_->has_quorum(at(6000)));
  EXPECT_NE(node_->role(), Role::kCoordinator);
}

}  // namespace
}  // namespace hactl
