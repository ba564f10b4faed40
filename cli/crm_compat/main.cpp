// hactl-crm: Pacemaker's helper commands (crm_attribute, crm_master, attrd_updater, crm_node,
// crm_mon, cibadmin, crm_resource, pacemakerd) for the OCF resource agents hactl runs, answered
// by the local hactl-agent over its control socket. Which tool it is comes from argv[0]: it is
// installed in /usr/lib/hactl/bin under each name (docs/pacemaker-tools.md). All logic is in
// run.cpp; this is the shell: environment, socket, streams.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/control_client.hpp"
#include "cli/crm_compat/run.hpp"

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  // The same default as the hactl CLI's --socket.
  const std::string socket = env_or("HACTL_SOCKET", "/run/hactl/hactl.sock");
  const hactl::crm::Env env{env_or("OCF_RESOURCE_INSTANCE", "")};
  // Set by the resource guard (its agent is stopped or gone): answer "not connected" at once.
  const std::string offline = env_or("HACTL_CRM_OFFLINE", "");
  const auto ask = [&socket, &offline](
                       const nlohmann::json& request,
                       int timeout_ms) -> std::expected<nlohmann::json, std::string> {
    if (!offline.empty()) return std::unexpected(offline);
    return hactl::control_request(socket, request, timeout_ms);
  };
  const auto out = hactl::crm::run_as(argc > 0 ? argv[0] : "hactl-crm", args, env, ask);
  std::cout << out.out << std::flush;
  std::cerr << out.err << std::flush;
  return out.code;
}
