#include "resources/ocf_agent.hpp"

#include <chrono>

namespace hactl {
namespace {

constexpr const char* kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string ms(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

}  // namespace

std::string_view describe(OcfCode c) {
  switch (c) {
    case OcfCode::kSuccess:
      return "success";
    case OcfCode::kErrGeneric:
      return "generic error";
    case OcfCode::kErrArgs:
      return "invalid arguments";
    case OcfCode::kErrUnimplemented:
      return "action not implemented";
    case OcfCode::kErrPerm:
      return "insufficient permission";
    case OcfCode::kErrInstalled:
      return "not installed";
    case OcfCode::kErrConfigured:
      return "not configured";
    case OcfCode::kNotRunning:
      return "not running";
    case OcfCode::kRunningPromoted:
      return "running promoted";
    case OcfCode::kFailedPromoted:
      return "failed promoted";
  }
  return "unknown";
}

OcfCode ocf_code(int exit_code) {
  return exit_code >= 0 && exit_code <= 9 ? static_cast<OcfCode>(exit_code) : OcfCode::kErrGeneric;
}

std::string ocf_agent_path(std::string_view ocf_root, std::string_view provider,
                           std::string_view type) {
  return std::string(ocf_root) + "/resource.d/" + std::string(provider) + "/" + std::string(type);
}

ProcessSpec ocf_spec(const PrimitiveConfig& p, std::string_view action, Duration timeout,
                     Duration interval, const std::string& ocf_root) {
  ProcessSpec s;
  s.program = ocf_agent_path(ocf_root, p.provider, p.type);
  s.args = {std::string(action)};
  s.timeout = timeout;
  s.env = {kPath,
           "OCF_ROOT=" + ocf_root,
           "OCF_RA_VERSION_MAJOR=1",
           "OCF_RA_VERSION_MINOR=1",
           "OCF_RESOURCE_INSTANCE=" + p.id,
           "OCF_RESOURCE_TYPE=" + p.type,
           "OCF_RESOURCE_PROVIDER=" + p.provider,
           "OCF_RESKEY_CRM_meta_timeout=" + ms(timeout),
           "OCF_RESKEY_CRM_meta_interval=" + ms(interval),
           "OCF_CHECK_LEVEL=0"};
  for (const auto& [k, v] : p.params) s.env.push_back("OCF_RESKEY_" + k + "=" + v);
  return s;
}

ProcessSpec exec_spec(const PrimitiveConfig& p, std::string_view action, Duration timeout) {
  ProcessSpec s;
  s.program = p.type;
  s.args = {action == "monitor" ? std::string("status") : std::string(action)};
  s.timeout = timeout;
  s.env = {kPath, "HACTL_RESOURCE=" + p.id};
  for (const auto& [k, v] : p.params) s.env.push_back("HACTL_PARAM_" + k + "=" + v);
  return s;
}

OcfCode exec_code(std::string_view action, int exit_code) {
  if (exit_code == 0) return OcfCode::kSuccess;
  // LSB: status 3 is "not running"; for stop, "already stopped" is success.
  if (action == "monitor" && exit_code == 3) return OcfCode::kNotRunning;
  return OcfCode::kErrGeneric;
}

}  // namespace hactl
