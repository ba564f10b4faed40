// Typed events: what happened, as values. The pure core (coordinator/) and the agent's shell
// make them; the agent records them in its history, counts its metrics from them and hands them
// to the alert hooks, the availability figures and the reconcile watch, all by kind and typed
// field. The log line ("event=KIND key=value key=\"free text\" ...", docs/events.md) is formatted
// from an event last, for people and journal filters only: no code reads a log line back.
//
// Every kind the agent can record is in the one list below (its enum name and its wire name,
// which the log line, `hactl events`, the alert hooks' HACTL_EVENT_KIND and the configuration's
// alerts[].kinds use).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace hactl {

// clang-format off
#define HACTL_EVENT_KINDS(X)                                                                    \
  /* The election core (coordinator/node). */                                                   \
  X(kBecameFollower, "became_follower") X(kElectionStarted, "election_started")                 \
  X(kBecameCoordinator, "became_coordinator") X(kSteppedDown, "stepped_down")                   \
  X(kNodeUp, "node_up") X(kNodeDown, "node_down") X(kQuorumGained, "quorum_gained")             \
  X(kQuorumLost, "quorum_lost") X(kCoordinatorChanged, "coordinator_changed")                   \
  X(kNodeRestarted, "node_restarted") X(kLeaseReleased, "lease_released")                       \
  X(kLeaseReleaseEnded, "lease_release_ended") X(kHandover, "handover")                         \
  X(kArbiterReachable, "arbiter_reachable") X(kArbiterUnreachable, "arbiter_unreachable")       \
  X(kArbiterHeld, "arbiter_held") X(kArbiterRefused, "arbiter_refused")                         \
  /* Resources: the keeper, the conductor, the executor's results, availability. */             \
  X(kActionDone, "action_done") X(kActionFinished, "action_finished")                           \
  X(kActionLost, "action_lost") X(kActionOutput, "action_output")                               \
  X(kActionResult, "action_result") X(kCleanup, "cleanup") X(kConductorStarted,                 \
  "conductor_started") X(kConductorStopped, "conductor_stopped") X(kDispatch, "dispatch")       \
  X(kFlapHeld, "flap_held") X(kFlapHoldNotStored, "flap_hold_not_stored")                       \
  X(kFlapReleased, "flap_released") X(kLeaseBack, "lease_back") X(kLeaseLapsed, "lease_lapsed") \
  X(kLeaving, "leaving") X(kMaintenanceEnded, "maintenance_ended")                              \
  X(kMaintenanceStarted, "maintenance_started") X(kMonitorFailed, "monitor_failed")             \
  X(kOrphanAction, "orphan_action") X(kOrphanStop, "orphan_stop")                               \
  X(kReconciled, "reconciled") X(kRequestRefused, "request_refused")                            \
  X(kResourceDown, "resource_down") X(kResourceUp, "resource_up")                               \
  X(kResourcesGivenUp, "resources_given_up") X(kStopFailed, "stop_failed")                      \
  X(kHandoverImpossible, "handover_impossible")                                                 \
  /* VIPs: announcements and verification. */                                                   \
  X(kVipAnnounceFailed, "vip_announce_failed") X(kVipConflict, "vip_conflict")                  \
  X(kVipUnverified, "vip_unverified") X(kVipVerified, "vip_verified")                           \
  X(kVipGuardDeadline, "vip_guard_deadline")                                                    \
  /* Fencing. */                                                                                \
  X(kFenceAbandoned, "fence_abandoned") X(kFenceAssumed, "fence_assumed")                       \
  X(kFenceCancelled, "fence_cancelled") X(kFenceDelayed, "fence_delayed")                       \
  X(kFenceDelegated, "fence_delegated") X(kFenceDevice, "fence_device")                         \
  X(kFenceDeviceFailed, "fence_device_failed") X(kFenceFailed, "fence_failed")                  \
  X(kFenceIneffective, "fence_ineffective") X(kFenceLearned, "fence_learned")                   \
  X(kFenceResult, "fence_result") X(kFenceRun, "fence_run") X(kFenceStarted, "fence_started")   \
  X(kFenceSucceeded, "fence_succeeded") X(kSplitHealed, "split_healed")                         \
  X(kWaitForAllDone, "wait_for_all_done") X(kWaitForAllSkipped, "wait_for_all_skipped")         \
  X(kWaitForAllUnblocked, "wait_for_all_unblocked")                                             \
  /* The cluster document and the configuration. */                                             \
  X(kConfigApplied, "config_applied") X(kConfigFromCluster, "config_from_cluster")              \
  X(kConfigMismatch, "config_mismatch") X(kConfigRefused, "config_refused")                     \
  X(kDocCommitted, "doc_committed") X(kDocStored, "doc_stored")                                 \
  X(kDocumentLoaded, "document_loaded") X(kDocumentUnreadable, "document_unreadable")           \
  X(kStoredDocumentIgnored, "stored_document_ignored") X(kReload, "reload")                     \
  X(kReloadDone, "reload_done") X(kReloadFailed, "reload_failed")                               \
  X(kReloadRefused, "reload_refused") X(kReloadStarted, "reload_started")                       \
  X(kSequenceStarted, "sequence_started") X(kSequenceEnded, "sequence_ended")                   \
  X(kSequenceStepRefused, "sequence_step_refused")                                              \
  /* Operators: the control socket and the HTTP listener. */                                    \
  X(kControlClientDropped, "control_client_dropped") X(kControlRefused, "control_refused")      \
  X(kControlRequestFailed, "control_request_failed") X(kControlWrite, "control_write")          \
  X(kHttpAcceptFailed, "http_accept_failed") X(kHttpConnectionTimeout,                          \
  "http_connection_timeout") X(kHttpListening, "http_listening") X(kHttpRefused, "http_refused") \
  X(kHttpRenderFailed, "http_render_failed") X(kMetricsUnavailable, "metrics_unavailable")      \
  /* Alert hooks and the event history. */                                                      \
  X(kAlertDeferred, "alert_deferred") X(kAlertDone, "alert_done")                               \
  X(kAlertDropped, "alert_dropped") X(kAlertFailed, "alert_failed")                             \
  X(kAlertRecordUnreadable, "alert_record_unreadable")                                          \
  X(kAlertRecordWriteFailed, "alert_record_write_failed")                                       \
  X(kAlertRecordWriteRecovered, "alert_record_write_recovered")                                 \
  X(kAlertRedelivery, "alert_redelivery") X(kAlertSkipped, "alert_skipped")                     \
  X(kAuditLogUnavailable, "audit_log_unavailable") X(kEventLogUnavailable,                      \
  "event_log_unavailable") X(kEventLogWriteFailed, "event_log_write_failed")                    \
  X(kEventLogWriteRecovered, "event_log_write_recovered")                                       \
  /* The agent's own life. */                                                                   \
  X(kAgentStarted, "agent_started") X(kAgentStopped, "agent_stopped")                           \
  X(kAgentStopping, "agent_stopping") X(kDatagramDropped, "datagram_dropped")                   \
  X(kGuardNotTold, "guard_not_told") X(kGuardExits, "guard_exits")                              \
  X(kGuardReloadFailed, "guard_reload_failed") X(kGuardStopped, "guard_stopped")                \
  X(kGuardStopsResources, "guard_stops_resources") X(kLeaseFileUnwritable,                      \
  "lease_file_unwritable") X(kLoopMonitorUnavailable, "loop_monitor_unavailable")               \
  X(kLoopStalled, "loop_stalled")                               \
  X(kPairedMarkUnwritable, "paired_mark_unwritable") X(kPersistFailed, "persist_failed")        \
  X(kPreviousLeaseFound, "previous_lease_found") X(kRealtime, "realtime")                       \
  X(kRealtimeUnavailable, "realtime_unavailable") X(kShutdownTimeout, "shutdown_timeout")       \
  X(kSignal, "signal") X(kStartFailed, "start_failed")
// clang-format on

enum class EventKind : std::uint16_t {
#define HACTL_EVENT_KIND_ENUM(name, text) name,
  HACTL_EVENT_KINDS(HACTL_EVENT_KIND_ENUM)
#undef HACTL_EVENT_KIND_ENUM
};

// The wire name ("node_down").
std::string_view to_string(EventKind kind);
// The kind with that wire name, if any.
std::optional<EventKind> event_kind_named(std::string_view name);
// Every wire name, in the list's order (for did-you-mean and the docs).
std::span<const std::string_view> event_kind_names();

// A warning or worse is what `hactl events` and the history mark "level": "warning".
enum class EventLevel : std::uint8_t { kDebug, kInfo, kWarn, kError, kCritical };

using EventValue = std::variant<std::string, std::int64_t, bool>;

struct EventField {
  std::string key;
  EventValue value;
  bool quoted = false;  // free text: in quotes in the log line even without a space

  bool operator==(const EventField&) const = default;
};

struct Event {
  EventKind kind;
  EventLevel level = EventLevel::kInfo;
  std::vector<EventField> fields;  // in the order the log line shows them

  explicit Event(EventKind k, EventLevel l = EventLevel::kInfo) : kind(k), level(l) {}

  // A value: quoted in the log line only when it needs to be (a space, a quote, '=' or empty).
  Event& add(std::string key, std::string value) {
    fields.push_back({std::move(key), std::move(value), false});
    return *this;
  }
  Event& add(std::string key, const char* value) { return add(std::move(key), std::string(value)); }
  Event& add(std::string key, std::string_view value) {
    return add(std::move(key), std::string(value));
  }
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
           !std::is_same_v<T, char>) Event& add(std::string key, T value) {
    fields.push_back({std::move(key), static_cast<std::int64_t>(value), false});
    return *this;
  }
  Event& add(std::string key, bool value) {
    fields.push_back({std::move(key), value, false});
    return *this;
  }
  // Free text (an error, a reason, an effect): always in quotes in the log line.
  Event& text(std::string key, std::string value) {
    fields.push_back({std::move(key), std::move(value), true});
    return *this;
  }
  Event& add_if(bool present, std::string key, std::string value) {
    return present ? add(std::move(key), std::move(value)) : *this;
  }

  // The first field with that key.
  const EventValue* find(std::string_view key) const;
  // Its text ("" if absent; a number in decimal, a flag as true/false).
  std::string str(std::string_view key) const;
  // Its number, if it is one.
  std::optional<std::int64_t> integer(std::string_view key) const;
  // Its flag, if it is one.
  std::optional<bool> flag(std::string_view key) const;
  bool warning() const { return level >= EventLevel::kWarn; }

  bool operator==(const Event&) const = default;
};

// A value as the log line and the history show it: decimal, true/false, or the text itself.
std::string to_string(const EventValue& value);

// The log line, for people: "event=KIND key=value key=\"free text\" ...". A value in quotes has
// its backslashes, quotes and line breaks escaped (\\, \", \n).
std::string format_event(const Event& e);

// The fields as the history keeps them (strings, docs/events.md): a key that repeats gets
// "_2", "_3", ...; a warning or worse adds "level": "warning".
std::map<std::string, std::string> history_fields(const Event& e);

}  // namespace hactl
