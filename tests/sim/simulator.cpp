#include "sim/simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace hactl::sim {
namespace {

constexpr RealTime kMaxTickGap = 10'000;  // ticks at least every 10 ms of real time
// An agent's incarnations: far apart, so proposal ids (which start from it) never repeat.
constexpr std::uint64_t kEpochStep = 1'000'000;
// Each node's wall clock: its local clock from a date in 2027 (intents' expiry).
constexpr std::int64_t kUnixEpochOffset = 1'800'000'000'000'000;
constexpr std::size_t kTraceLines = 300;

class SimRng final : public Rng {
 public:
  explicit SimRng(std::uint64_t seed) : gen_(seed) {}
  std::uint64_t next() override { return gen_(); }

 private:
  std::mt19937_64 gen_;
};

std::string ms(RealTime t) {
  std::ostringstream s;
  s << t / 1000 << "." << (t % 1000) / 100 << "ms";
  return s.str();
}

}  // namespace

struct Simulation::SimNode {
  struct Call {
    std::uint64_t id = 0;
    std::size_t index = 0;
    std::string action;
    RealTime done_at = 0;
    std::uint64_t epoch = 0;  // the agent incarnation that asked; a later one does not hear it
  };
  long drift_ppm = 0;
  RealTime clock_offset = 0;  // local microseconds at real time 0
  HardState disk;             // what survives a crash
  std::unique_ptr<SimRng> rng;
  std::unique_ptr<NodeRuntime> rt;    // the agent's core; null while crashed
  std::unique_ptr<ArbiterVoter> arb;  // the arbiter's voter (SimOptions::arbiter); null while down
  ArbiterHardState arb_disk;          // what it persisted
  RealTime paused_until = 0;
  RealTime next_tick = 0;
  std::vector<InFlight> held;  // arrived while paused, delivered on resume in order
  // resources
  std::uint64_t epoch = 0;           // the agent's incarnation
  std::vector<Call> calls;           // running on the host
  std::vector<ResourceRole> actual;  // what really runs, by primitive
  std::vector<bool> guarded;         // vips the guard was told of (held after a start, released
                                     // after a stop that succeeded)
  std::vector<bool> monitoring;      // recurring monitor on
  std::vector<int> monitor_code;     // last monitor result reported
  std::vector<std::pair<std::uint64_t, int>> held_results;  // finished while paused
  std::optional<RealTime> guard_deadline;                   // vips removed by the guard then
  std::optional<RealTime> restart_at;                       // agent crashed, supervisor restarts
  std::vector<std::uint64_t> heard_epoch;                   // by sender, as the transport keeps
  std::optional<Instant> lease_end;  // the agent's lease file in /run: survives an agent crash
  // The guard's other half: OCF/exec resources that may run here, stopped by the guard at the
  // lease deadline + restart_grace if the agent is stopped by then (live guard), or dead with
  // no new agent (the dead agent's guard, "orphan").
  std::vector<bool> res_held;
  std::optional<RealTime> res_check_at;
  std::optional<Instant> res_deadline;  // the deadline res_check_at was computed from
  std::vector<bool> orphan_held;
  std::optional<RealTime> orphan_at;
  RealTime paused_since = 0;
  StoredDoc doc_disk;  // the cluster document, as stored: survives a crash
  struct Parse {       // a configuration the agent's worker thread parses
    ParseRequest request;
    RealTime done_at = 0;
  };
  std::vector<Parse> parses;  // die with the agent
  struct Store {              // a document the agent's writer thread stores (store_delay)
    StoredDoc doc;
    RealTime done_at = 0;
  };
  std::vector<Store> stores;  // die with the agent: what was not stored is not on disk
};

namespace {

int ocf_code(ResourceRole r) {
  switch (r) {
    case ResourceRole::kStopped:
      return 7;
    case ResourceRole::kStarted:
      return 0;
    case ResourceRole::kPromoted:
      return 8;
  }
  return 7;
}

std::string resource_config_yaml(const SimOptions& o) {
  std::string y = "cluster:\n  name: sim\n  auth_key_file: /etc/hactl/authkey\n" +
                  std::string("  heartbeat_interval: ") +
                  format_duration(o.timing.heartbeat_interval) +
                  "\n  node_timeout: " + format_duration(o.timing.node_timeout) +
                  (o.two_node ? "\n  two_node: true" : "") +
                  (o.last_resort ? "\n  last_resort: unsafe_take_over" : "") + "\nnodes:\n";
  for (std::size_t i = 0; i < o.nodes; ++i) {
    y += "  - {name: n" + std::to_string(i + 1) + ", address: \"10.213.0." +
         std::to_string(11 + i) + ":5405\"" +
         (i >= o.nodes - o.witnesses ? ", witness: true}\n" : "}\n");
  }
  if (o.arbiter) y += "arbiter: {address: \"10.213.9.1:5406\"}\n";
  y += o.resources_yaml;
  if (o.fencing && o.two_node) {
    y += "fencing:\n  devices:\n"
         "    - {id: power-n1, agent: /bin/true, action: reboot, nodes: [n1], delay: 1s}\n"
         "    - {id: power-n2, agent: /bin/true, action: reboot, nodes: [n2]}\n";
  } else if (o.fencing) {
    y += "fencing:\n  devices:\n    - id: power\n      agent: /bin/true\n      action: reboot\n"
         "      nodes: [";
    for (std::size_t i = 0; i < o.nodes - o.witnesses; ++i) {
      y += (i ? ", n" : "n") + std::to_string(i + 1);
    }
    y += "]\n";
  }
  return y;
}

}  // namespace

Simulation::Simulation(const SimOptions& options, std::uint64_t seed)
    : options_(options), seed_(seed), rng_(seed) {
  const std::string yaml = resource_config_yaml(options);
  if (!options.resources_yaml.empty() || options.documents) {
    // From a cluster file, as an agent reads one: the document's configuration is its text.
    auto loaded = parse_config(yaml, "sim.yaml");
    if (!loaded) throw std::runtime_error("sim: bad configuration: " + loaded.error()[0].message);
    config_ = loaded->config;
  } else {
    // The election alone: the same nodes, built directly (tens of thousands of schedules
    // would otherwise spend most of their time in the YAML parser, under the sanitizers).
    config_.name = "sim";
    for (std::size_t i = 0; i < options.nodes; ++i) {
      NodeConfig n;
      n.name = "n" + std::to_string(i + 1);
      n.address = NodeAddress{"10.213.0." + std::to_string(11 + i), 5405};
      n.witness = i >= options.nodes - options.witnesses;
      config_.nodes.push_back(n);
    }
    if (options.arbiter) {
      NodeConfig a;
      a.name = "arbiter";
      a.address = NodeAddress{"10.213.9.1", 5406};
      a.witness = true;
      a.arbiter = true;
      config_.nodes.push_back(a);
    }
    config_.timing = options.timing;
  }
  if (config_.timing.heartbeat_interval != options.timing.heartbeat_interval ||
      config_.timing.node_timeout != options.timing.node_timeout) {
    throw std::runtime_error("sim: the timing does not survive the cluster file");
  }
  ClusterDoc first;
  first.config_version = 1;
  first.config_text = yaml;
  first.config_by = "v0";  // the proposals' tokens are appended here
  first_doc_ = StoredDoc{DocVersion{}, doc_to_bytes(first)};
  const auto& prims = config_.resources.primitives;
  last_host_.assign(prims.size(), std::nullopt);
  is_vip_.assign(prims.size(), false);
  in_clone_.assign(prims.size(), false);
  promoted_max_.assign(prims.size(), 0);
  for (std::size_t k = 0; k < prims.size(); ++k) {
    is_vip_[k] = prims[k].cls == ResourceClass::kVip;
    // As the real guard: what is kept without quorum (on_quorum_loss freeze) is never taken
    // away at the lease deadline (a vip still goes when the agent dies).
    stops_.push_back(stops_without_quorum(prims[k], config_.no_quorum_policy));
    if (const CloneConfig* c = config_.resources.clone_of(prims[k].id)) {
      in_clone_[k] = true;
      if (c->promotable) promoted_max_[k] = static_cast<std::size_t>(c->promoted_max);
    }
  }
  max_delay_ = options.max_delay;
  const std::size_t places = config_.nodes.size();
  blocked_.assign(places, std::vector<bool>(places, false));
  for (std::size_t i = 0; i < places; ++i) {
    auto n = std::make_unique<SimNode>();
    const auto span = static_cast<std::uint64_t>(2 * options.max_drift_ppm + 1);
    n->drift_ppm = static_cast<long>(rng_() % span) - options.max_drift_ppm;
    n->clock_offset = static_cast<RealTime>(rng_() % 1'000'000'000);
    n->actual.assign(prims.size(), ResourceRole::kStopped);
    n->monitoring.assign(prims.size(), false);
    n->guarded.assign(prims.size(), false);
    n->res_held.assign(prims.size(), false);
    n->orphan_held.assign(prims.size(), false);
    n->monitor_code.assign(prims.size(), 7);
    n->doc_disk = first_doc_;
    nodes_.push_back(std::move(n));
  }
}

Simulation::~Simulation() = default;

Instant Simulation::local_time(std::size_t i, RealTime t) const {
  const SimNode& n = *nodes_[i];
  return Instant{Duration{n.clock_offset + t + t * n.drift_ppm / 1'000'000}};
}

RealTime Simulation::real_time_for(std::size_t i, Instant local) const {
  const SimNode& n = *nodes_[i];
  const RealTime l = local.time_since_epoch().count() - n.clock_offset;
  RealTime t = l * 1'000'000 / (1'000'000 + n.drift_ppm);
  while (local_time(i, t) < local) ++t;
  return t;
}

std::optional<std::size_t> Simulation::arbiter_index() const {
  const auto a = config_.arbiter();
  return a ? std::optional<std::size_t>{a->value} : std::nullopt;
}

bool Simulation::alive(std::size_t i) const { return nodes_[i]->rt || nodes_[i]->arb; }

void Simulation::start_node(std::size_t i) {
  SimNode& n = *nodes_[i];
  if (is_arbiter(i)) {
    n.epoch += kEpochStep;
    n.arb = std::make_unique<ArbiterVoter>(
        options_.unsafe_arbiter
            ? ArbiterVoter::unsafe_sharing_for_tests(n.arb_disk, local_time(i, now_))
            : ArbiterVoter(n.arb_disk, local_time(i, now_)));
    trace("start arbiter term=" + std::to_string(n.arb_disk.term.value));
    return;
  }
  n.rng = std::make_unique<SimRng>(rng_());
  n.paused_until = 0;
  n.next_tick = now_;
  n.restart_at.reset();
  n.epoch += kEpochStep;
  n.heard_epoch.assign(nodes_.size(), 0);
  if (has_resources()) {
    std::fill(n.monitoring.begin(), n.monitoring.end(), false);
    n.held_results.clear();
    n.guard_deadline.reset();
    std::fill(n.res_held.begin(), n.res_held.end(), false);  // the new guard learns by probes
    n.res_check_at.reset();
    n.res_deadline.reset();
  }
  RuntimeOptions ro;
  ro.self = NodeId{static_cast<std::uint16_t>(i)};
  ro.timing = options_.unsafe_lease ? make_unsafe_timing_for_tests(options_.timing)
                                    : make_timing(options_.timing);
  ro.hard = n.disk;
  ro.incarnation = n.epoch;
  ro.previous_lease_end = n.lease_end;
  ro.resources = has_resources();
  if (options_.documents) ro.document = n.doc_disk;
  ro.doc_resend =
      std::max<Duration>(5 * options_.timing.heartbeat_interval, std::chrono::milliseconds(100));
  ro.unsafe_votes = options_.unsafe_votes;
  n.rt = std::make_unique<NodeRuntime>(config_, std::move(ro), *n.rng, local_time(i, now_));
  trace("start " + config_.nodes[i].name + " term=" + std::to_string(n.disk.term.value));
}

void Simulation::crash_node(std::size_t i) {
  SimNode& n = *nodes_[i];
  if (is_arbiter(i)) {
    n.arb.reset();
    n.held.clear();
    trace("crash arbiter");
    return;
  }
  n.rt.reset();  // its proposals die with it
  std::erase_if(proposed_, [&](const auto& e) { return e.first.first == i; });
  n.held.clear();
  n.parses.clear();
  n.stores.clear();
  n.paused_until = 0;
  n.restart_at.reset();
  // The whole host is gone: nothing runs there any more.
  n.calls.clear();
  std::fill(n.actual.begin(), n.actual.end(), ResourceRole::kStopped);
  std::fill(n.guarded.begin(), n.guarded.end(), false);
  n.guard_deadline.reset();
  n.lease_end.reset();  // /run is emptied at boot
  std::fill(n.res_held.begin(), n.res_held.end(), false);
  std::fill(n.orphan_held.begin(), n.orphan_held.end(), false);
  n.res_check_at.reset();
  n.orphan_at.reset();
  trace("crash " + config_.nodes[i].name);
}

void Simulation::crash_agent(std::size_t i) {
  SimNode& n = *nodes_[i];
  if (!n.rt) return;
  n.rt.reset();
  std::erase_if(proposed_, [&](const auto& e) { return e.first.first == i; });
  n.held.clear();
  n.parses.clear();
  n.stores.clear();
  n.paused_until = 0;
  // Its resource agents' processes run on (and finish unheard), but a vip's netlink call was
  // the agent's own; the guard reads EOF and removes every vip.
  std::erase_if(n.calls, [&](const SimNode::Call& c) { return is_vip_[c.index]; });
  for (std::size_t k = 0; k < n.actual.size(); ++k) {
    if (n.guarded[k] && !options_.broken_vip_stop) n.actual[k] = ResourceRole::kStopped;
    n.guarded[k] = false;
  }
  // Its guard lives on with the non-vip resources it was told of, until the deadline + grace.
  if (n.guard_deadline) {
    n.orphan_held = n.res_held;
    n.orphan_at = std::max(now_, *n.guard_deadline) + grace_real();
  }
  std::fill(n.res_held.begin(), n.res_held.end(), false);
  n.res_check_at.reset();
  n.guard_deadline.reset();
  n.restart_at =
      now_ + 1 +
      static_cast<RealTime>(rng_() % static_cast<std::uint64_t>(options_.agent_restart_within));
  trace("crash agent " + config_.nodes[i].name + ", restart at " + ms(*n.restart_at));
}

// What the agent's shell does with the runtime's resource outputs, on the simulated host.
void Simulation::carry_out_resources(std::size_t i, RuntimeOutput& out) {
  SimNode& n = *nodes_[i];
  if (out.lease_end) n.lease_end = out.lease_end;
  for (const auto& e : out.host_log) {
    trace(config_.nodes[i].name + " " + format_event(e));
    // Every device here cuts the power when it says so, unless told to lie.
    if (e.kind == EventKind::kFenceIneffective && !options_.ineffective_fencing)
      fail(config_.nodes[i].name + " says a fence did not stop its target, and it did");
  }
  for (const auto& [index, on] : out.monitors) {
    // As the executor: the first result after a monitor is switched on is always reported.
    n.monitoring[index] = on;
    n.monitor_code[index] = -1;
  }
  for (const FenceOp& op : out.fence_ops) {
    const RealTime took = 20'000 + static_cast<RealTime>(rng_() % 1'480'000);
    fences_.push_back(Fence{now_ + took, i, n.epoch, op, rng_() % 4 != 0});
    trace(config_.nodes[i].name + " fences " + config_.nodes[op.target.value].name + " with " +
          op.device + " " + op.action + " (op " + std::to_string(op.id) + ", " +
          (fences_.back().ok ? "succeeds" : "fails") + " at " + ms(fences_.back().done_at) + ")");
  }
  for (const KeeperCall& c : out.calls) submit_call(i, c);
  const auto d = out.vip_deadline;
  if (d) {
    n.guard_deadline = *d == Instant{} ? now_ : std::max(now_, real_time_for(i, *d));
  } else {
    n.guard_deadline.reset();
  }
  if (d != n.res_deadline) {
    n.res_deadline = d;
    n.res_check_at = d ? std::optional{*n.guard_deadline + grace_real()} : std::nullopt;
  }
  enforce_guard(i);
}

void Simulation::submit_call(std::size_t i, const KeeperCall& c) {
  SimNode& n = *nodes_[i];
  if ((c.action == "stop" || c.action == "demote") && n.actual[c.index] != ResourceRole::kStopped)
    disrupted(i, c.index, "its agent asks for a " + c.action);
  const RealTime took = is_vip_[c.index]        ? 100 + static_cast<RealTime>(rng_() % 1900)
                        : c.action == "monitor" ? 500 + static_cast<RealTime>(rng_() % 5000)
                                                : 1000 + static_cast<RealTime>(rng_() % 40'000);
  // As the executor: one action at a time per resource (its lane), in order.
  RealTime begin = now_;
  for (const auto& q : n.calls) {
    if (q.index == c.index) begin = std::max(begin, q.done_at);
  }
  n.calls.push_back({c.call_id, c.index, c.action, begin + took, n.epoch});
  if (!is_vip_[c.index] && stops_[c.index] && (c.action == "start" || c.action == "promote")) {
    n.res_held[c.index] = true;  // as the executor: from the moment it begins
  }
}

RealTime Simulation::grace_real() const { return restart_grace(options_.timing).count(); }

void Simulation::guard_stops(std::size_t i, std::vector<bool>& held, const char* why) {
  SimNode& n = *nodes_[i];
  for (std::size_t k = 0; k < held.size(); ++k) {
    if (!held[k]) continue;
    held[k] = false;
    if (n.actual[k] != ResourceRole::kStopped)
      disrupted(i, k, std::string("its guard stops it: ") + why);
    const RealTime took = 1000 + static_cast<RealTime>(rng_() % 40'000);
    n.calls.push_back({0, k, "stop", now_ + took, 0});  // nobody hears it
    trace("guard of " + config_.nodes[i].name + " (" + why + ") stops " +
          config_.resources.primitives[k].id);
  }
}

void Simulation::finish_fence(std::size_t k) {
  const Fence f = fences_[k];
  fences_.erase(fences_.begin() + static_cast<std::ptrdiff_t>(k));
  const std::size_t target = f.op.target.value;
  if (f.applied) {
    // Heard late: the asking agent was stopped when the device finished.
  } else if (f.ok && f.op.action != "on" && options_.ineffective_fencing) {
    trace("fence: " + f.op.device + " says it cut " + config_.nodes[target].name + ", and did not");
  } else if (f.ok && f.op.action != "on") {
    // The device cut the power: everything on the host stops; "reboot" brings it back.
    crash_node(target);
    trace("fence: " + config_.nodes[target].name + " powered off by " + f.op.device);
    if (f.op.action == "reboot") {
      nodes_[target]->restart_at = now_ + 500'000 + static_cast<RealTime>(rng_() % 2'500'000);
    }
  } else if (!f.ok && !f.applied) {
    trace("fence: " + f.op.device + " failed on " + config_.nodes[target].name);
  }
  SimNode& by = *nodes_[f.by];
  if (!by.rt || by.epoch != f.by_epoch) return;  // the agent that asked is gone
  if (by.paused_until > now_) {                  // it hears the result when it runs again
    Fence later = f;
    later.done_at = by.paused_until;
    later.applied = true;
    fences_.push_back(later);
    return;
  }
  by.rt->on_fence_done(f.op.id, f.ok, f.ok ? "exit 0" : "exit 1", local_time(f.by, now_));
  by.next_tick = now_;
}

void Simulation::enforce_guard(std::size_t i) {
  SimNode& n = *nodes_[i];
  if (!n.guard_deadline || *n.guard_deadline > now_) return;
  if (options_.host_freeze && n.paused_until > now_) return;
  for (std::size_t k = 0; k < n.actual.size(); ++k) {
    if (n.guarded[k] && stops_[k]) {
      n.guarded[k] = false;
      disrupted(i, k, "its vip guard removes it at the lease deadline");
      if (!options_.broken_vip_stop) n.actual[k] = ResourceRole::kStopped;
      trace("vip guard of " + config_.nodes[i].name + " removes " +
            config_.resources.primitives[k].id);
    }
  }
}

void Simulation::finish_call(std::size_t i, std::size_t k) {
  SimNode& n = *nodes_[i];
  const SimNode::Call c = n.calls[k];
  n.calls.erase(n.calls.begin() + static_cast<std::ptrdiff_t>(k));
  ResourceRole& role = n.actual[c.index];
  if (c.action != "monitor") ++result_.actions;
  if (c.action == "start") {
    if (!in_clone_[c.index] && last_host_[c.index] && *last_host_[c.index] != i) {
      ++result_.failovers;
    }
    last_host_[c.index] = i;
    role = ResourceRole::kStarted;
  }
  int code = c.action == "monitor" ? ocf_code(role) : 0;
  if (c.action == "stop") {
    if (role == ResourceRole::kPromoted && c.epoch != 0) {
      code = 8;  // as Stateful: a promoted instance is not stopped (the guard demotes first)
    } else if (!(is_vip_[c.index] && options_.broken_vip_stop)) {
      role = ResourceRole::kStopped;
    }
  }
  // As a real agent: an instance that is not running cannot be promoted or demoted.
  if ((c.action == "promote" || c.action == "demote") && role == ResourceRole::kStopped) {
    code = 7;
  } else if (c.action == "promote") {
    role = ResourceRole::kPromoted;
  } else if (c.action == "demote") {
    role = ResourceRole::kStarted;
  }
  n.monitor_code[c.index] = -1;  // as the executor: after an action, the next monitor is news
  if (!is_vip_[c.index] && stops_[c.index] && c.epoch != 0) {
    if ((c.action == "monitor" && code != 7) || c.action == "start" || c.action == "promote") {
      n.res_held[c.index] = true;
    }
    if ((c.action == "monitor" && code == 7) || (c.action == "stop" && code == 0)) {
      n.res_held[c.index] = false;
    }
  }
  if (is_vip_[c.index]) {
    // The executor holds a vip with the guard when a start or a probe finds it, and releases
    // it when a stop succeeds; a guard past its deadline removes it at once.
    if (c.action == "stop") n.guarded[c.index] = false;
    if (c.action == "start" || (c.action == "monitor" && code == 0)) n.guarded[c.index] = true;
    enforce_guard(i);
  }
  if (!n.rt || c.epoch != n.epoch) return;  // nobody hears it
  if (n.paused_until > now_) {
    n.held_results.emplace_back(c.id, code);
    return;
  }
  n.rt->on_call_done(c.id, code, true, local_time(i, now_));
  drain(i);
}

void Simulation::poll_monitors(std::size_t i) {
  SimNode& n = *nodes_[i];
  if (!n.rt || !has_resources()) return;
  bool any = false;
  for (std::size_t k = 0; k < n.actual.size(); ++k) {
    if (!n.monitoring[k]) continue;
    const bool busy = std::any_of(n.calls.begin(), n.calls.end(),
                                  [&](const SimNode::Call& c) { return c.index == k; });
    const int code = ocf_code(n.actual[k]);
    if (busy || code == n.monitor_code[k]) continue;
    n.monitor_code[k] = code;
    n.rt->on_monitor(k, code, local_time(i, now_));
    any = true;
  }
  if (any) drain(i);
}

void Simulation::fail_resource(std::size_t i, std::size_t prim) {
  SimNode& n = *nodes_[i];
  if (n.actual[prim] == ResourceRole::kStopped) return;
  n.actual[prim] = ResourceRole::kStopped;
  trace(config_.resources.primitives[prim].id + " fails on " + config_.nodes[i].name);
}

// The agent's shell: advance the runtime, then carry out what it returns in its order. A
// document stored is on "disk" at once: the runtime hears so, and what waited for it (its
// acknowledgements) leaves in another round at the same instant.
void Simulation::drain(std::size_t i) {
  // A round stores again only after a re-stamp or an adoption it unblocked: a few rounds do.
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    const auto stored = drain_once(i);
    if (!stored) return;
    if (store_delay(i) > 0) return;  // finish_store tells the runtime, later
    nodes_[i]->rt->on_doc_stored(*stored, local_time(i, now_));
  }
}

std::optional<DocVersion> Simulation::drain_once(std::size_t i) {
  SimNode& n = *nodes_[i];
  const Instant local = local_time(i, now_);
  const bool idle = std::none_of(n.calls.begin(), n.calls.end(),
                                 [&](const SimNode::Call& c) { return c.epoch == n.epoch; });
  RuntimeOutput out = n.rt->advance(local, unix_us(i), idle);
  if (out.hard_state) n.disk = *out.hard_state;  // "fsync" before the messages leave
  carry_out_docs(i, out);
  if (out.reconfigured) trace(config_.nodes[i].name + " takes up a new configuration");
  for (auto& [to, m] : out.messages) {
    transmit(NodeId{static_cast<std::uint16_t>(i)}, to, std::move(m));
  }
  for (const auto& e : out.events) {
    if (e.kind == EventKind::kBecameCoordinator) ++result_.elections;
    Event line(e.kind);
    line.add("term", e.term.value);
    if (e.node) line.add("node", config_.nodes[e.node->value].name);
    line.fields.insert(line.fields.end(), e.fields.begin(), e.fields.end());
    // "n3 became_coordinator term=1 ...": the transcripts (tests/sim/testdata) read these.
    trace(config_.nodes[i].name + " " + format_event(line).substr(std::string("event=").size()));
  }
  for (const auto& note : out.notes) trace(config_.nodes[i].name + " " + format_event(note));
  // Off the loop, as long as parse_config takes on a slow host: 0.3 us a byte (a 1 MB file
  // in 300 ms, more than a node_timeout), so the documents and proposals wait for them.
  for (ParseRequest& p : out.parses) {
    const auto took = 100 + static_cast<RealTime>(p.text.size() * 3 / 10);
    const RealTime from = n.parses.empty() ? now_ : n.parses.back().done_at;  // one thread
    n.parses.push_back({std::move(p), from + took});
  }
  if (has_resources()) carry_out_resources(i, out);
  const RealTime next = real_time_for(i, std::max(local, n.rt->next_deadline(local)));
  n.next_tick = std::clamp(next, now_ + 1, now_ + kMaxTickGap);
  if (!out.store) return std::nullopt;
  return out.store->version;
}

std::int64_t Simulation::unix_us(std::size_t i) const {
  return kUnixEpochOffset + local_time(i, now_).time_since_epoch().count();
}

void Simulation::carry_out_docs(std::size_t i, const RuntimeOutput& out) {
  if (out.store && store_delay(i) > 0) {
    SimNode& n = *nodes_[i];
    const RealTime from = n.stores.empty() ? now_ : n.stores.back().done_at;  // one thread
    n.stores.push_back({*out.store, from + store_delay(i)});
  } else if (out.store) {
    nodes_[i]->doc_disk = *out.store;  // "fsync"; drain() says so to the runtime
    auto [it, inserted] = stored_versions_.emplace(out.store->version, out.store->bytes);
    if (!inserted && it->second != out.store->bytes) {
      fail("two documents with version " + std::to_string(out.store->version.term.value) + "." +
           std::to_string(out.store->version.revision) + ": '" + it->second + "' and '" +
           out.store->bytes + "'");
    }
  }
  for (const auto& o : out.outcomes) {
    const auto it = proposed_.find({i, o.id});
    if (it == proposed_.end()) continue;
    trace(config_.nodes[i].name + " proposal " + it->second + (o.ok ? " committed" : " failed: ") +
          o.error.substr(0, 80));
    if (o.ok) {
      committed_docs_.push_back(it->second);
      ++result_.committed;
    }
    proposed_.erase(it);
  }
}

// A change of the document from a random live node: its token appended to config_by, or one
// time in ten an invalid configuration the coordinator's validator must refuse.
void Simulation::propose_random(bool allow_bad) {
  std::vector<std::size_t> live;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->rt && nodes_[i]->paused_until <= now_) live.push_back(i);
  }
  if (live.empty()) return;
  const std::size_t i = live[rng_() % live.size()];
  SimNode& n = *nodes_[i];
  const bool bad = allow_bad && rng_() % 10 == 0;
  ClusterDoc next = n.rt->doc();
  next.config_by += bad ? std::string("|bad") : "|p" + std::to_string(next_token_++);
  if (bad) next.config_text += "\nnodes: {not: [a list\n";
  const std::uint64_t id = n.rt->propose(next, local_time(i, now_), std::chrono::seconds(3));
  proposed_[{i, id}] = next.config_by;
  ++result_.proposals;
  trace(config_.nodes[i].name + " proposes " + next.config_by);
  drain(i);
}

bool Simulation::check_documents() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const SimNode& n = *nodes_[i];
    if (!n.rt) continue;
    if (!membership(i).leads) continue;
    const std::string& holds = n.rt->doc().config_by;
    for (const auto& c : committed_docs_) {
      if (!holds.starts_with(c)) {
        fail("coordinator " + config_.nodes[i].name + " lost a committed change: it holds '" +
             holds + "', '" + c + "' was committed");
        return false;
      }
    }
  }
  return true;
}

bool Simulation::documents_converged() const {
  std::optional<StoredDoc> seen;
  for (const auto& n : nodes_) {
    if (!n->rt) continue;  // down, or the arbiter (which stores no document)
    if (seen && !(n->rt->replica()->doc() == *seen)) return false;
    seen = n->rt->replica()->doc();
  }
  return true;
}

void Simulation::transmit(NodeId from, NodeId to, Message m) {
  ++result_.messages;
  if (observer_) observer_(now_, from, to, m);
  if (blocked_[from.value][to.value]) return;
  std::uniform_real_distribution<double> p(0.0, 1.0);
  if (p(rng_) < loss_) return;
  const bool dup = p(rng_) < duplicate_;
  const RealTime extra = (from.value < place_delay_.size() ? place_delay_[from.value] : 0) +
                         (to.value < place_delay_.size() ? place_delay_[to.value] : 0);
  auto delay = [&] {
    return 50 + base_delay_ + extra +
           static_cast<RealTime>(rng_() % static_cast<std::uint64_t>(max_delay_));
  };
  const std::uint64_t epoch = nodes_[from.value]->epoch;
  if (dup) network_.push(InFlight{now_ + delay(), order_++, from, to, epoch, m});
  network_.push(InFlight{now_ + delay(), order_++, from, to, epoch, std::move(m)});
}

void Simulation::inject(std::size_t from, std::size_t to, Message m) {
  trace(config_.nodes[to].name + " is sent a message as from " + config_.nodes[from].name);
  deliver(InFlight{now_, order_++, NodeId{static_cast<std::uint16_t>(from)},
                   NodeId{static_cast<std::uint16_t>(to)}, nodes_[from]->epoch, std::move(m)});
}

void Simulation::deliver(const InFlight& f) {
  SimNode& n = *nodes_[f.to.value];
  if (n.arb) {
    receive_at_arbiter(f);
    return;
  }
  if (!n.rt) return;
  if (n.paused_until > now_) {
    n.held.push_back(f);
    return;
  }
  receive(f);
}

void Simulation::receive(const InFlight& f) {
  SimNode& n = *nodes_[f.to.value];
  const Instant local = local_time(f.to.value, now_);
  // The transport's incarnation rule: an older incarnation's datagrams are dropped, a newer
  // one's first datagram tells the core and the conductor that the peer restarted.
  std::uint64_t& heard = n.heard_epoch[f.from.value];
  if (f.epoch < heard) return;
  if (f.epoch > heard) {
    // As the agent: the transport's restart callback runs the runtime before the datagram.
    if (heard != 0) {
      n.rt->peer_restarted(f.from, f.epoch, local);
      drain(f.to.value);
    }
    heard = f.epoch;
  }
  n.rt->step(f.from, f.epoch, f.message, local);
  drain(f.to.value);
}

// hactl-arbiter's shell: the transport's incarnation rule (its PeerGate per node), the voter,
// the vote on disk before the answer leaves, the answer.
void Simulation::receive_at_arbiter(const InFlight& f) {
  SimNode& n = *nodes_[f.to.value];
  if (n.heard_epoch.size() != nodes_.size()) n.heard_epoch.assign(nodes_.size(), 0);
  std::uint64_t& heard = n.heard_epoch[f.from.value];
  if (f.epoch < heard) return;
  heard = f.epoch;
  auto out = n.arb->step(config_.nodes[f.from.value].name, f.message, local_time(f.to.value, now_));
  if (out.persist) n.arb_disk = *out.persist;
  if (out.new_holder) trace("arbiter holds for " + *out.new_holder);
  if (out.reply) transmit(f.to, f.from, std::move(*out.reply));
}

void Simulation::tick_node(std::size_t i) {
  SimNode& n = *nodes_[i];
  if (n.paused_until != 0 && n.paused_until <= now_) {
    // Wakes from SIGSTOP: the kernel queued what arrived; time has moved on meanwhile.
    n.paused_until = 0;
    trace("resume " + config_.nodes[i].name);
    auto held = std::move(n.held);
    n.held.clear();
    for (const auto& f : held) receive(f);
    for (const auto& [id, code] : std::exchange(n.held_results, {})) {
      n.rt->on_call_done(id, code, true, local_time(i, now_));
    }
  }
  n.rt->tick(local_time(i, now_));
  drain(i);
  poll_monitors(i);
  // Scheduling jitter of a real event loop.
  n.next_tick += static_cast<RealTime>(rng_() % 2000);
}

bool Simulation::advance_to_next_event(RealTime limit) {
  RealTime next = limit + 1;
  std::optional<std::size_t> tick_of;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const SimNode& n = *nodes_[i];
    if (!n.rt) continue;
    const RealTime t = n.paused_until > now_ ? n.paused_until : n.next_tick;
    if (t < next) {
      next = t;
      tick_of = i;
    }
  }
  // The world: resource actions finishing, vip guards' deadlines, supervisors restarting agents.
  enum class World {
    kNone,
    kCall,
    kGuard,
    kRestart,
    kResGuard,
    kOrphanGuard,
    kFence,
    kParse,
    kStore
  } world = World::kNone;
  std::size_t world_node = 0;
  std::size_t world_call = 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const SimNode& n = *nodes_[i];
    for (std::size_t k = 0; k < n.calls.size(); ++k) {
      // A vip's netlink call is the agent's own: it does not progress while the agent is
      // stopped, and finishes when it resumes.
      const bool frozen =
          (is_vip_[n.calls[k].index] || options_.host_freeze) && n.paused_until > now_;
      const RealTime done = frozen ? n.paused_until : n.calls[k].done_at;
      if (done < next) {
        next = done;
        world = World::kCall;
        world_node = i;
        world_call = k;
      }
    }
    bool vips_held = false;  // that the deadline takes away
    for (std::size_t k = 0; k < n.guarded.size(); ++k)
      vips_held = vips_held || (n.guarded[k] && stops_[k]);
    // A frozen host's guard does nothing until the host runs again.
    const bool host_frozen = options_.host_freeze && n.paused_until > now_;
    if (n.guard_deadline && vips_held && *n.guard_deadline < next && !host_frozen) {
      next = std::max(now_, *n.guard_deadline);
      world = World::kGuard;
      world_node = i;
    }
    if (n.restart_at && *n.restart_at < next) {
      next = *n.restart_at;
      world = World::kRestart;
      world_node = i;
    }
    const bool res_any = std::find(n.res_held.begin(), n.res_held.end(), true) != n.res_held.end();
    if (n.res_check_at && res_any && n.paused_until > now_ && !host_frozen &&
        *n.res_check_at < next) {
      next = std::max(now_, *n.res_check_at);
      world = World::kResGuard;
      world_node = i;
    }
    if (n.orphan_at && *n.orphan_at < next) {
      next = std::max(now_, *n.orphan_at);
      world = World::kOrphanGuard;
      world_node = i;
    }
  }
  std::size_t fence_index = 0;
  for (std::size_t k = 0; k < fences_.size(); ++k) {
    if (fences_[k].done_at < next) {
      next = fences_[k].done_at;
      world = World::kFence;
      fence_index = k;
    }
  }
  std::size_t parse_node = 0;
  if (next_parse(next, parse_node)) world = World::kParse;
  std::size_t store_node = 0;
  if (next_store(next, store_node)) world = World::kStore;
  if (world != World::kNone) tick_of.reset();
  const bool network_first = !network_.empty() && network_.top().deliver_at <= next;
  if (network_first) next = network_.top().deliver_at;
  if (next > limit) {
    now_ = limit;
    return false;
  }
  now_ = std::max(now_, next);
  if (network_first) {
    const InFlight f = network_.top();
    network_.pop();
    deliver(f);
  } else if (world == World::kCall) {
    finish_call(world_node, world_call);
  } else if (world == World::kGuard) {
    enforce_guard(world_node);
  } else if (world == World::kRestart) {
    if (!nodes_[world_node]->rt) start_node(world_node);
    nodes_[world_node]->restart_at.reset();
  } else if (world == World::kResGuard) {
    SimNode& n = *nodes_[world_node];
    const RealTime window = options_.timing.node_timeout.count();
    if (now_ - n.paused_since > window) {
      guard_stops(world_node, n.res_held, "stopped agent");
      n.res_check_at.reset();
    } else {
      n.res_check_at = n.paused_since + window + 1;  // the guard looks again
    }
  } else if (world == World::kFence) {
    finish_fence(fence_index);
  } else if (world == World::kParse) {
    finish_parse(parse_node);
  } else if (world == World::kStore) {
    finish_store(store_node);
  } else if (world == World::kOrphanGuard) {
    SimNode& n = *nodes_[world_node];
    n.orphan_at.reset();
    // A new agent holds the lock: it is in charge of what runs here.
    if (!n.rt) guard_stops(world_node, n.orphan_held, "dead agent");
    std::fill(n.orphan_held.begin(), n.orphan_held.end(), false);
  } else {
    tick_node(*tick_of);
  }
  return true;
}

// The earliest parse to finish before `next` (a stopped agent's worker thread is stopped too).
bool Simulation::next_parse(RealTime& next, std::size_t& node) const {
  bool found = false;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const SimNode& n = *nodes_[i];
    if (n.parses.empty()) continue;
    const RealTime done = std::max(n.parses.front().done_at, n.paused_until);
    if (done < next) {
      next = done;
      node = i;
      found = true;
    }
  }
  return found;
}

// The earliest store to finish before `next`.
bool Simulation::next_store(RealTime& next, std::size_t& node) const {
  bool found = false;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const SimNode& n = *nodes_[i];
    if (n.stores.empty()) continue;
    const RealTime done = std::max(n.stores.front().done_at, n.paused_until);
    if (done < next) {
      next = done;
      node = i;
      found = true;
    }
  }
  return found;
}

void Simulation::finish_store(std::size_t i) {
  SimNode& n = *nodes_[i];
  const StoredDoc d = std::move(n.stores.front().doc);
  n.stores.erase(n.stores.begin());
  n.doc_disk = d;
  if (!n.rt) return;
  n.rt->on_doc_stored(d.version, local_time(i, now_));
  drain(i);
}

void Simulation::finish_parse(std::size_t i) {
  SimNode& n = *nodes_[i];
  const ParseRequest p = std::move(n.parses.front().request);
  n.parses.erase(n.parses.begin());
  if (!n.rt) return;
  n.rt->on_parsed(p.text, parse_config(p.text, p.source), local_time(i, now_));
  drain(i);
}

void Simulation::inject_random_fault() {
  const std::size_t n = nodes_.size();
  const std::size_t a = rng_() % n;
  const std::size_t b = (a + 1 + rng_() % (n - 1)) % n;
  // 0-8 network and node faults, then 9-11 with resources only, and 12 a planned handover.
  auto kind = rng_() % (has_resources() ? 13 : 10);
  if (!has_resources() && kind == 9) kind = 12;
  switch (kind) {
    case 12:
      for (std::size_t i = 0; i < n; ++i) {
        if (nodes_[i]->rt && nodes_[i]->rt->node().role() == Role::kCoordinator) {
          hand_over(i, rng_() % 2 == 0 ? std::optional<std::size_t>{} : std::optional{b});
        }
      }
      break;
    case 0:
      if (alive(a)) crash_node(a);
      break;
    case 9:
      crash_agent(a);
      break;
    case 10:
    case 11:
      if (has_resources()) fail_resource(a, rng_() % config_.resources.primitives.size());
      break;
    case 1:
    case 2:
      if (!alive(a)) start_node(a);
      break;
    case 3:
      if (nodes_[a]->rt && nodes_[a]->paused_until <= now_) {
        pause(a, 50'000 + static_cast<RealTime>(rng_() %
                                                static_cast<std::uint64_t>(options_.max_pause)));
      }
      break;
    case 4: {  // symmetric partition into two random groups
      std::vector<bool> side(n);
      std::string desc = "partition";
      for (std::size_t i = 0; i < n; ++i) side[i] = (rng_() & 1) != 0;
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) blocked_[i][j] = side[i] != side[j];
        desc += side[i] ? " " + config_.nodes[i].name + ":A" : " " + config_.nodes[i].name + ":B";
      }
      trace(desc);
      break;
    }
    case 5:
      block(a, b);
      break;
    case 6:
      heal_network();
      break;
    case 7: {
      static constexpr double kLoss[] = {0.0, 0.05, 0.2, 0.5};
      loss_ = kLoss[rng_() % 4];
      duplicate_ = (rng_() % 3 == 0) ? 0.05 : 0.0;
      trace("loss=" + std::to_string(loss_) + " dup=" + std::to_string(duplicate_));
      break;
    }
    default: {
      static constexpr RealTime kDelay[] = {1'000, 20'000, 150'000};
      max_delay_ = kDelay[rng_() % 3];
      trace("max_delay=" + ms(max_delay_));
      break;
    }
  }
}

void Simulation::heal_all() {
  heal_network();
  loss_ = 0;
  duplicate_ = 0;
  max_delay_ = 1'000;
  base_delay_ = 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!alive(i)) {
      start_node(i);
    } else if (nodes_[i]->paused_until > now_) {
      nodes_[i]->paused_until = now_;
      nodes_[i]->next_tick = now_;
    }
  }
  trace("heal all");
}

bool Simulation::agreed_coordinator() const { return agreed().has_value(); }

std::optional<NodeId> Simulation::agreed() const {
  std::optional<NodeId> agreed;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const SimNode& n = *nodes_[i];
    if (is_arbiter(i)) continue;
    if (!n.rt || n.paused_until > now_) return std::nullopt;
    const Instant local = local_time(i, now_);
    const auto c = n.rt->node().coordinator();
    if (!c || !n.rt->node().has_quorum(local)) return std::nullopt;
    if (agreed && *agreed != *c) return std::nullopt;
    agreed = c;
  }
  const std::size_t c = agreed->value;
  if (!nodes_[c]->rt->node().holds_coordinator_lease(local_time(c, now_))) return std::nullopt;
  return agreed;
}

void Simulation::start_all() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) start_node(i);
}

void Simulation::run_for(RealTime duration) {
  const RealTime until = now_ + duration;
  while (result_.ok && advance_to_next_event(until)) check_safety();
}

void Simulation::isolate(std::size_t i) {
  for (std::size_t j = 0; j < nodes_.size(); ++j) {
    if (j == i) continue;
    blocked_[i][j] = true;
    blocked_[j][i] = true;
  }
  trace("isolate " + config_.nodes[i].name);
}

void Simulation::block(std::size_t from, std::size_t to) {
  blocked_[from][to] = true;
  trace("one-way block " + config_.nodes[from].name + "->" + config_.nodes[to].name);
}

void Simulation::set_delay(RealTime base, RealTime spread) {
  base_delay_ = base;
  max_delay_ = std::max<RealTime>(spread, 1);
  trace("delay " + ms(base) + " + up to " + ms(spread));
}

void Simulation::set_place_delay(std::size_t i, RealTime one_way) {
  place_delay_.resize(nodes_.size(), 0);
  place_delay_.at(i) = one_way;
  trace("delay to and from " + config_.nodes[i].name + " " + ms(one_way));
}

void Simulation::heal_network() {
  for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  trace("heal network");
}

void Simulation::pause(std::size_t i, RealTime duration) {
  nodes_[i]->paused_until = now_ + duration;
  nodes_[i]->paused_since = now_;
  trace("pause " + config_.nodes[i].name + " until " + ms(nodes_[i]->paused_until));
}

void Simulation::hand_over(std::size_t i, std::optional<std::size_t> target) {
  SimNode& n = *nodes_[i];
  if (!n.rt || n.paused_until > now_) return;
  std::optional<NodeId> to;
  if (target) to = NodeId{static_cast<std::uint16_t>(*target)};
  const auto asked = n.rt->hand_over(to, local_time(i, now_));
  trace(config_.nodes[i].name + " hands over to " +
        (asked ? config_.nodes[asked->value].name : std::string("nobody")));
  drain(i);
}

void Simulation::propose(std::size_t i, const ClusterDoc& next) {
  SimNode& n = *nodes_[i];
  if (!n.rt || n.paused_until > now_) return;
  n.rt->propose(next, local_time(i, now_), std::chrono::seconds(3));
  trace(config_.nodes[i].name + " proposes a document by hand");
  drain(i);
}

const ElectionCore* Simulation::node(std::size_t i) const {
  return nodes_[i]->rt ? &nodes_[i]->rt->node() : nullptr;
}

const ResourceHost* Simulation::host(std::size_t i) const {
  return nodes_[i]->rt ? nodes_[i]->rt->resource_host() : nullptr;
}

const NodeRuntime* Simulation::runtime(std::size_t i) const { return nodes_[i]->rt.get(); }

ResourceRole Simulation::actual(std::size_t i, std::size_t primitive) const {
  return nodes_[i]->actual.at(primitive);
}

const ArbiterVoter* Simulation::arbiter() const {
  const auto a = arbiter_index();
  return a ? nodes_[*a]->arb.get() : nullptr;
}

Membership Simulation::membership(std::size_t i) const {
  return nodes_[i]->rt->membership(local_time(i, now_));
}

bool Simulation::check_safety() {
  if (options_.documents && !check_documents()) return false;
  std::size_t coordinator_leases = 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const ElectionCore* node = this->node(i);
    if (node == nullptr) continue;
    if (node->role() == Role::kCoordinator) {
      auto [it, inserted] = coordinator_of_term_.emplace(node->term().value, node->self().value);
      // The last resort's two sides of a split are each elected with a stand-in for the
      // other: two coordinators, even of one term, are what it accepts (counted).
      if (!inserted && it->second != i && options_.last_resort) {
        ++result_.two_holders;
      } else if (!inserted && it->second != i) {
        fail("two coordinators in term " + std::to_string(node->term().value) + ": " +
             config_.nodes[it->second].name + " and " + config_.nodes[i].name);
        return false;
      }
      if (node->holds_coordinator_lease(local_time(i, now_))) ++coordinator_leases;
    }
  }
  if (coordinator_leases > 1 && !options_.last_resort) {
    fail("two nodes hold a coordinator lease at once");
    return false;
  }
  return check_releases() && check_resources();
}

// A vip or a non-clone primitive active on one host at most (a start or stop in progress
// counts as active); a promotable clone promoted on promoted_max hosts at most (a promote or
// demote in progress counts as promoted).
bool Simulation::check_resources() {
  const auto& prims = config_.resources.primitives;
  for (std::size_t k = 0; k < prims.size(); ++k) {
    std::string active;
    std::size_t count = 0;
    std::size_t promoted = 0;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const SimNode& n = *nodes_[i];
      bool on = n.actual[k] != ResourceRole::kStopped;
      bool up = n.actual[k] == ResourceRole::kPromoted;
      // An action in progress counts as done already, except a vip's start: its address
      // appears in one netlink call, when the call finishes.
      for (const auto& c : n.calls) {
        if (c.index != k) continue;
        on = on || (c.action == "start" && !is_vip_[k]);
        up = up || c.action == "promote";
      }
      if (on) {
        ++count;
        active += " " + config_.nodes[i].name;
      }
      if (up) ++promoted;
    }
    if ((!in_clone_[k] || is_vip_[k]) && count > 1 && options_.last_resort) {
      ++result_.two_holders;
    } else if ((!in_clone_[k] || is_vip_[k]) && count > 1) {
      fail(prims[k].id + " is active on two hosts at once:" + active + coordinator_view(k));
      return false;
    }
    if (promoted_max_[k] > 0 && promoted > promoted_max_[k] && options_.last_resort) {
      ++result_.two_holders;
    } else if (promoted_max_[k] > 0 && promoted > promoted_max_[k]) {
      fail(prims[k].id + " is promoted on " + std::to_string(promoted) + " hosts, more than " +
           std::to_string(promoted_max_[k]) + coordinator_view(k));
      return false;
    }
  }
  return true;
}

// What the coordinator believes of primitive k, node by node: for a failure's message.
std::string Simulation::coordinator_view(std::size_t k) const {
  std::string out;
  for (std::size_t c = 0; c < nodes_.size(); ++c) {
    const ResourceHost* h = host(c);
    if (h == nullptr || !h->conductor().active()) continue;
    const Membership m = membership(c);
    const ClusterState st = h->conductor().state(m, local_time(c, now_));
    const auto& id = config_.resources.primitives[k].id;
    out += "; coordinator " + config_.nodes[c].name + " sees " + id + ":";
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const NodeView& v = h->conductor().views()[i];
      out += " " + config_.nodes[i].name + "=" + std::string(to_string(st.roles.at(id)[i])) +
             (st.settling.at(id)[i] ? "(settling)" : "") + (m.up[i] ? "" : "(down)") +
             "[view term " + std::to_string(v.term.value) + (v.complete ? "" : " incomplete") + "]";
    }
  }
  return out;
}

// After the heal, with every node up and nothing failing: every non-clone primitive runs on
// exactly one host, every clone instance on every non-witness host, promoted_max promoted.
bool Simulation::check_resources_settled(std::string& why) const {
  const auto& prims = config_.resources.primitives;
  std::size_t hosts = 0;
  for (const auto& n : config_.nodes) hosts += n.witness ? 0 : 1;
  for (std::size_t k = 0; k < prims.size(); ++k) {
    std::size_t count = 0;
    std::size_t promoted = 0;
    for (const auto& n : nodes_) {
      count += n->actual[k] != ResourceRole::kStopped ? 1 : 0;
      promoted += n->actual[k] == ResourceRole::kPromoted ? 1 : 0;
    }
    const std::size_t want = in_clone_[k] ? hosts : 1;
    const std::size_t want_promoted = std::min(promoted_max_[k], hosts);
    if (count != want || promoted != want_promoted) {
      why = prims[k].id + " runs on " + std::to_string(count) + " hosts (" +
            std::to_string(promoted) + " promoted), expected " + std::to_string(want) + " (" +
            std::to_string(want_promoted) + ")";
      return false;
    }
  }
  return true;
}

// A node that takes a peer's quorum lease as over at some instant (ElectionCore::lease_released_at;
// a coordinator then moves what the peer ran) must be right: the peer holds no lease that began
// before that instant, on the real timeline.
bool Simulation::check_releases() {
  for (std::size_t c = 0; c < nodes_.size(); ++c) {
    const ElectionCore* judge = node(c);
    if (judge == nullptr) continue;
    for (std::size_t f = 0; f < nodes_.size(); ++f) {
      const ElectionCore* peer = node(f);
      if (f == c || peer == nullptr) continue;
      const auto over =
          judge->lease_released_at(NodeId{static_cast<std::uint16_t>(f)}, local_time(c, now_));
      const auto since = peer->lease_since();
      if (!over || !since || !peer->has_quorum(local_time(f, now_))) continue;
      if (real_time_for(f, *since) < real_time_for(c, *over)) {
        fail(config_.nodes[c].name + " took the lease of " + config_.nodes[f].name +
             " as over at " + ms(real_time_for(c, *over)) + ", but " + config_.nodes[f].name +
             " has held one since " + ms(real_time_for(f, *since)));
        return false;
      }
    }
  }
  return true;
}

void Simulation::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  std::ostringstream s;
  s << "seed=" << seed_ << " t=" << ms(now_) << ": " << what << "\n--- last events ---\n";
  for (const auto& line : trace_) s << line << "\n";
  result_.failure = s.str();
}

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

SeedPlan plan_seeds(const char* what, const char* count_var, std::uint64_t fallback,
                    std::uint64_t fixed_base) {
  SeedPlan p;
  p.replay = env_u64("HACTL_SIM_SEED", 0);
  p.total = p.replay != 0 ? 1 : env_u64(count_var, fallback);
  const auto clock =
      static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) %
      1'000'000'000'000ULL;
  p.base = p.replay != 0 ? p.replay : env_u64("HACTL_SIM_RANDOM", 0) == 0 ? fixed_base : clock;
  std::cout << what << " base seed " << p.base
            << " (replay one schedule with HACTL_SIM_SEED=<seed>)\n";
  return p;
}

void Simulation::trace(const std::string& line) {
  trace_.push_back("[" + ms(now_) + "] " + line);
  if (options_.journal) journal_.push_back(trace_.back());
  if (trace_.size() > kTraceLines) trace_.pop_front();
}

void Simulation::disrupted(std::size_t i, std::size_t k, const std::string& how) {
  // Only what ran on a node other than the faulted one when the fault came: the coordinator's
  // own resources move (and may move back) as after any fault.
  if (!faulted_ || *faulted_ == i || ran_at_fault_[i][k] == ResourceRole::kStopped) return;
  fail("disruption: " + config_.resources.primitives[k].id + " on " + config_.nodes[i].name +
       ", which stayed connected to a majority, is taken down (" + how +
       ") after a fault on the coordinator " + config_.nodes[*faulted_].name);
}

// Runs until a coordinator is agreed and every resource runs where it can, then one second
// more for what trails (reports, monitors); false (and a failure) past `bound`.
bool Simulation::settle(RealTime bound, const char* after) {
  const RealTime deadline = now_ + bound;
  std::string why;
  while (result_.ok && !(agreed_coordinator() && check_resources_settled(why))) {
    if (!advance_to_next_event(deadline)) {
      fail("not settled " + ms(bound) + " after " + after + ": " + why);
      return false;
    }
    check_safety();
  }
  run_for(1'000'000);
  return result_.ok;
}

void Simulation::fault_coordinator(std::size_t c) {
  const auto up_to = [this](RealTime lo, RealTime span) {
    return lo + static_cast<RealTime>(rng_() % static_cast<std::uint64_t>(span));
  };
  switch (rng_() % 4) {
    case 0:
      crash_node(c);
      run_for(up_to(500'000, 2'500'000));
      start_node(c);
      break;
    case 1:
      crash_agent(c);  // its supervisor restarts it within agent_restart_within
      run_for(options_.agent_restart_within + 1);
      break;
    case 2: {
      const RealTime d = up_to(50'000, 3'000'000);
      pause(c, d);
      run_for(d + 1);
      break;
    }
    default:
      isolate(c);
      run_for(up_to(500'000, 2'500'000));
      heal_network();
      break;
  }
}

void Simulation::run_coordinator_faults() {
  start_all();
  if (!settle(options_.resources_settle_bound, "the start")) return;
  for (int round = 0; round < options_.coordinator_fault_rounds && result_.ok; ++round) {
    const auto c = agreed();
    if (!c) {
      fail("no agreed coordinator after settling");
      return;
    }
    faulted_ = c->value;
    ran_at_fault_.clear();
    for (const auto& n : nodes_) ran_at_fault_.push_back(n->actual);
    ++result_.coordinator_faults;
    trace("fault on the coordinator " + config_.nodes[c->value].name);
    fault_coordinator(c->value);
    if (!settle(options_.resources_settle_bound, "the coordinator's fault healed")) return;
    faulted_.reset();
  }
}

SimResult Simulation::run() {
  if (options_.coordinator_faults) {
    run_coordinator_faults();
    return result_;
  }
  start_all();
  while (result_.ok && now_ < options_.fault_phase) {
    const RealTime next_fault = now_ + 20'000 + static_cast<RealTime>(rng_() % 600'000);
    while (result_.ok && advance_to_next_event(next_fault)) check_safety();
    if (result_.ok && options_.documents && rng_() % 2 == 0) propose_random();
    if (result_.ok) inject_random_fault();
  }
  if (!result_.ok) return result_;
  heal_all();
  const RealTime healed_at = now_;
  const RealTime deadline = now_ + options_.liveness_bound;
  while (result_.ok && !agreed_coordinator()) {
    if (!advance_to_next_event(deadline)) {
      fail("no agreed coordinator " + ms(options_.liveness_bound) + " after the faults healed");
      break;
    }
    check_safety();
  }
  result_.recovery_time = now_ - healed_at;
  if (result_.ok && options_.documents) {
    // A last change after the heal must commit, and every node converge on it.
    const std::size_t before = result_.committed;
    propose_random(false);
    const RealTime settle_by = now_ + options_.documents_settle_bound;
    int attempts = 0;
    RealTime next_attempt = now_;
    while (result_.ok && (result_.committed == before || !documents_converged())) {
      // One refused (made from a copy the new coordinator had replaced): propose again, from
      // a node that has had time to receive the new copy (bounded).
      if (result_.committed == before && proposed_.empty() && now_ >= next_attempt &&
          ++attempts < 20) {
        next_attempt = now_ + 200'000;
        propose_random(false);
      }
      if (!advance_to_next_event(settle_by)) {
        fail("documents not converged " + ms(options_.documents_settle_bound) +
             " after the coordinator was agreed");
        break;
      }
      check_safety();
    }
  }
  if (result_.ok && has_resources()) {
    // Lost nodes' resources wait out takeover delays; failures restart in place.
    const RealTime settle_by = now_ + options_.resources_settle_bound;
    std::string why;
    while (result_.ok && !check_resources_settled(why)) {
      if (!advance_to_next_event(settle_by)) {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          const ResourceHost* h = host(i);
          if (h != nullptr && h->conductor().active()) {
            why += "; coordinator " + config_.nodes[i].name +
                   " waits for: " + h->conductor().waiting_for();
            for (const auto& note : h->conductor().notes()) why += "; " + note;
          }
        }
        fail("resources not settled " + ms(options_.resources_settle_bound) +
             " after the coordinator was agreed: " + why);
        break;
      }
      check_safety();
    }
  }
  return result_;
}

}  // namespace hactl::sim
