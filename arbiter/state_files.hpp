// What hactl-arbiter keeps on disk: one file per cluster, <state-dir>/<cluster>.state, holding
// the voter's hard state (coordinator/arbiter.hpp, ArbiterHardState), and <state-dir>/boot, the
// last incarnation the daemon started with. Every write is write-to-temp, fsync, rename, fsync
// of the directory: after it returns, a crash leaves the new state or (before) the old one,
// never a mix. These calls block; the daemon makes them off its loop, except at start.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/arbiter.hpp"

namespace hactl {

std::string format_arbiter_state(const ArbiterHardState& state);
std::expected<ArbiterHardState, std::string> parse_arbiter_state(std::string_view text);

// Writes `text` to dir/name durably (see above).
std::expected<void, std::string> write_file_durably(const std::string& dir, const std::string& name,
                                                    std::string_view text);

std::expected<void, std::string> write_arbiter_state(const std::string& dir,
                                                     const std::string& cluster,
                                                     const ArbiterHardState& state);

struct LoadedStates {
  std::map<std::string, ArbiterHardState> states;  // by cluster
  std::vector<std::string> unreadable;             // clusters whose file exists but does not parse
  std::vector<std::string> problems;               // one sentence each, for the log
};
// Every <cluster>.state in `dir` (a missing dir is empty): at most `max` of them read, any
// beyond listed as unreadable (their clusters must not be served from an empty state either).
LoadedStates load_arbiter_states(const std::string& dir, std::size_t max);

// This start's incarnation: above the last one recorded in dir/boot and at least `realtime_us`,
// written back durably before it is used.
std::expected<std::uint64_t, std::string> next_arbiter_boot(const std::string& dir,
                                                            std::uint64_t realtime_us);

}  // namespace hactl
