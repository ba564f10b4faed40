#include "coordinator/doc_replica.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace hactl {
namespace {

using std::chrono::milliseconds;

// Three (or more) replicas wired through an in-memory network; node `leader` leads in `term`.
struct Net {
  std::vector<DocReplica> r;
  std::vector<bool> up;
  std::vector<std::vector<StoredDoc>> stored;
  std::vector<std::vector<ProposalOutcome>> outcomes;
  std::deque<std::tuple<NodeId, NodeId, Message>> queue;
  Term term{1};
  std::optional<NodeId> leader = NodeId{0};
  Instant now{};
  std::string refuse;       // what the validator says
  bool checks_done = true;  // false: the validator's work for "slow" documents is not done yet
  // Stores reach the disk at once, unless `lagging`: then they wait for sync(i).
  std::vector<bool> lagging;
  std::vector<std::optional<DocVersion>> unsynced;

  explicit Net(std::size_t n)
      : up(n, true), stored(n), outcomes(n), lagging(n, false), unsynced(n) {
    for (std::size_t i = 0; i < n; ++i) {
      r.emplace_back(n, NodeId{static_cast<std::uint16_t>(i)}, milliseconds(100),
                     StoredDoc{DocVersion{}, "v0"}, [this](const std::string& b) {
                       if (!checks_done && b.find("slow") != std::string::npos) {
                         return DocReplica::Verdict::later();
                       }
                       return DocReplica::Verdict(
                           b.find("bad") != std::string::npos ? "bad document" : refuse);
                     });
    }
  }
  Membership membership(std::size_t i) const {
    Membership m;
    m.term = term;
    m.leads = leader && leader->value == i;
    m.up = up;
    return m;
  }
  void drain(std::size_t i) {
    DocOutput o = r[i].take();
    if (o.store) stored[i].push_back(*o.store);
    for (auto& oc : o.outcomes) outcomes[i].push_back(oc);
    for (auto& [to, m] : o.messages) {
      queue.emplace_back(NodeId{static_cast<std::uint16_t>(i)}, to, std::move(m));
    }
    if (o.store) {
      unsynced[i] = o.store->version;
      if (!lagging[i]) sync(i);
    }
  }
  void sync(std::size_t i) {
    if (!unsynced[i]) return;
    r[i].stored(*std::exchange(unsynced[i], std::nullopt));
    drain(i);
  }
  std::size_t acks_in_queue(std::size_t from) const {
    std::size_t k = 0;
    for (const auto& [f, to, m] : queue) {
      const auto* a = std::get_if<DocAck>(&m);
      k += f.value == from && a != nullptr && a->proposal == 0 ? 1 : 0;
    }
    return k;
  }
  void deliver_all(std::size_t max = 100000) {
    for (std::size_t k = 0; k < max && !queue.empty(); ++k) {
      auto [from, to, m] = std::move(queue.front());
      queue.pop_front();
      if (!up[to.value] || !up[from.value]) continue;
      if (auto* c = std::get_if<DocChunk>(&m)) r[to.value].on_chunk(from, *c, term, leader, now);
      if (auto* a = std::get_if<DocAck>(&m)) r[to.value].on_ack(from, *a, now);
      drain(to.value);
    }
  }
  void round(Duration step = milliseconds(100)) {
    now += step;
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (!up[i]) continue;
      r[i].tick(membership(i), leader, now);
      drain(i);
    }
    deliver_all();
  }
};

TEST(DocReplica, ANewCoordinatorRestampsItsDocumentAndAMajorityCommitsIt) {
  Net net(3);
  net.round();
  EXPECT_EQ(net.r[0].doc().version, (DocVersion{Term{1}, 1}));
  ASSERT_TRUE(net.r[0].committed());
  EXPECT_EQ(*net.r[0].committed(), (DocVersion{Term{1}, 1}));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(net.r[i].doc(), (StoredDoc{DocVersion{Term{1}, 1}, "v0"}));
    ASSERT_FALSE(net.stored[i].empty()) << i;  // stored before it was acknowledged
  }
}

TEST(DocReplica, AFollowersProposalIsCommittedEverywhereAndAnswered) {
  Net net(3);
  net.round();
  const std::string big(5000, 'x');  // several chunks
  const auto id =
      net.r[2].propose(big, net.r[2].doc().version, net.now, net.now + milliseconds(5000));
  for (int i = 0; i < 3; ++i) net.round();
  ASSERT_EQ(net.outcomes[2].size(), 1u);
  EXPECT_EQ(net.outcomes[2][0].id, id);
  EXPECT_TRUE(net.outcomes[2][0].ok) << net.outcomes[2][0].error;
  EXPECT_EQ(net.outcomes[2][0].version, (DocVersion{Term{1}, 2}));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(net.r[i].doc().bytes, big) << i;
}

TEST(DocReplica, AChangeFromAnOldVersionIsRefusedAndChangesNothing) {
  Net net(3);
  net.round();
  const DocVersion base = net.r[1].doc().version;
  net.r[0].propose("first", base, net.now, net.now + milliseconds(5000));
  net.round();
  net.r[1].propose("second", base, net.now, net.now + milliseconds(5000));
  for (int i = 0; i < 3; ++i) net.round();
  ASSERT_EQ(net.outcomes[1].size(), 1u);
  EXPECT_FALSE(net.outcomes[1][0].ok);
  EXPECT_NE(net.outcomes[1][0].error.find("changed meanwhile"), std::string::npos);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(net.r[i].doc().bytes, "first");
}

TEST(DocReplica, AChangeFromTheSameContentReStampedSinceIsAccepted) {
  Net net(3);
  net.round();
  // Node 2 derives a change from 1.1; meanwhile node 1 becomes coordinator in term 2 and
  // re-stamps the same content as 2.2 before the proposal reaches it.
  const DocVersion base = net.r[2].doc().version;
  net.term = Term{2};
  net.leader = NodeId{1};
  net.r[1].tick(net.membership(1), net.leader, net.now);
  net.drain(1);
  net.queue.clear();  // node 2 has not heard of 2.2 yet
  net.r[2].propose("mine", base, net.now, net.now + milliseconds(5000));
  for (int i = 0; i < 3; ++i) net.round();
  ASSERT_EQ(net.outcomes[2].size(), 1u);
  EXPECT_TRUE(net.outcomes[2][0].ok) << net.outcomes[2][0].error;
  EXPECT_EQ(net.r[0].doc().bytes, "mine");
}

TEST(DocReplica, AnInvalidDocumentIsRefusedWithTheValidatorsReason) {
  Net net(3);
  net.round();
  net.r[1].propose("bad", net.r[1].doc().version, net.now, net.now + milliseconds(5000));
  for (int i = 0; i < 3; ++i) net.round();
  ASSERT_EQ(net.outcomes[1].size(), 1u);
  EXPECT_FALSE(net.outcomes[1][0].ok);
  EXPECT_EQ(net.outcomes[1][0].error, "bad document");
  EXPECT_EQ(net.r[0].doc().bytes, "v0");
}

// A proposal whose check is not done waits, parked once however often it is resent, and is
// checked again when retry_parked says the work is done.
TEST(DocReplica, AProposalWaitsForItsCheck) {
  Net net(3);
  net.round();
  net.checks_done = false;
  net.r[1].propose("slow one", net.r[1].doc().version, net.now, net.now + milliseconds(5000));
  for (int i = 0; i < 5; ++i) net.round();  // resent every 100 ms
  EXPECT_EQ(net.r[0].parked(), 1u);
  EXPECT_TRUE(net.outcomes[1].empty());
  net.checks_done = true;
  net.r[0].retry_parked(net.now);
  net.drain(0);
  for (int i = 0; i < 3; ++i) net.round();
  EXPECT_EQ(net.r[0].parked(), 0u);
  ASSERT_EQ(net.outcomes[1].size(), 1u);
  EXPECT_TRUE(net.outcomes[1][0].ok) << net.outcomes[1][0].error;
  EXPECT_EQ(net.r[2].doc().bytes, "slow one");
}

TEST(DocReplica, TooManyWaitingProposalsRefuseTheOldest) {
  Net net(3);
  net.round();
  net.checks_done = false;
  for (std::size_t k = 0; k <= DocReplica::kMaxParked; ++k) {
    net.r[1].propose("slow " + std::to_string(k), net.r[1].doc().version, net.now,
                     net.now + milliseconds(5000));
    net.round();
  }
  EXPECT_EQ(net.r[0].parked(), DocReplica::kMaxParked);
  ASSERT_EQ(net.outcomes[1].size(), 1u);
  EXPECT_FALSE(net.outcomes[1][0].ok);
  EXPECT_NE(net.outcomes[1][0].error.find("busy"), std::string::npos);
  // Losing the lead drops them: their proposers send them to the next coordinator.
  net.leader.reset();
  net.round();
  EXPECT_EQ(net.r[0].parked(), 0u);
}

// A large document goes out a burst at a time, and arrives whole.
TEST(DocReplica, ALargeDocumentGoesOutInBursts) {
  Net net(3);
  net.round();
  const std::string big(100 * kDocChunkBytes, 'x');
  net.r[0].propose(big, net.r[0].doc().version, net.now, net.now + milliseconds(5000));
  net.now += milliseconds(100);
  net.r[0].tick(net.membership(0), net.leader, net.now);  // accepted: a new version here
  (void)net.r[0].take();
  net.r[0].tick(net.membership(0), net.leader, net.now);  // and sent to the followers
  DocOutput o = net.r[0].take();
  std::size_t chunks = 0;
  for (const auto& [to, m] : o.messages) chunks += std::holds_alternative<DocChunk>(m) ? 1 : 0;
  EXPECT_EQ(chunks, 2 * DocReplica::kChunksPerBurst);  // the first burst to each follower
  ASSERT_TRUE(net.r[0].next_deadline());
  EXPECT_LE(*net.r[0].next_deadline(), net.now + DocReplica::kBurstGap);
  net.r[0].tick(net.membership(0), net.leader, net.now + DocReplica::kBurstGap);
  chunks = 0;
  for (const auto& [to, m] : net.r[0].take().messages) {
    chunks += std::holds_alternative<DocChunk>(m) ? 1 : 0;
  }
  EXPECT_EQ(chunks, DocReplica::kChunksPerBurst);  // then a burst every gap, all nodes together
  for (int i = 0; i < 20; ++i) net.round(DocReplica::kBurstGap);
  for (int i = 0; i < 3; ++i) net.round();
  ASSERT_EQ(net.outcomes[0].size(), 1u);
  EXPECT_TRUE(net.outcomes[0][0].ok) << net.outcomes[0][0].error;
  EXPECT_EQ(net.r[1].doc().bytes, big);
  EXPECT_EQ(net.r[2].doc().bytes, big);
}

TEST(DocReplica, ANodeThatWasDownCatchesUpWhenItReturns) {
  Net net(3);
  net.round();
  net.up[2] = false;
  net.r[0].propose("while 2 was down", net.r[0].doc().version, net.now,
                   net.now + milliseconds(5000));
  for (int i = 0; i < 3; ++i) net.round();
  ASSERT_EQ(net.outcomes[0].size(), 1u);
  EXPECT_TRUE(net.outcomes[0][0].ok);  // 2 of 3 is a majority
  EXPECT_EQ(net.r[2].doc().bytes, "v0");
  net.up[2] = true;
  for (int i = 0; i < 3; ++i) net.round();
  EXPECT_EQ(net.r[2].doc(), net.r[0].doc());
}

// The shell sleeps until next_deadline(): a down node (or an arbiter, never up) is sent nothing,
// so its long-past resend time must not count, or the coordinator wakes every millisecond.
TEST(DocReplica, ADownNodeAsksForNoWake) {
  Net net(3);
  net.round();
  net.up[2] = false;
  net.r[0].propose("while 2 is down", net.r[0].doc().version, net.now,
                   net.now + milliseconds(5000));
  for (int i = 0; i < 20; ++i) {
    net.round();
    const auto next = net.r[0].next_deadline();
    EXPECT_TRUE(!next || *next >= net.now)
        << "round " << i << ": " << (net.now - *next).count() << " us past";
  }
}

TEST(DocReplica, WithoutAMajorityNothingIsCommittedAndTheProposerIsToldSo) {
  Net net(3);
  net.round();
  net.up[1] = net.up[2] = false;
  net.r[0].propose("alone", net.r[0].doc().version, net.now, net.now + milliseconds(5000));
  net.round();
  EXPECT_TRUE(net.outcomes[0].empty());
  net.leader.reset();  // the coordinator's lease runs out
  net.round();
  ASSERT_EQ(net.outcomes[0].size(), 1u);
  EXPECT_FALSE(net.outcomes[0][0].ok);
  EXPECT_NE(net.outcomes[0][0].error.find("may still apply"), std::string::npos);
}

TEST(DocReplica, AProposalWithNoCoordinatorFailsAtItsDeadline) {
  Net net(3);
  net.leader.reset();
  net.r[1].propose("x", net.r[1].doc().version, net.now, net.now + milliseconds(1000));
  for (int i = 0; i < 12; ++i) net.round();
  ASSERT_EQ(net.outcomes[1].size(), 1u);
  EXPECT_FALSE(net.outcomes[1][0].ok);
  EXPECT_NE(net.outcomes[1][0].error.find("no answer"), std::string::npos);
}

TEST(DocReplica, AFollowerNeverGoesBackToAnOlderVersion) {
  Net net(3);
  net.round();
  DocReplica& f = net.r[1];
  const DocChunk newer{
      Term{1}, DocChunkKind::kReplicate, DocVersion{Term{1}, 5}, 0, text_digest("new"), 0, 3, 0,
      "new"};
  const DocChunk older{
      Term{1}, DocChunkKind::kReplicate, DocVersion{Term{1}, 4}, 0, text_digest("old"), 0, 3, 0,
      "old"};
  f.on_chunk(NodeId{0}, newer, Term{1}, NodeId{0}, net.now);
  f.on_chunk(NodeId{0}, older, Term{1}, NodeId{0}, net.now);
  EXPECT_EQ(f.doc().bytes, "new");
  // Nor takes a document from a node that is not its coordinator, or with a wrong digest.
  const DocChunk stranger{
      Term{1}, DocChunkKind::kReplicate, DocVersion{Term{1}, 9}, 0, text_digest("evil"), 0, 4, 0,
      "evil"};
  f.on_chunk(NodeId{2}, stranger, Term{1}, NodeId{0}, net.now);
  DocChunk torn = stranger;
  torn.digest = 1;
  f.on_chunk(NodeId{0}, torn, Term{1}, NodeId{0}, net.now);
  EXPECT_EQ(f.doc().bytes, "new");
}

TEST(DocReplica, AProposerThatRestartedIsNotAnsweredWithItsPreviousLifesOutcome) {
  Net net(3);
  net.round();
  const auto first =
      net.r[2].propose("one", net.r[2].doc().version, net.now, net.now + milliseconds(5000));
  for (int i = 0; i < 3; ++i) net.round();
  ASSERT_EQ(net.outcomes[2].size(), 1u);
  // Node 2 restarts: a new replica from its stored document, whose first id is the same.
  net.r[2] = DocReplica(3, NodeId{2}, milliseconds(100), net.r[2].doc(),
                        [](const std::string&) { return std::string(); });
  net.r[0].peer_restarted(NodeId{2});
  net.r[1].peer_restarted(NodeId{2});
  const auto again =
      net.r[2].propose("two", net.r[2].doc().version, net.now, net.now + milliseconds(5000));
  ASSERT_EQ(again, first);
  for (int i = 0; i < 3; ++i) net.round();
  ASSERT_EQ(net.outcomes[2].size(), 2u);
  EXPECT_TRUE(net.outcomes[2][1].ok);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(net.r[i].doc().bytes, "two") << i;
}

TEST(DocReplica, ACommittedChangeSurvivesACoordinatorChange) {
  Net net(3);
  net.round();
  net.r[0].propose("kept", net.r[0].doc().version, net.now, net.now + milliseconds(5000));
  net.round();
  net.round();
  ASSERT_EQ(net.outcomes[0].size(), 1u);
  ASSERT_TRUE(net.outcomes[0].at(0).ok);
  // ElectionCore 0 goes away; node 1 (which has the change, as the election restriction ensures)
  // becomes coordinator in term 2 and re-stamps it.
  net.up[0] = false;
  net.term = Term{2};
  net.leader = NodeId{1};
  for (int i = 0; i < 3; ++i) net.round();
  EXPECT_EQ(net.r[1].doc(), (StoredDoc{DocVersion{Term{2}, 3}, "kept"}));
  EXPECT_EQ(net.r[2].doc(), net.r[1].doc());
  net.up[0] = true;
  for (int i = 0; i < 3; ++i) net.round();
  EXPECT_EQ(net.r[0].doc(), net.r[1].doc());
}

// The store is the shell's, and may finish later (the agent writes it on a thread): nothing
// claims a version before it is on disk.
TEST(DocReplica, AFollowerAcknowledgesAVersionOnlyOnceItIsOnDisk) {
  Net net(3);
  net.round();
  net.lagging[1] = true;
  const std::string big(3000, 'y');
  net.r[0].propose(big, net.r[0].doc().version, net.now, net.now + milliseconds(5000));
  net.now += milliseconds(100);
  net.r[0].tick(net.membership(0), net.leader, net.now);  // accepted
  net.drain(0);
  net.r[0].tick(net.membership(0), net.leader, net.now);  // and sent
  net.drain(0);
  // Delivered one by one, to see n2's output before n1 has synced.
  while (!net.queue.empty()) {
    auto [from, to, m] = std::move(net.queue.front());
    net.queue.pop_front();
    if (auto* c = std::get_if<DocChunk>(&m))
      net.r[to.value].on_chunk(from, *c, net.term, net.leader, net.now);
    if (auto* a = std::get_if<DocAck>(&m)) net.r[to.value].on_ack(from, *a, net.now);
    net.drain(to.value);
    EXPECT_EQ(net.acks_in_queue(1), 0u);  // n2 has the document, not on disk yet
  }
  EXPECT_EQ(net.r[1].doc().bytes, big);
  EXPECT_EQ(net.r[1].durable(), (DocVersion{Term{1}, 1}));
  ASSERT_TRUE(net.unsynced[1]);
  net.sync(1);  // on disk: its acknowledgement leaves
  EXPECT_EQ(net.r[1].durable(), (DocVersion{Term{1}, 2}));
  EXPECT_EQ(net.acks_in_queue(1), 1u);
  net.deliver_all();
  EXPECT_EQ(net.r[0].acked()[1], (DocVersion{Term{1}, 2}));
}

TEST(DocReplica, TheCoordinatorCountsItselfAHolderOnlyOnceItsCopyIsOnDisk) {
  Net net(3);
  net.round();
  net.up[2] = false;  // the commit needs the coordinator and n2
  net.lagging[0] = true;
  const std::string doc(100, 'z');
  net.r[1].propose(doc, net.r[1].doc().version, net.now, net.now + milliseconds(5000));
  for (int i = 0; i < 3; ++i) net.round();
  EXPECT_EQ(net.r[0].doc().bytes, doc);
  EXPECT_EQ(net.r[1].doc().bytes, doc);  // sent before the coordinator's store was done
  EXPECT_EQ(net.r[0].acked()[1], (DocVersion{Term{1}, 2}));
  EXPECT_EQ(net.r[0].committed(), (DocVersion{Term{1}, 1}));  // one holder on disk of two
  EXPECT_TRUE(net.outcomes[1].empty());
  net.sync(0);
  EXPECT_EQ(net.r[0].committed(), (DocVersion{Term{1}, 2}));
  for (int i = 0; i < 2; ++i) net.round();
  ASSERT_EQ(net.outcomes[1].size(), 1u);
  EXPECT_TRUE(net.outcomes[1][0].ok) << net.outcomes[1][0].error;
}

}  // namespace
}  // namespace hactl
