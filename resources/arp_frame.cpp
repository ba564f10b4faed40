#include "resources/arp_frame.hpp"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace hactl {

ArpFrame arp_request(const MacAddress& sender_mac, const Ipv4Bytes& sender_ip,
                     const Ipv4Bytes& target_ip) {
  // Hardware type 1 (Ethernet), protocol 0x0800 (IPv4), lengths 6 and 4, operation 1.
  ArpFrame f{0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
  std::copy(sender_mac.begin(), sender_mac.end(), f.begin() + 8);
  std::copy(sender_ip.begin(), sender_ip.end(), f.begin() + 14);
  // 18..23: the target hardware address, unknown: zero.
  std::copy(target_ip.begin(), target_ip.end(), f.begin() + 24);
  return f;
}

ArpFrame gratuitous_arp(const MacAddress& mac, const Ipv4Bytes& address) {
  return arp_request(mac, address, address);
}

ArpFrame arp_probe(const MacAddress& mac, const Ipv4Bytes& address) {
  return arp_request(mac, Ipv4Bytes{}, address);
}

int send_arp_broadcast(int fd, unsigned ifindex, const ArpFrame& frame) {
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = static_cast<int>(ifindex);
  to.sll_halen = 6;
  std::fill_n(to.sll_addr, 6, 0xff);
  const ssize_t n =
      ::sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  if (n == static_cast<ssize_t>(frame.size())) return 0;
  return n < 0 ? errno : EMSGSIZE;
}

}  // namespace hactl
