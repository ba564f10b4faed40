// What this host is, for the host check (common/host_check.hpp): its interfaces and addresses
// (getifaddrs: the network namespace the process runs in), files under the OCF root and
// elsewhere (stat and access), and systemd units (LoadState over D-Bus, SystemdUnitQuery).
// Every call blocks on the kernel or on systemd: use it in a command (hactl config validate,
// hactl-agent --check-config) or on the agent's request worker, never on its loop. systemd is
// asked with a timeout per call, for at most kSystemdBudget in all, and after its first failure
// not again: an unreachable or slow systemd costs a bounded time per check, whatever the number
// of units (the worker's deadline is 10 s).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/host_check.hpp"
#include "resources/ocf_agent.hpp"

namespace hactl {

class SystemdUnitQuery;

// This host's name up to the first dot: the node name hactl-agent and hactl config validate
// take for this host when not told one ("" if it cannot be read).
std::string short_hostname();

class SystemHostFacts final : public HostFacts {
 public:
  static constexpr Duration kSystemdTimeout = std::chrono::seconds{2};
  static constexpr Duration kSystemdBudget = std::chrono::seconds{4};

  explicit SystemHostFacts(std::string ocf_root = kDefaultOcfRoot,
                           Duration systemd_timeout = kSystemdTimeout);
  ~SystemHostFacts() override;
  SystemHostFacts(const SystemHostFacts&) = delete;
  SystemHostFacts& operator=(const SystemHostFacts&) = delete;

  std::vector<HostInterface> interfaces() const override;
  FileCheck ocf_agent(std::string_view provider, std::string_view type) const override;
  FileCheck program(const std::string& path) const override;
  UnitCheck systemd_unit(const std::string& unit) const override;

 private:
  std::string ocf_root_;
  Duration systemd_timeout_;
  // Connected on the first unit asked about; once systemd failed, why (not asked again).
  mutable std::unique_ptr<SystemdUnitQuery> systemd_;
  mutable std::optional<std::string> systemd_failed_;
  mutable Duration systemd_spent_{0};
};

}  // namespace hactl
