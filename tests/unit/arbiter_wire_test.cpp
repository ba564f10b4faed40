// The arbiter's datagrams (common/arbiter_wire.hpp): each of the six messages round-trips, the
// cluster is readable before the key is known, and a datagram changed, cut, sealed under another
// key or for another cluster, carrying another message or replayed is refused with its reason.
#include "common/arbiter_wire.hpp"

#include <gtest/gtest.h>

#include <random>

#include "common/limits.hpp"

namespace hactl {
namespace {

using std::chrono::milliseconds;

ClusterKey test_key(unsigned char seed) {
  ClusterKey k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(seed ^ (i * 7));
  return k;
}

ArbiterEnvelope envelope(Message m, std::uint64_t seq = 1) {
  ArbiterEnvelope e;
  e.cluster = "pair-7";
  e.sender = "n1";
  e.recipient = "arbiter";
  e.incarnation = 11;
  e.session = 0x5e55;
  e.echo = 0xec40;
  e.seq = seq;
  e.message = std::move(m);
  return e;
}

std::vector<Message> six() {
  return {
      ArbiterClaim{Term{3}, true, 42, milliseconds{3000}, false},
      ArbiterClaim{Term{0}, false, 0, milliseconds{0}, true},
      ArbiterAnswer{Term{3}, 42, true, true, "n1", milliseconds{2500}},
      PreVoteRequest{Term{4}, DocVersion{Term{3}, 9}},
      PreVoteResponse{Term{4}, true},
      VoteRequest{Term{4}, 77, DocVersion{Term{3}, 9}, false},
      VoteResponse{Term{4}, true, 77},
  };
}

class ArbiterWire : public ::testing::Test {
 protected:
  ClusterKey key_ = derive_arbiter_key(test_key(0x5a));
  ArbiterSealer sealer_{key_};
};

TEST_F(ArbiterWire, EachOfTheSixMessagesRoundTrips) {
  for (const auto& m : six()) {
    const auto sent = envelope(m);
    const auto got = open_arbiter(sealer_.seal(sent), key_);
    ASSERT_TRUE(got.has_value()) << to_string(got.error());
    EXPECT_EQ(got->cluster, sent.cluster);
    EXPECT_EQ(got->sender, sent.sender);
    EXPECT_EQ(got->recipient, sent.recipient);
    EXPECT_EQ(got->incarnation, sent.incarnation);
    EXPECT_EQ(got->session, sent.session);
    EXPECT_EQ(got->echo, sent.echo);
    EXPECT_EQ(got->seq, sent.seq);
    EXPECT_EQ(got->message, sent.message);
  }
}

TEST_F(ArbiterWire, TheClusterIsReadBeforeAnyKey) {
  const auto d = sealer_.seal(envelope(six()[0]));
  EXPECT_EQ(peek_arbiter_cluster(d), "pair-7");
  EXPECT_EQ(peek_arbiter_cluster(std::span(d.data(), 6)), std::unexpected(DropReason::kTruncated));
}

TEST_F(ArbiterWire, EveryByteChangedIsRefused) {
  const auto d = sealer_.seal(envelope(six()[0]));
  for (std::size_t i = 0; i < d.size(); ++i) {
    auto bad = d;
    bad[i] ^= 0x01;
    const auto got = open_arbiter(bad, key_);
    ASSERT_FALSE(got.has_value()) << "byte " << i;
  }
  auto flipped = d;
  flipped.back() ^= 0x80;
  EXPECT_EQ(open_arbiter(flipped, key_).error(), DropReason::kAuthFailed);
  auto magic = d;
  magic[1] = 'A';
  EXPECT_EQ(open_arbiter(magic, key_).error(), DropReason::kBadMagic);
  auto version = d;
  version[2] = kArbiterWireVersion + 1;
  EXPECT_EQ(open_arbiter(version, key_).error(), DropReason::kBadVersion);
}

TEST_F(ArbiterWire, AnotherKeyOrAnotherClusterIsRefused) {
  const auto d = sealer_.seal(envelope(six()[0]));
  EXPECT_EQ(open_arbiter(d, test_key(0x5a)).error(), DropReason::kAuthFailed);  // the cluster key
  EXPECT_EQ(open_arbiter(d, derive_arbiter_key(test_key(0x11))).error(), DropReason::kAuthFailed);
  // The cluster's name is authenticated: renamed in the clear header, it no longer opens.
  auto renamed = d;
  renamed[5] = 'q';  // "pair-7" -> "qair-7"
  EXPECT_EQ(peek_arbiter_cluster(renamed), "qair-7");
  EXPECT_EQ(open_arbiter(renamed, key_).error(), DropReason::kAuthFailed);
}

TEST_F(ArbiterWire, EveryTruncationIsRefused) {
  const auto d = sealer_.seal(envelope(six()[2]));
  for (std::size_t n = 0; n < d.size(); ++n) {
    const auto got = open_arbiter(std::span(d.data(), n), key_);
    ASSERT_FALSE(got.has_value()) << n;
    const bool expected =
        got.error() == DropReason::kTruncated || got.error() == DropReason::kAuthFailed;
    EXPECT_TRUE(expected) << n << " " << to_string(got.error());
  }
  std::vector<std::uint8_t> huge(limits::kMaxDatagramSize + 1, 'H');
  EXPECT_EQ(open_arbiter(huge, key_).error(), DropReason::kOversized);
}

TEST_F(ArbiterWire, OnlyTheArbitersMessagesTravel) {
  EXPECT_FALSE(travels_to_arbiter(TimeoutNow{Term{1}}));
  EXPECT_DEATH((void)sealer_.seal(envelope(TimeoutNow{Term{1}})), "travels_to_arbiter");
  // A heartbeat (or anything else) sealed in this format by a holder of the key opens as
  // malformed, as does a body with trailing bytes or flags set.
  const ArbiterHeader h = envelope(six()[4]);
  const auto heartbeat = encode_message_body(
      Heartbeat{Term{1}, std::nullopt, 1, 0, milliseconds{0}, false, false, {}}, {});
  EXPECT_EQ(open_arbiter(sealer_.seal_body(h, heartbeat), key_).error(),
            DropReason::kMalformedBody);
  auto trailing = encode_message_body(six()[4], {});
  ASSERT_TRUE(open_arbiter(sealer_.seal_body(h, trailing), key_).has_value());
  trailing.push_back(0);
  EXPECT_EQ(open_arbiter(sealer_.seal_body(h, trailing), key_).error(), DropReason::kMalformedBody);
  EXPECT_EQ(open_arbiter(sealer_.seal_body(h, {}), key_).error(), DropReason::kMalformedBody);
}

TEST_F(ArbiterWire, AReplayIsRefusedThroughPeerGate) {
  constexpr std::uint64_t kOwnSession = 0xec40;  // the arbiter's challenge, which envelope echoes
  PeerGate gate(kOwnSession);
  const auto first = sealer_.seal(envelope(six()[0], 1));
  const auto second = sealer_.seal(envelope(six()[0], 2));
  auto check = [&](const std::vector<std::uint8_t>& d) {
    const auto env = open_arbiter(d, key_);
    EXPECT_TRUE(env.has_value());
    return gate.check(gate_header(*env));
  };
  EXPECT_EQ(check(first), PeerGate::Verdict::kAcceptNewIncarnation);
  EXPECT_EQ(check(second), PeerGate::Verdict::kAccept);
  EXPECT_EQ(check(first), PeerGate::Verdict::kReplayed);
  EXPECT_EQ(check(second), PeerGate::Verdict::kReplayed);
  EXPECT_EQ(gate.echo(), 0x5e55u);  // the node's challenge, for the arbiter's answers
}

TEST_F(ArbiterWire, TheArbiterKeyIsStableAndNotTheClusterKey) {
  const auto cluster = test_key(0x5a);
  EXPECT_NE(derive_arbiter_key(cluster), cluster);
  EXPECT_EQ(derive_arbiter_key(cluster), derive_arbiter_key(cluster));
  EXPECT_NE(derive_arbiter_key(cluster), derive_arbiter_key(test_key(0x5b)));
  // Pinned: nodes and arbiters of every version must derive the same key from the same one.
  EXPECT_EQ(format_key_file(derive_arbiter_key(ClusterKey{})),
            "hactl-key-v1:6gE4yNltzbb7lqK/U15vjzFDKWDgjc5reWWP4PPGwr4=\n");
}

TEST_F(ArbiterWire, RandomInputNeverOpens) {
  std::mt19937_64 rng(20261206);
  const auto d = sealer_.seal(envelope(six()[5]));
  for (int i = 0; i < 5000; ++i) {
    auto bad = d;
    const std::size_t n = 1 + rng() % 4;
    for (std::size_t j = 0; j < n; ++j) bad[rng() % bad.size()] = static_cast<std::uint8_t>(rng());
    if (bad == d) continue;
    bad.resize(rng() % 2 == 0 ? bad.size() : rng() % (bad.size() + 1));
    ASSERT_FALSE(open_arbiter(bad, key_).has_value()) << i;
  }
}

}  // namespace
}  // namespace hactl
