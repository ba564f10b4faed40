// Typed events (common/event.hpp) and the agent's event bus (agent/event_bus.hpp): the line for
// people is formatted from the event, and what the agent records is the event itself, whatever
// its line says.
#include "common/event.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "agent/event_bus.hpp"

namespace hactl {
namespace {

TEST(Event, KindNamesAreUniqueAndRoundTrip) {
  std::set<std::string_view> seen;
  for (const std::string_view name : event_kind_names()) {
    EXPECT_TRUE(seen.insert(name).second) << name;
    const auto kind = event_kind_named(name);
    ASSERT_TRUE(kind) << name;
    EXPECT_EQ(to_string(*kind), name);
  }
  EXPECT_EQ(to_string(EventKind::kNodeDown), "node_down");
  EXPECT_EQ(to_string(EventKind::kStartFailed), "start_failed");
  EXPECT_FALSE(event_kind_named("election"));
}

TEST(Event, TheLineQuotesFreeTextAndWhatNeedsIt) {
  const Event e = Event(EventKind::kFenceSucceeded, EventLevel::kWarn)
                      .add("node", "n1")
                      .text("by", "ipmi")
                      .add("level", 2)
                      .add("ok", true)
                      .add("reason", "two words")
                      .add("empty", "");
  EXPECT_EQ(format_event(e),
            "event=fence_succeeded node=n1 by=\"ipmi\" level=2 ok=true reason=\"two words\" "
            "empty=\"\"");
  // A quote or a line break in a value cannot end the value nor start a new line.
  const Event hostile = Event(EventKind::kActionOutput).text("output", "a\"b\\c\nevent=x y=z");
  EXPECT_EQ(format_event(hostile), "event=action_output output=\"a\\\"b\\\\c\\nevent=x y=z\"");
  EXPECT_EQ(format_event(Event(EventKind::kDispatch).add("k", "a=b")), "event=dispatch k=\"a=b\"");
}

TEST(Event, TypedReads) {
  const Event e = Event(EventKind::kActionFinished)
                      .add("resource", "web")
                      .add("code", 7)
                      .add("recurring", false)
                      .add("took_ms", std::uint64_t{12});
  EXPECT_EQ(e.str("resource"), "web");
  EXPECT_EQ(e.integer("code"), 7);
  EXPECT_EQ(e.str("code"), "7");
  EXPECT_EQ(e.flag("recurring"), false);
  EXPECT_EQ(e.str("recurring"), "false");
  EXPECT_EQ(e.integer("took_ms"), 12);
  EXPECT_FALSE(e.integer("resource"));
  EXPECT_FALSE(e.flag("code"));
  EXPECT_EQ(e.str("missing"), "");
  EXPECT_EQ(e.find("missing"), nullptr);
  EXPECT_FALSE(e.warning());
  EXPECT_TRUE(Event(EventKind::kStopFailed, EventLevel::kError).warning());
}

TEST(Event, HistoryFieldsRenameARepeatedKeyAndMarkWarnings) {
  // The runtime's fence_device names the target; the shell adds this node's name after it.
  const Event e = Event(EventKind::kDispatch, EventLevel::kWarn)
                      .add("resource", "ip")
                      .add("node", "n2")
                      .add("node", "n1")
                      .add("node", "n3");
  const auto f = history_fields(e);
  EXPECT_EQ(f.at("node"), "n2");
  EXPECT_EQ(f.at("node_2"), "n1");
  EXPECT_EQ(f.at("node_3"), "n3");
  EXPECT_EQ(f.at("level"), "warning");
  // An event with a field called level keeps it.
  const auto g = history_fields(Event(EventKind::kFenceDevice, EventLevel::kWarn).add("level", 2));
  EXPECT_EQ(g.at("level"), "2");
  EXPECT_FALSE(history_fields(Event(EventKind::kNodeUp)).contains("level"));
}

// The kinds docs/events.md lists are exactly the kinds there are.
TEST(Event, TheDocsListEveryKind) {
  std::ifstream in(std::string(HACTL_SOURCE_DIR) + "/docs/events.md");
  ASSERT_TRUE(in) << "docs/events.md";
  std::set<std::string> documented;
  const std::regex row(R"(^\| `([a-z_]+)` \|)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row)) documented.insert(m[1]);
  }
  std::set<std::string> kinds;
  for (const std::string_view name : event_kind_names()) kinds.insert(std::string(name));
  for (const auto& k : kinds) EXPECT_TRUE(documented.contains(k)) << k << " is not documented";
  for (const auto& k : documented) EXPECT_TRUE(kinds.contains(k)) << k << " is not a kind";
}

// What the agent records does not depend on its log line: with every line reworded (the
// HACTL_LOG_PREFIX the integration tests run with), the recorder still gets the typed event.
TEST(EventBus, RecordsTheTypedEventWhateverItsLineSays) {
  std::ostringstream text;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text);
  auto logger = std::make_shared<spdlog::logger>("event-test", sink);
  logger->set_pattern("%v");
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  std::vector<Event> recorded;
  install_event_recorder([&](const Event& e) { recorded.push_back(e); });
  set_event_line_prefix("REWORDED: ");

  emit_event(
      Event(EventKind::kMonitorFailed, EventLevel::kWarn).add("resource", "db").add("code", 7));
  emit_event(Event(EventKind::kAlertDone, EventLevel::kDebug).add("id", "h"));     // logged only
  std::thread([] { emit_event(Event(EventKind::kEventLogWriteFailed)); }).join();  // logged only

  set_event_line_prefix("");
  install_event_recorder(nullptr);
  emit_event(Event(EventKind::kNodeUp));  // no recorder: logged only
  spdlog::set_default_logger(previous);

  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].kind, EventKind::kMonitorFailed);
  EXPECT_EQ(recorded[0].integer("code"), 7);
  EXPECT_EQ(text.str(),
            "REWORDED: event=monitor_failed resource=db code=7\n"
            "REWORDED: event=event_log_write_failed\n"
            "event=node_up\n");
}

}  // namespace
}  // namespace hactl
