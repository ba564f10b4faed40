// The agent's durable state: Raft's term and vote, and the last boot incarnation. Written
// atomically (temp file, fsync, rename, fsync of the directory) so a crash at any point leaves
// either the old or the new state, never a torn file.
#pragma once

#include <cstdint>
#include <expected>
#include <string>

#include "common/config.hpp"
#include "coordinator/election_core.hpp"

namespace hactl {

struct PersistentState {
  HardState hard;
  std::uint64_t incarnation = 0;
};

class StateStore {
 public:
  StateStore(const ClusterConfig& config, std::string dir, const std::string& node_name);

  // A missing file is a fresh node; an unreadable or corrupt one is an error (never silently
  // reset a term: that could let this node vote twice in one term).
  std::expected<PersistentState, std::string> load() const;
  std::expected<void, std::string> save(const PersistentState& state) const;
  // Creates the directory (0700) if missing.
  std::expected<void, std::string> prepare() const;
  const std::string& path() const { return path_; }

 private:
  const ClusterConfig& config_;
  std::string dir_;
  std::string path_;
};

// Writes `data` to `path` (in `dir`) so a crash at any point leaves the old or the new content:
// a temporary file, fsync, rename, fsync of the directory.
std::expected<void, std::string> replace_file_atomically(const std::string& dir,
                                                         const std::string& path,
                                                         const std::string& data);
// Replaces `path` with `data` for readers on this host: a temporary file, rename; a reader sees
// the old or the new content, whole. Nothing is fsynced: for a file that only tells another
// process what to read now (the guard's definitions, written again at every start), where
// waiting for the disk on the loop would cost heartbeats.
std::expected<void, std::string> replace_file_for_readers(const std::string& path,
                                                          const std::string& data);

// The next boot incarnation: the wall clock in microseconds, but never below last + 1.
std::uint64_t next_incarnation(std::uint64_t last, std::uint64_t realtime_us);

}  // namespace hactl
