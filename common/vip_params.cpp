#include "common/vip_params.hpp"

#include <arpa/inet.h>

#include "common/config.hpp"
#include "common/names.hpp"

namespace hactl {
namespace {

// One literal: tests/integration/test_manpages.py reads the keys off it.
constexpr const char* kKnown =
    "(known: address, interface, verify, announce_refresh, nodad, preferred_lft, outside_subnet)";

bool valid_cidr(const std::string& s, bool& v6) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  const std::string ip = s.substr(0, slash);
  const std::string prefix = s.substr(slash + 1);
  v6 = ip.find(':') != std::string::npos;
  unsigned char buf[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, ip.c_str(), buf) != 1) return false;
  if (prefix.empty() || prefix.size() > 3 ||
      prefix.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  return std::stoi(prefix) <= (v6 ? 128 : 32);
}

}  // namespace

std::expected<VipParams, std::vector<VipParamError>> parse_vip_params(
    const std::map<std::string, std::string>& params) {
  VipParams v;
  std::vector<VipParamError> errors;
  auto boolean = [&](const std::string& key, const std::string& text, bool& out) {
    if (text == "true" || text == "yes" || text == "on") {
      out = true;
    } else if (text == "false" || text == "no" || text == "off") {
      out = false;
    } else {
      errors.push_back({key, "must be true or false, got '" + text + "'"});
    }
  };
  bool v6_only_set = false;
  std::string v6_key;
  for (const auto& [k, text] : params) {
    if (k == "address") {
      v.address = text;
      if (!valid_cidr(text, v.ipv6)) {
        errors.push_back(
            {k, "'" + text + "' is not an address/prefix such as 10.0.0.100/24 or fd00::100/64"});
      }
    } else if (k == "interface") {
      v.interface = text;
      if (const auto why = interface_name_problem(text)) errors.push_back({k, *why});
    } else if (k == "verify") {
      boolean(k, text, v.verify);
    } else if (k == "outside_subnet") {
      boolean(k, text, v.outside_subnet);
    } else if (k == "announce_refresh") {
      const auto d = parse_duration(text);
      if (!d) {
        errors.push_back({k, d.error()});
      } else if (*d != Duration::zero() &&
                 (*d < std::chrono::seconds{1} || *d > std::chrono::hours{1})) {
        errors.push_back({k, "must be 0s (never) or between 1s and 1h, got " + text});
      } else {
        v.announce_refresh = *d;
      }
    } else if (k == "nodad") {
      boolean(k, text, v.nodad);
      v6_only_set = true;
      v6_key = k;
    } else if (k == "preferred_lft") {
      if (text == "0") {
        v.deprecated = true;
      } else if (text != "forever") {
        errors.push_back({k, "must be 0 (never a source address) or forever, got '" + text + "'"});
      }
      v6_only_set = true;
      v6_key = k;
    } else {
      errors.push_back({k, "unknown vip parameter '" + k + "' " + kKnown});
    }
  }
  if (!params.contains("address")) {
    errors.push_back({"address", "a vip needs an address, e.g. 10.0.0.100/24"});
  }
  if (!params.contains("interface")) {
    errors.push_back({"interface", "a vip needs the interface to add the address to, e.g. eth0"});
  }
  if (v6_only_set && params.contains("address") && !v.ipv6) {
    errors.push_back({v6_key, "applies to IPv6 addresses only; " + v.address + " is IPv4"});
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return v;
}

}  // namespace hactl
