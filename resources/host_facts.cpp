#include "resources/host_facts.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstring>
#include <map>

#include "resources/systemd_unit.hpp"

namespace hactl {
namespace {

int prefix_of(const sockaddr* mask, bool ipv6) {
  if (mask == nullptr) return ipv6 ? 128 : 32;
  const auto* bytes = ipv6 ? reinterpret_cast<const std::uint8_t*>(
                                 &reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr)
                           : reinterpret_cast<const std::uint8_t*>(
                                 &reinterpret_cast<const sockaddr_in*>(mask)->sin_addr);
  int bits = 0;
  for (std::size_t i = 0; i < (ipv6 ? 16u : 4u); ++i) bits += std::popcount(bytes[i]);
  return bits;
}

std::optional<InterfaceAddress> address_of(const ifaddrs& ifa) {
  if (ifa.ifa_addr == nullptr) return std::nullopt;
  const int family = ifa.ifa_addr->sa_family;
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  InterfaceAddress a;
  a.ipv6 = family == AF_INET6;
  if (a.ipv6) {
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(ifa.ifa_addr)->sin6_addr,
                16);
  } else {
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(ifa.ifa_addr)->sin_addr, 4);
  }
  a.prefix = prefix_of(ifa.ifa_netmask, a.ipv6);
  return a;
}

}  // namespace

std::string short_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  const std::string h(buf);
  return h.substr(0, h.find('.'));
}

SystemHostFacts::SystemHostFacts(std::string ocf_root, Duration systemd_timeout)
    : ocf_root_(std::move(ocf_root)), systemd_timeout_(systemd_timeout) {}

SystemHostFacts::~SystemHostFacts() = default;

std::vector<HostInterface> SystemHostFacts::interfaces() const {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return {};
  std::map<std::string, HostInterface> by_name;
  for (const ifaddrs* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
    if (ifa->ifa_name == nullptr) continue;
    HostInterface& i = by_name[ifa->ifa_name];
    i.name = ifa->ifa_name;
    i.up = i.up || (ifa->ifa_flags & IFF_UP) != 0;
    if (const auto a = address_of(*ifa)) i.addresses.push_back(*a);
  }
  ::freeifaddrs(list);
  std::vector<HostInterface> out;
  out.reserve(by_name.size());
  for (auto& [_, i] : by_name) out.push_back(std::move(i));
  return out;
}

FileCheck SystemHostFacts::ocf_agent(std::string_view provider, std::string_view type) const {
  return program(ocf_agent_path(ocf_root_, provider, type));
}

FileCheck SystemHostFacts::program(const std::string& path) const {
  FileCheck c{FileState::kMissing, path};
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return c;
  if (!S_ISREG(st.st_mode)) {
    c.state = FileState::kNotAFile;
  } else {
    c.state =
        ::access(path.c_str(), X_OK) == 0 ? FileState::kExecutable : FileState::kNotExecutable;
  }
  return c;
}

UnitCheck SystemHostFacts::systemd_unit(const std::string& unit) const {
  if (!systemd_ && !systemd_failed_) {
    auto q = SystemdUnitQuery::connect(systemd_timeout_);
    if (q) {
      systemd_ = std::move(*q);
    } else {
      systemd_failed_ = q.error();
    }
  }
  if (!systemd_failed_ && systemd_spent_ >= kSystemdBudget) {
    systemd_failed_ =
        "no more questions: " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kSystemdBudget).count()) +
        " s spent";
  }
  if (systemd_failed_) return {UnitState::kUnknown, *systemd_failed_};
  const auto begin = std::chrono::steady_clock::now();
  const auto state = systemd_->load_state(unit);
  systemd_spent_ += std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - begin);
  if (!state) {
    systemd_failed_ = state.error();
    return {UnitState::kUnknown, state.error()};
  }
  if (*state == "loaded") return {UnitState::kFound, *state};
  if (*state == "not-found") return {UnitState::kNotFound, *state};
  if (*state == "masked") return {UnitState::kMasked, *state};
  return {UnitState::kBroken, *state};
}

}  // namespace hactl
