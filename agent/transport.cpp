#include "agent/transport.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

#include "agent/event_bus.hpp"

namespace hactl {
namespace {

constexpr auto kDropLogInterval = std::chrono::seconds{10};

std::expected<sockaddr_storage, std::string> to_sockaddr(const NodeAddress& a) {
  sockaddr_storage ss{};
  int rc = 0;
  if (a.host.find(':') != std::string::npos) {
    rc = uv_ip6_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in6*>(&ss));
  } else {
    rc = uv_ip4_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in*>(&ss));
  }
  if (rc != 0) return std::unexpected("bad address " + a.to_string() + ": " + uv_strerror(rc));
  return ss;
}

// Same family, address and port.
bool same_endpoint(const sockaddr* a, const sockaddr_storage& b) {
  if (a == nullptr || a->sa_family != b.ss_family) return false;
  if (a->sa_family == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(a);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    const auto* x = reinterpret_cast<const sockaddr_in6*>(a);
    const auto* y = reinterpret_cast<const sockaddr_in6*>(&b);
    return x->sin6_port == y->sin6_port &&
           std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  return false;
}

}  // namespace

Transport::Transport(uv_loop_t* loop, const ClusterConfig& config, NodeId self,
                     const ClusterKey& key, std::uint64_t incarnation)
    : loop_(loop),
      config_(config),
      self_(self),
      codec_(config, key),
      incarnation_(incarnation),
      session_(new_session()),
      next_seq_(config.nodes.size(), 1),
      gates_(config.nodes.size(), PeerGate(session_)),
      heard_(config.nodes.size(), false) {
  arbiter_ = config.arbiter();
  if (arbiter_) {
    arbiter_key_ = derive_arbiter_key(key);
    arbiter_sealer_ = std::make_unique<ArbiterSealer>(arbiter_key_);
  }
}

std::expected<void, std::string> Transport::start(OnMessage on_message, OnRestart on_restart) {
  on_message_ = std::move(on_message);
  on_restart_ = std::move(on_restart);
  for (const auto& n : config_.nodes) {
    auto ss = to_sockaddr(n.address);
    if (!ss) return std::unexpected(ss.error());
    peer_addrs_.push_back(*ss);
  }
  uv_udp_init(loop_, &udp_);
  udp_.data = this;
  open_ = true;
  const auto& own = config_.node(self_).address;
  int rc = uv_udp_bind(&udp_, reinterpret_cast<const sockaddr*>(&peer_addrs_[self_.value]), 0);
  if (rc != 0) {
    return std::unexpected("cannot bind UDP " + own.to_string() + ": " + uv_strerror(rc) +
                           " (is this node's address configured on this host?)");
  }
  rc = uv_udp_recv_start(&udp_, &Transport::on_alloc, &Transport::on_recv);
  if (rc != 0) return std::unexpected(std::string("cannot receive: ") + uv_strerror(rc));
  return {};
}

void Transport::close() {
  if (!open_) return;
  open_ = false;
  uv_udp_recv_stop(&udp_);
  uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
}

void Transport::send(NodeId to, const Message& message) {
  if (!open_) return;
  if (arbiter_ && to == *arbiter_) {
    send_to_arbiter(to, message);
    return;
  }
  Envelope env{{self_, to, incarnation_, session_, gates_[to.value].echo(), next_seq_[to.value]++},
               message};
  send_bytes(codec_.seal(env), to);
}

void Transport::send_to_arbiter(NodeId to, const Message& message) {
  if (!travels_to_arbiter(message)) return;  // the runtime sends it nothing else
  ArbiterEnvelope env;
  env.cluster = config_.name;
  env.sender = config_.node(self_).name;
  env.recipient = config_.node(to).name;
  env.incarnation = incarnation_;
  env.session = session_;
  env.echo = gates_[to.value].echo();
  env.seq = next_seq_[to.value]++;
  env.message = message;
  send_bytes(arbiter_sealer_->seal(env), to);
}

bool Transport::send_bytes(const std::vector<std::uint8_t>& bytes, NodeId to) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                             static_cast<unsigned>(bytes.size()));
  const int rc =
      uv_udp_try_send(&udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&peer_addrs_[to.value]));
  if (rc < 0) {
    ++counters_.send_failed;
    return false;
  }
  ++counters_.sent;
  return true;
}

void Transport::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Transport*>(handle->data);
  *buf = uv_buf_init(self->recv_buf_.data(), static_cast<unsigned>(self->recv_buf_.size()));
}

void Transport::on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                        unsigned flags) {
  auto* self = static_cast<Transport*>(handle->data);
  if (nread <= 0 || addr == nullptr) return;  // nothing, or an error we cannot attribute
  if ((flags & UV_UDP_PARTIAL) != 0 || static_cast<std::size_t>(nread) > limits::kMaxDatagramSize) {
    self->drop(DropReason::kOversized);
    return;
  }
  self->handle_datagram(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf->base),
                                    static_cast<std::size_t>(nread)),
      addr);
}

void Transport::handle_datagram(std::span<const std::uint8_t> data, const sockaddr* from) {
  if (arbiter_ && data.size() >= 2 && data[0] == 'H' && data[1] == 'Q') {
    handle_arbiter_datagram(data, from);
    return;
  }
  auto env = codec_.open(data);
  if (!env) {
    drop(env.error());
    return;
  }
  if (env->sender == self_) {
    drop(DropReason::kFromSelf);
    return;
  }
  if (env->recipient != self_) {
    drop(DropReason::kWrongRecipient);
    return;
  }
  // A peer sends from the address and port it is configured with (its bound socket): an
  // authentic datagram from anywhere else was captured and sent again (relayed to another
  // node, or replayed from another host). Dropped before it touches the peer's gate.
  if (!same_endpoint(from, peer_addrs_[env->sender.value])) {
    drop(DropReason::kWrongSource);
    return;
  }
  handle_verdict(*env, gates_[env->sender.value].check(*env));
}

// From the arbiter: its key, this cluster, addressed to us by the name the arbiter has in the
// cluster file, from its configured address, and through its gate like any peer's datagram.
void Transport::handle_arbiter_datagram(std::span<const std::uint8_t> data, const sockaddr* from) {
  auto a = open_arbiter(data, arbiter_key_);
  if (!a) {
    drop(a.error());
    return;
  }
  const NodeId arbiter = *arbiter_;
  if (a->cluster != config_.name || a->recipient != config_.node(self_).name) {
    drop(DropReason::kWrongRecipient);
    return;
  }
  if (a->sender != config_.node(arbiter).name) {
    drop(DropReason::kUnknownSender);
    return;
  }
  if (!same_endpoint(from, peer_addrs_[arbiter.value])) {
    drop(DropReason::kWrongSource);
    return;
  }
  Envelope env;
  static_cast<Header&>(env) = gate_header(*a);
  env.sender = arbiter;
  env.recipient = self_;
  env.message = std::move(a->message);
  handle_verdict(env, gates_[arbiter.value].check(env));
}

void Transport::handle_verdict(const Envelope& env, PeerGate::Verdict verdict) {
  using V = PeerGate::Verdict;
  if (verdict == V::kReplayed) return drop(DropReason::kReplayed);
  if (verdict == V::kStaleIncarnation) return drop(DropReason::kStaleIncarnation);
  if (verdict == V::kStaleEcho) return drop(DropReason::kStaleEcho);
  ++counters_.received;
  const bool restarted = verdict == V::kAcceptNewIncarnation && heard_[env.sender.value];
  heard_[env.sender.value] = true;
  if (restarted) on_restart_(env.sender, env.incarnation);
  on_message_(env);
}

void Transport::drop(DropReason reason) {
  const auto i = static_cast<std::size_t>(reason);
  ++counters_.dropped[i];
  // At most one line per reason per interval: a flood must not fill the disk.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_drop_log_[i] < kDropLogInterval) return;
  last_drop_log_[i] = now;
  // Every peer's first datagrams after this agent starts (and after the peer starts) are sealed
  // before it heard the other's challenge: routine, counted, not worth a warning each boot.
  const auto level = reason == DropReason::kStaleEcho ? EventLevel::kInfo : EventLevel::kWarn;
  emit_event(Event(EventKind::kDatagramDropped, level)
                 .add("reason", to_string(reason))
                 .add("total", counters_.dropped[i]));
}

}  // namespace hactl
