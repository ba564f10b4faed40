// The `reconciled` event: once per term, with where every primitive runs, bounded in size.
#include "agent/reconcile_watch.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hactl {
namespace {

using namespace std::chrono_literals;

ClusterConfig config_with(std::size_t primitives) {
  ClusterConfig c;
  for (const char* name : {"n1", "n2", "w"}) {
    NodeConfig n;
    n.name = name;
    c.nodes.push_back(n);
  }
  for (std::size_t i = 0; i < primitives; ++i) {
    PrimitiveConfig p;
    p.id = "r" + std::to_string(i);
    c.resources.primitives.push_back(p);
  }
  return c;
}

using R = ResourceRole;

TEST(PlacementSummary, EachPrimitiveWhereItRuns) {
  ClusterConfig c = config_with(0);
  for (const char* id : {"vip", "db", "web", "clone"}) {
    PrimitiveConfig p;
    p.id = id;
    c.resources.primitives.push_back(p);
  }
  ClusterState s;
  s.roles["vip"] = {R::kStopped, R::kStarted, R::kStopped};
  s.roles["db"] = {R::kPromoted, R::kStarted, R::kStopped};
  s.roles["clone"] = {R::kStarted, R::kStarted, R::kStopped};
  // web: absent, stopped everywhere
  EXPECT_EQ(placement_summary(c, s), "vip@n2 db@n1*,n2 web@- clone@n1,n2");
}

TEST(PlacementSummary, BoundedWithACountOfWhatIsLeftOut) {
  const ClusterConfig c = config_with(500);
  ClusterState s;
  const std::string out = placement_summary(c, s);
  EXPECT_LE(out.size(), kMaxPlacementBytes);
  EXPECT_TRUE(out.starts_with("r0@- r1@- r2@-")) << out;
  const auto more = out.rfind(" +");
  ASSERT_NE(more, std::string::npos);
  // Everything listed plus the count left out makes every primitive.
  std::size_t listed = 0;
  for (std::size_t i = 0; i < more; ++i) listed += out[i] == '@';
  EXPECT_EQ(out.substr(more), " +" + std::to_string(500 - listed) + " more");
  EXPECT_EQ(placement_summary(c, s, 14), "r0@- +499 more");
  EXPECT_EQ(placement_summary(c, s, 13), "+500 more");
  EXPECT_EQ(placement_summary(c, s, 3), "+500 more");
}

TEST(ReconcileWatch, OncePerTermWhenTheViewIsCompleteAndNeedsNothing) {
  const ClusterConfig c = config_with(2);
  ClusterState s;
  s.roles["r0"] = {R::kStarted, R::kStopped, R::kStopped};
  const Instant t0{};
  ReconcileWatch w;
  EXPECT_FALSE(w.check(false, 3, 0, t0, c, "n1", s));  // not complete yet
  EXPECT_FALSE(w.check(true, 3, 2, t0, c, "n1", s));   // complete, but actions were needed
  const auto e = w.check(true, 3, 0, t0 + 1s, c, "n1", s);
  ASSERT_TRUE(e);
  // The line for people (docs/events.md) is formatted from the typed event.
  EXPECT_EQ(format_event(*e),
            "event=reconciled term=3 coordinator=n1 resources=2 actions=0 "
            "placement=\"r0@n1 r1@-\"");
  EXPECT_FALSE(w.check(true, 3, 0, t0 + 2s, c, "n1", s));  // the same term: once
  EXPECT_FALSE(w.check(false, 4, 0, t0 + 3s, c, "n1", s));
  EXPECT_TRUE(w.check(true, 4, 0, t0 + 4s, c, "n1", s));
  EXPECT_EQ(w.last_term(), 4u);
}

TEST(ReconcileWatch, ACoordinatorThatNeverSettlesReportsAfterTheWait) {
  const ClusterConfig c = config_with(1);
  const ClusterState s;
  const Instant t0{};
  ReconcileWatch w;
  EXPECT_FALSE(w.check(true, 5, 1, t0, c, "n2", s));
  EXPECT_FALSE(w.check(true, 5, 1, t0 + kMaxSettleWait - 1ms, c, "n2", s));
  EXPECT_FALSE(w.check(false, 5, 0, t0 + kMaxSettleWait, c, "n2", s));  // not complete
  const auto e = w.check(true, 5, 1, t0 + kMaxSettleWait, c, "n2", s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, EventKind::kReconciled);
  EXPECT_EQ(e->integer("term"), 5);
  EXPECT_EQ(e->str("coordinator"), "n2");
  EXPECT_EQ(e->integer("resources"), 1);
  EXPECT_EQ(e->integer("actions"), 1);
  EXPECT_EQ(e->str("placement"), "r0@-");
  EXPECT_FALSE(w.check(true, 5, 0, t0 + kMaxSettleWait + 1s, c, "n2", s));
}

}  // namespace
}  // namespace hactl
