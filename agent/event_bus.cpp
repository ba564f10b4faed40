#include "agent/event_bus.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>
#include <utility>

namespace hactl {
namespace {

struct Bus {
  std::atomic<std::thread::id> owner;          // read first, from any thread
  std::function<void(const Event&)> recorder;  // read on the owner's thread only
  std::string prefix;
};

Bus& bus() {
  static Bus b;
  return b;
}

spdlog::level::level_enum spdlog_level(EventLevel l) {
  switch (l) {
    case EventLevel::kDebug:
      return spdlog::level::debug;
    case EventLevel::kInfo:
      return spdlog::level::info;
    case EventLevel::kWarn:
      return spdlog::level::warn;
    case EventLevel::kError:
      return spdlog::level::err;
    case EventLevel::kCritical:
      return spdlog::level::critical;
  }
  return spdlog::level::info;
}

}  // namespace

void emit_event(const Event& e) {
  Bus& b = bus();
  const auto level = spdlog_level(e.level);
  if (spdlog::should_log(level)) spdlog::log(level, "{}{}", b.prefix, format_event(e));
  // A debug event is only logged (an alert hook's every run, say): the history keeps what
  // people act on.
  if (e.level == EventLevel::kDebug || std::this_thread::get_id() != b.owner.load()) return;
  if (b.recorder) b.recorder(e);
}

void install_event_recorder(std::function<void(const Event&)> recorder) {
  Bus& b = bus();
  b.owner.store(std::thread::id());
  b.recorder = std::move(recorder);
  if (b.recorder) b.owner.store(std::this_thread::get_id());
}

void set_event_line_prefix(std::string prefix) { bus().prefix = std::move(prefix); }

const std::string& event_line_prefix() { return bus().prefix; }

}  // namespace hactl
