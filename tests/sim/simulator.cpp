#include "sim/simulator.hpp"

#include <algorithm>
#include <sstream>

namespace hactl::sim {
namespace {

constexpr RealTime kMaxTickGap = 10'000;  // ticks at least every 10 ms of real time
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
  long drift_ppm = 0;
  RealTime clock_offset = 0;  // local microseconds at real time 0
  HardState disk;             // what survives a crash
  std::unique_ptr<SimRng> rng;
  std::unique_ptr<Node> node;  // null while crashed
  RealTime paused_until = 0;
  RealTime next_tick = 0;
  std::vector<InFlight> held;  // arrived while paused, delivered on resume in order
};

Simulation::Simulation(const SimOptions& options, std::uint64_t seed)
    : options_(options), seed_(seed), rng_(seed) {
  config_.name = "sim";
  config_.timing = options.timing;
  for (std::size_t i = 0; i < options.nodes; ++i) {
    NodeConfig n;
    n.name = "n" + std::to_string(i + 1);
    n.address = NodeAddress{"10.213.0." + std::to_string(11 + i), 5405};
    n.witness = i >= options.nodes - options.witnesses;
    config_.nodes.push_back(n);
  }
  max_delay_ = options.max_delay;
  blocked_.assign(options.nodes, std::vector<bool>(options.nodes, false));
  for (std::size_t i = 0; i < options.nodes; ++i) {
    auto n = std::make_unique<SimNode>();
    const auto span = static_cast<std::uint64_t>(2 * options.max_drift_ppm + 1);
    n->drift_ppm = static_cast<long>(rng_() % span) - options.max_drift_ppm;
    n->clock_offset = static_cast<RealTime>(rng_() % 1'000'000'000);
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

void Simulation::start_node(std::size_t i) {
  SimNode& n = *nodes_[i];
  n.rng = std::make_unique<SimRng>(rng_());
  const Timing timing = options_.unsafe_lease ? make_unsafe_timing_for_tests(options_.timing)
                                              : make_timing(options_.timing);
  n.node = std::make_unique<Node>(config_, NodeId{static_cast<std::uint16_t>(i)}, timing, *n.rng,
                                  n.disk, local_time(i, now_));
  n.paused_until = 0;
  n.next_tick = now_;
  trace("start " + config_.nodes[i].name + " term=" + std::to_string(n.disk.term.value));
}

void Simulation::crash_node(std::size_t i) {
  SimNode& n = *nodes_[i];
  n.node.reset();
  n.held.clear();
  n.paused_until = 0;
  trace("crash " + config_.nodes[i].name);
}

void Simulation::drain(std::size_t i) {
  SimNode& n = *nodes_[i];
  Ready r = n.node->take_ready();
  if (r.hard_state) n.disk = *r.hard_state;  // "fsync" before the messages leave
  for (auto& out : r.messages) {
    transmit(NodeId{static_cast<std::uint16_t>(i)}, out.to, std::move(out.message));
  }
  for (const auto& e : r.events) {
    if (e.kind == Event::Kind::kBecameCoordinator) ++result_.elections;
    std::string line = config_.nodes[i].name + " " + std::string(to_string(e.kind)) +
                       " term=" + std::to_string(e.term.value);
    if (e.node) line += " node=" + config_.nodes[e.node->value].name;
    if (!e.detail.empty()) line += " " + e.detail;
    trace(line);
  }
  const RealTime next = real_time_for(i, n.node->next_deadline());
  n.next_tick = std::clamp(next, now_ + 1, now_ + kMaxTickGap);
}

void Simulation::transmit(NodeId from, NodeId to, Message m) {
  ++result_.messages;
  if (blocked_[from.value][to.value]) return;
  std::uniform_real_distribution<double> p(0.0, 1.0);
  if (p(rng_) < loss_) return;
  const bool dup = p(rng_) < duplicate_;
  auto delay = [&] {
    return 50 + static_cast<RealTime>(rng_() % static_cast<std::uint64_t>(max_delay_));
  };
  if (dup) network_.push(InFlight{now_ + delay(), order_++, from, to, m});
  network_.push(InFlight{now_ + delay(), order_++, from, to, std::move(m)});
}

void Simulation::deliver(const InFlight& f) {
  SimNode& n = *nodes_[f.to.value];
  if (!n.node) return;
  if (n.paused_until > now_) {
    n.held.push_back(f);
    return;
  }
  n.node->step(f.from, f.message, local_time(f.to.value, now_));
  drain(f.to.value);
}

void Simulation::tick_node(std::size_t i) {
  SimNode& n = *nodes_[i];
  if (n.paused_until != 0 && n.paused_until <= now_) {
    // Wakes from SIGSTOP: the kernel queued what arrived; time has moved on meanwhile.
    n.paused_until = 0;
    trace("resume " + config_.nodes[i].name);
    auto held = std::move(n.held);
    n.held.clear();
    for (const auto& f : held) {
      n.node->step(f.from, f.message, local_time(i, now_));
      drain(i);
    }
  }
  n.node->tick(local_time(i, now_));
  drain(i);
  // Scheduling jitter of a real event loop.
  n.next_tick += static_cast<RealTime>(rng_() % 2000);
}

bool Simulation::advance_to_next_event(RealTime limit) {
  RealTime next = limit + 1;
  std::optional<std::size_t> tick_of;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const SimNode& n = *nodes_[i];
    if (!n.node) continue;
    const RealTime t = n.paused_until > now_ ? n.paused_until : n.next_tick;
    if (t < next) {
      next = t;
      tick_of = i;
    }
  }
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
  } else {
    tick_node(*tick_of);
  }
  return true;
}

void Simulation::inject_random_fault() {
  const std::size_t n = nodes_.size();
  const std::size_t a = rng_() % n;
  const std::size_t b = (a + 1 + rng_() % (n - 1)) % n;
  switch (rng_() % 9) {
    case 0:
      if (nodes_[a]->node) crash_node(a);
      break;
    case 1:
    case 2:
      if (!nodes_[a]->node) start_node(a);
      break;
    case 3:
      if (nodes_[a]->node && nodes_[a]->paused_until <= now_) {
        pause(a, 50'000 + static_cast<RealTime>(rng_() % 1'500'000));
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
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->node) {
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
    if (!n.node || n.paused_until > now_) return std::nullopt;
    const Instant local = local_time(i, now_);
    const auto c = n.node->coordinator();
    if (!c || !n.node->has_quorum(local)) return std::nullopt;
    if (agreed && *agreed != *c) return std::nullopt;
    agreed = c;
  }
  const std::size_t c = agreed->value;
  if (!nodes_[c]->node->holds_coordinator_lease(local_time(c, now_))) return std::nullopt;
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

void Simulation::heal_network() {
  for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  trace("heal network");
}

void Simulation::pause(std::size_t i, RealTime duration) {
  nodes_[i]->paused_until = now_ + duration;
  trace("pause " + config_.nodes[i].name + " until " + ms(nodes_[i]->paused_until));
}

const Node* Simulation::node(std::size_t i) const { return nodes_[i]->node.get(); }

bool Simulation::check_safety() {
  std::optional<Term> lease_term;
  std::optional<std::size_t> lease_holder;
  std::size_t coordinator_leases = 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node* node = nodes_[i]->node.get();
    if (node == nullptr) continue;
    const Instant local = local_time(i, now_);
    const bool coord = node->role() == Role::kCoordinator;
    if (coord) {
      auto [it, inserted] = coordinator_of_term_.emplace(node->term().value, node->self().value);
      if (!inserted && it->second != i) {
        fail("two coordinators in term " + std::to_string(node->term().value) + ": " +
             config_.nodes[it->second].name + " and " + config_.nodes[i].name);
        return false;
      }
    }
    if (!node->has_quorum(local)) continue;
    const Term t = coord ? node->term() : node->lease_term();
    if (coord) ++coordinator_leases;
    if (lease_term && *lease_term != t) {
      fail("overlapping leases: " + config_.nodes[*lease_holder].name + " holds one of term " +
           std::to_string(lease_term->value) + " while " + config_.nodes[i].name +
           " holds one of term " + std::to_string(t.value));
      return false;
    }
    lease_term = t;
    lease_holder = i;
  }
  if (coordinator_leases > 1) {
    fail("two nodes hold a coordinator lease at once");
    return false;
  }
  return check_granted_bounds();
}

// What the coordinator believes is the latest end of each follower's lease must really be no
// earlier than that lease's end: the resource scheduler waits on it before moving resources.
bool Simulation::check_granted_bounds() {
  for (std::size_t c = 0; c < nodes_.size(); ++c) {
    const Node* coord = nodes_[c]->node.get();
    if (coord == nullptr || coord->role() != Role::kCoordinator) continue;
    for (std::size_t f = 0; f < nodes_.size(); ++f) {
      const Node* follower = nodes_[f]->node.get();
      if (f == c || follower == nullptr || follower->role() == Role::kCoordinator) continue;
      const auto until = follower->lease_until();
      if (!until || follower->lease_term() != coord->term() ||
          !follower->has_quorum(local_time(f, now_))) {
        continue;
      }
      const auto bound = coord->granted_lease_bound(NodeId{static_cast<std::uint16_t>(f)});
      if (!bound || real_time_for(c, *bound) < real_time_for(f, *until)) {
        fail("coordinator " + config_.nodes[c].name + " underestimates the lease of " +
             config_.nodes[f].name);
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

void Simulation::trace(const std::string& line) {
  trace_.push_back("[" + ms(now_) + "] " + line);
  if (trace_.size() > kTraceLines) trace_.pop_front();
}

SimResult Simulation::run() {
  start_all();
  while (result_.ok && now_ < options_.fault_phase) {
    const RealTime next_fault = now_ + 20'000 + static_cast<RealTime>(rng_() % 600'000);
    while (result_.ok && advance_to_next_event(next_fault)) check_safety();
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
  return result_;
}

}  // namespace hactl::sim
