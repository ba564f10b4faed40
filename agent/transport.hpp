// UDP transport of one agent: seals outgoing messages, and opens, authenticates and
// replay-filters incoming datagrams before anything reaches the core. It never blocks (sends
// use uv_udp_try_send; a full socket buffer drops the datagram and counts it) and never trusts a
// byte it has not checked. Every dropped datagram is counted by reason.
#pragma once

#include <uv.h>

#include <array>
#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/arbiter_wire.hpp"
#include "common/config.hpp"
#include "common/limits.hpp"
#include "common/wire.hpp"

namespace hactl {

struct TransportCounters {
  std::uint64_t sent = 0;
  std::uint64_t send_failed = 0;
  std::uint64_t received = 0;
  std::array<std::uint64_t, kDropReasonCount> dropped{};
};

class Transport {
 public:
  using OnMessage = std::function<void(const Envelope&)>;
  using OnRestart = std::function<void(NodeId, std::uint64_t incarnation)>;  // the new one

  Transport(uv_loop_t* loop, const ClusterConfig& config, NodeId self, const ClusterKey& key,
            std::uint64_t incarnation);
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  std::expected<void, std::string> start(OnMessage on_message, OnRestart on_restart);
  void send(NodeId to, const Message& message);
  void close();
  const TransportCounters& counters() const { return counters_; }

 private:
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                      const struct sockaddr* addr, unsigned flags);
  void handle_datagram(std::span<const std::uint8_t> data, const sockaddr* from);
  // The arbiter (docs/pairs.md) speaks its own format, under the cluster's arbiter key.
  void send_to_arbiter(NodeId to, const Message& message);
  void handle_arbiter_datagram(std::span<const std::uint8_t> data, const sockaddr* from);
  bool send_bytes(const std::vector<std::uint8_t>& bytes, NodeId to);
  void drop(DropReason reason);
  void handle_verdict(const Envelope& env, PeerGate::Verdict verdict);

  uv_loop_t* loop_;
  const ClusterConfig& config_;
  NodeId self_;
  WireCodec codec_;
  std::optional<NodeId> arbiter_;
  std::unique_ptr<ArbiterSealer> arbiter_sealer_;  // with the arbiter key, when there is one
  ClusterKey arbiter_key_{};
  std::uint64_t incarnation_;
  std::uint64_t session_;                // this boot's challenge (new_session)
  std::vector<std::uint64_t> next_seq_;  // per recipient
  uv_udp_t udp_{};
  bool open_ = false;
  std::vector<sockaddr_storage> peer_addrs_;
  std::vector<PeerGate> gates_;
  std::vector<bool> heard_;  // a datagram was accepted from this sender before
  // One receive buffer, one byte larger than any valid datagram so oversize is detectable.
  std::array<char, limits::kMaxDatagramSize + 1> recv_buf_{};
  std::array<std::chrono::steady_clock::time_point, kDropReasonCount> last_drop_log_{};
  OnMessage on_message_;
  OnRestart on_restart_;
  TransportCounters counters_;
};

}  // namespace hactl
