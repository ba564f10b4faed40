#include "resources/vip.hpp"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "resources/arp_frame.hpp"

namespace hactl {
namespace {

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct AddrDeleter {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using Sock = std::unique_ptr<nl_sock, SockDeleter>;

VipResult fail(OcfCode code, std::string message) { return VipResult{code, std::move(message)}; }

std::expected<Sock, std::string> connect_route() {
  Sock s(nl_socket_alloc());
  if (!s) return std::unexpected("cannot allocate a netlink socket");
  if (int rc = nl_connect(s.get(), NETLINK_ROUTE); rc < 0) {
    return std::unexpected(std::string("cannot open rtnetlink: ") + nl_geterror(rc));
  }
  return s;
}

// The rtnl_addr describing this VIP on its interface (ifindex resolved now).
std::expected<std::unique_ptr<rtnl_addr, AddrDeleter>, VipResult> make_addr(const VipSpec& vip) {
  const unsigned ifindex = if_nametoindex(vip.interface.c_str());
  if (ifindex == 0) {
    return std::unexpected(
        fail(OcfCode::kErrConfigured, "no interface " + vip.interface + " on this node"));
  }
  std::unique_ptr<rtnl_addr, AddrDeleter> a(rtnl_addr_alloc());
  std::unique_ptr<nl_addr, NlAddrDeleter> local(
      nl_addr_build(vip.family, vip.address.data(), vip.family == AF_INET ? 4 : 16));
  nl_addr_set_prefixlen(local.get(), vip.prefix);
  rtnl_addr_set_ifindex(a.get(), static_cast<int>(ifindex));
  rtnl_addr_set_local(a.get(), local.get());
  rtnl_addr_set_prefixlen(a.get(), vip.prefix);
  if (vip.family == AF_INET6 && vip.nodad) rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
  if (vip.family == AF_INET6 && vip.deprecated) {
    rtnl_addr_set_valid_lifetime(a.get(), 0xffffffffU);  // forever
    rtnl_addr_set_preferred_lifetime(a.get(), 0);        // never picked as a source address
  }
  return a;
}

// One packet socket for every gratuitous ARP of this process, opened at the first and never
// closed: closing an AF_PACKET socket waits for an RCU grace period (packet_release calls
// synchronize_net), 6 to 36 ms on the loop per announcement with five busy agents on one host
// (bench/coordinator_loss.py), and a node announcing 40 vips lost its lease. Protocol 0: it
// sends only, so nothing queues up on it.
int arp_socket() {
  static const int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  return fd;
}

VipResult announce_v4(const VipSpec& vip, unsigned ifindex, const MacAddress& mac) {
  const int fd = arp_socket();
  if (fd < 0) return fail(OcfCode::kErrPerm, std::string("packet socket: ") + std::strerror(errno));
  const int err = send_arp_broadcast(fd, ifindex, gratuitous_arp(mac, ipv4_bytes(vip.address)));
  if (err != 0)
    return fail(OcfCode::kErrGeneric, std::string("gratuitous ARP: ") + std::strerror(err));
  return {};
}

VipResult announce_v6(const VipSpec& vip, unsigned ifindex, const MacAddress& mac) {
  const int fd = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
  if (fd < 0) return fail(OcfCode::kErrPerm, std::string("ICMPv6 socket: ") + std::strerror(errno));
  int hops = 255;  // RFC 4861: neighbour discovery is only believed with hop limit 255
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
  unsigned char msg[32] = {};
  msg[0] = ND_NEIGHBOR_ADVERT;
  msg[4] = 0x20;  // override flag: replace cached link-layer addresses
  std::memcpy(msg + 8, vip.address.data(), 16);
  msg[24] = ND_OPT_TARGET_LINKADDR;
  msg[25] = 1;  // length in units of 8 bytes
  std::memcpy(msg + 26, mac.data(), 6);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
  to.sin6_scope_id = ifindex;
  const ssize_t n = ::sendto(fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  const int err = errno;
  ::close(fd);
  if (n != sizeof msg)
    return fail(OcfCode::kErrGeneric,
                std::string("neighbour advertisement: ") + std::strerror(err));
  return {};
}

}  // namespace

std::expected<MacAddress, std::string> interface_mac(const std::string& ifname) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
  ifreq req{};
  std::strncpy(req.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  const int rc = ::ioctl(fd, SIOCGIFHWADDR, &req);
  ::close(fd);
  if (rc != 0)
    return std::unexpected("cannot read the MAC of " + ifname + ": " + std::strerror(errno));
  MacAddress mac{};
  std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, 6);
  return mac;
}

std::expected<VipSpec, std::string> parse_vip(const std::map<std::string, std::string>& params) {
  const auto parsed = parse_vip_params(params);
  if (!parsed) {
    const VipParamError& e = parsed.error().front();
    return std::unexpected(e.key + ": " + e.message);
  }
  VipSpec v;
  v.text = parsed->address;
  v.interface = parsed->interface;
  v.nodad = parsed->nodad;
  v.deprecated = parsed->deprecated;
  const auto slash = v.text.find('/');
  const std::string ip = v.text.substr(0, slash);
  v.family = parsed->ipv6 ? AF_INET6 : AF_INET;
  if (inet_pton(v.family, ip.c_str(), v.address.data()) != 1)
    return std::unexpected("'" + ip + "' is not an address");
  v.prefix = std::atoi(v.text.c_str() + slash + 1);
  return v;
}

VipResult vip_start(const VipSpec& vip) {
  auto sock = connect_route();
  if (!sock) return fail(OcfCode::kErrGeneric, sock.error());
  auto a = make_addr(vip);
  if (!a) return a.error();
  const int rc = rtnl_addr_add(sock->get(), a->get(), NLM_F_CREATE | NLM_F_EXCL);
  if (rc < 0 && rc != -NLE_EXIST) {
    return fail(OcfCode::kErrGeneric,
                "cannot add " + vip.text + " to " + vip.interface + ": " + nl_geterror(rc));
  }
  // With duplicate address detection the address is tentative for now: the caller waits for
  // vip_monitor to say it is usable, then announces it.
  if (vip.family == AF_INET6 && !vip.nodad) return {};
  return vip_announce(vip);
}

VipResult vip_stop(const VipSpec& vip) {
  auto sock = connect_route();
  if (!sock) return fail(OcfCode::kErrGeneric, sock.error());
  auto a = make_addr(vip);
  if (!a)
    return a.error().code == OcfCode::kErrConfigured ? VipResult{}
                                                     : a.error();  // no interface: not there
  const int rc = rtnl_addr_delete(sock->get(), a->get(), 0);
  if (rc < 0 && rc != -NLE_NOADDR && rc != -NLE_OBJ_NOTFOUND && rc != -NLE_NODEV) {
    return fail(OcfCode::kErrGeneric,
                "cannot remove " + vip.text + " from " + vip.interface + ": " + nl_geterror(rc));
  }
  return {};
}

VipResult vip_monitor(const VipSpec& vip) {
  auto sock = connect_route();
  if (!sock) return fail(OcfCode::kErrGeneric, sock.error());
  const unsigned ifindex = if_nametoindex(vip.interface.c_str());
  if (ifindex == 0) return fail(OcfCode::kNotRunning, "no interface " + vip.interface);
  nl_cache* raw = nullptr;
  if (int rc = rtnl_addr_alloc_cache(sock->get(), &raw); rc < 0) {
    return fail(OcfCode::kErrGeneric, std::string("cannot list addresses: ") + nl_geterror(rc));
  }
  std::unique_ptr<nl_cache, CacheDeleter> cache(raw);
  const std::size_t len = vip.family == AF_INET ? 4 : 16;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    nl_addr* local = rtnl_addr_get_local(a);
    if (rtnl_addr_get_ifindex(a) != static_cast<int>(ifindex) ||
        rtnl_addr_get_family(a) != vip.family || local == nullptr ||
        nl_addr_get_len(local) != len ||
        std::memcmp(nl_addr_get_binary_addr(local), vip.address.data(), len) != 0) {
      continue;
    }
    const unsigned flags = rtnl_addr_get_flags(a);
    if ((flags & IFA_F_DADFAILED) != 0)
      return fail(OcfCode::kErrGeneric, vip.text + " failed duplicate address detection");
    if ((flags & IFA_F_TENTATIVE) != 0)
      return fail(OcfCode::kNotRunning, vip.text + " is still tentative");
    return {};
  }
  return fail(OcfCode::kNotRunning, vip.text + " is not on " + vip.interface);
}

VipResult vip_announce(const VipSpec& vip) {
  const unsigned ifindex = if_nametoindex(vip.interface.c_str());
  if (ifindex == 0) return fail(OcfCode::kErrConfigured, "no interface " + vip.interface);
  auto mac = interface_mac(vip.interface);
  if (!mac) return fail(OcfCode::kErrGeneric, mac.error());
  return vip.family == AF_INET ? announce_v4(vip, ifindex, *mac) : announce_v6(vip, ifindex, *mac);
}

}  // namespace hactl
