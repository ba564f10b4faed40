// hactl-arbiter's shell: one UDP socket on a libuv loop, the clusters it serves
// (arbiter/served_cluster.hpp), their keys and state files, and the HTTP listener for /metrics
// and /status. The loop only dispatches: a datagram is opened, stepped and answered on it (each
// costs a few microseconds, independent of its content beyond the 1400 bytes it may have), while
// state writes (fsync) and key directory reads run on libuv's worker threads. An answer that
// depends on a state leaves only once the write of that state has completed.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "agent/http_server.hpp"
#include "arbiter/key_dir.hpp"
#include "arbiter/report.hpp"
#include "arbiter/served_cluster.hpp"

namespace hactl {

inline constexpr std::string_view kDefaultArbiterListen = "0.0.0.0:5406";
inline constexpr std::string_view kDefaultArbiterKeys = "/etc/hactl-arbiter/clusters";
inline constexpr std::string_view kDefaultArbiterStateDir = "/var/lib/hactl-arbiter";

struct ArbiterOptions {
  std::string listen{kDefaultArbiterListen};
  std::string keys_dir{kDefaultArbiterKeys};
  std::string state_dir{kDefaultArbiterStateDir};
  std::string http{kDefaultArbiterHttpAddress};
};

class ArbiterDaemon {
 public:
  ArbiterDaemon(uv_loop_t* loop, ArbiterOptions options);
  ArbiterDaemon(const ArbiterDaemon&) = delete;
  ArbiterDaemon& operator=(const ArbiterDaemon&) = delete;
  ~ArbiterDaemon();

  // Reads the state files and the keys (blocking: before anything is served), then binds the
  // socket and the HTTP listener. The error says what and where.
  std::expected<void, std::string> start();
  // SIGHUP: reads the key directory again, on a worker thread.
  void reload_keys();
  // Stops reading; state writes in flight complete (the loop ends once they have).
  void stop();

  std::string metrics_text() const;
  std::string status_json() const;
  int udp_port() const;

 private:
  struct WriteJob;
  struct ReloadJob;
  Instant now() const;
  DaemonSnapshot snapshot() const;
  std::expected<void, std::string> load_states();
  std::expected<void, std::string> bind_udp();
  void apply_keys(KeyDir loaded, bool at_start);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                      unsigned flags);
  void on_datagram(std::span<const std::uint8_t> bytes, const sockaddr* from);
  ServedCluster* cluster_for(const std::string& name);
  void pump(ServedCluster& c);
  void start_write(ServedCluster& c, StateWrite w);
  void on_written(const std::string& cluster, std::uint64_t generation,
                  const std::expected<void, std::string>& result);
  void send(const SealedAnswer& o);
  void drop(std::string_view reason, ServedCluster* c, std::string_view detail = {});
  void on_housekeeping();

  uv_loop_t* loop_;
  ArbiterOptions options_;
  Instant started_{};
  std::uint64_t incarnation_ = 0;
  uv_udp_t udp_{};
  uv_timer_t housekeeping_{};
  bool open_ = false;
  bool stopping_ = false;
  std::array<char, 2048> recv_buf_{};
  std::map<std::string, ClusterKey> keys_;
  std::map<std::string, ArbiterHardState, std::less<>> persisted_;  // read at start
  std::set<std::string, std::less<>> unreadable_;  // clusters whose state file did not parse
  ClusterMap clusters_;
  DaemonCounters counters_;
  std::map<std::string, std::uint64_t, std::less<>> unlogged_drops_;  // since the last drop log
  std::map<std::string, std::string, std::less<>> last_drop_detail_;  // e.g. the unknown cluster
  std::uint64_t housekeeping_turns_ = 0;
  std::uint64_t writes_in_flight_ = 0;
  bool reloading_ = false;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace hactl
