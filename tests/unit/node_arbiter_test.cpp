// ElectionCore's side of the arbiter (docs/pairs.md), step by step: a node that hears its peer only
// probes the arbiter; one heartbeat missed and it claims at once, then with every heartbeat; a
// grant keeps its lease and releases the silent peer; a refusal keeps nothing; a probe's answer
// grants nothing; a silent arbiter is reported, and nothing else changes.
#include <gtest/gtest.h>

#include <random>
#include <variant>

#include "common/config.hpp"
#include "coordinator/election_core.hpp"

namespace hactl {
namespace {

constexpr const char* kYaml = R"(cluster:
  name: pair
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
arbiter: {address: "10.213.9.1:5406"}
)";

class FixedRng final : public Rng {
 public:
  std::uint64_t next() override { return gen_(); }

 private:
  std::mt19937_64 gen_{5};
};

constexpr Duration kMs = std::chrono::milliseconds{1};
constexpr NodeId kPeer{1};
constexpr NodeId kArbiter{2};

class NodeArbiter : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = parse_config(kYaml, "pair.yaml");
    ASSERT_TRUE(cfg.has_value());
    config_ = cfg->config;
    node_ = std::make_unique<ElectionCore>(config_, NodeId{0}, make_timing(config_.timing), rng_,
                                           HardState{}, t0_);
  }
  Instant at(int ms) const { return t0_ + ms * kMs; }
  // Ticks every millisecond up to `ms`; n2, the coordinator, answers every heartbeat of ours
  // (granting it past its boot promise) while `peer_alive`. Returns the claims sent to the arbiter
  // on the way.
  std::vector<ArbiterClaim> run_to(int ms, bool peer_alive) {
    std::vector<ArbiterClaim> claims;
    for (; now_ms_ <= ms; ++now_ms_) {
      node_->tick(at(now_ms_));
      for (const Outgoing& o : node_->take_ready().messages) {
        if (o.to == kArbiter) {
          if (const auto* c = std::get_if<ArbiterClaim>(&o.message)) claims.push_back(*c);
          continue;
        }
        const auto* hb = std::get_if<Heartbeat>(&o.message);
        if (!peer_alive || hb == nullptr || hb->reply) continue;
        Heartbeat answer;  // n2 leads term 1: n1 follows it and starts no election
        answer.term = Term{1};
        answer.coordinator = kPeer;
        answer.ping = ++peer_ping_;
        answer.echo = hb->ping;
        answer.reply = true;
        answer.grant = now_ms_ >= 300;  // n2 booted with us: it grants after its promise
        node_->step(kPeer, answer, at(now_ms_));
        node_->take_ready();
      }
    }
    return claims;
  }
  void answer(const ArbiterClaim& c, bool granted, int ms, const std::string& holder = "n1") {
    ArbiterAnswer a;
    a.echo = c.ping;
    a.granted = granted;
    a.holder = holder;
    node_->step(kArbiter, a, at(ms));
  }
  static std::size_t probes(const std::vector<ArbiterClaim>& v) {
    return static_cast<std::size_t>(
        std::count_if(v.begin(), v.end(), [](const ArbiterClaim& c) { return c.probe; }));
  }

  ClusterConfig config_;
  FixedRng rng_;
  Instant t0_{std::chrono::seconds{10}};
  std::unique_ptr<ElectionCore> node_;
  int now_ms_ = 0;
  std::uint64_t peer_ping_ = 100;
};

TEST_F(NodeArbiter, ANodeThatHearsItsPeerOnlyProbesTheArbiter) {
  run_to(1000, true);  // the start: claims while the peer's grants are missing
  const auto claims = run_to(7000, true);
  EXPECT_EQ(claims.size(), 3u);  // one probe every 2 s
  EXPECT_EQ(probes(claims), claims.size());
  EXPECT_EQ(claims.front().promise, 300 * kMs);
  EXPECT_TRUE(node_->has_quorum(at(7000)));
}

// The shell sleeps until next_deadline(): an instant already past would wake it at once, again
// and again (a busy loop on an idle pair).
TEST_F(NodeArbiter, TheNextDeadlineIsNeverInThePast) {
  for (int ms = 0; ms <= 5000; ms += 250) {
    run_to(ms, ms < 3000);  // the peer alive, then gone
    EXPECT_GT(node_->next_deadline(), at(ms)) << "at " << ms << " ms";
  }
}

TEST_F(NodeArbiter, OneMissedHeartbeatAndItClaimsAtOnceThenWithEveryHeartbeat) {
  run_to(1000, true);
  const auto claims = run_to(1200, false);
  ASSERT_FALSE(claims.empty());
  EXPECT_FALSE(claims.front().probe);
  // The peer was last heard at about 1000 ms; the claim leaves 125 ms of silence later.
  EXPECT_GE(claims.size(), 2u);
  const auto status = node_->status(at(1200));
  ASSERT_TRUE(status.arbiter.has_value());
  EXPECT_TRUE(status.arbiter->claiming);
}

TEST_F(NodeArbiter, AGrantKeepsTheLeaseAndReleasesTheSilentPeer) {
  run_to(1000, true);
  std::vector<ArbiterClaim> claims = run_to(1130, false);
  ASSERT_FALSE(claims.empty());
  answer(claims.back(), true, 1131);
  for (int ms = 1132; ms <= 2500; ms += 50) {
    for (const ArbiterClaim& c : run_to(ms, false)) {
      if (!c.probe) answer(c, true, ms);
    }
    ASSERT_TRUE(node_->has_quorum(at(ms))) << "at " << ms << " ms";
  }
  // Silent for node_timeout, released by itself and by the arbiter: the peer's lease is over.
  EXPECT_TRUE(node_->lease_released_at(kPeer, at(2500)).has_value());
  EXPECT_TRUE(node_->status(at(2500)).arbiter->held);
}

TEST_F(NodeArbiter, ARefusalKeepsNothingAndTheLeaseEnds) {
  run_to(1000, true);
  for (int ms = 1050; ms <= 1500; ms += 50) {
    for (const ArbiterClaim& c : run_to(ms, false)) {
      if (!c.probe) answer(c, false, ms, "n2");
    }
  }
  EXPECT_FALSE(node_->has_quorum(at(1500)));
  EXPECT_FALSE(node_->lease_released_at(kPeer, at(1500)).has_value());
  EXPECT_EQ(node_->status(at(1500)).arbiter->holder, "n2");
}

TEST_F(NodeArbiter, AProbesAnswerGrantsNothingEvenIfItSaysSo) {
  run_to(1000, true);
  const auto claims = run_to(3500, true);
  const auto probe =
      std::find_if(claims.rbegin(), claims.rend(), [](const ArbiterClaim& c) { return c.probe; });
  ASSERT_NE(probe, claims.rend());
  answer(*probe, true, 3500);
  run_to(4100, false);
  EXPECT_FALSE(node_->has_quorum(at(4100))) << "only the claims' answers back a lease";
}

TEST_F(NodeArbiter, ASilentArbiterIsReportedAndNothingElseChanges) {
  auto claims = run_to(1000, true);
  answer(claims.back(), false, 1000, "");
  node_->take_ready();
  EXPECT_TRUE(node_->status(at(1000)).arbiter->reachable);
  run_to(1000 + 9000, true);
  const Ready r = node_->take_ready();
  const auto st = node_->status(at(10'000));
  EXPECT_FALSE(st.arbiter->reachable);
  EXPECT_TRUE(st.quorum);
}

}  // namespace
}  // namespace hactl
