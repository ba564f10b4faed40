// The agent's event history: line format, restart continuity, rotation, torn lines, queries,
// the listener, the caps, and a disk that refuses writes without append() ever waiting.
#include "agent/event_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hactl {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kT0 = 1'795'705'445'123'456;  // 2026-11-26T15:04:05.123456Z

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::vector<std::uint64_t> seqs(const std::vector<LoggedEvent>& events) {
  std::vector<std::uint64_t> out;
  for (const auto& e : events) out.push_back(e.seq);
  return out;
}

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hactl-events-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / "var" / "events";  // open() creates the missing levels
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path current() const { return dir_ / EventLog::kCurrentFile; }
  fs::path previous() const { return dir_ / EventLog::kPreviousFile; }

  fs::path root_;
  fs::path dir_;
};

TEST(EventLogFormat, LineRoundTrip) {
  LoggedEvent e{42, kT0, "action", {{"resource", "vip"}, {"result", "ok"}, {"ms", "12"}}};
  const std::string line = to_json_line(e);
  EXPECT_EQ(line.rfind(R"({"seq":42,"time":"2026-11-26T15:04:05.123456Z","time_us":)", 0), 0u)
      << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto back = parse_event_line(line);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, e);

  nlohmann::json j = e;
  EXPECT_EQ(j["kind"], "action");
  EXPECT_EQ(j["resource"], "vip");
  EXPECT_EQ(j.get<LoggedEvent>(), e);
  EXPECT_THROW(nlohmann::json::parse(R"({"seq":1})").get<LoggedEvent>(),
               nlohmann::json::type_error);

  EXPECT_EQ(format_time_us(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_time_us(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_GT(wall_clock_us(), kT0 - 10LL * 365 * 86400 * 1'000'000);
}

TEST(EventLogFormat, RejectsWhatIsNotAnEvent) {
  for (const char* text :
       {"", "{", "[]", "null", R"({"seq":1,"time_us":5})", R"({"seq":-1,"time_us":5,"kind":"x"})",
        R"({"seq":1,"time_us":"5","kind":"x"})", R"({"seq":1,"time_us":5,"kind":7})",
        R"({"seq":1,"time":"2026-11-26T15:04:05.123456Z","time_us":5,"kind":"x","pe)"}) {
    EXPECT_FALSE(parse_event_line(text)) << text;
  }
  auto e = parse_event_line(R"({"seq":1,"time_us":5,"kind":"x","n":3})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->fields.at("n"), "3");  // a foreign non-string member is kept as text
}

TEST_F(EventLogTest, SeqContinuesAcrossReopen) {
  {
    EventLog log(dir_.string());
    ASSERT_TRUE(log.open());
    EXPECT_EQ(log.last_seq(), 0u);
    EXPECT_EQ(log.append("node_down", {{"peer", "n2"}}, kT0), 1u);
    EXPECT_EQ(log.append("node_up", {{"peer", "n2"}}, kT0 + 1), 2u);
    EXPECT_EQ(log.append("coordinator", {{"node", "n1"}, {"term", "3"}}, kT0 + 2), 3u);
  }  // the destructor writes everything out
  EXPECT_EQ(fs::status(dir_).permissions() & fs::perms::all,
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  EXPECT_EQ(read_lines(current()).size(), 3u);

  EventLog log(dir_.string());
  ASSERT_TRUE(log.open());
  EXPECT_EQ(log.last_seq(), 3u);
  EXPECT_EQ(log.skipped_lines(), 0u);
  auto all = log.recent(10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], (LoggedEvent{1, kT0, "node_down", {{"peer", "n2"}}}));
  EXPECT_EQ(all[2].fields.at("term"), "3");
  EXPECT_EQ(log.append("node_down", {}, kT0 + 3), 4u);
  log.close();
  EXPECT_EQ(read_lines(current()).size(), 4u);
  EXPECT_EQ(log.dropped_writes(), 0u);
  EXPECT_EQ(log.failed_writes(), 0u);
  EXPECT_TRUE(log.last_write_error().empty());
  EXPECT_FALSE(log.open());  // once only
}

TEST_F(EventLogTest, RotationKeepsSizeBounded) {
  constexpr std::size_t kBound = 4096;
  const std::string pad(100, 'x');
  std::size_t longest = 0;
  {
    EventLog log(dir_.string(), {.max_file_bytes = kBound});
    ASSERT_TRUE(log.open());
    for (int i = 0; i < 1000; ++i) {
      log.append("action", {{"resource", "r" + std::to_string(i)}, {"pad", pad}}, kT0 + i);
      longest = std::max(longest, to_json_line(log.recent(1)[0]).size() + 1);
    }
    log.close();
    EXPECT_EQ(log.dropped_writes() + log.failed_writes(), 0u);
  }
  ASSERT_TRUE(fs::exists(current()));
  ASSERT_TRUE(fs::exists(previous()));
  EXPECT_LE(fs::file_size(current()), kBound);
  EXPECT_LE(fs::file_size(previous()), kBound);
  EXPECT_LE(fs::file_size(current()) + fs::file_size(previous()), 2 * kBound + longest);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);

  // The newest lines are in the current file, the ones just before in the previous one, with
  // no gap between them.
  const auto cur = read_lines(current());
  const auto prev = read_lines(previous());
  ASSERT_FALSE(cur.empty());
  ASSERT_FALSE(prev.empty());
  EXPECT_EQ(parse_event_line(cur.back())->seq, 1000u);
  EXPECT_EQ(parse_event_line(prev.back())->seq + 1, parse_event_line(cur.front())->seq);

  EventLog log(dir_.string(), {.max_file_bytes = kBound});
  ASSERT_TRUE(log.open());
  EXPECT_EQ(log.last_seq(), 1000u);
  EXPECT_EQ(log.recent(1000).size(), prev.size() + cur.size());
}

TEST_F(EventLogTest, TornLastLineIsIgnored) {
  {
    EventLog log(dir_.string());
    ASSERT_TRUE(log.open());
    for (int i = 0; i < 3; ++i) log.append("node_up", {{"peer", "n2"}}, kT0 + i);
  }
  std::ofstream(current(), std::ios::app) << R"({"seq":4,"time":"2026-11-26T15:04:0)";
  {
    EventLog log(dir_.string());
    ASSERT_TRUE(log.open());
    EXPECT_EQ(log.last_seq(), 3u);
    EXPECT_EQ(log.skipped_lines(), 1u);
    EXPECT_EQ(log.append("node_down", {{"peer", "n2"}}, kT0 + 10), 4u);
  }
  // The new line was not glued to the torn one.
  const auto lines = read_lines(current());
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_FALSE(parse_event_line(lines[3]));
  ASSERT_TRUE(parse_event_line(lines[4]));
  EXPECT_EQ(parse_event_line(lines[4])->kind, "node_down");
  EventLog log(dir_.string());
  ASSERT_TRUE(log.open());
  EXPECT_EQ(log.last_seq(), 4u);
  EXPECT_EQ(log.skipped_lines(), 1u);
  EXPECT_EQ(seqs(log.recent(10)), (std::vector<std::uint64_t>{1, 2, 3, 4}));
}

TEST_F(EventLogTest, RecentAndSince) {
  EventLog log(dir_.string(), {.memory_events = 5});
  ASSERT_TRUE(log.open());
  EXPECT_TRUE(log.recent(3).empty());
  EXPECT_TRUE(log.since(0).empty());
  for (int i = 0; i < 8; ++i) log.append("tick", {{"i", std::to_string(i)}}, kT0 + i);
  EXPECT_EQ(log.last_seq(), 8u);
  EXPECT_EQ(seqs(log.recent(3)), (std::vector<std::uint64_t>{6, 7, 8}));
  EXPECT_EQ(seqs(log.recent(100)), (std::vector<std::uint64_t>{4, 5, 6, 7, 8}));
  EXPECT_TRUE(log.recent(0).empty());
  EXPECT_EQ(seqs(log.since(6)), (std::vector<std::uint64_t>{7, 8}));
  EXPECT_EQ(seqs(log.since(0)), (std::vector<std::uint64_t>{4, 5, 6, 7, 8}));  // 1-3 left memory
  EXPECT_TRUE(log.since(8).empty());
  EXPECT_TRUE(log.since(100).empty());
  EXPECT_EQ(log.recent(1)[0].fields.at("i"), "7");
}

TEST_F(EventLogTest, ListenerSeesEachStoredEvent) {
  EventLog log(dir_.string());
  ASSERT_TRUE(log.open());
  std::vector<LoggedEvent> seen;
  log.set_listener([&](const LoggedEvent& e) { seen.push_back(e); });
  log.append("node_down", {{"peer", "n3"}}, kT0);
  log.append("action", {{"op", "start"}, {"rc", "0"}}, kT0 + 5);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (LoggedEvent{1, kT0, "node_down", {{"peer", "n3"}}}));
  EXPECT_EQ(seen[1], log.recent(1)[0]);
  log.set_listener(nullptr);
  log.append("node_up", {}, kT0 + 6);
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(EventLogTest, CapsKindKeysValuesFieldsAndLines) {
  EventLog log(dir_.string(), {.max_fields = 4, .max_value_bytes = 16, .max_line_bytes = 1024});
  ASSERT_TRUE(log.open());

  // A long value is cut at a UTF-8 boundary; invalid UTF-8 is replaced; header names renamed.
  log.append(std::string(500, 'k'),
             {{"long", std::string(15, 'a') + "\xC3\xA9"}, {"bad", "a\xFF"}, {"kind", "x"}}, kT0);
  auto e = log.recent(1)[0];
  EXPECT_EQ(e.kind, std::string(64, 'k'));
  EXPECT_EQ(e.fields.at("long"), std::string(15, 'a'));
  EXPECT_EQ(e.fields.at("bad"), "a\xEF\xBF\xBD");
  EXPECT_EQ(e.fields.at("_kind"), "x");
  EXPECT_EQ(e.fields.at("_truncated"), "true");

  // Too many fields: the first max_fields (by key) are kept.
  std::map<std::string, std::string> many;
  for (int i = 0; i < 10; ++i) many["f" + std::to_string(i)] = "v";
  log.append("many", many, kT0);
  e = log.recent(1)[0];
  EXPECT_EQ(e.fields.size(), 5u);  // 4 + the mark
  EXPECT_TRUE(e.fields.contains("f3"));
  EXPECT_FALSE(e.fields.contains("f4"));

  // Nothing cut: no mark.
  log.append("small", {{"a", "b"}}, kT0);
  EXPECT_FALSE(log.recent(1)[0].fields.contains("_truncated"));

  // Control characters escape to 6 bytes each: the line cap trims the values further.
  EventLog wide((root_ / "wide").string(), {.max_line_bytes = 600});
  ASSERT_TRUE(wide.open());
  std::map<std::string, std::string> ctl;
  for (int i = 0; i < 4; ++i) ctl["c" + std::to_string(i)] = std::string(1024, '\x01');
  wide.append("ctl", ctl, kT0);
  wide.close();
  const auto lines = read_lines(root_ / "wide" / EventLog::kCurrentFile);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LE(lines[0].size(), 640u);  // max_line_bytes is raised to fit a header: 256 + 6 * 64
  auto back = parse_event_line(lines[0]);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, wide.recent(1)[0]);
  EXPECT_EQ(back->fields.at("_truncated"), "true");
}

TEST_F(EventLogTest, FullQueueDropsInsteadOfBlocking) {
  EventLog log(dir_.string(), {.queue_lines = 4});
  ASSERT_TRUE(log.open());
  log.pause_writer_for_tests(true);
  for (int i = 0; i < 10; ++i) log.append("tick", {}, kT0 + i);
  EXPECT_EQ(log.dropped_writes(), 6u);
  EXPECT_EQ(log.last_seq(), 10u);  // memory and queries are unaffected
  EXPECT_EQ(log.recent(100).size(), 10u);
  log.pause_writer_for_tests(false);
  log.close();
  const auto lines = read_lines(current());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(parse_event_line(lines.back())->seq, 4u);
  EXPECT_EQ(log.append("after_close", {}, kT0), 11u);  // memory only now
  EXPECT_EQ(log.dropped_writes(), 7u);
}

TEST_F(EventLogTest, UnwritableDirectoryNeitherCrashesNorBlocks) {
  EventLog log(dir_.string(), {.max_file_bytes = 2048});
  ASSERT_TRUE(log.open());
  log.append("before", {}, kT0);
  // The directory goes away and a file takes its place.
  fs::remove_all(dir_);
  std::ofstream(dir_) << "not a directory\n";
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 500; ++i) log.append("action", {{"pad", std::string(100, 'p')}}, kT0 + i);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_EQ(log.last_seq(), 501u);
  log.close();
  // Writes to the unlinked file go on until its rotation fails; every later line is counted.
  EXPECT_GT(log.failed_writes(), 0u);
  // (at most 2048 bytes of ~130-byte lines).
  EXPECT_GE(log.failed_writes() + log.dropped_writes(), 501u - 2048 / 100);
  EXPECT_FALSE(log.last_write_error().empty());
  EXPECT_TRUE(fs::is_regular_file(dir_));

  // A log that cannot open works in memory.
  EventLog again(dir_.string());
  auto r = again.open();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(dir_.string()), std::string::npos) << r.error();
  EXPECT_EQ(again.append("node_down", {{"peer", "n2"}}, kT0), 1u);
  EXPECT_EQ(again.recent(1).size(), 1u);
  EXPECT_EQ(again.dropped_writes(), 1u);
}

}  // namespace
}  // namespace hactl
