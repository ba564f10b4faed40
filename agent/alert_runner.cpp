#include "agent/alert_runner.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <set>
#include <utility>

#include "agent/event_bus.hpp"
#include "common/assert.hpp"
#include "resources/process_runner.hpp"

namespace hactl {
namespace {

constexpr const char* kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t kMaxLoggedOutput = 512;  // the tail of a failed hook's output, in its log
constexpr std::uint64_t kDropLogIntervalMs = 1000;
// A hook's owed events beyond this many (the history keeps 1000) are checked against the
// history when the next event comes.
constexpr std::size_t kPruneOwedAbove = 2048;

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
                                           const AlertRunnerOptions& options, bool redelivery) {
  std::vector<std::string> env = {
      kPath,
      "HACTL_ALERT_ID=" + alert.id,
      "HACTL_ALERT_ATTEMPT=" + std::to_string(attempt),
      std::string("HACTL_ALERT_REDELIVERY=") + (redelivery ? "1" : "0"),
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

bool alert_wants(const AlertConfig& alert, const LoggedEvent& e) {
  const bool own = e.kind.starts_with("alert_");
  if (alert.kinds.empty() ? own : !alert.wants(e.kind)) return false;
  if (!own) return true;
  const auto id = e.fields.find("id");
  return id == e.fields.end() || id->second != alert.id;
}

std::uint64_t event_term(const LoggedEvent& e) {
  const auto it = e.fields.find("term");
  if (it == e.fields.end() || it->second.empty() || it->second.size() > 19) return 0;
  std::uint64_t v = 0;
  for (const char c : it->second) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

struct AlertRunner::State : std::enable_shared_from_this<AlertRunner::State> {
  struct Run {
    std::size_t alert = 0;  // index into alerts
    std::shared_ptr<const LoggedEvent> event;
    std::uint64_t term = 0;
    int attempt = 1;
    std::uint64_t not_before_ms = 0;  // loop time (uv_now); later than now while in retry delay
    bool redelivery = false;          // HACTL_ALERT_REDELIVERY
  };
  using Key = std::pair<std::size_t, std::uint64_t>;  // (alert, seq)

  uv_loop_t* loop = nullptr;
  Spawner* spawner = nullptr;
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

  // With a history (at-least-once delivery).
  const EventLog* history = nullptr;
  std::shared_ptr<AlertLedger> ledger;
  // By alert: what a hook's entry is taken to be once a newer runner that shares the record
  // has dropped it (a hook removed from the configuration), so this closed runner's last
  // results go nowhere.
  std::vector<AlertLedger::Hook> orphans;
  std::set<Key> in_flight;      // runs pending or running
  bool backlog = false;         // owed runs not in flight: queue them from the history
  std::uint64_t start_seq = 0;  // the history's last seq when this runner started
  bool dirty = false;           // the record changed since it was last saved
  // Log lines held back: the runner's lines are events too (they reach notify() again through
  // the event log), so none is logged while it walks the history or from inside notify().
  std::vector<Event> notes;
  std::uint64_t last_defer_log_ms = 0;
  std::uint64_t defers_since_log = 0;

  template <typename F>
  void count(std::size_t alert, F&& f) {
    f(total);
    f(per_alert[alert]);
  }

  AlertLedger::Hook& hook(std::size_t i) {
    const auto it = ledger->hooks.find(alerts[i].id);
    return it != ledger->hooks.end() ? it->second : orphans[i];
  }

  // The event with this seq in the history, if it is still there.
  const LoggedEvent* find_event(std::uint64_t seq) const {
    const LoggedEvent* found = nullptr;
    if (seq == 0) return nullptr;
    history->visit_since(seq - 1, [&](const LoggedEvent& e) {
      if (e.seq == seq) found = &e;
      return false;
    });
    return found;
  }

  // The hook looks at every event of the history after its mark up to `last`: it is owed those
  // it wants.
  void catch_up(std::size_t i, std::uint64_t last) {
    AlertLedger::Hook& h = hook(i);
    if (last <= h.mark) return;
    history->visit_since(h.mark, [&](const LoggedEvent& e) {
      if (e.seq > last) return false;
      if (alert_wants(alerts[i], e)) {
        h.owed.insert(e.seq);
        backlog = true;
      }
      return true;
    });
    h.mark = last;
    dirty = true;
  }

  struct Skips {
    std::uint64_t count = 0, first = 0, last = 0;
    void add(std::uint64_t seq) {
      if (count++ == 0) first = seq;
      last = seq;
    }
  };

  void note_skips(std::size_t i, const Skips& s, const std::string& reason) {
    if (s.count == 0) return;
    count(i, [&](AlertCounters& c) { c.skipped += s.count; });
    Event e(EventKind::kAlertSkipped, EventLevel::kWarn);
    e.add("id", alerts[i].id).add("reason", reason).add("count", s.count);
    e.add("first_seq", s.first).add("last_seq", s.last);
    if (reason == "too_old") e.add("max_age", format_duration(options.max_age));
    if (reason == "over_bound") e.add("max_redelivered", options.max_redelivered);
    notes.push_back(std::move(e));
  }

  // Owed events not in flight that left the history, or are older than max_age, are skipped;
  // those the hook's kinds no longer match are dropped.
  void prune(std::size_t i) {
    AlertLedger::Hook& h = hook(i);
    Skips gone, old;
    const std::int64_t oldest_us =
        wall_clock_us() -
        std::chrono::duration_cast<std::chrono::microseconds>(options.max_age).count();
    for (auto it = h.owed.begin(); it != h.owed.end();) {
      if (in_flight.contains({i, *it})) {
        ++it;
        continue;
      }
      const LoggedEvent* e = find_event(*it);
      if (e == nullptr) {
        gone.add(*it);
      } else if (!alert_wants(alerts[i], *e)) {
        // Its kinds changed since (same id): not owed any more.
      } else if (e->time_us < oldest_us) {
        old.add(*it);
      } else {
        ++it;
        continue;
      }
      it = h.owed.erase(it);
      dirty = true;
    }
    note_skips(i, gone, "left_history");
    note_skips(i, old, "too_old");
  }

  void done(std::size_t i, std::uint64_t seq) {
    if (history == nullptr) return;
    if (hook(i).owed.erase(seq) > 0) dirty = true;
  }

  void save() {
    if (dirty && ledger) ledger->save();
    dirty = false;
  }

  // A run of a hook the queue has no room for: owed, queued from the history later.
  void defer(const Run& run) {
    in_flight.erase({run.alert, run.event->seq});
    backlog = true;
    count(run.alert, [](AlertCounters& c) { ++c.deferred; });
    ++defers_since_log;
    const std::uint64_t now = uv_now(loop);
    if (last_defer_log_ms == 0 || now - last_defer_log_ms >= kDropLogIntervalMs) {
      notes.push_back(Event(EventKind::kAlertDeferred, EventLevel::kWarn)
                          .add("id", alerts[run.alert].id)
                          .add("seq", run.event->seq)
                          .add("kind", run.event->kind)
                          .add("reason", "queue_full")
                          .add("pending_max", options.max_pending)
                          .add("deferred_since_last_log", defers_since_log)
                          .add("deferred_total", total.deferred)
                          .text("effect", "queued from the event history when the queue has room"));
      last_defer_log_ms = std::max<std::uint64_t>(now, 1);
      defers_since_log = 0;
    }
  }

  void enqueue(Run run) {
    if (pending.size() >= options.max_pending) {
      if (history == nullptr) {
        drop_oldest();
      } else if (run.attempt == 1) {
        defer(run);  // a first attempt is made again from the history, exactly
        arm();
        return;
      } else {
        // A retry keeps its attempt count: it takes the place of the newest first attempt,
        // or, if every pending run is a retry, of the oldest (which starts over from the
        // history at attempt 1).
        auto victim = std::find_if(pending.rbegin(), pending.rend(),
                                   [](const Run& r) { return r.attempt == 1; });
        if (victim != pending.rend()) {
          Run r = std::move(*victim);
          pending.erase(std::next(victim).base());
          defer(r);
        } else {
          drop_oldest();
        }
      }
    }
    if (history != nullptr) in_flight.insert({run.alert, run.event->seq});
    pending.push_back(std::move(run));
    arm();
  }

  void drop_oldest() {
    Run old = std::move(pending.front());
    pending.pop_front();
    count(old.alert, [](AlertCounters& c) { ++c.dropped; });
    if (history != nullptr) {
      in_flight.erase({old.alert, old.event->seq});
      backlog = true;  // still owed
    }
    ++drops_since_log;
    const std::uint64_t now = uv_now(loop);
    if (last_drop_log_ms == 0 || now - last_drop_log_ms >= kDropLogIntervalMs) {
      Event line(EventKind::kAlertDropped, EventLevel::kWarn);
      line.add("id", alerts[old.alert].id).add("seq", old.event->seq).add("kind", old.event->kind);
      line.add("attempt", old.attempt).add("reason", "queue_full");
      line.add("pending_max", options.max_pending).add("dropped_since_last_log", drops_since_log);
      line.add("dropped_total", total.dropped);
      last_drop_log_ms = std::max<std::uint64_t>(now, 1);
      drops_since_log = 0;
      if (history != nullptr) {
        notes.push_back(std::move(line));
      } else {
        emit_event(line);
      }
    }
  }

  bool refill_due() const {
    return history != nullptr && backlog && pending.size() <= options.max_pending / 2;
  }

  // Queues owed runs that are not in flight, oldest event first, until the queue is full.
  void refill() {
    backlog = false;
    for (std::size_t i = 0; i < alerts.size(); ++i) prune(i);
    std::vector<Key> owed;  // (alert, seq)
    for (std::size_t i = 0; i < alerts.size(); ++i) {
      for (const std::uint64_t seq : hook(i).owed) {
        if (!in_flight.contains({i, seq})) owed.emplace_back(i, seq);
      }
    }
    std::stable_sort(owed.begin(), owed.end(),
                     [](const Key& a, const Key& b) { return a.second < b.second; });
    std::shared_ptr<const LoggedEvent> event;
    for (const auto& [i, seq] : owed) {
      if (pending.size() >= options.max_pending) {
        backlog = true;
        break;
      }
      if (!event || event->seq != seq) {
        const LoggedEvent* e = find_event(seq);  // there: prune() kept it
        HACTL_ASSERT(e != nullptr);
        event = std::make_shared<const LoggedEvent>(*e);
      }
      count(i, [](AlertCounters& c) { ++c.redelivered; });
      in_flight.insert({i, seq});
      pending.push_back(Run{i, event, event_term(*event), 1, 0, seq <= start_seq});
    }
  }

  void log_notes() {
    // A line logged here reaches notify() and may hold back one more (rate-limited): the rest
    // waits for the next turn.
    for (int round = 0; round < 4 && !notes.empty() && !closed; ++round) {
      std::vector<Event> lines;
      lines.swap(notes);
      for (const Event& e : lines) emit_event(e);
    }
  }

  // Sets the timer for the next moment a pending run may start (or the runner has work of its
  // own: notes to log, owed runs to queue), or stops it.
  void arm() {
    if (closed || timer == nullptr) return;
    const std::uint64_t now = uv_now(loop);
    std::uint64_t due = UINT64_MAX;
    if (!notes.empty() || refill_due()) due = now;
    if (running < options.max_running) {
      for (const Run& r : pending) due = std::min(due, r.not_before_ms);
    }
    if (due == UINT64_MAX) {
      uv_timer_stop(timer);  // a finishing run or a new one arms again
      return;
    }
    uv_timer_start(
        timer, [](uv_timer_t* t) { static_cast<State*>(t->data)->dispatch(); },
        due > now ? due - now : 0, 0);
  }

  void dispatch() {
    if (closed) return;
    log_notes();
    if (refill_due()) refill();
    save();
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
    log_notes();
    arm();
  }

  void launch(Run run) {
    const AlertConfig& a = alerts[run.alert];
    ++running;
    count(run.alert, [](AlertCounters& c) { ++c.runs; });
    ProcessSpec spec;
    spec.program = a.path;
    spec.env = alert_environment(a, *run.event, run.term, run.attempt, options, run.redelivery);
    spec.timeout = a.timeout;
    spec.kill_grace = options.kill_grace;
    run_process(*spawner, spec,
                [weak = weak_from_this(), run = std::move(run)](const ProcessResult& r) mutable {
                  if (auto self = weak.lock()) self->finished(std::move(run), r);
                });
  }

  void finished(Run run, const ProcessResult& r) {
    HACTL_ASSERT(running > 0);
    --running;
    const AlertConfig& a = alerts[run.alert];
    const std::shared_ptr<const LoggedEvent> event = run.event;
    const LoggedEvent& e = *event;
    if (history != nullptr) in_flight.erase({run.alert, e.seq});
    if (r.ended == ProcessResult::Ended::kExited && r.exit_code == 0) {
      count(run.alert, [](AlertCounters& c) { ++c.succeeded; });
      done(run.alert, e.seq);
      save();
      emit_event(Event(EventKind::kAlertDone, EventLevel::kDebug)
                     .add("id", a.id)
                     .add("seq", e.seq)
                     .add("kind", e.kind)
                     .add("attempt", run.attempt)
                     .add("took_ms",
                          std::chrono::duration_cast<std::chrono::milliseconds>(r.took).count()));
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
      done(run.alert, e.seq);
      then = "give_up";
    } else if (closed) {
      count(run.alert, [](AlertCounters& c) { ++c.dropped; });
      // With a history it stays owed: the next runner runs it again.
      then = history != nullptr ? "none_closed redelivered=next_start" : "none_closed";
    } else {
      count(run.alert, [](AlertCounters& c) { ++c.retries; });
      then = "retry retry_in=" + format_duration(a.retry_delay);
    }
    save();
    // Logged before the retry is queued (a line logged here reaches notify() again).
    emit_event(
        Event(EventKind::kAlertFailed, EventLevel::kWarn)
            .add("id", a.id)
            .add("seq", e.seq)
            .add("kind", e.kind)
            .add("attempt", run.attempt)
            .add("of", a.retries + 1)
            .add("reason", reason)
            .add("took_ms", std::chrono::duration_cast<std::chrono::milliseconds>(r.took).count())
            .add("then", then)
            .text("output", log_text(r.output, kMaxLoggedOutput)));
    if (then.starts_with("retry") && !closed) {
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
    for (const Run& r : pending) {
      count(r.alert, [](AlertCounters& c) { ++c.dropped; });
      in_flight.erase({r.alert, r.event->seq});  // still owed: the next runner runs them
    }
    pending.clear();
    notes.clear();
    save();
    if (timer != nullptr) {
      uv_timer_stop(timer);
      uv_close(reinterpret_cast<uv_handle_t*>(timer),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer = nullptr;
    }
  }

  // With a history: takes the record over (or reads it), catches up with the history and
  // queues what is owed.
  void start_delivery() {
    start_seq = history->last_seq();
    ledger = std::move(options.ledger);  // held here only
    AlertLedger::Loaded loaded = AlertLedger::Loaded::kLoaded;
    if (!ledger) {
      ledger = std::make_shared<AlertLedger>(options.record_dir, options.record_interval);
      loaded = ledger->load();
    }
    orphans.resize(alerts.size());
    // Hooks no longer configured are forgotten (if one comes back, it starts afresh).
    std::erase_if(ledger->hooks, [&](const auto& kv) {
      return std::none_of(alerts.begin(), alerts.end(),
                          [&](const AlertConfig& a) { return a.id == kv.first; });
    });
    for (std::size_t i = 0; i < alerts.size(); ++i) {
      auto [it, added] = ledger->hooks.try_emplace(alerts[i].id);
      AlertLedger::Hook& h = it->second;
      if (added) {
        // A new hook starts with the events logged from now on; with a record that could not
        // be read, with every event of the history (bounded below).
        h.mark = loaded == AlertLedger::Loaded::kCorrupt ? 0 : start_seq;
        dirty = true;
      }
      if (h.mark > start_seq) {
        // The history lost its last lines (a power cut: they were not synced), and their
        // seqs will be given again: what the record says of them is void.
        h.mark = start_seq;
        std::erase_if(h.owed, [&](std::uint64_t seq) { return seq > start_seq; });
        dirty = true;
      }
      catch_up(i, start_seq);
      prune(i);
      if (h.owed.size() > options.max_redelivered) {
        Skips over;
        while (h.owed.size() > options.max_redelivered) {
          over.add(*h.owed.begin());
          h.owed.erase(h.owed.begin());
        }
        dirty = true;
        note_skips(i, over, "over_bound");
      }
      if (!h.owed.empty()) {
        backlog = true;
        notes.push_back(
            Event(EventKind::kAlertRedelivery)
                .add("id", alerts[i].id)
                .add("events", h.owed.size())
                .add("first_seq", *h.owed.begin())
                .add("last_seq", *h.owed.rbegin())
                .text("effect",
                      "run again (HACTL_ALERT_REDELIVERY=1): not done with when the last runner "
                      "stopped"));
      }
    }
    if (backlog) refill();
    save();
    arm();
  }
};

AlertRunner::AlertRunner(Spawner& spawner, std::vector<AlertConfig> alerts,
                         AlertRunnerOptions options)
    : state_(std::make_shared<State>()) {
  uv_loop_t* loop = spawner.loop();
  state_->spawner = &spawner;
  HACTL_ASSERT(options.max_running >= 1);
  HACTL_ASSERT(options.max_pending >= 1);
  for (const auto& a : alerts) HACTL_ASSERT(!a.id.empty() && a.path.starts_with('/'));
  state_->loop = loop;
  state_->per_alert.resize(alerts.size());
  state_->alerts = std::move(alerts);
  state_->history = options.history;
  state_->options = std::move(options);
  state_->timer = new uv_timer_t;
  uv_timer_init(loop, state_->timer);
  state_->timer->data = state_.get();
  if (state_->history != nullptr) state_->start_delivery();
}

AlertRunner::~AlertRunner() { close(); }

void AlertRunner::notify(const LoggedEvent& e, std::uint64_t term) {
  State& s = *state_;
  if (s.closed) return;
  std::shared_ptr<const LoggedEvent> event;
  for (std::size_t i = 0; i < s.alerts.size(); ++i) {
    if (s.history != nullptr) {
      AlertLedger::Hook& h = s.hook(i);
      if (e.seq <= h.mark) continue;  // looked at already (a refill, or a duplicate call)
      s.catch_up(i, e.seq - 1);       // events logged while nobody told this runner
      h.mark = e.seq;
      s.dirty = true;
      if (!alert_wants(s.alerts[i], e)) continue;
      h.owed.insert(e.seq);
      // Deferred runs wait in the history while the queue is busy; those that left it are
      // forgotten (and counted) now and then, so the record stays small.
      if (h.owed.size() > kPruneOwedAbove) s.prune(i);
    } else if (!alert_wants(s.alerts[i], e)) {
      continue;
    }
    if (!event) event = std::make_shared<const LoggedEvent>(e);
    s.enqueue(State::Run{i, event, term, 1, 0, false});
  }
  s.save();
  s.arm();
}

void AlertRunner::close() { state_->close(); }

AlertStats AlertRunner::stats() const {
  AlertStats out;
  out.total = state_->total;
  for (std::size_t i = 0; i < state_->alerts.size(); ++i)
    out.by_alert[state_->alerts[i].id] = state_->per_alert[i];
  out.running = state_->running;
  out.pending = state_->pending.size();
  out.backlog = state_->backlog;
  return out;
}

std::size_t AlertRunner::running() const { return state_->running; }
std::size_t AlertRunner::pending() const { return state_->pending.size(); }
std::shared_ptr<AlertLedger> AlertRunner::ledger() const { return state_->ledger; }

}  // namespace hactl
