// Refusals logged at a bounded rate: a client refused in a loop wrote 596,514
// lines in 10 s and pushed every earlier event out of the history. One line per kind per
// window; the refusals in between are counted, and the count goes out with the next line of
// that kind or when the window is over (due()).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace hactl {

class RefusalLog {
 public:
  explicit RefusalLog(Duration window) : window_(window) {}
  // nullopt: count it, do not log it. Otherwise log it now, with the number of refusals of
  // this kind left unlogged before it.
  std::optional<std::uint64_t> admit(const std::string& kind, Instant now);
  struct Unlogged {
    std::string kind;
    std::uint64_t count = 0;
  };
  // Kinds whose window is over with refusals left unlogged (then forgotten): log a count.
  std::vector<Unlogged> due(Instant now);
  bool pending() const;

 private:
  struct Window {
    Instant started{};
    std::uint64_t unlogged = 0;
  };
  Duration window_;
  // Bounded by its callers' kinds: the socket's refusal reasons, or the uids refused a write
  // (the agent's; their counts go out with the next refusal of that uid).
  std::map<std::string, Window> kinds_;
};

}  // namespace hactl
