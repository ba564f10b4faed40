// The arbiter's voter (coordinator/arbiter.hpp), rule by rule: it answers only its holder, a
// hold lasts the promise after the holder's last request, a probe takes nothing, votes are
// Raft's (persisted first), and a restarted arbiter backs nobody for a promise's span.
#include "coordinator/arbiter.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/limits.hpp"

namespace hactl {
namespace {

constexpr Duration kMs = std::chrono::milliseconds{1};
constexpr Duration kPromise = 300 * kMs;
const Instant kBoot = Instant{} + std::chrono::hours{1};

ArbiterClaim claim(std::uint64_t ping, Term term = Term{1}, bool leads = false) {
  return ArbiterClaim{term, leads, ping, kPromise, false};
}

ArbiterAnswer answer(const ArbiterVoter::Output& out) {
  EXPECT_TRUE(out.reply.has_value());
  EXPECT_TRUE(std::holds_alternative<ArbiterAnswer>(*out.reply));
  return std::get<ArbiterAnswer>(*out.reply);
}

class Arbiter : public ::testing::Test {
 protected:
  // An arbiter that has run for longer than its promise (it knows the cluster's promise).
  Arbiter() : voter_(ArbiterHardState{Term{1}, "", kPromise}, kBoot) {
    // Each node's probe at its start says how long it counts on the arbiter's promises.
    ArbiterClaim probe = claim(0);
    probe.probe = true;
    for (const char* n : {"n1", "n2"}) voter_.step(n, probe, kBoot);
  }
  Instant at(int ms) const { return kBoot + kPromise + ms * kMs; }
  ArbiterVoter voter_;
};

TEST_F(Arbiter, TheFirstClaimTakesTheHoldAndTheOtherNodeGetsNothing) {
  const auto a = answer(voter_.step("n1", claim(7), at(0)));
  EXPECT_TRUE(a.granted);
  EXPECT_EQ(a.echo, 7u);
  EXPECT_EQ(a.holder, "n1");
  EXPECT_EQ(a.hold_left, kPromise);
  const auto b = answer(voter_.step("n2", claim(9), at(10)));
  EXPECT_FALSE(b.granted);
  EXPECT_EQ(b.echo, 9u);
  EXPECT_EQ(b.holder, "n1");
  EXPECT_EQ(b.hold_left, kPromise - 10 * kMs);
}

TEST_F(Arbiter, AHoldLastsThePromiseAfterTheHoldersLastClaimThenAnotherMayTakeIt) {
  ASSERT_TRUE(answer(voter_.step("n1", claim(1), at(0))).granted);
  ASSERT_TRUE(answer(voter_.step("n1", claim(2), at(200))).granted);  // renewed
  EXPECT_FALSE(answer(voter_.step("n2", claim(3), at(499))).granted);
  const auto out = voter_.step("n2", claim(4), at(500));
  EXPECT_TRUE(answer(out).granted);
  EXPECT_EQ(out.new_holder, "n2");
  EXPECT_EQ(voter_.status(at(500)).hold_changes, 2u);
  EXPECT_FALSE(answer(voter_.step("n1", claim(5), at(501))).granted);
}

TEST_F(Arbiter, AProbeTakesNothingAndIsGrantedNothing) {
  ArbiterClaim probe = claim(1);
  probe.probe = true;
  const auto a = answer(voter_.step("n1", probe, at(0)));
  EXPECT_FALSE(a.granted);
  EXPECT_EQ(a.holder, "");
  EXPECT_TRUE(answer(voter_.step("n2", claim(2), at(1))).granted);
  const auto b = answer(voter_.step("n1", probe, at(2)));
  EXPECT_FALSE(b.granted);
  EXPECT_EQ(b.holder, "n2");  // what a probe learns: who holds it
}

TEST_F(Arbiter, TheCoordinatorLeaseIsAcknowledgedOnlyInTheArbitersTerm) {
  EXPECT_TRUE(answer(voter_.step("n1", claim(1, Term{1}, true), at(0))).leads_acked);
  EXPECT_FALSE(answer(voter_.step("n1", claim(2, Term{1}, false), at(1))).leads_acked);
  // A follower's newer term moves the arbiter's (as a heartbeat moves a voter's): the
  // coordinator of the older term is no longer acknowledged.
  EXPECT_FALSE(answer(voter_.step("n2", claim(3, Term{2}), at(2))).granted);
  const auto a = answer(voter_.step("n1", claim(4, Term{1}, true), at(3)));
  EXPECT_TRUE(a.granted);
  EXPECT_FALSE(a.leads_acked);
  EXPECT_EQ(a.term, Term{2});
}

TEST_F(Arbiter, AVoteIsPersistedBeforeItLeavesAndGivenOncePerTerm) {
  const auto out = voter_.step("n1", VoteRequest{Term{2}, 11, {}, false}, at(0));
  ASSERT_TRUE(out.persist.has_value());
  EXPECT_EQ(*out.persist, (ArbiterHardState{Term{2}, "n1", kPromise}));
  ASSERT_TRUE(out.reply.has_value());
  EXPECT_EQ(std::get<VoteResponse>(*out.reply), (VoteResponse{Term{2}, true, 11}));
  // The same term again, once the hold ran out: refused, never a second vote.
  const auto again = voter_.step("n2", VoteRequest{Term{2}, 12, {}, false}, at(400));
  EXPECT_EQ(std::get<VoteResponse>(*again.reply), (VoteResponse{Term{2}, false, 12}));
  EXPECT_FALSE(again.persist.has_value());
  // An older term is refused with ours.
  const auto old = voter_.step("n2", VoteRequest{Term{1}, 13, {}, false}, at(401));
  EXPECT_EQ(std::get<VoteResponse>(*old.reply), (VoteResponse{Term{2}, false, 13}));
}

TEST_F(Arbiter, AVoteRequestOfAnotherThanTheHolderGetsNoAnswerAndMovesNoTerm) {
  ASSERT_TRUE(answer(voter_.step("n1", claim(1), at(0))).granted);
  const auto out = voter_.step("n2", VoteRequest{Term{5}, 2, {}, false}, at(1));
  EXPECT_TRUE(out.dropped);
  EXPECT_EQ(out.drop_reason, "held_by_another");
  EXPECT_FALSE(out.reply.has_value());
  EXPECT_EQ(voter_.hard_state().term, Term{1});
  const auto pre = voter_.step("n2", PreVoteRequest{Term{5}, {}}, at(2));
  EXPECT_EQ(std::get<PreVoteResponse>(*pre.reply), (PreVoteResponse{Term{1}, false}));
}

TEST_F(Arbiter, AGrantedPreVoteTakesTheHoldSoTheVoteFindsItFree) {
  const auto pre = voter_.step("n2", PreVoteRequest{Term{2}, {}}, at(0));
  EXPECT_EQ(std::get<PreVoteResponse>(*pre.reply), (PreVoteResponse{Term{2}, true}));
  EXPECT_FALSE(pre.persist.has_value());  // a pre-vote changes no term and no vote
  EXPECT_EQ(voter_.status(at(0)).holder, "n2");
  EXPECT_FALSE(answer(voter_.step("n1", claim(1), at(1))).granted);
}

TEST_F(Arbiter, AVoteRequestOfANodeWhoseClaimsWereNeverHeardGetsNoAnswer) {
  const auto out = voter_.step("n3", VoteRequest{Term{2}, 1, {}, false}, at(0));
  EXPECT_TRUE(out.dropped);
  EXPECT_EQ(out.drop_reason, "promise_unknown");
  const auto pre = voter_.step("n3", PreVoteRequest{Term{2}, {}}, at(1));
  EXPECT_EQ(std::get<PreVoteResponse>(*pre.reply), (PreVoteResponse{Term{1}, false}));
}

TEST(ArbiterRestart, ARestartedArbiterBacksNobodyForThePromiseAndKeepsItsVote) {
  ArbiterVoter voter(ArbiterHardState{Term{4}, "n1", kPromise}, kBoot);
  EXPECT_FALSE(answer(voter.step("n2", claim(1, Term{4}), kBoot + 299 * kMs)).granted);
  EXPECT_TRUE(voter.step("n2", VoteRequest{Term{4}, 2, {}, false}, kBoot + 299 * kMs).dropped);
  EXPECT_EQ(voter.step("n2", VoteRequest{Term{4}, 3, {}, false}, kBoot + kPromise).reply,
            std::optional<Message>(VoteResponse{Term{4}, false, 3}));
  EXPECT_TRUE(answer(voter.step("n2", claim(4, Term{4}), kBoot + kPromise)).granted);
}

TEST(ArbiterRestart, AnArbiterThatNeverHeardTheClusterWaitsForThePromiseOfItsFirstClaim) {
  ArbiterVoter voter(ArbiterHardState{}, kBoot);
  const auto first = voter.step("n1", claim(1), kBoot + 100 * kMs);
  EXPECT_FALSE(answer(first).granted);
  ASSERT_TRUE(first.persist.has_value());
  EXPECT_EQ(first.persist->promise, kPromise);
  EXPECT_TRUE(answer(voter.step("n1", claim(2), kBoot + kPromise)).granted);
}

TEST_F(Arbiter, NodesBeyondTheBoundForgetTheLeastRecentButNeverTheHolder) {
  ASSERT_TRUE(answer(voter_.step("holder", claim(1), at(0))).granted);
  for (std::size_t i = 0; i < limits::kMaxArbiterNodes + 5; ++i) {
    voter_.step("n" + std::to_string(i), claim(2 + i), at(1 + static_cast<int>(i)));
  }
  const auto s = voter_.status(at(100));
  EXPECT_EQ(s.nodes.size(), limits::kMaxArbiterNodes);
  EXPECT_EQ(s.holder, "holder");
  EXPECT_TRUE(std::any_of(s.nodes.begin(), s.nodes.end(),
                          [](const ArbiterNodeView& v) { return v.name == "holder"; }));
}

TEST_F(Arbiter, WhatIsNotForTheArbiterIsDropped) {
  const auto out = voter_.step("n1", Heartbeat{}, at(0));
  EXPECT_TRUE(out.dropped);
  EXPECT_FALSE(out.reply.has_value());
}

}  // namespace
}  // namespace hactl
