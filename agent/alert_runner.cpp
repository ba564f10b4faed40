#include "agent/alert_runner.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <set>
#include <utility>

#include "common/assert.hpp"
#include "resources/process_runner.hpp"

namespace hactl {
namespace {

constexpr const char* kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t kMaxLoggedOutput = 512;  // the tail of a failed hook's output, in its log
constexpr std::uint64_t kDropLogIntervalMs = 1000;

std::uint64_t ceil_ms(Duration d) {
  return static_cast<std::uint64_t>((std::max<Duration::rep>(0, d.count()) + 999) / 1000);
}

}  // namespace

std::string log_text(std::string_view s, std::size_t max_tail) {
  if (s.size() > max_tail) s = s.substr(s.size() - max_tail);
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  std::string out;
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

namespace {}  // namespace

std::string alert_field_variable(std::string_view key) {
  std::string out = "HACTL_FIELD_";
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 'a' && u <= 'z') {
      out += static_cast<char>(u - 'a' + 'A');
    } else if ((u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_') {
      out += c;
    } else {
      out += '_';
    }
  }
  return out;
}

std::vector<std::string> alert_environment(const AlertConfig& alert, const LoggedEvent& e,
                                           std::uint64_t term, int attempt,
                                           const AlertRunnerOptions& options) {
  std::vector<std::string> env = {
      kPath,
      "HACTL_ALERT_ID=" + alert.id,
      "HACTL_ALERT_ATTEMPT=" + std::to_string(attempt),
      "HACTL_EVENT_KIND=" + e.kind,
      "HACTL_EVENT_SEQ=" + std::to_string(e.seq),
      "HACTL_EVENT_TIME=" + format_time_us(e.time_us),
      "HACTL_EVENT_TIME_US=" + std::to_string(e.time_us),
      "HACTL_TERM=" + std::to_string(term),
      "HACTL_NODE=" + options.node,
      "HACTL_CLUSTER=" + options.cluster,
  };
  std::set<std::string> names;
  for (const auto& [key, value] : e.fields) {  // sorted by key: the first of a clash wins
    std::string name = alert_field_variable(key);
    if (!names.insert(name).second) continue;
    env.push_back(std::move(name) + "=" + value);
  }
  return env;
}

struct AlertRunner::State : std::enable_shared_from_this<AlertRunner::State> {
  struct Run {
    std::size_t alert = 0;  // index into alerts
    std::shared_ptr<const LoggedEvent> event;
    std::uint64_t term = 0;
    int attempt = 1;
    std::uint64_t not_before_ms = 0;  // loop time (uv_now); later than now while in retry delay
  };

  uv_loop_t* loop = nullptr;
  std::vector<AlertConfig> alerts;
  AlertRunnerOptions options;
  std::deque<Run> pending;  // oldest first
  std::size_t running = 0;
  uv_timer_t* timer = nullptr;  // on the heap: its close callback may run after we are gone
  bool closed = false;
  AlertCounters total;
  std::vector<AlertCounters> per_alert;
  std::uint64_t last_drop_log_ms = 0;
  std::uint64_t drops_since_log = 0;

  template <typename F>
  void count(std::size_t alert, F&& f) {
    f(total);
    f(per_alert[alert]);
  }

  void enqueue(Run run) {
    if (pending.size() >= options.max_pending) drop_oldest();
    pending.push_back(std::move(run));
    arm();
  }

  void drop_oldest() {
    const Run& old = pending.front();
    count(old.alert, [](AlertCounters& c) { ++c.dropped; });
    ++drops_since_log;
    const std::uint64_t now = uv_now(loop);
    if (last_drop_log_ms == 0 || now - last_drop_log_ms >= kDropLogIntervalMs) {
      spdlog::warn(
          "event=alert_dropped id={} seq={} kind={} attempt={} reason=queue_full pending_max={} "
          "dropped_since_last_log={} dropped_total={}",
          alerts[old.alert].id, old.event->seq, old.event->kind, old.attempt, options.max_pending,
          drops_since_log, total.dropped);
      last_drop_log_ms = std::max<std::uint64_t>(now, 1);
      drops_since_log = 0;
    }
    pending.pop_front();
  }

  // Sets the timer for the next moment a pending run may start, or stops it.
  void arm() {
    if (closed || timer == nullptr) return;
    if (pending.empty() || running >= options.max_running) {
      uv_timer_stop(timer);  // a finishing run arms again
      return;
    }
    const std::uint64_t now = uv_now(loop);
    std::uint64_t due = UINT64_MAX;
    for (const Run& r : pending) due = std::min(due, r.not_before_ms);
    uv_timer_start(
        timer, [](uv_timer_t* t) { static_cast<State*>(t->data)->dispatch(); },
        due > now ? due - now : 0, 0);
  }

  void dispatch() {
    const std::uint64_t now = uv_now(loop);
    std::vector<Run> start;
    for (auto it = pending.begin();
         it != pending.end() && running + start.size() < options.max_running;) {
      if (it->not_before_ms <= now) {
        start.push_back(std::move(*it));
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    // A run that cannot be started reports at once, from inside run_process: it may queue its
    // retry (and arm the timer) while this loop goes on, which is fine.
    for (Run& r : start) launch(std::move(r));
    arm();
  }

  void launch(Run run) {
    const AlertConfig& a = alerts[run.alert];
    ++running;
    count(run.alert, [](AlertCounters& c) { ++c.runs; });
    ProcessSpec spec;
    spec.program = a.path;
    spec.env = alert_environment(a, *run.event, run.term, run.attempt, options);
    spec.timeout = a.timeout;
    spec.kill_grace = options.kill_grace;
    run_process(loop, spec,
                [weak = weak_from_this(), run = std::move(run)](const ProcessResult& r) mutable {
                  if (auto self = weak.lock()) self->finished(std::move(run), r);
                });
  }

  void finished(Run run, const ProcessResult& r) {
    HACTL_ASSERT(running > 0);
    --running;
    const AlertConfig& a = alerts[run.alert];
    const LoggedEvent& e = *run.event;
    if (r.ended == ProcessResult::Ended::kExited && r.exit_code == 0) {
      count(run.alert, [](AlertCounters& c) { ++c.succeeded; });
      spdlog::debug("event=alert_done id={} seq={} kind={} attempt={} took_ms={}", a.id, e.seq,
                    e.kind, run.attempt,
                    std::chrono::duration_cast<std::chrono::milliseconds>(r.took).count());
      arm();
      return;
    }
    count(run.alert, [&](AlertCounters& c) {
      ++c.failures;
      if (r.ended == ProcessResult::Ended::kTimedOut) ++c.timeouts;
    });
    std::string reason;
    switch (r.ended) {
      case ProcessResult::Ended::kExited:
        reason = "exit_code code=" + std::to_string(r.exit_code);
        break;
      case ProcessResult::Ended::kTimedOut:
        reason = "timed_out timeout=" + format_duration(a.timeout);
        break;
      case ProcessResult::Ended::kSignaled:
        reason = "signaled signal=" + std::to_string(r.signal);
        break;
      case ProcessResult::Ended::kExecFailed:
        reason = "exec_failed error=\"" + log_text(r.error, kMaxLoggedOutput) + "\"";
        break;
    }
    std::string then;
    if (run.attempt > a.retries) {
      count(run.alert, [](AlertCounters& c) { ++c.gave_up; });
      then = "give_up";
    } else if (closed) {
      count(run.alert, [](AlertCounters& c) { ++c.dropped; });
      then = "none_closed";
    } else {
      count(run.alert, [](AlertCounters& c) { ++c.retries; });
      then = "retry retry_in=" + format_duration(a.retry_delay);
    }
    spdlog::warn(
        "event=alert_failed id={} seq={} kind={} attempt={} of={} reason={} took_ms={} then={} "
        "output=\"{}\"",
        a.id, e.seq, e.kind, run.attempt, a.retries + 1, reason,
        std::chrono::duration_cast<std::chrono::milliseconds>(r.took).count(), then,
        log_text(r.output, kMaxLoggedOutput));
    if (then.starts_with("retry")) {
      run.attempt += 1;
      run.not_before_ms = uv_now(loop) + ceil_ms(a.retry_delay);
      enqueue(std::move(run));
    } else {
      arm();
    }
  }

  void close() {
    if (closed) return;
    closed = true;
    for (const Run& r : pending) count(r.alert, [](AlertCounters& c) { ++c.dropped; });
    pending.clear();
    if (timer != nullptr) {
      uv_timer_stop(timer);
      uv_close(reinterpret_cast<uv_handle_t*>(timer),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer = nullptr;
    }
  }
};

AlertRunner::AlertRunner(uv_loop_t* loop, std::vector<AlertConfig> alerts,
                         AlertRunnerOptions options)
    : state_(std::make_shared<State>()) {
  HACTL_ASSERT(loop != nullptr);
  HACTL_ASSERT(options.max_running >= 1);
  HACTL_ASSERT(options.max_pending >= 1);
  for (const auto& a : alerts) HACTL_ASSERT(!a.id.empty() && a.path.starts_with('/'));
  state_->loop = loop;
  state_->per_alert.resize(alerts.size());
  state_->alerts = std::move(alerts);
  state_->options = std::move(options);
  state_->timer = new uv_timer_t;
  uv_timer_init(loop, state_->timer);
  state_->timer->data = state_.get();
}

AlertRunner::~AlertRunner() { close(); }

void AlertRunner::notify(const LoggedEvent& e, std::uint64_t term) {
  State& s = *state_;
  if (s.closed) return;
  std::shared_ptr<const LoggedEvent> event;
  for (std::size_t i = 0; i < s.alerts.size(); ++i) {
    if (!s.alerts[i].wants(e.kind)) continue;
    if (!event) event = std::make_shared<const LoggedEvent>(e);
    s.enqueue(State::Run{i, event, term, 1, 0});
  }
}

void AlertRunner::close() { state_->close(); }

AlertStats AlertRunner::stats() const {
  AlertStats out;
  out.total = state_->total;
  for (std::size_t i = 0; i < state_->alerts.size(); ++i)
    out.by_alert[state_->alerts[i].id] = state_->per_alert[i];
  out.running = state_->running;
  out.pending = state_->pending.size();
  return out;
}

std::size_t AlertRunner::running() const { return state_->running; }
std::size_t AlertRunner::pending() const { return state_->pending.size(); }

}  // namespace hactl
