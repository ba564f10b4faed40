#include "agent/event_sink.hpp"

#include <gtest/gtest.h>
#include <spdlog/logger.h>

#include <thread>

namespace hactl {
namespace {

TEST(EventSink, ParsesKeysQuotedValuesAndRepeats) {
  const auto e = parse_event_fields(
      "event=dispatch resource=web-ip action=start node=n1 reason=\"placed here\" node=n3");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->first, "dispatch");
  const std::map<std::string, std::string> want = {{"resource", "web-ip"},
                                                   {"action", "start"},
                                                   {"node", "n1"},
                                                   {"reason", "placed here"},
                                                   {"node_2", "n3"}};
  EXPECT_EQ(e->second, want);
  EXPECT_FALSE(parse_event_fields("agent started"));
  const auto q = parse_event_fields("event=x output=\"a \"quoted\" word\" after=1");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->second.at("output"), "a \"quoted\" word");
  EXPECT_EQ(q->second.at("after"), "1");
  const auto odd = parse_event_fields("event=y stray words k=v =empty unterminated=\"abc");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->second.at("k"), "v");
  EXPECT_EQ(odd->second.at("unterminated"), "abc");
}

TEST(EventSink, RecordsEventLinesFromItsOwnThreadOnly) {
  std::vector<std::string> kinds;
  auto sink =
      std::make_shared<EventSink>([&](std::string kind, std::map<std::string, std::string> f) {
        kinds.push_back(kind + (f.count("level") ? "!" : ""));
      });
  spdlog::logger log("t", sink);
  log.info("event=a k=v");
  log.info("not an event");
  log.warn("event=b");
  std::thread([&] { log.info("event=from_another_thread"); }).join();
  sink->detach();
  log.info("event=after_detach");
  EXPECT_EQ(kinds, (std::vector<std::string>{"a", "b!"}));
}

}  // namespace
}  // namespace hactl
