// hactl-agent's shell around the pure core: owns the libuv loop's handles (UDP transport, one
// timer, control socket), feeds the core its inputs with the monotonic time, and carries out
// what the core returns (persist the hard state, then send, then log). Holds no cluster logic.
#pragma once

#include <uv.h>

#include <deque>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "agent/alert_runner.hpp"
#include "agent/control_server.hpp"
#include "agent/doc_store.hpp"
#include "agent/doc_writer.hpp"
#include "agent/event_bus.hpp"
#include "agent/event_log.hpp"
#include "agent/http_server.hpp"
#include "agent/lease_file.hpp"
#include "agent/loop_monitor.hpp"
#include "agent/reconcile_watch.hpp"
#include "agent/request_worker.hpp"
#include "agent/state_store.hpp"
#include "agent/transport.hpp"
#include "common/cluster_doc.hpp"
#include "coordinator/intents.hpp"
#include "coordinator/runtime.hpp"
#include "resources/executor.hpp"
#include "resources/host_facts.hpp"
#include "resources/vip_check.hpp"

namespace hactl {

class MetricsText;

class RandomRng final : public Rng {
 public:
  RandomRng() : gen_(std::random_device{}()) {}
  std::uint64_t next() override { return gen_(); }

 private:
  std::mt19937_64 gen_;
};

struct AgentOptions {
  ClusterConfig config;
  std::string config_path;  // the file `config` was read from, and its text
  std::string config_text;
  NodeId self;
  ClusterKey key;
  std::string state_dir;
  std::string socket_path;
  // Where the end of this agent's lease is kept for the next agent of this boot (tmpfs).
  std::string lease_file = "/run/hactl/lease";
  // two_node: exists once an agent of this boot ran with its peer (RuntimeOptions).
  std::string paired_file = "/run/hactl/paired";
  std::string lock_file = "/run/hactl/agent.lock";  // one agent per host
  // hactl's Pacemaker commands, for the resource agents it runs (OcfContext::tools_dir).
  std::string tools_dir = kDefaultToolsDir;
  // > 0: the guard runs SCHED_RR at this priority (main() puts the loop thread there).
  int realtime_priority = 0;
  // This host, for the host check of a configuration submitted here (config-check,
  // config-apply, reload): made and used on the request worker, never on the loop.
  std::function<std::unique_ptr<HostFacts>()> host_facts = [] {
    return std::make_unique<SystemHostFacts>();
  };
};

// Wall-clock seconds (when intents expire, when a configuration was applied), and a document
// version as operators see it ("3.14") (agent_doc.cpp).
std::int64_t unix_now();
std::string show(DocVersion v);

class Agent {
 public:
  Agent(uv_loop_t* loop, AgentOptions options);
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Loads the persisted state, binds the sockets and starts the timer.
  std::expected<void, std::string> start();
  // Closes every handle so the loop can end.
  void stop();
  // SIGTERM: give this node's resources up (stop them here, and the coordinator places them
  // elsewhere at once), then stop(); in maintenance, or on a second call, stop() at once.
  // `stopped` runs once the agent has stopped.
  void shutdown(std::function<void()> stopped);
  // SIGHUP: re-read the configuration file and apply it to the cluster as `hactl config apply`
  // does (refused, and logged, if it is invalid or changes nodes or timing; what it drops or
  // redefines while it runs is stopped first, by the coordinator: coordinator/intents.hpp).
  void reload();
  // True once the agent stopped on an error it cannot go on from (its state not persisted).
  bool failed() const { return fatal_; }

 private:
  Instant now() const;
  void on_message(const Envelope& env);
  void on_timer();
  void process();  // advances the runtime and carries out what it returns
  void arm_timer();
  // Events of the runtime, logged and recorded (emit_event) with this node's name.
  void emit_election_event(const ElectionEvent& e) const;
  void emit_own(Event e) const;  // node=<this node> last, as the runtime leaves it to the shell
  void carry_out_resources(RuntimeOutput& out);  // calls, monitors, fences, checks, guard
  void tell_guard_deadline(std::optional<Instant> vip_deadline);
  // The configuration the resources run on (the runtime's, once it runs).
  const ClusterConfig& config() const { return rt_ ? rt_->config() : options_.config; }
  const ElectionCore& core() const { return rt_->node(); }
  const ResourceHost& host() const { return *rt_->resource_host(); }
  const ClusterDoc& doc() const { return rt_->doc(); }
  const ClusterConfig& base() const { return rt_->base(); }
  std::optional<Instant> open_lease_file();
  void mark_paired();  // two_node: once wait_for_all is over, in paired_file
  void keep_lease_end(std::optional<Instant> end);
  void on_op_result(const OpResult& r);
  // Runs one fence agent (FenceOp) and hands its outcome to the fencer.
  void run_fence(const FenceOp& op);
  // Forgets failures; a resource flap damping holds is released (the document changes first).
  void cleanup(const nlohmann::json& request, ControlServer::Reply reply);
  nlohmann::json handover(const nlohmann::json& request);
  nlohmann::json unblock();
  // A coordinator that leaves (stops, restarts, goes into standby) or is asked to hands its role
  // to another voter first (ElectionCore::hand_over), so there is no election gap. Returns the node
  // asked to take over, if any.
  std::optional<NodeId> hand_over_role(std::optional<NodeId> target);
  void handle_request(const ControlRequest& parsed, const PeerCredentials& cred,
                      ControlServer::Reply reply);
  nlohmann::json status() const;
  // Every event this agent emits on its loop (agent/event_bus.hpp) is recorded: kept in the
  // event history and counted, by its typed values (agent_events.cpp).
  void start_events();
  void record_event(const Event& e);
  // A reason for a failure, if `e` tells one (failures_json): kept by (resource, node).
  void remember_failure(const Event& e);
  nlohmann::json events_json(const nlohmann::json& request) const;
  // Failures that count, cluster-wide, with the reason when this node saw it (its own actions
  // and monitors, and as coordinator the answers to what it dispatched).
  nlohmann::json failures_json(const ClusterState& state, Instant now) const;

  // The cluster document (agent_doc.cpp).
  // The document this node starts from: the stored one, or one made of the file.
  std::expected<StoredDoc, std::string> initial_doc();
  void doc_loaded(const StoredDoc& initial);
  void carry_out_docs(RuntimeOutput& out);  // stored, outcomes to clients
  // The doc writer's word: `version` is on disk (told to the runtime), or the store failed.
  void doc_stored(DocVersion version, const std::expected<void, std::string>& result);
  // A new configuration was taken up: a new executor, the guard told, orphans stopped.
  void reconfigured(const Reconfiguration& r);
  // Writes the applied configuration off the loop, then tells the guard to read it.
  void tell_guard_definitions();
  void guard_file_written(const std::string& path, const std::expected<void, std::string>& result);
  // prim_index_ and an executor over config().resources, told of the guard.
  void open_executor();
  OcfContext ocf_context() const;  // for the executor and the guard
  void propose(const ClusterDoc& next, ControlServer::Reply reply, nlohmann::json ok_answer);
  void handle_doc_request(ControlVerb verb, const nlohmann::json& request,
                          const PeerCredentials& cred, ControlServer::Reply reply);
  void config_show(const nlohmann::json& request, ControlServer::Reply reply);
  void attribute(ControlVerb verb, const nlohmann::json& request, ControlServer::Reply reply);
  void config_history(ControlServer::Reply reply);
  void answer_intent(const IntentResult& r, ControlServer::Reply reply,
                     nlohmann::json answer = nlohmann::json::object());
  nlohmann::json doc_json() const;
  // Off the loop, on the request worker (agent_offload.cpp).
  struct ApplyRequest {
    std::string by;                     // who, from which file
    std::uint64_t checked_version = 0;  // the configuration version it was checked against
    nlohmann::json enable;              // resources to enable with it
    nlohmann::json timeout;             // timeout_s: for what it stops first
  };
  void submit_off_loop(std::function<void()> work, std::function<void()> done,
                       ControlServer::Reply reply);
  void off_loop(ControlServer::Reply reply, std::function<nlohmann::json()> work);
  // A configuration the runtime asks to have parsed (a new document's, a proposal's): on
  // parse_worker_, the result back to the runtime on the loop.
  void parse_off_loop(ParseRequest request);
  void simulate_off_loop(const nlohmann::json& request, ControlServer::Reply reply);
  // `hactl explain`: the cluster as this node knows it now, explained (coordinator/explain.hpp).
  void explain_off_loop(const nlohmann::json& request, ControlServer::Reply reply);
  void config_check_off_loop(ControlVerb cmd, const nlohmann::json& request,
                             const PeerCredentials& cred, ControlServer::Reply reply);
  // `status`: answered with the next status built (at most one per kStatusEvery).
  void answer_status(ControlServer::Reply reply);
  void flush_status();
  static constexpr Duration kStatusEvery = std::chrono::milliseconds{100};
  std::vector<ControlServer::Reply> status_waiting_;
  Instant last_status_{};
  std::uint64_t status_built_ = 0;     // hactl_status_built_total
  std::uint64_t status_answered_ = 0;  // hactl_status_answered_total
  void finish_apply(const ApplyRequest& a, const std::string& text,
                    std::vector<std::string> removed, bool same, nlohmann::json answer,
                    ControlServer::Reply reply);
  // The cluster-wide host check of a submitted configuration (coordinator/host_checks.hpp):
  // asks the reachable peers, and calls `then` on the loop with every node's report but this
  // one's (a peer not reachable, or silent until kHostCheckTimeout, with why). False (and
  // `then` never called) when kMaxHostCheckRounds are under way.
  using HostChecksDone = std::function<void(std::vector<NodeReport>)>;
  bool gather_host_checks(std::string text, HostChecksDone then);
  // A peer's ask: this host's check of its text, on the request worker.
  void host_check_off_loop(HostCheckAsk ask);
  void host_checks_done(std::vector<HostCheckRound> rounds);
  std::string caller(const PeerCredentials& cred) const;
  bool may_write(const PeerCredentials& cred) const;
  bool may_read(const PeerCredentials& cred) const;

  uv_loop_t* loop_;
  AgentOptions options_;
  StateStore store_;
  PersistentState persisted_;
  RandomRng rng_;
  std::unique_ptr<NodeRuntime> rt_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<ControlServer> control_;
  ResourceGuard guard_;
  std::optional<std::int64_t> guard_deadline_;  // as last told to the guard
  LeaseFile lease_file_;
  bool paired_marked_ = false;  // paired_file written (or found)
  int lock_fd_ = -1;
  Spawner spawner_;  // before every executor and the alert runner: they start processes with it
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<VipChecker> vip_checker_;  // checks of peers' vips (Announcer)
  // Heavy control requests, off the loop (agent_offload.cpp): at most this many at once, each
  // answered within the deadline (hactl waits 15 s).
  static constexpr std::size_t kWorkerCapacity = 4;
  static constexpr Duration kWorkerDeadline = std::chrono::seconds{10};
  std::unique_ptr<RequestWorker> worker_;
  // Its own thread, so that no burst of requests delays the cluster's configuration; the
  // runtime asks for at most NodeRuntime::kMaxParsing parses at once.
  static constexpr Duration kParseDeadline = std::chrono::seconds{30};
  std::unique_ptr<RequestWorker> parse_worker_;
  // Peers' host checks of a configuration before it is applied; then the verdict (the CLI waits
  // up to 40 s for config-check and config-apply: a check and the verdict, 10 s each at most).
  static constexpr Duration kHostCheckTimeout = std::chrono::seconds{8};
  static constexpr std::size_t kMaxHostCheckRounds = 2;  // at once; more are refused (busy)
  std::map<std::uint64_t, HostChecksDone> host_check_waiters_;
  // Tells the resource host this node's MAC on the interfaces of its vips (all, or `only`'s).
  void tell_macs(std::optional<std::size_t> only = std::nullopt);
  std::map<std::string, std::size_t> prim_index_;
  DocStore doc_store_;
  std::unique_ptr<DocWriter> doc_writer_;       // doc_store_'s saves, off the loop
  std::unique_ptr<RequestWorker> file_writer_;  // the guard's configuration file
  bool guard_file_writing_ = false;
  bool guard_file_again_ = false;  // a newer configuration to write once this one is
  std::map<std::uint64_t, std::pair<ControlServer::Reply, nlohmann::json>> waiting_;
  struct UntilHere {
    DocVersion version;  // committed; this node may not hold it yet
    Instant until;
    ControlServer::Reply reply;
    nlohmann::json answer;
  };
  std::vector<UntilHere> until_here_;
  static constexpr Duration kHoldUntilHereFor = std::chrono::seconds{2};
  void answer_held_until_here();
  std::vector<std::unique_ptr<Executor>> retired_executors_;
  // Executors over an earlier configuration, stopping what a new one dropped (see
  // rebuild_resources); the configuration first, so it outlives its executor.
  std::vector<std::pair<std::unique_ptr<ResourceConfig>, std::unique_ptr<Executor>>> orphans_;
  std::uint64_t executor_generation_ = 0;
  bool guard_maintenance_ = false;  // as last told to the guard
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<EventLog> audit_;  // writes and refused writes only (agent_events.cpp)
  RefusalLog refused_writes_{limits::kRefusalLogWindow};  // by caller
  // The loop's busy time per iteration (hactl_loop_busy_seconds); long ones logged, rate-limited.
  std::unique_ptr<LoopMonitor> loop_monitor_;
  RefusalLog stalls_{limits::kRefusalLogWindow};
  std::map<EventKind, std::uint64_t> event_counts_;  // since this agent started
  // The latest failure reason seen here for each (resource, node), from the events (and the
  // history kept, at start).
  using FailureKey = std::pair<std::string, std::string>;  // (resource, node)
  struct FailureReason {
    std::string text;
    std::uint64_t seq = 0;  // when it was last set (failure_order_)
  };
  std::map<FailureKey, FailureReason> failure_reasons_;
  std::map<std::uint64_t, FailureKey> failure_order_;  // by seq: the least recently set first
  std::uint64_t failure_seq_ = 0;
  static constexpr std::size_t kFailureReasonsKept = 10'000;
  void set_failure_reason(FailureKey key, std::string text);
  // Availability accounting (coordinator/availability.hpp): the runtime's resource_up /
  // resource_down changes are logged, and kept (from the history too) for the figures.
  std::deque<AvailabilityChange> availability_log_;  // bounded, oldest first
  void log_availability(const AvailabilityChange& c) const;
  void remember_availability(const Event& e, std::int64_t time_us);
  // The figures over the last 24 hours (status --json, explain, metrics).
  std::vector<AvailabilityStats> availability_stats() const;
  nlohmann::json availability_json(const std::vector<std::string>& only = {}) const;
  std::unique_ptr<AlertRunner> alerts_;
  void start_alerts();
  // Emits a reconciled event once per term this node coordinates (agent/reconcile_watch.hpp).
  ReconcileWatch reconciled_;
  // Metrics (agent_metrics.cpp).
  std::string metrics_text() const;
  // Its sections (each appends its families to `m`).
  void metrics_membership(MetricsText& m, const NodeStatus& st, Instant t) const;
  void metrics_loop(MetricsText& m) const;
  void metrics_peers(MetricsText& m, const NodeStatus& st, Instant t) const;
  void metrics_resources(MetricsText& m, Instant t) const;
  void metrics_history(MetricsText& m) const;
  void count_heartbeat(NodeId from, Instant t);
  std::unique_ptr<HttpServer> metrics_;
  struct ActionStats {
    std::uint64_t ok = 0, failed = 0;
    double seconds = 0;
  };
  std::map<std::pair<std::string, std::string>, ActionStats> action_stats_;
  std::vector<std::optional<Instant>> last_beat_;  // by NodeId: the last heartbeat received
  std::vector<std::uint64_t> missed_beats_;        // by NodeId
  uv_timer_t timer_{};
  bool timer_open_ = false;
  // Datagrams read in one turn of the loop are stepped one by one and advanced once, after the
  // last (a burst of heartbeats is handled in one go, not once per datagram).
  uv_check_t advance_check_{};
  bool stepped_ = false;  // stepped since the last advance
  bool fatal_ = false;
  std::function<void()> on_stopped_;
  std::optional<Instant> shutdown_deadline_;  // giving resources up until then at the latest
  std::optional<Instant> linger_until_;       // given up: the last reports are on their way
  // systemd (Type=notify): READY=1 once started, WATCHDOG=1 every half WatchdogSec from the
  // loop (a hung or stopped loop stops it, and systemd restarts the agent), STOPPING=1.
  std::optional<Duration> watchdog_every_;
  Instant last_watchdog_{};
  void notify_watchdog(Instant t);
  // STATUS= for `systemctl status`: this node's role, term and quorum, sent when it changes.
  void notify_status(Instant t);
  struct NotifiedStatus {
    Role role;
    std::optional<NodeId> coordinator;
    Term term;
    bool quorum;
    bool operator==(const NotifiedStatus&) const = default;
  };
  std::optional<NotifiedStatus> notified_status_;
  void check_shutdown();
};

}  // namespace hactl
