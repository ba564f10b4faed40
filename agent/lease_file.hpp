// The agent's lease end on file (run_dir/lease), for what a restarted agent keeps (Keeper's
// boot grace, counted from the previous agent's lease end): 20 decimal digits of the monotonic
// clock's microseconds and a newline. /run is emptied at boot, so a value there is from this
// boot's clock.
//
// The lease end moves on nearly every heartbeat. The file is mapped and written in memory (no
// system call), one digit at a time, in an order that keeps a write cut short by the agent's
// death safe: what a restarted agent reads is then never later than the larger of the old and
// new values (lease_store_order). A later value would make it keep what it finds for longer
// than the coordinator counts on; an earlier one only makes it keep less.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.hpp"

namespace hactl {

class LeaseFile {
 public:
  static constexpr std::size_t kDigits = 20;

  LeaseFile() = default;
  LeaseFile(const LeaseFile&) = delete;
  LeaseFile& operator=(const LeaseFile&) = delete;
  ~LeaseFile();

  // Reads what the previous agent left, then maps the file (created if missing). An error
  // names the path and the reason; nothing is written then.
  std::optional<std::string> open(const std::string& path);
  std::optional<Instant> previous() const { return previous_; }
  void write(Instant end);

 private:
  char* map_ = nullptr;
  std::optional<Instant> previous_;
  std::optional<Instant> on_file_;
};

// The text of a lease end: kDigits digits (zero-padded) and a newline.
std::string lease_text(Instant end);
// The value at the start of `text`: its leading digits; nullopt without any, or for zero.
std::optional<Instant> parse_lease_text(std::string_view text);
// The order (byte indices) in which `next` is stored over `old`, both lease_text: when the
// value grows, least significant digit first (a cut-short write reads old's high digits and
// next's low ones: at most next); otherwise most significant first (at most old).
std::vector<std::size_t> lease_store_order(std::optional<Instant> old, Instant next);

}  // namespace hactl
