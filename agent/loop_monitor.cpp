#include "agent/loop_monitor.hpp"

#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>

#include "agent/event_bus.hpp"

namespace hactl {

void LoopBusy::record(double seconds) {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++cumulative_[i];
  }
  ++count_;
  sum_ += seconds;
  longest_ = std::max(longest_, seconds);
}

LoopMonitor::LoopMonitor(uv_loop_t* loop, std::function<void(double)> stalled)
    : loop_(loop), stalled_(std::move(stalled)) {
  // Counted from the next wait on (libuv accepts it on a running loop).
  measuring_ = uv_loop_configure(loop_, UV_METRICS_IDLE_TIME) == 0;
  if (!measuring_) {
    emit_event(Event(EventKind::kLoopMonitorUnavailable, EventLevel::kWarn)
                   .text("reason", "no idle-time metric in this libuv"));
    return;
  }
  prepare_ = new uv_prepare_t;
  uv_prepare_init(loop_, prepare_);
  prepare_->data = this;
  uv_prepare_start(prepare_,
                   [](uv_prepare_t* p) { static_cast<LoopMonitor*>(p->data)->on_prepare(); });
  // Watching keeps no loop running.
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
}

LoopMonitor::~LoopMonitor() { close(); }

void LoopMonitor::close() {
  if (prepare_ == nullptr) return;
  uv_prepare_stop(prepare_);
  uv_close(reinterpret_cast<uv_handle_t*>(prepare_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
  prepare_ = nullptr;
}

namespace {

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000U +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

void LoopMonitor::on_prepare() {
  const std::uint64_t now = uv_hrtime();
  const std::uint64_t idle = uv_metrics_idle_time(loop_);
  const std::uint64_t cpu = thread_cpu_ns();
  if (last_cpu_ns_ != 0 && cpu >= last_cpu_ns_) {
    cpu_.record(static_cast<double>(cpu - last_cpu_ns_) / 1e9);
  }
  last_cpu_ns_ = cpu;
  if (last_ns_ != 0 && now >= last_ns_ && idle >= last_idle_ns_) {
    const std::uint64_t wall = now - last_ns_;
    const std::uint64_t waited = std::min(wall, idle - last_idle_ns_);
    const double busy = static_cast<double>(wall - waited) / 1e9;
    busy_.record(busy);
    if (busy > kStallLog && stalled_) stalled_(busy);
  }
  last_ns_ = now;
  last_idle_ns_ = idle;
}

}  // namespace hactl
