// Turns the agent's structured log lines ("event=KIND key=value key=\"quoted value\" ...") into
// entries of its event history, so every event the agent logs is also kept for `hactl events`,
// the metrics and the alert hooks, with nothing to keep in step by hand. Lines logged from
// another thread than the one that made the sink (the event log's own writer) are not recorded.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace hactl {

// "event=a k=v q=\"x y\"" -> ("a", {k: v, q: x y}); a repeated key gets "_2", "_3", ...
// Nullopt if the line does not start with "event=".
std::optional<std::pair<std::string, std::map<std::string, std::string>>> parse_event_fields(
    std::string_view line);

class EventSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  using OnEvent = std::function<void(std::string kind, std::map<std::string, std::string>)>;
  explicit EventSink(OnEvent on_event)
      : on_event_(std::move(on_event)), owner_(std::this_thread::get_id()) {}
  void detach() {
    std::lock_guard lock(mutex_);
    on_event_ = nullptr;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  OnEvent on_event_;
  std::thread::id owner_;
};

}  // namespace hactl
