// RefusalLog (agent/refusal_log.hpp): one line per kind per window, the rest counted.
#include "agent/refusal_log.hpp"

#include <gtest/gtest.h>

namespace hactl {
namespace {

using std::chrono::seconds;

TEST(RefusalLog, OneLinePerKindPerWindowAndTheRestCounted) {
  RefusalLog log(seconds(10));
  const Instant t0{seconds(100)};
  EXPECT_EQ(log.admit("too_many_clients", t0), 0U);  // the first is logged
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(log.admit("too_many_clients", t0 + seconds(1)));
  EXPECT_EQ(log.admit("request_too_large", t0 + seconds(2)), 0U);  // another kind: its own
  EXPECT_TRUE(log.due(t0 + seconds(9)).empty());                   // windows not over yet
  // The next one after the window is logged with the count of those left out.
  EXPECT_EQ(log.admit("too_many_clients", t0 + seconds(10)), 1000U);
  EXPECT_FALSE(log.admit("too_many_clients", t0 + seconds(11)));
  // Windows over with refusals left unlogged: their counts, once.
  const auto due = log.due(t0 + seconds(25));
  ASSERT_EQ(due.size(), 1U);
  EXPECT_EQ(due[0].kind, "too_many_clients");
  EXPECT_EQ(due[0].count, 1U);
  EXPECT_TRUE(log.due(t0 + seconds(40)).empty());
  EXPECT_FALSE(log.pending());
}

}  // namespace
}  // namespace hactl
