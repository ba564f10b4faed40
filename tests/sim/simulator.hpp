// Deterministic whole-cluster simulation (FoundationDB / TigerBeetle VOPR style): N node
// runtimes (coordinator/runtime.hpp, the very core hactl-agent drives; this is their other
// shell) on a simulated network and simulated drifting clocks, with crashes, restarts, pauses,
// partitions (symmetric and one-way), loss, duplication, reordering and delay, all drawn from one
// seed. After every event the checker verifies the safety invariants; after the faults heal it
// verifies that a coordinator is agreed on within a stated bound.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "coordinator/arbiter.hpp"
#include "coordinator/runtime.hpp"

namespace hactl::sim {

using RealTime = std::int64_t;  // microseconds of simulated real time

struct SimOptions {
  std::size_t nodes = 3;
  // By node: how long the agent's writer thread takes to store a document (its fsyncs); empty
  // or 0: at once. What waits for the store (acknowledgements, votes with that version) waits.
  std::vector<RealTime> store_delay;
  std::size_t witnesses = 0;  // the last `witnesses` nodes are witnesses
  // An arbiter (coordinator/arbiter.hpp, as hactl-arbiter runs it) listed after the nodes: it
  // has a clock, can crash, restart and be cut off like a node, and keeps its votes on its disk.
  bool arbiter = false;
  bool unsafe_arbiter = false;  // it backs every node that asks: the checker must notice
  TimingConfig timing;
  bool unsafe_lease = false;  // break the lease rule on purpose: the checker must notice
  RealTime fault_phase = 3'000'000;
  // After healing, a coordinator all nodes agree on must appear within this bound.
  RealTime liveness_bound = 2'000'000;
  long max_drift_ppm = 4'000;  // within limits::kMaxClockDriftPpm
  RealTime max_delay = 1'000;  // initial network delay bound

  // Resources (the `resources:`, `groups:`, `clones:` part of a cluster file). With them, every
  // node runs its keeper and conductor over a simulated executor and a simulated world (what
  // really runs on each host), and the checker adds: a vip or a non-clone primitive is never
  // active on two hosts at once (an action in progress counts as active), a promotable clone
  // never has more than promoted_max instances promoted; after the heal, every resource that
  // can run is running. A host crash stops everything on it; an agent crash leaves what runs,
  // its guard removes the vips at once and stops the rest at the lease deadline + restart grace
  // unless a new agent runs by then; a stopped agent's guard removes the vips at its deadline
  // and stops the rest at the deadline + grace if the agent is still stopped. Agents are
  // restarted (by their supervisor) within `agent_restart_within`.
  std::string resources_yaml;
  RealTime agent_restart_within = 1'000'000;
  RealTime max_pause = 1'500'000;  // an agent stopped (SIGSTOP) for 50 ms + up to this
  RealTime resources_settle_bound = 15'000'000;
  // A vip removal (the stop, and the guard's, which is the same netlink call) that leaves the
  // address in place while reporting success: the checker must see two holders.
  bool broken_vip_stop = false;
  // Fencing: one power device (action reboot) for every node that runs resources. A fence op
  // takes 20 ms to 1.5 s and fails one time in four; one that succeeds crashes the target host
  // (everything on it stops) and boots it again 0.5 to 3 s later.
  bool fencing = false;
  // With fencing and 2 nodes, no witness: `two_node: true`, a device per node, the one that
  // fences n1 with a 1 s delay (n1 wins a fence race).
  bool two_node = false;
  // A fence device that reports success and cuts nothing: with two_node, the checker must see
  // two holders (a stand-in that still runs).
  bool ineffective_fencing = false;
  // With two_node and no fencing: `last_resort: unsafe_take_over`. Two holders of a resource
  // (or promoted instances past promoted_max) are counted (SimResult::two_holders), not a failure:
  // the policy runs both sides of a cut link. After the heal, everything must still settle on one
  // host.
  bool last_resort = false;
  // A pause freezes the whole host, its guard and its resource agents too (a VM paused, a
  // kernel stalled): only fencing can then take a vip from it. Without fencing the checker
  // must see two holders.
  bool host_freeze = false;

  // The cluster document (coordinator/doc_replica): every node runs a replica that stores what
  // it is sent on its simulated disk before acknowledging, and random nodes propose changes
  // (each the content it holds plus a new token) through the faults. The checker adds: two
  // stored documents with one version are identical; every coordinator holding a lease holds
  // every change reported committed (as a prefix of its content); after the heal, every node
  // converges on one document within `documents_settle_bound`.
  bool documents = false;
  RealTime documents_settle_bound = 5'000'000;
  // Break the election restriction on purpose (voters ignore the document): the checker must
  // notice a committed change lost.
  bool unsafe_votes = false;

  // Faults hit only the coordinator, one at a time: its host crashes, its agent crashes, its
  // agent is stopped (SIGSTOP) for up to 3 s, or its links are cut; each is healed after a
  // while and the cluster settles before the next. The checker adds: no resource active on
  // another node is stopped, demoted or taken away by a guard from the fault until the cluster
  // has settled after the heal (those nodes stayed connected to a majority: a change of
  // coordinator alone must not cost them anything).
  bool coordinator_faults = false;
  int coordinator_fault_rounds = 3;

  // Keep every trace line (not only the last few hundred) for take_journal(): transcripts.
  bool journal = false;
};

struct SimResult {
  bool ok = true;
  std::string failure;         // what broke, with the seed and the recent trace
  RealTime recovery_time = 0;  // heal -> agreed coordinator
  std::size_t elections = 0;
  std::size_t messages = 0;
  std::size_t actions = 0;             // resource actions run (start, stop, promote, demote)
  std::size_t failovers = 0;           // starts of a resource on a node other than its last
  std::size_t coordinator_faults = 0;  // faults on the coordinator (SimOptions)
  std::size_t proposals = 0;           // document changes proposed
  std::size_t committed = 0;           // ... reported committed to their proposer
  std::size_t two_holders = 0;         // checks that saw a resource on two hosts (last_resort)
};

// The seeds of a test's run of schedules. HACTL_SIM_SEED=<seed> replays one schedule per shape,
// all with that seed; otherwise `count_var` (default `fallback`) schedules, shared out among the
// shapes, numbered from a base seed: `fixed_base` unless HACTL_SIM_RANDOM is set, then one
// drawn from the clock. The base is printed so any schedule can be replayed.
struct SeedPlan {
  std::uint64_t replay = 0;
  std::uint64_t total = 0;
  std::uint64_t base = 0;
  std::uint64_t next = 0;
  std::uint64_t count(std::size_t share_of_ten) const {
    return replay != 0 ? 1 : total * share_of_ten / 10;
  }
  std::uint64_t seed() { return replay != 0 ? replay : base + next++; }
};
SeedPlan plan_seeds(const char* what, const char* count_var, std::uint64_t fallback,
                    std::uint64_t fixed_base);

class Simulation {
 public:
  Simulation(const SimOptions& options, std::uint64_t seed);
  ~Simulation();
  SimResult run();

  // Manual control, for scenario tests that script the faults instead of drawing them.
  void start_all();
  void run_for(RealTime duration);  // checks safety after every event
  void crash(std::size_t i) { crash_node(i); }
  // The arbiter's place (SimOptions::arbiter): crash(), restart(), isolate() and block() take it.
  std::optional<std::size_t> arbiter_index() const;
  void crash_agent(std::size_t i);  // the host and what it runs live on
  void restart(std::size_t i) { start_node(i); }
  void isolate(std::size_t i);
  void block(std::size_t from, std::size_t to);
  void heal_network();
  // Every datagram from now on takes `base` + up to `spread` (+ 50 us) of real time.
  void set_delay(RealTime base, RealTime spread);
  // Datagrams to or from place i take `one_way` more (an arbiter across a WAN).
  void set_place_delay(std::size_t i, RealTime one_way);
  void pause(std::size_t i, RealTime duration);
  // Delivers `m` to place `to` now, as a datagram of place `from`'s current incarnation, past
  // any loss or blocking: a scenario asks a node something itself (a vote) and reads the answer
  // it sends through observe().
  void inject(std::size_t from, std::size_t to, Message m);
  // ElectionCore i hands the coordinator role over (ElectionCore::hand_over) to `target` or its
  // choice; a follower asks its coordinator to.
  void hand_over(std::size_t i, std::optional<std::size_t> target = std::nullopt);
  // ElectionCore i proposes `next` as the cluster document (SimOptions::documents): an operator's
  // verb there. Its outcome shows in the document the nodes then hold. From now on, node i's stores
  // take `delay` (SimOptions::store_delay).
  void set_store_delay(std::size_t i, RealTime delay) {
    options_.store_delay.resize(std::max(options_.store_delay.size(), i + 1), 0);
    options_.store_delay[i] = delay;
  }
  void propose(std::size_t i, const ClusterDoc& next);
  const ElectionCore* node(std::size_t i) const;
  const ResourceHost* host(std::size_t i) const;
  const NodeRuntime* runtime(std::size_t i) const;  // null while its agent is down
  Membership membership(std::size_t i) const;
  // What really runs on host i (the world, not what any agent believes).
  ResourceRole actual(std::size_t i, std::size_t primitive) const;
  // The arbiter's voter (SimOptions::arbiter), null while it is down.
  const ArbiterVoter* arbiter() const;
  Instant local_now(std::size_t i) const { return local_time(i, now_); }
  std::int64_t unix_us(std::size_t i) const;  // place i's wall clock, as its runtime reads it
  RealTime now() const { return now_; }
  const SimResult& result() const { return result_; }
  std::optional<NodeId> agreed() const;  // the coordinator every node agrees on, if any
  // Trace lines since the last call ("[12.3ms] n1 became_coordinator term=1"), with
  // SimOptions::journal.
  std::vector<std::string> take_journal() { return std::exchange(journal_, {}); }
  // Called with every datagram a node sends (before loss or blocking decide its fate).
  using Observer = std::function<void(RealTime, NodeId from, NodeId to, const Message&)>;
  void observe(Observer observer) { observer_ = std::move(observer); }

 private:
  struct SimNode;
  struct InFlight {
    RealTime deliver_at;
    std::uint64_t order;  // tie-break, keeps the queue deterministic
    NodeId from;
    NodeId to;
    std::uint64_t epoch;  // the sender's incarnation
    Message message;
    bool operator>(const InFlight& o) const {
      return deliver_at != o.deliver_at ? deliver_at > o.deliver_at : order > o.order;
    }
  };

  // the clock of node i at real time t, and back
  Instant local_time(std::size_t i, RealTime t) const;
  RealTime real_time_for(std::size_t i, Instant local) const;

  void start_node(std::size_t i);
  void crash_node(std::size_t i);
  // The shell around node i's runtime: advance it and carry out its outputs.
  void drain(std::size_t i);
  std::optional<DocVersion> drain_once(std::size_t i);  // the version it stored, if any
  void carry_out_docs(std::size_t i, const RuntimeOutput& out);
  void carry_out_resources(std::size_t i, RuntimeOutput& out);
  void submit_call(std::size_t i, const KeeperCall& c);
  void transmit(NodeId from, NodeId to, Message m);
  void finish_call(std::size_t i, std::size_t k);
  bool next_parse(RealTime& next, std::size_t& node) const;
  void finish_parse(std::size_t i);
  bool next_store(RealTime& next, std::size_t& node) const;
  void finish_store(std::size_t i);
  RealTime store_delay(std::size_t i) const {
    return i < options_.store_delay.size() ? options_.store_delay[i] : 0;
  }
  void poll_monitors(std::size_t i);
  void enforce_guard(std::size_t i);
  void guard_stops(std::size_t i, std::vector<bool>& held, const char* why);
  RealTime grace_real() const;
  void fail_resource(std::size_t i, std::size_t prim);
  bool check_resources();
  std::string coordinator_view(std::size_t k) const;
  bool check_resources_settled(std::string& why) const;
  void deliver(const InFlight& f);
  void receive(const InFlight& f);
  void tick_node(std::size_t i);
  bool advance_to_next_event(RealTime limit);

  void inject_random_fault();
  void heal_all();
  bool agreed_coordinator() const;
  bool has_resources() const { return !config_.resources.primitives.empty(); }
  bool alive(std::size_t i) const;  // an agent runs there (or the arbiter does)
  bool is_arbiter(std::size_t i) const { return config_.nodes[i].arbiter; }
  void receive_at_arbiter(const InFlight& f);

  void propose_random(bool allow_bad = true);
  bool check_documents();
  bool documents_converged() const;

  bool check_safety();
  bool check_releases();
  // Coordinator faults (SimOptions::coordinator_faults).
  void run_coordinator_faults();
  bool settle(RealTime bound, const char* after);
  void fault_coordinator(std::size_t c);
  void disrupted(std::size_t i, std::size_t k, const std::string& how);
  void fail(const std::string& what);
  void trace(const std::string& line);

  SimOptions options_;
  std::uint64_t seed_;
  std::mt19937_64 rng_;
  ClusterConfig config_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> network_;
  std::uint64_t order_ = 0;
  RealTime now_ = 0;

  // network faults
  std::vector<std::vector<bool>> blocked_;  // blocked_[from][to]
  struct Fence {
    RealTime done_at = 0;
    std::size_t by = 0;
    std::uint64_t by_epoch = 0;  // the agent that asked; another one does not hear the result
    FenceOp op;
    bool ok = true;
    bool applied = false;  // the device did its work; only the result is still to be heard
  };
  std::vector<Fence> fences_;  // fence operations running
  void finish_fence(std::size_t k);
  double loss_ = 0;
  double duplicate_ = 0;
  RealTime max_delay_ = 1'000;
  RealTime base_delay_ = 0;
  std::vector<RealTime> place_delay_;  // by place, see set_place_delay
  Observer observer_;

  std::map<std::uint64_t, std::uint16_t> coordinator_of_term_;
  std::optional<std::size_t> faulted_;  // coordinator_faults: the node hit, while it matters
  std::vector<std::vector<ResourceRole>> ran_at_fault_;  // by node, by primitive
  std::vector<std::optional<std::size_t>> last_host_;    // by primitive: where it last started
  std::vector<bool> is_vip_, in_clone_;                  // by primitive
  std::vector<bool>
      stops_;  // by primitive: taken away when the lease lapses (stops_without_quorum)
  std::vector<std::size_t> promoted_max_;              // by primitive: 0 unless promotable
  StoredDoc first_doc_;                                // every node's document at first
  std::map<DocVersion, std::string> stored_versions_;  // every version stored anywhere
  std::vector<std::string> committed_docs_;  // config_by of the changes reported committed
  std::map<std::pair<std::size_t, std::uint64_t>, std::string> proposed_;  // (node, id) -> content
  std::uint64_t next_token_ = 1;
  std::deque<std::string> trace_;
  std::vector<std::string> journal_;
  SimResult result_;
};

}  // namespace hactl::sim
