#include "resources/vip_check.hpp"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include "resources/arp_frame.hpp"
#include "resources/vip.hpp"

namespace hactl {

struct VipChecker::Check {
  VipChecker* owner = nullptr;
  VipCheckRequest request;
  Done done;
  VipCheckResult result;
  int family = AF_INET;
  std::array<std::uint8_t, 16> address{};
  unsigned ifindex = 0;
  MacAddress own_mac{};
  int fd = -1;
  uv_poll_t poll{};
  uv_timer_t timer{};
  std::uint64_t deadline_ms = 0;  // uv_now
  int open_handles = 0;
  bool ended = false;
};

namespace {

constexpr std::uint64_t kProbeEveryMs = 500;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void add_mac(std::vector<MacAddress>& list, const MacAddress& mac) {
  if (list.size() < kMaxCheckMacs && std::find(list.begin(), list.end(), mac) == list.end()) {
    list.push_back(mac);
  }
}

std::string open_socket(VipChecker::Check& c) {
  if (c.family == AF_INET) {
    // Protocol 0 first, ARP at bind: a socket created for ARP is already hooked in, and
    // re-binding it waits for an RCU grace period (15 ms and more on the loop on a busy host).
    c.fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c.fd < 0) return errno_text("packet socket");
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_ARP);
    at.sll_ifindex = static_cast<int>(c.ifindex);
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) return errno_text("bind");
    return {};
  }
  c.fd = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
  if (c.fd < 0) return errno_text("ICMPv6 socket");
  icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  ICMP6_FILTER_SETPASS(ND_NEIGHBOR_ADVERT, &filter);
  if (::setsockopt(c.fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0)
    return errno_text("ICMP6_FILTER");
  if (::setsockopt(c.fd, SOL_SOCKET, SO_BINDTODEVICE, c.request.interface.c_str(),
                   static_cast<socklen_t>(c.request.interface.size())) != 0)
    return errno_text("SO_BINDTODEVICE");
  int hops = 255;  // RFC 4861: neighbour discovery is only believed with hop limit 255
  ::setsockopt(c.fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
  ::setsockopt(c.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &c.ifindex, sizeof c.ifindex);
  return {};
}

void send_probe(VipChecker::Check& c) {
  if (c.family == AF_INET) {
    // One that does not leave is sent again at the next round (kProbeEveryMs).
    [[maybe_unused]] const int err =
        send_arp_broadcast(c.fd, c.ifindex, arp_probe(c.own_mac, ipv4_bytes(c.address)));
    return;
  }
  unsigned char msg[32] = {};
  msg[0] = ND_NEIGHBOR_SOLICIT;
  std::memcpy(msg + 8, c.address.data(), 16);
  msg[24] = ND_OPT_SOURCE_LINKADDR;
  msg[25] = 1;
  std::memcpy(msg + 26, c.own_mac.data(), 6);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  // The solicited-node multicast group of the address: ff02::1:ffXX:XXXX.
  static constexpr std::uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
  std::memcpy(to.sin6_addr.s6_addr, kPrefix, 13);
  std::memcpy(to.sin6_addr.s6_addr + 13, c.address.data() + 13, 3);
  to.sin6_scope_id = c.ifindex;
  [[maybe_unused]] const ssize_t n =
      ::sendto(c.fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
}

// Reads what arrived; true when the check can end.
bool receive(VipChecker::Check& c) {
  unsigned char buf[1500];
  for (int k = 0; k < 64; ++k) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const ssize_t n =
        ::recvfrom(c.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) break;
    MacAddress mac{};
    bool answer = false;
    if (c.family == AF_INET) {
      const auto* ll = reinterpret_cast<const sockaddr_ll*>(&from);
      if (ll->sll_pkttype == PACKET_OUTGOING || n < 28) continue;
      if (buf[0] != 0 || buf[1] != 1 || buf[2] != 8 || buf[3] != 0 || buf[4] != 6 || buf[5] != 4)
        continue;
      const unsigned op = (buf[6] << 8) | buf[7];
      if (std::memcmp(buf + 14, c.address.data(), 4) != 0) continue;  // sender is not the vip
      std::memcpy(mac.data(), buf + 8, 6);
      const bool gratuitous = std::memcmp(buf + 24, c.address.data(), 4) == 0;
      if (!gratuitous && op != 2) continue;
      answer = !gratuitous;
    } else {
      if (n < 24 || buf[0] != ND_NEIGHBOR_ADVERT || buf[1] != 0) continue;
      if (std::memcmp(buf + 8, c.address.data(), 16) != 0) continue;
      bool found = false;
      for (ssize_t at = 24; at + 8 <= n;) {
        const std::size_t len = static_cast<std::size_t>(buf[at + 1]) * 8;
        if (len == 0) break;
        if (buf[at] == ND_OPT_TARGET_LINKADDR && len == 8) {
          std::memcpy(mac.data(), buf + at + 2, 6);
          found = true;
        }
        at += static_cast<ssize_t>(len);
      }
      if (!found) continue;           // cannot tell whose it is
      answer = (buf[4] & 0x40) != 0;  // solicited
    }
    add_mac(answer ? c.result.answered : c.result.announced, mac);
  }
  const auto& r = c.result;
  auto other = [&](const std::vector<MacAddress>& l) {
    return std::any_of(l.begin(), l.end(), [&](const MacAddress& m) { return m != c.request.mac; });
  };
  auto holder = [&](const std::vector<MacAddress>& l) {
    return std::find(l.begin(), l.end(), c.request.mac) != l.end();
  };
  return other(r.answered) || other(r.announced) || (holder(r.answered) && holder(r.announced));
}

}  // namespace

VipChecker::~VipChecker() { close(); }

void VipChecker::close() {
  for (Check* c : std::set<Check*>(checks_)) {
    c->done = nullptr;
    finish(c);
  }
}

void VipChecker::check(const VipCheckRequest& request, Done done) {
  auto* c = new Check;
  c->owner = this;
  c->request = request;
  c->done = std::move(done);
  c->result.term = request.term;
  c->result.id = request.id;
  c->result.index = request.index;
  checks_.insert(c);
  uv_timer_init(loop_, &c->timer);
  c->timer.data = c;
  ++c->open_handles;
  auto refuse = [&](std::string detail) {
    c->result.probed = false;
    c->result.detail = std::move(detail);
    c->deadline_ms = 0;
    uv_timer_start(
        &c->timer,
        [](uv_timer_t* t) {
          static_cast<Check*>(t->data)->owner->finish(static_cast<Check*>(t->data));
        },
        0, 0);
  };
  if (checks_.size() > kMaxRunning) return refuse("busy: too many checks at once");
  c->family = request.address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (inet_pton(c->family, request.address.c_str(), c->address.data()) != 1)
    return refuse("'" + request.address + "' is not an address");
  c->ifindex = if_nametoindex(request.interface.c_str());
  if (request.interface.empty() || c->ifindex == 0)
    return refuse("no interface " + request.interface + " here");
  const auto mac = interface_mac(request.interface);
  if (!mac) return refuse(mac.error());
  c->own_mac = *mac;
  if (std::string err = open_socket(*c); !err.empty()) return refuse(err);
  c->result.probed = true;
  uv_poll_init(loop_, &c->poll, c->fd);
  c->poll.data = c;
  ++c->open_handles;
  uv_poll_start(&c->poll, UV_READABLE, [](uv_poll_t* h, int status, int) {
    auto* ch = static_cast<Check*>(h->data);
    if (status < 0 || receive(*ch)) ch->owner->finish(ch);
  });
  c->deadline_ms = uv_now(loop_) + std::clamp<std::uint64_t>(request.window_ms, 1, 10'000);
  send_probe(*c);
  // Each tick: the window over, or time for another probe.
  uv_timer_start(
      &c->timer,
      [](uv_timer_t* t) {
        auto* ch = static_cast<Check*>(t->data);
        if (uv_now(t->loop) >= ch->deadline_ms) return ch->owner->finish(ch);
        if (ch->result.answered.empty()) send_probe(*ch);
      },
      kProbeEveryMs, kProbeEveryMs);
  // The window may be shorter than a probe interval.
  if (request.window_ms < kProbeEveryMs)
    uv_timer_start(
        &c->timer,
        [](uv_timer_t* t) {
          auto* ch = static_cast<Check*>(t->data);
          ch->owner->finish(ch);
        },
        request.window_ms, 0);
}

void VipChecker::finish(Check* c) {
  if (c->ended) return;
  c->ended = true;
  checks_.erase(c);
  if (c->result.probed && c->result.answered.empty() && c->result.announced.empty()) {
    c->result.detail = "nothing heard for " + c->request.address + " on " + c->request.interface;
  }
  Done done = std::move(c->done);
  VipCheckResult result = std::move(c->result);
  auto closed = [](uv_handle_t* h) {
    auto* ch = static_cast<Check*>(h->data);
    if (--ch->open_handles == 0) {
      // Closing a packet socket waits for an RCU grace period (tens of milliseconds on a busy
      // host): a thread of its own does it, never the loop.
      if (ch->fd >= 0) std::thread([fd = ch->fd] { ::close(fd); }).detach();
      delete ch;
    }
  };
  uv_timer_stop(&c->timer);
  if (c->open_handles == 2) {
    uv_poll_stop(&c->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->poll), closed);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), closed);
  if (done) done(std::move(result));
}

}  // namespace hactl
