// The cluster-wide host check before an apply: the candidate text reaches every
// peer asked and each report comes back whole, through loss, within the deadline or as "no
// answer" (coordinator/host_checks.hpp); a report's wire form (common/wire.hpp); and the
// verdict over every node's report (cluster_verdict in common/host_check.hpp).
#include "coordinator/host_checks.hpp"

#include <gtest/gtest.h>

#include "common/wire.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

const NodeId kN1{0}, kN2{1}, kN3{2};

HostFinding finding(std::uint32_t index, HostSeverity severity = HostSeverity::kError,
                    HostSubject subject = HostSubject::kInterface) {
  HostFinding f;
  f.severity = severity;
  f.subject = subject;
  f.problem = HostProblem::kMissing;
  f.index = index;
  f.field = "resources[" + std::to_string(index) + "].params.interface";
  f.looked_for = "eth9";
  f.known = {"eth0", "lo"};
  return f;
}

// Three nodes' HostChecks joined by a relay that drops every `drop`-th datagram (0: none).
struct Net {
  explicit Net(int drop_every = 0) : drop(drop_every) {
    for (std::uint16_t i = 0; i < 3; ++i) nodes.emplace_back(3, NodeId{i}, 100);
  }
  std::vector<HostChecks> nodes;
  int drop;
  int sent = 0;
  int most_per_take = 0;
  Instant now{};
  std::vector<HostCheckRound> done;                   // n1's
  std::vector<std::pair<NodeId, HostCheckAsk>> asks;  // (who was asked, the ask)
  std::map<NodeId, HostReport> answer;                // what each peer reports
  bool answering = true;

  void step() {
    for (std::uint16_t i = 0; i < 3; ++i) nodes[i].tick(now);
    for (int round = 0; round < 10; ++round) {
      bool any = false;
      for (std::uint16_t i = 0; i < 3; ++i) {
        HostChecksOutput out = nodes[i].take();
        most_per_take = std::max(most_per_take, static_cast<int>(out.messages.size()));
        for (auto& d : out.done) done.push_back(std::move(d));
        for (auto& a : out.asks) {
          asks.emplace_back(NodeId{i}, a);
          if (answering) nodes[i].on_checked(a.asker, a.id, answer[NodeId{i}]);
          any = true;
        }
        for (auto& [to, m] : out.messages) {
          any = true;
          if (drop != 0 && ++sent % drop == 0) continue;
          nodes[to.value].on_chunk(NodeId{i}, std::get<CheckChunk>(m), now);
        }
      }
      if (!any) break;
    }
  }
  void run_until(Instant end) {
    for (int i = 0; i < 100000 && now < end && done.empty(); ++i) {
      step();
      now += 1ms;
    }
  }
};

TEST(HostChecks, EveryPeerChecksTheWholeTextAndItsReportComesBack) {
  Net net;
  net.answer[kN2] = HostReport{true, "", {finding(0)}};
  net.answer[kN3] = HostReport{false, "busy", {}};
  const std::string text(5000, 'x');
  const auto id = net.nodes[0].start(text, {kN2, kN3}, net.now, net.now + 5s);
  net.run_until(net.now + 5s);
  ASSERT_EQ(net.done.size(), 1u);
  EXPECT_EQ(net.done[0].id, id);
  ASSERT_EQ(net.asks.size(), 2u);
  for (const auto& [who, ask] : net.asks) {
    EXPECT_EQ(ask.asker, kN1);
    EXPECT_EQ(*ask.text, text);
  }
  ASSERT_EQ(net.done[0].reports.size(), 2u);
  EXPECT_EQ(net.done[0].reports[0].first, kN2);
  EXPECT_EQ(net.done[0].reports[0].second, net.answer[kN2]);
  EXPECT_EQ(net.done[0].reports[1].second, net.answer[kN3]);
  EXPECT_LT(net.now, Instant{} + 100ms);
  EXPECT_EQ(net.nodes[0].rounds(), 0u);
}

TEST(HostChecks, LostDatagramsAreMadeUpByResendsWithinTheDeadline) {
  Net net(7);  // every 7th datagram lost, both ways
  net.answer[kN2] = HostReport{true, "", {finding(3)}};
  net.answer[kN3] = HostReport{true, "", {}};
  const std::string text(40 * kDocChunkBytes + 17, 'y');
  net.nodes[0].start(text, {kN2, kN3}, net.now, net.now + 8s);
  net.run_until(net.now + 8s);
  ASSERT_EQ(net.done.size(), 1u);
  for (const auto& [node, report] : net.done[0].reports) {
    ASSERT_TRUE(report) << node.value;
    EXPECT_EQ(*report, net.answer[node]);
  }
  // Each peer checked the text once, however often it came; the text went again after a loss.
  EXPECT_EQ(net.asks.size(), 2u);
  EXPECT_GT(net.now, Instant{} + HostChecks::kResend);
  EXPECT_LT(net.now, Instant{} + 8s);
}

TEST(HostChecks, APeerThatNeverAnswersIsNoAnswerAtTheDeadline) {
  Net net;
  net.answering = false;
  const Instant deadline = net.now + 3s;
  net.nodes[0].start("text", {kN2, kN3}, net.now, deadline);
  net.run_until(deadline + 1s);
  ASSERT_EQ(net.done.size(), 1u);
  EXPECT_GE(net.now, deadline);
  for (const auto& [node, report] : net.done[0].reports) EXPECT_FALSE(report) << node.value;
  // Asked again after each silence, but checked only once per peer.
  EXPECT_EQ(net.asks.size(), 2u);
}

TEST(HostChecks, ALargeTextGoesAFewChunksAtATime) {
  Net net;
  net.answer[kN2] = net.answer[kN3] = HostReport{true, "", {}};
  net.nodes[0].start(std::string(2 * 1024 * 1024, 'z'), {kN2, kN3}, net.now, net.now + 8s);
  net.run_until(net.now + 8s);
  ASSERT_EQ(net.done.size(), 1u);
  EXPECT_LE(net.most_per_take, static_cast<int>(HostChecks::kChunksPerBurst));
  for (const auto& [node, report] : net.done[0].reports) EXPECT_TRUE(report);
}

TEST(HostChecks, NoPeerToAskEndsAtOnce) {
  HostChecks c(3, kN1);
  const auto id = c.start("text", {}, Instant{}, Instant{} + 5s);
  const auto out = c.take();
  ASSERT_EQ(out.done.size(), 1u);
  EXPECT_EQ(out.done[0].id, id);
  EXPECT_TRUE(out.done[0].reports.empty());
}

TEST(HostChecks, ANewerAskOfTheSameAskerReplacesTheOlder) {
  HostChecks peer(3, kN2);
  auto chunk = [](std::uint64_t id, const std::string& text) {
    return CheckChunk{CheckChunkKind::kCandidate,
                      id,
                      text_digest(text),
                      static_cast<std::uint32_t>(text.size()),
                      0,
                      text};
  };
  peer.on_chunk(kN1, chunk(5, "new"), Instant{});
  peer.on_chunk(kN1, chunk(4, "old"), Instant{});  // late: ignored
  auto out = peer.take();
  ASSERT_EQ(out.asks.size(), 1u);
  EXPECT_EQ(out.asks[0].id, 5u);
  peer.on_checked(kN1, 4, HostReport{true, "", {}});  // not asked any more: nothing sent
  EXPECT_TRUE(peer.take().messages.empty());
  // A chunk whose digest does not match its text is never checked.
  CheckChunk bad = chunk(6, "abc");
  bad.digest ^= 1;
  peer.on_chunk(kN1, bad, Instant{});
  EXPECT_TRUE(peer.take().asks.empty());
}

TEST(HostReportWire, TheFirstFindingsWholeTheRestBrief) {
  HostReport r{true, "", {}};
  for (std::uint32_t i = 0; i < 100; ++i) r.findings.push_back(finding(i));
  r.findings[70].subject = HostSubject::kFenceAgent;
  const auto back = decode_host_report(encode_host_report(r));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->findings.size(), 100u);
  for (std::size_t i = 0; i < kMaxDetailedFindings; ++i)
    EXPECT_EQ(back->findings[i], r.findings[i]);
  EXPECT_EQ(back->findings[70].index, 70u);
  EXPECT_EQ(back->findings[70].subject, HostSubject::kFenceAgent);
  EXPECT_TRUE(back->findings[70].field.empty());
  // Long strings are cut, not refused.
  r.findings[0].looked_for = std::string(1000, 'e');
  EXPECT_EQ(decode_host_report(encode_host_report(r))->findings[0].looked_for.size(), 255u);
}

TEST(HostReportWire, TruncatedOrOutOfRangeIsRefused) {
  HostReport r{true, "", {finding(1), finding(2)}};
  const std::string bytes = encode_host_report(r);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_host_report(bytes.substr(0, n))) << n;
  }
  EXPECT_FALSE(decode_host_report(bytes + "x"));
  std::string bad = bytes;
  bad[1 + 1 + 1 + 4 + 1] = 9;  // the first finding's subject
  EXPECT_FALSE(decode_host_report(bad));
  std::string huge = bytes;
  huge[3] = static_cast<char>(0xff);  // a count of findings beyond what the bytes hold
  huge[4] = static_cast<char>(0xff);
  EXPECT_FALSE(decode_host_report(huge));
}

const std::string kNodes = R"(cluster:
  name: demo
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
resources:
  - {id: keep, type: 'ocf:heartbeat:Dummy'}
)";

ClusterConfig config(const std::string& tail) {
  auto r = parse_config(kNodes + tail, "c.yaml");
  EXPECT_TRUE(r) << (r ? "" : r.error().front().to_string());
  return r ? r->config : ClusterConfig{};
}

const std::string kVip =
    "  - {id: web-ip, type: vip, params: {address: 10.213.0.100/24, interface: eth9}}\n";

NodeReport says(NodeId n, std::vector<HostFinding> f) {
  return NodeReport{n, HostReport{true, "", std::move(f)}, ""};
}
NodeReport silent(NodeId n) { return NodeReport{n, std::nullopt, "no answer within 8 s"}; }

TEST(ClusterVerdict, WhatNoNodeCanRunIsRefusedWithEachNodesReason) {
  const ClusterConfig base = config(""), next = config(kVip);
  const auto c = cluster_verdict(
      base, next, {says(kN1, {finding(1)}), says(kN2, {finding(1)}), says(kN3, {finding(1)})});
  EXPECT_TRUE(c.refused);
  ASSERT_EQ(c.findings.size(), 3u);
  EXPECT_EQ(c.findings[1].node, "n2");
  EXPECT_EQ(c.findings[1].resource, "web-ip");
  EXPECT_EQ(c.findings[1].severity, HostSeverity::kError);
  EXPECT_EQ(c.nodes, (std::vector<std::pair<std::string, std::string>>{
                         {"n1", "checked"}, {"n2", "checked"}, {"n3", "checked"}}));
}

TEST(ClusterVerdict, WhatOneNodeCanRunIsAWarningForTheOthers) {
  const ClusterConfig base = config(""), next = config(kVip);
  const auto c = cluster_verdict(base, next,
                                 {says(kN1, {finding(1)}), says(kN2, {finding(1)}), says(kN3, {})});
  EXPECT_FALSE(c.refused);
  ASSERT_EQ(c.findings.size(), 2u);
  EXPECT_EQ(c.findings[0].severity, HostSeverity::kWarning);
}

TEST(ClusterVerdict, ANodeThatDidNotCheckCountsNeitherWay) {
  const ClusterConfig base = config(""), next = config(kVip);
  const auto c =
      cluster_verdict(base, next, {says(kN1, {finding(1)}), says(kN2, {finding(1)}), silent(kN3)});
  EXPECT_TRUE(c.refused);
  EXPECT_EQ(c.nodes[2], (std::pair<std::string, std::string>{"n3", "no answer within 8 s"}));
  // Nobody checked: nothing to refuse on.
  EXPECT_FALSE(cluster_verdict(base, next, {silent(kN1), silent(kN2)}).refused);
}

TEST(ClusterVerdict, ANodeBannedFromItCannotRunItEither) {
  const ClusterConfig base = config("");
  const ClusterConfig next =
      config(kVip + "constraints:\n  location:\n    - {resource: web-ip, node: n3, score: -inf}\n");
  const auto c = cluster_verdict(base, next,
                                 {says(kN1, {finding(1)}), says(kN2, {finding(1)}), says(kN3, {})});
  EXPECT_TRUE(c.refused);
}

TEST(ClusterVerdict, WhatTheApplyLeavesAsItIsOnlyWarns) {
  const ClusterConfig base = config(kVip), next = config(kVip);
  const auto c = cluster_verdict(
      base, next, {says(kN1, {finding(1)}), says(kN2, {finding(1)}), says(kN3, {finding(1)})});
  EXPECT_FALSE(c.refused);
  EXPECT_EQ(c.findings.size(), 3u);
}

TEST(ClusterVerdict, AFindingOutOfRangeIsDropped) {
  const ClusterConfig base = config(""), next = config(kVip);
  const auto c = cluster_verdict(base, next, {says(kN1, {finding(9)})});
  EXPECT_FALSE(c.refused);
  EXPECT_TRUE(c.findings.empty());
}

}  // namespace
}  // namespace hactl
