// Clone notifications as the coordinator plans them (coordinator/clone_notify.hpp): which
// operation a transition begins with, what every notification of it says, and who is told.
#include "coordinator/clone_notify.hpp"

#include <gtest/gtest.h>

namespace hactl {
namespace {

const std::string kYaml = R"(cluster:
  name: demo
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
  - {name: w, address: "10.213.0.14:5405", witness: true}
resources:
  - id: app
    type: ocf:heartbeat:Dummy
  - id: db
    type: ocf:heartbeat:Stateful
  - id: cache
    type: ocf:heartbeat:Dummy
clones:
  - {id: db-clone, resource: db, promotable: true, notify: true}
  - {id: cache-clone, resource: cache}
)";

class CloneNotify : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = parse_config(kYaml, "c.yaml");
    ASSERT_TRUE(c);
    config_ = std::move(c->config);
    state_.nodes = {NodeCondition::kOnline, NodeCondition::kOnline, NodeCondition::kOnline,
                    NodeCondition::kOnline};
    // db: unpromoted on n1, promoted on n2, stopped on n3.
    state_.roles["db"] = {ResourceRole::kStarted, ResourceRole::kPromoted, ResourceRole::kStopped,
                          ResourceRole::kStopped};
  }
  static PlannedAction act(const char* resource, std::uint16_t node, ActionKind kind) {
    return PlannedAction{resource, NodeId{node}, kind, "test"};
  }
  ClusterConfig config_;
  ClusterState state_;
};

TEST_F(CloneNotify, OnlyTheNotifyingClonesPrimitive) {
  EXPECT_EQ(notifying_primitives(config_), (std::vector<bool>{false, true, false}));
}

// The roots of the transition on db are a demote on n2 and a start on n3: Pacemaker demotes
// first. The step's lists hold the whole transition on db, and how db stood.
TEST_F(CloneNotify, AStepIsTheFirstOperationInPacemakersOrder) {
  Transition t;
  t.actions = {act("app", 0, ActionKind::kStart), act("db", 2, ActionKind::kStart),
               act("db", 1, ActionKind::kDemote), act("db", 1, ActionKind::kStop),
               act("db", 0, ActionKind::kPromote)};
  const std::vector<bool> waits = {false, false, false, true, true};
  const auto step = next_notify_step(config_, state_, t, waits, notifying_primitives(config_));
  ASSERT_TRUE(step);
  EXPECT_EQ(step->primitive, 1u);
  EXPECT_EQ(step->operation, NotifyOperation::kDemote);
  EXPECT_EQ(step->nodes, (std::vector<std::uint16_t>{1}));
  EXPECT_EQ(step->phase, NotifyStep::Phase::kPre);
  const CloneNotification& n = step->lists;
  EXPECT_EQ(n.start, (std::vector<std::uint16_t>{2}));
  EXPECT_EQ(n.stop, (std::vector<std::uint16_t>{1}));
  EXPECT_EQ(n.demote, (std::vector<std::uint16_t>{1}));
  EXPECT_EQ(n.promote, (std::vector<std::uint16_t>{0}));
  EXPECT_EQ(n.active, (std::vector<std::uint16_t>{0, 1}));
  EXPECT_EQ(n.promoted, (std::vector<std::uint16_t>{1}));
  EXPECT_EQ(n.available, (std::vector<std::uint16_t>{0, 1, 2})) << "never the witness";
  EXPECT_EQ(notify_targets(*step, NotifyType::kPre), (std::vector<std::uint16_t>{0, 1}));
  EXPECT_EQ(notify_targets(*step, NotifyType::kPost), (std::vector<std::uint16_t>{0, 1}));
  EXPECT_TRUE(in_step(*step, config_, t.actions[2]));
  EXPECT_FALSE(in_step(*step, config_, t.actions[1]));
  EXPECT_FALSE(in_step(*step, config_, t.actions[3]));
  EXPECT_TRUE(still_planned(*step, config_, t, waits));
  // Replanned without that demote (n2 lost its instance meanwhile): the step is over.
  Transition later;
  later.actions = {act("db", 2, ActionKind::kStart)};
  EXPECT_FALSE(still_planned(*step, config_, later, {false}));
}

// A stop's nodes are not told after it; a start's are.
TEST_F(CloneNotify, PostNotificationsGoToWhatIsActiveAfter) {
  Transition stop;
  stop.actions = {act("db", 0, ActionKind::kStop)};
  const auto stopping =
      next_notify_step(config_, state_, stop, {false}, notifying_primitives(config_));
  ASSERT_TRUE(stopping);
  EXPECT_EQ(notify_targets(*stopping, NotifyType::kPre), (std::vector<std::uint16_t>{0, 1}));
  EXPECT_EQ(notify_targets(*stopping, NotifyType::kPost), (std::vector<std::uint16_t>{1}));
  Transition start;
  start.actions = {act("db", 2, ActionKind::kStart)};
  const auto starting =
      next_notify_step(config_, state_, start, {false}, notifying_primitives(config_));
  ASSERT_TRUE(starting);
  EXPECT_EQ(notify_targets(*starting, NotifyType::kPre), (std::vector<std::uint16_t>{0, 1}));
  EXPECT_EQ(notify_targets(*starting, NotifyType::kPost), (std::vector<std::uint16_t>{0, 1, 2}));
}

// Nothing to plan: no step when the transition begins with nothing on a notifying clone (a
// clone without notify, a waiting action).
TEST_F(CloneNotify, NoStepWithoutANotifyingRoot) {
  Transition t;
  t.actions = {act("cache", 0, ActionKind::kStart), act("db", 2, ActionKind::kStart)};
  EXPECT_FALSE(next_notify_step(config_, state_, t, {false, true}, notifying_primitives(config_)));
}

}  // namespace
}  // namespace hactl
