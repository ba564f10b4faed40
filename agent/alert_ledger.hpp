// The alert hooks' delivery record: for each hook id, which events of the node's event history
// the hook is not done with yet (not run successfully, nor given up on after its last retry,
// nor skipped), so that runs pending, waiting for a retry or running when the agent stops or
// crashes are queued again by the next AlertRunner (docs/alerts.md, "Delivery"). One JSON
// file in the event history's directory:
//
//   {"version":1,"hooks":{"pager":{"mark":812,"owed":[[795,795],[810,812]]}}}
//
// `mark`: the last seq the runner has looked at for this hook; `owed`: ranges [first, last] of
// the seqs up to the mark it wants and is not done with. Every other seq up to the mark is done
// with (or not wanted); the seqs above it are unknown: the next runner looks at them in the
// history, and owes the hook those it wants.
//
// Disk writes happen on a thread of its own: save() hands the latest state over and never
// waits on the disk (a node under heavy I/O must keep heartbeating); the thread writes it
// atomically (temporary file, fsync, rename, fsync of the directory), at most once per
// min_interval, and only the latest state (older ones are replaced, not queued). A crash loses
// at most what was saved in the last min_interval: those runs are repeated, never skipped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/types.hpp"

namespace hactl {

class AlertLedger {
 public:
  static constexpr const char* kFile = "alert-deliveries.json";

  struct Hook {
    std::uint64_t mark = 0;        // the last seq looked at
    std::set<std::uint64_t> owed;  // seqs <= mark wanted and not done with
    bool operator==(const Hook&) const = default;
  };

  enum class Loaded { kMissing, kLoaded, kCorrupt };

  // dir empty: in memory only (nothing read or written).
  explicit AlertLedger(std::string dir, Duration min_interval = std::chrono::milliseconds{200});
  ~AlertLedger();  // writes out what save() was last given, then stops the writer (blocks)
  AlertLedger(const AlertLedger&) = delete;
  AlertLedger& operator=(const AlertLedger&) = delete;

  // Reads the file into `hooks` and starts the writer. Blocking: call at startup. A missing
  // file is kMissing, an unreadable or invalid one kCorrupt (logged; `hooks` left empty).
  Loaded load();

  // The record itself: loop thread only.
  std::map<std::string, Hook> hooks;

  // Hands a copy of `hooks` to the writer. Never blocks on the disk.
  void save();
  // Waits until everything saved so far is written (or failed). Blocks: tests and shutdown.
  void flush();

  const std::string& path() const { return path_; }
  std::uint64_t writes() const;         // files written
  std::uint64_t failed_writes() const;  // writes the disk refused
  std::string last_error() const;

  static std::string to_text(const std::map<std::string, Hook>& hooks);
  static std::optional<std::map<std::string, Hook>> from_text(const std::string& text);

 private:
  void writer_main();

  const std::string dir_;
  const std::string path_;
  const Duration min_interval_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::string> next_;  // the latest state not yet taken by the writer
  bool writing_ = false;
  bool stopping_ = false;
  std::uint64_t writes_ = 0;
  std::uint64_t failed_ = 0;
  std::string last_error_;
  std::thread writer_;
};

}  // namespace hactl
