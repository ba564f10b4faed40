// The parameters of a `vip` primitive, parsed and checked in one place for the config loader
// (errors name the key), the executor (resources/vip.hpp) and the announcer
// (coordinator/announcer.hpp).
#pragma once

#include <expected>
#include <map>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace hactl {

struct VipParams {
  std::string address;    // "10.0.0.100/24" or "fd00::100/64"
  std::string interface;  // e.g. eth0
  bool ipv6 = false;
  // After a start, another node checks that the address is announced and answered from this
  // node's MAC; until then the holder repeats its announcements on a backoff.
  bool verify = true;
  // Once verified (or, without verify, once the start's repeats are done), the holder
  // announces the address again this often; 0 = never.
  Duration announce_refresh = std::chrono::seconds{60};
  // IPv6: add the address without duplicate address detection (it is usable at once). With
  // false the start waits for DAD to finish; a tentative or dadfailed address is not started.
  bool nodad = true;
  // IPv6: preferred_lft 0 ("deprecated"), so the kernel does not pick the VIP as a source
  // address for connections this node opens.
  bool deprecated = false;
  // The address may lie outside every subnet configured on the interface (a /32 routed to
  // this host, a provider's failover address). Without it, the host check (common/
  // host_check.hpp) refuses such an address: it is most often a typo, or the wrong interface.
  bool outside_subnet = false;
};

struct VipParamError {
  std::string key;  // the parameter ("address", "verify", ...)
  std::string message;
};

std::expected<VipParams, std::vector<VipParamError>> parse_vip_params(
    const std::map<std::string, std::string>& params);

}  // namespace hactl
