// What hactl-arbiter shows of itself: Prometheus text (GET /metrics) and a JSON status
// (GET /status, read by `hactl arbiter status`). Pure: rendered from a snapshot of the daemon.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "arbiter/served_cluster.hpp"

namespace hactl {

struct DaemonCounters {
  std::uint64_t received = 0;  // datagrams read off the socket
  std::uint64_t sent = 0;
  std::uint64_t send_failed = 0;
  std::uint64_t key_reloads = 0;
  std::map<std::string, std::uint64_t, std::less<>> dropped;  // by reason, every cluster's too
};

using ClusterMap = std::map<std::string, std::unique_ptr<ServedCluster>, std::less<>>;

struct DaemonSnapshot {
  const DaemonCounters& counters;
  const ClusterMap& clusters;
  std::size_t keys = 0;  // clusters with a key now
  Instant now;
  Duration uptime{0};
  std::uint64_t incarnation = 0;
  std::string listen;
  std::vector<std::string> unreadable;  // clusters not served: their state file did not parse
};

std::string render_metrics(const DaemonSnapshot& s);
std::string render_status(const DaemonSnapshot& s);

}  // namespace hactl
