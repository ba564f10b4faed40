// The `vip` resource class: a virtual IP address on an interface, added and removed through
// rtnetlink (libnl-route-3) and announced with gratuitous ARP (IPv4) or an unsolicited
// neighbour advertisement (IPv6, RFC 4861 section 7.2.6) so that neighbours update their
// caches at once. Monitor checks the address is present and usable (an IPv6 address that is
// still tentative, or failed duplicate address detection, does not count as started).
#pragma once

#include <array>
#include <expected>
#include <map>
#include <string>

#include "common/messages.hpp"
#include "common/vip_params.hpp"
#include "resources/ocf_agent.hpp"

namespace hactl {

struct VipSpec {
  int family = 0;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> address{};
  int prefix = 0;
  std::string interface;
  std::string text;         // "10.0.0.100/24", for messages
  bool nodad = true;        // IPv6: no duplicate address detection (VipParams::nodad)
  bool deprecated = false;  // IPv6: preferred_lft 0
};

// The MAC address of a local interface.
std::expected<MacAddress, std::string> interface_mac(const std::string& ifname);

std::expected<VipSpec, std::string> parse_vip(const std::map<std::string, std::string>& params);

// Each returns the OCF code the operation amounts to, and a sentence when it failed.
struct VipResult {
  OcfCode code = OcfCode::kSuccess;
  std::string message;
};
// Add (idempotent), then announce. An IPv6 address with DAD (nodad false) is not announced:
// it is tentative; the caller polls vip_monitor until it is usable (or failed), then announces.
VipResult vip_start(const VipSpec& vip);
VipResult vip_stop(const VipSpec& vip);     // remove (idempotent)
VipResult vip_monitor(const VipSpec& vip);  // kSuccess present, kNotRunning absent
// Sends one gratuitous ARP / unsolicited NA for the address from the interface's MAC.
VipResult vip_announce(const VipSpec& vip);

}  // namespace hactl
