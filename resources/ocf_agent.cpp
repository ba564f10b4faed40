#include "resources/ocf_agent.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>

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

std::map<std::string, std::vector<std::string>, std::less<>> ocf_clone_env(const ResourceConfig& rc,
                                                                           std::size_t nodes) {
  std::map<std::string, std::vector<std::string>, std::less<>> out;
  std::map<std::string_view, const GroupConfig*> groups;
  for (const auto& g : rc.groups) groups.emplace(g.id, &g);
  for (const auto& c : rc.clones) {
    const std::string max =
        std::to_string(c.clone_max ? static_cast<std::size_t>(*c.clone_max) : nodes);
    const std::string meta = "OCF_RESKEY_CRM_meta_";
    std::vector<std::string> env = {meta + "clone_max=" + max, meta + "clone_node_max=1",
                                    meta + "globally_unique=false",
                                    meta + "notify=" + (c.notify ? "true" : "false")};
    if (c.promotable) {
      const std::string promoted = std::to_string(c.promoted_max);
      for (const char* name : {"promoted_max=", "master_max="})
        env.push_back(meta + name + promoted);
      for (const char* name : {"promoted_node_max=1", "master_node_max=1"}) {
        env.push_back(meta + name);
      }
    }
    const auto g = groups.find(c.child);
    if (g == groups.end()) {
      out.emplace(c.child, env);
      continue;
    }
    for (const auto& m : g->second->members) out.emplace(m, env);
  }
  return out;
}

namespace {

// Space-separated, " " when empty (agents test for a blank list, as Pacemaker sends it).
template <typename Name>
std::string joined(const std::vector<std::uint16_t>& ids, Name name) {
  if (ids.empty()) return " ";
  std::string out;
  for (const std::uint16_t id : ids) {
    if (!out.empty()) out += ' ';
    out += name(id);
  }
  return out;
}

std::vector<std::uint16_t> minus(const std::vector<std::uint16_t>& a,
                                 const std::vector<std::uint16_t>& b) {
  std::vector<std::uint16_t> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

std::vector<std::string> ocf_notify_env(const CloneNotification& n, std::string_view primitive,
                                        const std::vector<std::string>& node_names,
                                        const std::vector<std::uint16_t>& all) {
  const std::string meta = "OCF_RESKEY_CRM_meta_notify_";
  const auto uname = [&](std::uint16_t id) {
    return id < node_names.size() ? node_names[id] : std::to_string(id);
  };
  const auto instance = [&](std::uint16_t id) {
    return std::string(primitive) + ":" + std::to_string(id);
  };
  std::vector<std::string> env = {meta + "type=" + std::string(to_string(n.type)),
                                  meta + "operation=" + std::string(to_string(n.operation))};
  const std::vector<std::uint16_t> unpromoted = minus(n.active, n.promoted);
  const std::pair<const char*, const std::vector<std::uint16_t>*> lists[] = {
      {"start", &n.start},     {"stop", &n.stop},           {"promote", &n.promote},
      {"demote", &n.demote},   {"active", &n.active},       {"promoted", &n.promoted},
      {"master", &n.promoted}, {"unpromoted", &unpromoted}, {"slave", &unpromoted}};
  for (const auto& [name, ids] : lists) {
    env.push_back(meta + name + "_resource=" + joined(*ids, instance));
    env.push_back(meta + name + "_uname=" + joined(*ids, uname));
  }
  env.push_back(meta + "inactive_resource=" + joined(minus(n.available, n.active), instance));
  env.push_back(meta + "all_uname=" + joined(all, uname));
  env.push_back(meta + "available_uname=" + joined(n.available, uname));
  return env;
}

ProcessSpec ocf_spec(const PrimitiveConfig& p, std::string_view action, Duration timeout,
                     Duration interval, const OcfContext& context) {
  ProcessSpec s;
  s.program = ocf_agent_path(context.ocf_root, p.provider, p.type);
  s.args = {std::string(action)};
  s.timeout = timeout;
  s.env = {context.tools_dir.empty() ? std::string(kPath)
                                     : "PATH=" + context.tools_dir + ":" + (kPath + 5),
           "OCF_ROOT=" + context.ocf_root,
           "OCF_RA_VERSION_MAJOR=1",
           "OCF_RA_VERSION_MINOR=1",
           "OCF_RESOURCE_INSTANCE=" + p.id,
           "OCF_RESOURCE_TYPE=" + p.type,
           "OCF_RESOURCE_PROVIDER=" + p.provider,
           "OCF_RESKEY_CRM_meta_timeout=" + ms(timeout),
           "OCF_RESKEY_CRM_meta_interval=" + ms(interval),
           "OCF_CHECK_LEVEL=0"};
  if (!context.tools_dir.empty()) {
    // The Pacemaker these commands stand for (ocf_promotion_score uses crm_attribute -p from
    // 3.10.0 on; pgsql reads crm_mon's XML with --output-as=xml from 3.2.0 on).
    s.env.push_back("HA_SBIN_DIR=" + context.tools_dir);
    s.env.push_back("OCF_RESKEY_crm_feature_set=" + std::string(kCrmFeatureSet));
  }
  if (!context.socket.empty()) s.env.push_back("HACTL_SOCKET=" + context.socket);
  if (!context.tools_offline.empty()) s.env.push_back("HACTL_CRM_OFFLINE=" + context.tools_offline);
  if (!context.node.empty()) s.env.push_back("OCF_RESKEY_CRM_meta_on_node=" + context.node);
  if (const auto c = context.clone_env.find(p.id); c != context.clone_env.end()) {
    s.env.insert(s.env.end(), c->second.begin(), c->second.end());
  }
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
