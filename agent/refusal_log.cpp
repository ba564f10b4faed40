#include "agent/refusal_log.hpp"

namespace hactl {

std::optional<std::uint64_t> RefusalLog::admit(const std::string& kind, Instant now) {
  auto it = kinds_.find(kind);
  if (it != kinds_.end() && now - it->second.started < window_) {
    ++it->second.unlogged;
    return std::nullopt;
  }
  const std::uint64_t before = it == kinds_.end() ? 0 : it->second.unlogged;
  kinds_[kind] = Window{now, 0};
  return before;
}

std::vector<RefusalLog::Unlogged> RefusalLog::due(Instant now) {
  std::vector<Unlogged> out;
  for (auto it = kinds_.begin(); it != kinds_.end();) {
    if (now - it->second.started < window_) {
      ++it;
      continue;
    }
    if (it->second.unlogged > 0) out.push_back(Unlogged{it->first, it->second.unlogged});
    it = kinds_.erase(it);
  }
  return out;
}

bool RefusalLog::pending() const { return !kinds_.empty(); }

}  // namespace hactl
