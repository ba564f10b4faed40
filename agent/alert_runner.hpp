// Alert hooks: the executables of the config's `alerts:` list, run on the agent's events with the
// event in their environment (Pacemaker's alert agents, keepalived's notify scripts). Every run
// goes through the process runner (resources/process_runner.hpp), so the loop never waits on a
// hook: a hook gets its own process group, /dev/null as stdin, a clean environment and its
// timeout, after which its whole group gets SIGTERM and, kill_grace later, SIGKILL.
//
// Environment of a hook, and nothing else (nothing is inherited from the agent's environment,
// so secrets the agent was started with never reach a hook; a hook sets what it needs itself):
//   PATH                 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
//   HACTL_ALERT_ID       the hook's id          HACTL_ALERT_ATTEMPT  1, then 2, ... on retries
//   HACTL_ALERT_REDELIVERY  1 if the event was logged before this runner started (an earlier
//                        agent may have run the hook for it already), else 0
//   HACTL_EVENT_KIND     e.g. node_down         HACTL_EVENT_SEQ      the event's sequence number
//   HACTL_EVENT_TIME     RFC 3339, UTC, us      HACTL_EVENT_TIME_US  unix microseconds
//   HACTL_TERM           the election term      HACTL_NODE / HACTL_CLUSTER  this node, cluster
//   HACTL_FIELD_<KEY>    each event field; KEY upper-cased, other than A-Z 0-9 _ made '_' (when
//                        two keys give one name, the first key in sorted order wins)
//
// Bounded everywhere: at most max_running hooks at once; runs waiting for a slot or for their
// retry delay are pending, at most max_pending of them; when a new run would exceed that, it is
// deferred to the history (below), or without a history the oldest pending run is dropped
// (counted, logged at most once a second). A run that exits
// non-zero, is killed by a signal, times out or cannot be started is logged (event=alert_failed)
// and counted, and tried again retry_delay later, at most `retries` more times. Hooks run in
// the order their runs were queued but concurrently, so a hook must not rely on finishing in
// event order: HACTL_EVENT_SEQ orders events.
//
// At least once per event (with a history, as the agent runs it): what each hook is done with
// (run successfully, given up on after its last retry, or skipped) is recorded in an
// AlertLedger kept next to the event history, and a runner queues, when it starts, every event
// of the history a hook wants and is not done with: runs that were pending, waiting for a retry
// or running when the previous agent (or runner) stopped or crashed. When the pending queue is
// full a new first attempt is deferred, not dropped (a retry takes the place of the newest
// first attempt, which is deferred): it is queued from the history once the queue has drained
// to half. Redelivered runs start again at attempt 1. Bounds: events older than max_age are not run
// from the history, at most max_redelivered per hook are queued again when a runner starts (the
// oldest are skipped), and an event that left the history (its last memory_events) before its turn
// is skipped; each skip is logged (event=alert_skipped) and counted. docs/alerts.md states the
// guarantee.
//
// A hook with no `kinds` is not run on the runner's own events (alert_*), and no hook is run
// on an alert_* event about itself: a failing hook would otherwise feed itself forever.
//
// Everything runs on the loop's thread. notify() only queues (it never forks, so it is safe to
// call from EventLog's listener); runs start from a timer on a later turn of the loop, and the
// runner's own log lines (events themselves) are never logged while it walks the history.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/alert_ledger.hpp"
#include "agent/event_log.hpp"
#include "common/config.hpp"
#include "resources/process_runner.hpp"

namespace hactl {

// One line, quotable in a key="value" log: the last `max_tail` bytes of `s`, newlines and
// quotes escaped (a hook's or a fence agent's output).
std::string log_text(std::string_view s, std::size_t max_tail);

struct AlertRunnerOptions {
  std::string node{};     // HACTL_NODE
  std::string cluster{};  // HACTL_CLUSTER
  std::size_t max_running = 4;
  std::size_t max_pending = 256;
  Duration kill_grace = std::chrono::seconds{5};  // after the timeout's SIGTERM, SIGKILL

  // At-least-once delivery. Without a history (nullptr) runs live in memory only: a run
  // dropped (queue full, close()) or lost with the process is never run again.
  const EventLog* history = nullptr;  // must outlive the runner
  // Where the delivery record is kept (AlertLedger::kFile in it); empty: in memory only.
  std::string record_dir{};
  // A previous runner's record (AlertRunner::ledger(), on a configuration change): taken over
  // instead of reading record_dir.
  std::shared_ptr<AlertLedger> ledger{};
  std::size_t max_redelivered = 256;          // per hook, queued again at start
  Duration max_age = std::chrono::hours{24};  // older events are not run from the history
  Duration record_interval = std::chrono::milliseconds{200};  // writes of the record, at most
};

struct AlertCounters {
  std::uint64_t runs = 0;       // attempts started (first attempts and retries)
  std::uint64_t succeeded = 0;  // attempts that exited 0
  std::uint64_t failures = 0;   // attempts that did not (including timeouts)
  std::uint64_t timeouts = 0;   // attempts killed for outliving their timeout
  std::uint64_t retries = 0;    // retries scheduled after a failed attempt
  std::uint64_t gave_up = 0;    // runs whose last allowed attempt failed
  std::uint64_t dropped = 0;    // pending runs dropped: queue full (oldest first) or close()
  // With a history: runs not queued for a full queue, queued from the history later.
  std::uint64_t deferred = 0;
  std::uint64_t redelivered = 0;  // runs queued from the history (after a restart or deferral)
  // Events a hook wanted but is not run for: older than max_age, over max_redelivered at start,
  // or gone from the history before their turn (for these, at most this many).
  std::uint64_t skipped = 0;
  bool operator==(const AlertCounters&) const = default;
};

struct AlertStats {
  AlertCounters total;
  std::map<std::string, AlertCounters> by_alert;  // every configured id, even if never run
  std::size_t running = 0;                        // hooks running now
  std::size_t pending = 0;                        // runs waiting for a slot or a retry delay
  bool backlog = false;  // deferred or not yet queued runs wait in the history
};

class AlertRunner {
 public:
  // `alerts` as validated by parse_config (ids unique, paths absolute). max_running and
  // max_pending must be at least 1.
  // Hooks are started through `spawner`, on its loop.
  AlertRunner(Spawner& spawner, std::vector<AlertConfig> alerts, AlertRunnerOptions options);
  AlertRunner(const AlertRunner&) = delete;
  AlertRunner& operator=(const AlertRunner&) = delete;
  ~AlertRunner();  // close()

  // Queues one run of every hook whose kinds match e.kind (with a history: that is not done
  // with e nor already has a run for it; deferred if the queue is full). Never blocks, never
  // forks; ignored after close().
  void notify(const LoggedEvent& e, std::uint64_t term);

  // Stops the timer and drops pending runs (counted as dropped). Hooks already running are
  // not waited for and cannot be abandoned: the process runner still ends each one (at most its
  // timeout plus kill_grace), so the loop stays alive until then; their results are counted and
  // logged while this object exists, never retried. Destroying the runner right after close()
  // is safe. Idempotent.
  void close();

  AlertStats stats() const;
  std::size_t running() const;
  std::size_t pending() const;
  // The delivery record (null without a history), for the next runner to take over.
  std::shared_ptr<AlertLedger> ledger() const;

  struct State;  // shared with the process runner's callbacks

 private:
  std::shared_ptr<State> state_;
};

// "HACTL_FIELD_" + key upper-cased, every character other than A-Z 0-9 _ replaced by '_'.
std::string alert_field_variable(std::string_view key);

// The whole environment of one attempt ("NAME=value" strings), as described above.
std::vector<std::string> alert_environment(const AlertConfig& alert, const LoggedEvent& e,
                                           std::uint64_t term, int attempt,
                                           const AlertRunnerOptions& options,
                                           bool redelivery = false);

// Whether `alert` is run on `e`: its kinds (none: every kind but the runner's own alert_*),
// and never an alert_* event about itself (field id).
bool alert_wants(const AlertConfig& alert, const LoggedEvent& e);

// The term an event was logged in: its "term" field (the agent adds it), else 0.
std::uint64_t event_term(const LoggedEvent& e);

}  // namespace hactl
