// The ARP frames hactl sends for an IPv4 vip, built in one place (RFC 826's layout for Ethernet
// and IPv4): the gratuitous request that announces an address after a move (RFC 5227 section
// 3) and the probe a checking node sends to ask who holds it (RFC 5227 section 2.1.1). Both go
// out as link-layer broadcasts through an AF_PACKET SOCK_DGRAM socket: the kernel adds the
// Ethernet header, so a frame here is the 28-byte ARP payload only.
#pragma once

#include <array>
#include <cstdint>

#include "common/messages.hpp"

namespace hactl {

using Ipv4Bytes = std::array<std::uint8_t, 4>;  // network order
using ArpFrame = std::array<std::uint8_t, 28>;

// The IPv4 address in the first four bytes of an address buffer sized for IPv6 too.
inline Ipv4Bytes ipv4_bytes(const std::array<std::uint8_t, 16>& address) {
  return {address[0], address[1], address[2], address[3]};
}

// An ARP request (operation 1) from `sender_mac`: target hardware address zero, as RFC 5227
// asks of requests.
ArpFrame arp_request(const MacAddress& sender_mac, const Ipv4Bytes& sender_ip,
                     const Ipv4Bytes& target_ip);
// Announces that `mac` holds `address`: sender and target address both the address, so every
// neighbour that caches it updates its entry.
ArpFrame gratuitous_arp(const MacAddress& mac, const Ipv4Bytes& address);
// Asks who holds `address` with sender address 0.0.0.0, so no neighbour cache learns from it;
// the kernel that holds the address answers it.
ArpFrame arp_probe(const MacAddress& mac, const Ipv4Bytes& address);

// Sends `frame` to the Ethernet broadcast address on interface `ifindex` through `fd` (an
// AF_PACKET SOCK_DGRAM socket). 0 once the whole frame left, else the errno.
int send_arp_broadcast(int fd, unsigned ifindex, const ArpFrame& frame);

}  // namespace hactl
