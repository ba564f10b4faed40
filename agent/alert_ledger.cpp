#include "agent/alert_ledger.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "agent/event_bus.hpp"
#include "agent/state_store.hpp"
#include "resources/realtime.hpp"

namespace hactl {

AlertLedger::AlertLedger(std::string dir, Duration min_interval)
    : dir_(std::move(dir)),
      path_(dir_.empty() ? std::string() : dir_ + "/" + kFile),
      min_interval_(min_interval) {
  if (!dir_.empty()) writer_ = std::thread([this] { writer_main(); });
}

AlertLedger::~AlertLedger() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

AlertLedger::Loaded AlertLedger::load() {
  hooks.clear();
  if (path_.empty()) return Loaded::kMissing;
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return Loaded::kMissing;
    emit_event(Event(EventKind::kAlertRecordUnreadable, EventLevel::kWarn)
                   .add("path", path_)
                   .text("error", std::strerror(errno))
                   .text("effect", "every event in the history may be run again"));
    return Loaded::kCorrupt;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = from_text(text.str());
  if (!parsed) {
    emit_event(Event(EventKind::kAlertRecordUnreadable, EventLevel::kWarn)
                   .add("path", path_)
                   .text("error", "not a delivery record")
                   .text("effect", "every event in the history may be run again"));
    return Loaded::kCorrupt;
  }
  hooks = std::move(*parsed);
  return Loaded::kLoaded;
}

void AlertLedger::save() {
  if (path_.empty()) return;
  std::string text = to_text(hooks);
  {
    std::lock_guard lock(mu_);
    next_ = std::move(text);
  }
  cv_.notify_all();
}

void AlertLedger::flush() {
  if (!writer_.joinable()) return;
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !next_ && !writing_; });
}

std::uint64_t AlertLedger::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

std::uint64_t AlertLedger::failed_writes() const {
  std::lock_guard lock(mu_);
  return failed_;
}

std::string AlertLedger::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void AlertLedger::writer_main() {
  leave_realtime();  // disk work: never ahead of anything (resources/realtime.hpp)
  bool failing = false;
  for (;;) {
    std::string text;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || next_.has_value(); });
      if (!next_) return;  // stopping, and everything is written
      text = std::move(*next_);
      next_.reset();
      writing_ = true;
    }
    const auto r = replace_file_atomically(dir_, path_, text);
    // Logged from this thread, these lines are not events (EventSink keeps the loop's only).
    if (!r && !failing) {
      emit_event(Event(EventKind::kAlertRecordWriteFailed, EventLevel::kWarn)
                     .text("error", r.error())
                     .text("effect", "runs may be repeated"));
    } else if (r && failing) {
      emit_event(Event(EventKind::kAlertRecordWriteRecovered).add("path", path_));
    }
    failing = !r;
    {
      std::unique_lock lock(mu_);
      writing_ = false;
      if (r) {
        ++writes_;
      } else {
        ++failed_;
        last_error_ = r.error();
      }
      cv_.notify_all();
      // At most one write per min_interval; the last state is written at once when stopping.
      cv_.wait_for(lock, min_interval_, [this] { return stopping_; });
    }
  }
}

std::string AlertLedger::to_text(const std::map<std::string, Hook>& hooks) {
  nlohmann::json h = nlohmann::json::object();
  for (const auto& [id, hook] : hooks) {
    nlohmann::json ranges = nlohmann::json::array();
    std::uint64_t first = 0, last = 0;
    bool open = false;
    for (const std::uint64_t seq : hook.owed) {
      if (seq > hook.mark) continue;
      if (open && seq == last + 1) {
        last = seq;
        continue;
      }
      if (open) ranges.push_back({first, last});
      first = last = seq;
      open = true;
    }
    if (open) ranges.push_back({first, last});
    h[id] = {{"mark", hook.mark}, {"owed", std::move(ranges)}};
  }
  return nlohmann::json{{"version", 1}, {"hooks", std::move(h)}}.dump() + "\n";
}

std::optional<std::map<std::string, AlertLedger::Hook>> AlertLedger::from_text(
    const std::string& text) {
  // A hook is owed at most its events in the history (and its runs in flight).
  constexpr std::uint64_t kMaxOwedPerHook = 100'000;
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_unsigned() || version->get<std::uint64_t>() != 1) {
    return std::nullopt;
  }
  const auto hooks = j.find("hooks");
  if (hooks == j.end() || !hooks->is_object()) return std::nullopt;
  std::map<std::string, Hook> out;
  for (const auto& [id, v] : hooks->items()) {
    if (!v.is_object()) return std::nullopt;
    const auto mark = v.find("mark");
    const auto owed = v.find("owed");
    if (mark == v.end() || !mark->is_number_unsigned()) return std::nullopt;
    if (owed == v.end() || !owed->is_array()) return std::nullopt;
    Hook hook;
    hook.mark = mark->get<std::uint64_t>();
    for (const auto& range : *owed) {
      if (!range.is_array() || range.size() != 2 || !range[0].is_number_unsigned() ||
          !range[1].is_number_unsigned()) {
        return std::nullopt;
      }
      const auto first = range[0].get<std::uint64_t>();
      const auto last = range[1].get<std::uint64_t>();
      if (first > last || last > hook.mark || last - first >= kMaxOwedPerHook) {
        return std::nullopt;
      }
      for (std::uint64_t k = 0; k <= last - first && hook.owed.size() < kMaxOwedPerHook; ++k) {
        hook.owed.insert(first + k);
      }
    }
    out.emplace(id, std::move(hook));
  }
  return out;
}

}  // namespace hactl
