// hactl-arbiter's pieces without a loop: a served cluster answers through the challenge, holds
// its answers until the state they rest on is on disk (in order), refuses replays and
// non-requests; state files round-trip and survive as written; the key directory refuses what
// the agent refuses.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "arbiter/key_dir.hpp"
#include "arbiter/report.hpp"
#include "arbiter/served_cluster.hpp"
#include "arbiter/state_files.hpp"

namespace hactl {
namespace {

using std::chrono::milliseconds;
const Instant kBoot = Instant{} + std::chrono::hours{1};

ClusterKey a_key() {
  ClusterKey k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(i * 3);
  return k;
}

sockaddr_storage from(std::uint16_t port) {
  sockaddr_storage ss{};
  auto& a = reinterpret_cast<sockaddr_in&>(ss);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ss;
}

// A node of cluster "c" as the arbiter sees it: its requests, sealed and opened again.
struct FakeNode {
  std::string name;
  std::uint64_t session = new_session();
  std::uint64_t seq = 1;
  PeerGate gate{session};
  ArbiterSealer sealer{a_key()};
  ArbiterEnvelope request(Message m) {
    ArbiterEnvelope e;
    e.cluster = "c";
    e.sender = name;
    e.recipient = "arbiter";
    e.incarnation = 5;
    e.session = session;
    e.echo = gate.echo();
    e.seq = seq++;
    e.message = std::move(m);
    return *open_arbiter(sealer.seal(e), a_key());
  }
  // Opens what the arbiter sent this node.
  ArbiterEnvelope hear(const SealedAnswer& o) {
    auto env = open_arbiter(o.bytes, a_key());
    EXPECT_TRUE(env.has_value());
    EXPECT_EQ(env->recipient, name);
    EXPECT_EQ(env->sender, "arbiter");
    gate.check(gate_header(*env));
    return *env;
  }
};

ArbiterClaim claim(std::uint64_t ping) {
  return ArbiterClaim{Term{1}, false, ping, milliseconds{300}, false};
}

class Served : public ::testing::Test {
 protected:
  // Started long ago, with the promise known: ready to grant.
  Served() : c_("c", a_key(), ArbiterHardState{Term{1}, "", milliseconds{300}}, kBoot, 9) {}
  Instant at(int ms) const { return kBoot + std::chrono::seconds{10} + milliseconds{ms}; }
  // Runs the challenge: the node's first request is refused with the cluster's session.
  void greet(FakeNode& n, int ms) {
    ASSERT_TRUE(c_.receive(n.request(claim(0)), from(1000), at(ms)).dropped.empty());
    const auto out = c_.take_sendable();
    ASSERT_EQ(out.size(), 1u);
    const auto env = n.hear(out[0]);
    EXPECT_FALSE(std::get<ArbiterAnswer>(env.message).granted);
  }
  ServedCluster c_;
};

TEST_F(Served, AFirstRequestIsChallengedThenTheClaimIsGrantedToOneNodeOnly) {
  FakeNode n1{"n1"}, n2{"n2"};
  greet(n1, 0);
  greet(n2, 1);
  const auto r = c_.receive(n1.request(claim(7)), from(1000), at(2));
  EXPECT_EQ(r.new_holder, "n1");
  auto out = c_.take_sendable();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::get<ArbiterAnswer>(n1.hear(out[0]).message).granted);
  c_.receive(n2.request(claim(8)), from(1001), at(3));
  out = c_.take_sendable();
  ASSERT_EQ(out.size(), 1u);
  const auto refused = std::get<ArbiterAnswer>(n2.hear(out[0]).message);
  EXPECT_FALSE(refused.granted);
  EXPECT_EQ(refused.holder, "n1");
  EXPECT_EQ(c_.counters().claims, 2u);
  EXPECT_EQ(c_.counters().grants, 1u);
}

TEST_F(Served, AnAnswerWaitsForItsStateAndAnswersLeaveInOrder) {
  FakeNode n1{"n1"};
  greet(n1, 0);
  // A probe tells the voter how long n1 counts on a promise (it votes for no node that has not).
  c_.receive(n1.request(ArbiterClaim{Term{1}, false, 5, milliseconds{300}, true}), from(1000),
             at(1));
  ASSERT_EQ(c_.take_sendable().size(), 1u);
  c_.receive(n1.request(VoteRequest{Term{2}, 11, {}, false}), from(1000), at(1));
  c_.receive(n1.request(claim(12)), from(1000), at(2));  // needs no write, but comes after
  EXPECT_TRUE(c_.take_sendable().empty());
  const auto w = c_.next_write(at(2));
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->state.term, Term{2});
  EXPECT_EQ(w->state.voted_for, "n1");
  EXPECT_FALSE(c_.next_write(at(2)).has_value());  // one write at a time
  c_.written(w->generation, false, at(3));         // failed: nothing leaves
  EXPECT_TRUE(c_.take_sendable().empty());
  EXPECT_FALSE(c_.next_write(at(4)).has_value());  // retried after kWriteRetry
  const auto again = c_.next_write(at(3) + kWriteRetry);
  ASSERT_TRUE(again.has_value());
  c_.written(again->generation, true, at(1100));
  const auto out = c_.take_sendable();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(std::get<VoteResponse>(n1.hear(out[0]).message).granted);
  EXPECT_TRUE(std::get<ArbiterAnswer>(n1.hear(out[1]).message).granted);
}

TEST_F(Served, AReplayAndAResponseAreDroppedWithTheirReasons) {
  FakeNode n1{"n1"};
  greet(n1, 0);
  const auto req = n1.request(claim(3));
  EXPECT_TRUE(c_.receive(req, from(1000), at(1)).dropped.empty());
  EXPECT_EQ(c_.receive(req, from(1000), at(2)).dropped, "replayed");
  EXPECT_EQ(c_.receive(n1.request(VoteResponse{Term{1}, true, 1}), from(1000), at(3)).dropped,
            "not_for_the_arbiter");
}

TEST_F(Served, AnswersGoWhereTheRequestCameFrom) {
  FakeNode n1{"n1"};
  greet(n1, 0);
  c_.receive(n1.request(claim(3)), from(4242), at(1));
  const auto out = c_.take_sendable();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(address_text(out[0].to), "127.0.0.1:4242");
}

TEST_F(Served, StatusAndMetricsNameTheClusterItsHolderAndNodes) {
  FakeNode n1{"n1"};
  greet(n1, 0);
  c_.receive(n1.request(claim(3)), from(1000), at(1));
  ClusterMap clusters;
  clusters.emplace("c",
                   std::make_unique<ServedCluster>("c", a_key(), ArbiterHardState{}, kBoot, 1));
  DaemonCounters counters;
  counters.dropped["no_key"] = 2;
  const auto metrics =
      render_metrics(DaemonSnapshot{counters, clusters, 1, at(5), {}, 1, "", {"broken"}});
  EXPECT_NE(metrics.find("hactl_arbiter_dropped_total{reason=\"no_key\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("hactl_arbiter_clusters 1"), std::string::npos);
  const auto status = nlohmann::json::parse(
      render_status(DaemonSnapshot{counters, clusters, 1, at(5), {}, 1, "", {"broken"}}));
  EXPECT_EQ(status["clusters"][0]["name"], "c");
  EXPECT_EQ(status["unreadable_state"][0], "broken");
  EXPECT_NE(metrics.find("hactl_arbiter_unreadable_states 1"), std::string::npos);
}

class Files : public ::testing::Test {
 protected:
  Files() {
    dir_ = std::filesystem::temp_directory_path() / ("arbiter-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  ~Files() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(Files, StatesRoundTripAndABadOneIsReportedNotServed) {
  const ArbiterHardState s{Term{7}, "n2", milliseconds{3000}};
  EXPECT_EQ(parse_arbiter_state(format_arbiter_state(s)), s);
  ASSERT_TRUE(write_arbiter_state(dir_.string(), "pair-1", s).has_value());
  std::ofstream(dir_ / "pair-2.state") << "{\"format\":1,\"term\":\"x\"}";
  const auto loaded = load_arbiter_states(dir_.string(), 10);
  ASSERT_EQ(loaded.states.size(), 1u);
  EXPECT_EQ(loaded.states.at("pair-1"), s);
  EXPECT_EQ(loaded.unreadable, std::vector<std::string>{"pair-2"});
  EXPECT_EQ(loaded.problems.size(), 1u);
  // Beyond the limit: not read, but never forgotten either.
  const auto limited = load_arbiter_states(dir_.string(), 0);
  EXPECT_TRUE(limited.states.empty());
  EXPECT_EQ(limited.unreadable.size(), 2u);
}

TEST_F(Files, BootsIncreaseEvenWhenTheClockGoesBack) {
  const auto first = next_arbiter_boot(dir_.string(), 1000);
  const auto second = next_arbiter_boot(dir_.string(), 10);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*first, 1000u);
  EXPECT_EQ(*second, 1001u);
}

TEST_F(Files, TheKeyDirectoryRefusesReadableFilesAndBadNames) {
  ASSERT_TRUE(write_key_file((dir_ / "pair-1.key").string(), a_key()).has_value());
  ASSERT_TRUE(write_key_file((dir_ / "pair-2.key").string(), a_key()).has_value());
  ::chmod((dir_ / "pair-2.key").c_str(), 0644);
  ASSERT_TRUE(write_key_file((dir_ / "bad name.key").string(), a_key()).has_value());
  const auto loaded = load_key_dir(dir_.string(), 10);
  EXPECT_EQ(loaded.keys.size(), 1u);
  EXPECT_TRUE(loaded.keys.contains("pair-1"));
  EXPECT_EQ(loaded.problems.size(), 2u);
  EXPECT_FALSE(load_key_dir((dir_ / "none").string(), 10).readable);
}

}  // namespace
}  // namespace hactl
