// Scheduler time for large clusters (Google Benchmark): R primitives in groups of two, a
// location preference for every fourth group, everything running, and one node lost so a
// sixteenth of the groups must move. Also what parsing and validating a configuration of that
// size costs (BM_ParseConfig), which must grow linearly. Run: build/bin/scheduler_bench
#include <benchmark/benchmark.h>

#include <random>
#include <sstream>

#include "common/config.hpp"
#include "coordinator/scheduler.hpp"

namespace hactl {
namespace {

struct Input {
  ClusterConfig config;
  ClusterState state;
};

Input make_input(std::size_t nodes, std::size_t resources) {
  Input in;
  std::mt19937_64 rng(42);
  for (std::size_t i = 0; i < nodes; ++i) {
    in.config.nodes.push_back(NodeConfig{.name = "node" + std::to_string(i),
                                         .address = {"10.213.1." + std::to_string(i + 1), 5405},
                                         .witness = false,
                                         .capacity = {}});
  }
  auto& rc = in.config.resources;
  rc.primitives.reserve(resources);
  in.state.nodes.assign(nodes, NodeCondition::kOnline);
  in.state.nodes[nodes / 2] = NodeCondition::kOffline;
  for (std::size_t g = 0; g < resources / 2; ++g) {
    const std::string id = "g" + std::to_string(g);
    PrimitiveConfig ip;
    ip.id = id + "-ip";
    ip.cls = ResourceClass::kVip;
    PrimitiveConfig app;
    app.id = id + "-app";
    app.cls = ResourceClass::kOcf;
    rc.primitives.push_back(ip);
    rc.primitives.push_back(app);
    rc.groups.push_back(GroupConfig{id, {ip.id, app.id}});
    if (g % 4 == 0)
      rc.locations.push_back(
          LocationConstraint{id, in.config.nodes[rng() % nodes].name, 100, RoleFilter::kAny});
    const std::size_t where = g % nodes;  // where it runs now (some on the lost node)
    for (const auto* p : {&ip, &app}) {
      auto& roles = in.state.roles[p->id];
      roles.assign(nodes, ResourceRole::kStopped);
      if (in.state.nodes[where] == NodeCondition::kOnline) roles[where] = ResourceRole::kStarted;
    }
  }
  return in;
}

void BM_Schedule(benchmark::State& s) {
  const auto nodes = static_cast<std::size_t>(s.range(0));
  const auto resources = static_cast<std::size_t>(s.range(1));
  const Input in = make_input(nodes, resources);
  std::size_t actions = 0;
  for (auto _ : s) {
    const Transition t = schedule(in.config, in.state);
    actions = t.actions.size();
    benchmark::DoNotOptimize(actions);
  }
  s.counters["actions"] = static_cast<double>(actions);
}

// The same with every score term kept (hactl explain and simulate run the scheduler so).
void BM_ScheduleExplained(benchmark::State& s) {
  const auto nodes = static_cast<std::size_t>(s.range(0));
  const auto resources = static_cast<std::size_t>(s.range(1));
  const Input in = make_input(nodes, resources);
  std::size_t terms = 0;
  for (auto _ : s) {
    const Transition t = schedule(in.config, in.state, true);
    terms = 0;
    for (const auto& u : t.why) terms += u.terms.size();
    benchmark::DoNotOptimize(terms);
  }
  s.counters["terms"] = static_cast<double>(terms);
}

// A configuration of R primitives: an eighth of them in groups of two, a twentieth cloned, a
// location constraint on every fourth resource, the groups colocated and ordered in pairs.
std::string config_text(std::size_t resources) {
  std::ostringstream y;
  y << "cluster: {name: big, auth_key_file: /etc/hactl/authkey}\nnodes:\n";
  for (int i = 1; i <= 32; ++i)
    y << "  - {name: n" << i << ", address: '10.213.0." << i << ":7400'}\n";
  y << "resources:\n";
  for (std::size_t i = 0; i < resources; ++i)
    y << "  - {id: r" << i << ", type: 'ocf:pacemaker:Dummy'}\n";
  const std::size_t grouped = resources / 4, cloned = resources / 20;
  y << "groups:\n";
  for (std::size_t i = 0; i < grouped; i += 2)
    y << "  - {id: g" << i << ", members: [r" << i << ", r" << i + 1 << "]}\n";
  y << "clones:\n";
  for (std::size_t i = grouped; i < grouped + cloned; ++i)
    y << "  - {id: c" << i << ", resource: r" << i << "}\n";
  y << "constraints:\n  location:\n";
  for (std::size_t i = grouped + cloned; i < resources; i += 4)
    y << "    - {resource: r" << i << ", node: n" << i % 32 + 1 << ", score: 50}\n";
  y << "  colocation:\n";
  for (std::size_t i = 0; i + 2 < grouped; i += 4)
    y << "    - {resource: g" << i << ", with: g" << i + 2 << ", score: 100}\n";
  y << "  order:\n";
  for (std::size_t i = 0; i + 2 < grouped; i += 4)
    y << "    - {first: g" << i + 2 << ", then: g" << i << "}\n";
  return y.str();
}

void BM_ParseConfig(benchmark::State& s) {
  const std::string text = config_text(static_cast<std::size_t>(s.range(0)));
  for (auto _ : s) {
    const auto loaded = parse_config(text, "bench.yaml");
    if (!loaded) {
      s.SkipWithError(loaded.error().front().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(loaded->config.resources.primitives.size());
  }
}

BENCHMARK(BM_ParseConfig)->Arg(4000)->Arg(8000)->Arg(16000)->Unit(benchmark::kMillisecond);

BENCHMARK(BM_ScheduleExplained)
    ->Args({16, 10000})
    ->Args({64, 10000})
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_Schedule)
    ->Args({16, 1000})
    ->Args({64, 1000})
    ->Args({16, 10000})
    ->Args({64, 10000})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hactl

BENCHMARK_MAIN();
