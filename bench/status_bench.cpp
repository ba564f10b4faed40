// What `hactl status` costs its agent for large configurations (Google Benchmark): the
// resources part of the answer (agent/status_json.hpp) for R primitives in groups of two, on
// three nodes, built and serialized; and the conductor's cluster state it starts from. Run:
// build/bin/status_bench
#include <benchmark/benchmark.h>

#include "agent/control_server.hpp"
#include "agent/status_json.hpp"
#include "coordinator/conductor.hpp"

namespace hactl {
namespace {

ClusterConfig make_config(std::size_t resources) {
  ClusterConfig c;
  for (std::size_t i = 0; i < 3; ++i) {
    c.nodes.push_back(NodeConfig{.name = "node" + std::to_string(i),
                                 .address = {"10.213.1." + std::to_string(i + 1), 5405},
                                 .witness = false,
                                 .capacity = {}});
  }
  auto& rc = c.resources;
  for (std::size_t g = 0; g < resources / 2; ++g) {
    const std::string id = "g" + std::to_string(g);
    PrimitiveConfig ip;
    ip.id = id + "-ip";
    ip.cls = ResourceClass::kVip;
    PrimitiveConfig app;
    app.id = id + "-app";
    app.cls = ResourceClass::kOcf;
    app.provider = "heartbeat";
    app.type = "Dummy";
    rc.primitives.push_back(ip);
    rc.primitives.push_back(app);
    rc.groups.push_back(GroupConfig{id, {ip.id, app.id}});
  }
  return c;
}

Membership membership() {
  Membership m;
  m.term = Term{3};
  m.leads = true;
  m.up = {true, true, true};
  m.lease_over.assign(3, Instant::min());
  m.echo.assign(3, 0);
  return m;
}

void BM_StatusResources(benchmark::State& s) {
  const ClusterConfig config = make_config(static_cast<std::size_t>(s.range(0)));
  Conductor c(config, NodeId{0});
  const Membership m = membership();
  const Instant t0{Duration{1'000'000'000}};
  c.tick(m, t0);
  for (auto _ : s) {
    nlohmann::json j = nlohmann::json::object();
    add_resources_json(j, config, c, m, t0);
    benchmark::DoNotOptimize(ControlServer::dump(j));
  }
}
BENCHMARK(BM_StatusResources)->Arg(2000)->Arg(20000)->Unit(benchmark::kMillisecond);

void BM_ConductorState(benchmark::State& s) {
  const ClusterConfig config = make_config(static_cast<std::size_t>(s.range(0)));
  Conductor c(config, NodeId{0});
  const Membership m = membership();
  const Instant t0{Duration{1'000'000'000}};
  c.tick(m, t0);
  for (auto _ : s) benchmark::DoNotOptimize(c.state(m, t0));
}
BENCHMARK(BM_ConductorState)->Arg(2000)->Arg(20000)->Unit(benchmark::kMillisecond);

void BM_ConductorBuilt(benchmark::State& s) {
  const ClusterConfig config = make_config(static_cast<std::size_t>(s.range(0)));
  for (auto _ : s) benchmark::DoNotOptimize(Conductor(config, NodeId{0}));
}
BENCHMARK(BM_ConductorBuilt)->Arg(2000)->Arg(20000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hactl

BENCHMARK_MAIN();
