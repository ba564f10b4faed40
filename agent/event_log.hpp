// The agent's event history (elections, nodes up and down, resource actions and their results),
// kept for `hactl events [--follow]` and alert hooks. Bounded everywhere: the last N events in
// memory, two files on disk (events.jsonl and the previous one, events.1.jsonl, each at most
// max_file_bytes), capped fields and lines, and a bounded write queue.
//
// Disk writes happen on a background thread: append() never waits on the disk (a node under
// heavy I/O must keep heartbeating). If the queue is full the line is dropped and counted, never
// waited for. No fsync: this is history, not safety state (that is StateStore's job).
//
// One JSON object per line: {"seq":7,"time":"2026-11-26T15:04:05.123456Z","time_us":...,
// "kind":"node_down","peer":"n2",...}; the event's fields are string members of the object.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/event.hpp"

namespace hactl {

struct LoggedEvent {
  std::uint64_t seq = 0;     // 1, 2, 3, ... continued across restarts from what is on disk
  std::int64_t time_us = 0;  // wall clock, unix microseconds
  std::string kind;          // e.g. "node_down", "action"
  // Never "seq", "time", "time_us" or "kind" (such keys are renamed with a leading '_').
  // "_truncated" = "true" marks an event that lost text or fields to the bounds.
  std::map<std::string, std::string> fields;

  bool operator==(const LoggedEvent&) const = default;
};

// {"seq":..,"time":"<RFC 3339, UTC, microseconds>","time_us":..,"kind":..,<fields>...}.
void to_json(nlohmann::json& j, const LoggedEvent& e);
void to_json(nlohmann::ordered_json& j, const LoggedEvent& e);  // keeps seq, time, ... first
// Throws nlohmann::json::type_error unless j is an object with an unsigned "seq", an integer
// "time_us" and a string "kind". "time" is ignored (time_us is authoritative); other members
// are the fields (a non-string member is kept as its JSON text).
void from_json(const nlohmann::json& j, LoggedEvent& e);

// The typed event a record was made of (common/event.hpp), as far as the record keeps it: its
// kind, its level (warning or not) and its fields, every value as text. Nullopt for a kind this
// agent does not know (a record of another version).
std::optional<Event> from_history(const LoggedEvent& e);

// One line of the file, without the newline (invalid UTF-8 is replaced, never thrown on).
std::string to_json_line(const LoggedEvent& e);
// nullopt for anything that is not a complete, valid event line (e.g. a torn last line).
std::optional<LoggedEvent> parse_event_line(std::string_view line);
// "2026-11-26T15:04:05.123456Z".
std::string format_time_us(std::int64_t time_us);
// The wall clock (CLOCK_REALTIME) in unix microseconds.
std::int64_t wall_clock_us();

struct EventLogLimits {
  std::size_t max_file_bytes = 1 << 20;  // per file; two files are kept
  std::size_t memory_events = 1000;      // kept in memory for queries
  std::size_t queue_lines = 1024;        // lines waiting for the writer; more are dropped
  std::size_t max_fields = 32;           // more are dropped (the smallest keys are kept)
  std::size_t max_key_bytes = 64;        // longer keys and kinds are truncated
  std::size_t max_value_bytes = 1024;    // longer values are truncated (at a UTF-8 boundary)
  std::size_t max_line_bytes = 16384;    // longer lines lose text from their longest values
};

class EventLog {
 public:
  static constexpr const char* kCurrentFile = "events.jsonl";
  static constexpr const char* kPreviousFile = "events.1.jsonl";

  explicit EventLog(std::string dir, EventLogLimits limits = {});
  ~EventLog();  // close()
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Creates the directory (0750) if missing, loads the last events of both files (lines that
  // do not parse, such as a line torn by a crash, are skipped and counted) so seq continues,
  // opens events.jsonl and starts the writer thread. Blocking: call at startup, before the loop
  // runs. On error the log still works, in memory only (every append counts as dropped).
  std::expected<void, std::string> open();
  // Writes out what is queued, then stops the writer (joins it). Blocks on the disk. Idempotent.
  void close();

  // Caps the event, gives it the next seq, keeps it in memory, queues its line for the writer
  // and calls the listener. Never blocks on the disk. Returns the seq.
  std::uint64_t append(std::string_view kind, std::map<std::string, std::string> fields,
                       std::int64_t time_us);

  std::vector<LoggedEvent> recent(std::size_t n) const;  // the last n, oldest first
  // Every event in memory with seq > `seq`, oldest first. If the first returned seq is above
  // seq + 1, older events have left memory (see the files) or were never logged.
  std::vector<LoggedEvent> since(std::uint64_t seq) const;
  // The same without copies: f(const LoggedEvent&) on each, oldest first, until it returns
  // false. f must not append (nor log an event: that appends).
  template <typename F>
  void visit_since(std::uint64_t seq, F&& f) const {
    auto it = std::ranges::upper_bound(memory_, seq, {}, &LoggedEvent::seq);
    for (; it != memory_.end(); ++it) {
      if (!f(*it)) return;
    }
  }
  // The oldest seq in memory, 0 if none.
  std::uint64_t first_seq() const { return memory_.empty() ? 0 : memory_.front().seq; }
  std::uint64_t last_seq() const { return last_seq_; }

  // Called synchronously from append() with the stored event. Must not throw, must not block.
  void set_listener(std::function<void(const LoggedEvent&)> listener);

  // Readable from any thread.
  std::uint64_t dropped_writes() const { return dropped_writes_.load(); }  // queue full/closed
  std::uint64_t failed_writes() const { return failed_writes_.load(); }    // the disk refused
  std::string last_write_error() const;                                    // empty if none yet
  std::size_t skipped_lines() const { return skipped_lines_; }  // unparsable lines at open()
  const std::string& dir() const { return dir_; }

  // Test-only: while paused the writer takes nothing from the queue (so it fills up).
  void pause_writer_for_tests(bool paused);

 private:
  LoggedEvent make_event(std::string_view kind, std::map<std::string, std::string> fields,
                         std::int64_t time_us) const;
  void load_file(const std::string& path);
  void writer_main();
  bool write_batch(std::vector<std::string>& lines);  // writer thread only
  bool open_current();                                // writer thread only (and open())
  void set_error(std::string error);

  const std::string dir_;
  const std::string current_path_;
  const std::string previous_path_;
  const EventLogLimits limits_;

  // Loop thread only.
  std::deque<LoggedEvent> memory_;
  std::uint64_t last_seq_ = 0;
  std::size_t skipped_lines_ = 0;
  std::function<void(const LoggedEvent&)> listener_;
  bool opened_ = false;

  // Shared with the writer, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> queue_;
  bool stopping_ = false;
  bool paused_ = false;
  bool running_ = false;
  std::string last_error_;

  // Writer thread only (and open(), before the thread starts).
  int fd_ = -1;
  std::size_t file_size_ = 0;
  bool failing_ = false;

  std::atomic<std::uint64_t> dropped_writes_{0};
  std::atomic<std::uint64_t> failed_writes_{0};
  std::thread writer_;
};

}  // namespace hactl
