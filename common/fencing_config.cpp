#include "common/fencing_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "common/config.hpp"
#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/yaml_reader.hpp"

namespace hactl {

std::string_view to_string(FenceAction a) { return a == FenceAction::kReboot ? "reboot" : "off"; }

bool FenceDevice::can_fence(std::string_view node) const {
  return std::find(nodes.begin(), nodes.end(), node) != nodes.end();
}

std::string FenceDevice::plug_for(const std::string& node) const {
  const auto it = host_map.find(node);
  return it != host_map.end() ? it->second : node;
}

std::string FenceDevice::stdin_for(const std::string& node, std::string_view act) const {
  std::string out = "action=" + std::string(act) + "\nplug=" + plug_for(node) + "\n";
  for (const auto& [k, v] : params) out += k + "=" + v + "\n";
  return out;
}

const FenceDevice* FencingConfig::device(std::string_view id) const {
  for (const auto& d : devices)
    if (d.id == id) return &d;
  return nullptr;
}

std::vector<std::vector<std::string>> FencingConfig::levels_for(const std::string& node) const {
  if (const auto it = levels.find(node); it != levels.end()) return it->second;
  std::vector<std::vector<std::string>> out;
  for (const auto& d : devices)
    if (d.can_fence(node)) out.push_back({d.id});
  return out;
}

namespace {

// Set by hactl for every call; a device's params may not set them.
bool reserved_param(std::string_view k) {
  return k == "action" || k == "plug" || k == "port" || k == "nodename";
}

// A value is passed as one name=value line: no line breaks.
bool one_line(std::string_view v) { return v.find_first_of("\r\n") == std::string_view::npos; }

void load_device(YamlReader& r, const YAML::Node& n, const std::string& path,
                 const ClusterConfig& config, FenceDevice& d) {
  if (!r.expect_map(n, path,
                    {"id", "agent", "params", "nodes", "host_map", "action", "timeout", "delay"}))
    return;
  if (auto id = r.string_field(n, path, "id", true)) {
    if (valid_name(*id, limits::kMaxNodeNameLength)) {
      d.id = *id;
    } else {
      r.error(n["id"], path + ".id", "must be 1 to 63 characters of A-Z a-z 0-9 _ . -");
    }
  }
  if (auto a = r.string_field(n, path, "agent", true)) {
    if (a->starts_with('/')) {
      if (const auto why = program_path_problem(*a)) {
        r.error(n["agent"], path + ".agent", "an agent's path " + *why);
      } else {
        d.agent = *a;
      }
    } else if (valid_fence_agent_name(*a)) {
      d.agent = "/usr/sbin/" + *a;
    } else {
      r.error(n["agent"], path + ".agent",
              "must be a fence agent's name, fence_ and a-z 0-9 _ (fence_ipmilan: "
              "/usr/sbin/fence_ipmilan), or an absolute path, got '" +
                  *a + "'");
    }
  }
  if (const YAML::Node params = n["params"]; params) {
    const std::string p = path + ".params";
    if (!params.IsMap()) {
      r.error(params, p, "expected a map of name: value");
    } else {
      for (const auto& kv : params) {
        const std::string key = kv.first.Scalar();
        const std::string at = p + "." + key;
        if (!r.expect_scalar(kv.second, at, "a value")) continue;
        if (!valid_name(key, 64)) {
          r.error(kv.first, at, "parameter names are letters, digits, _ . -");
        } else if (reserved_param(key)) {
          r.error(kv.first, at,
                  "hactl sets '" + key + "' itself (action: and host_map: choose them)");
        } else if (!one_line(kv.second.Scalar())) {
          r.error(kv.second, at, "must be on one line (it is passed as one name=value line)");
        } else {
          d.params[key] = kv.second.Scalar();
        }
      }
    }
  }
  if (auto nodes = r.string_list(n, path, "nodes", true)) {
    if (nodes->empty()) r.error(n["nodes"], path + ".nodes", "must name at least one node");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < nodes->size(); ++i) {
      const std::string& name = (*nodes)[i];
      const std::string at = path + ".nodes[" + std::to_string(i) + "]";
      if (!config.find_node(name)) {
        r.error(n["nodes"][i], at, "no node named '" + name + "' in nodes:");
      } else if (!seen.insert(name).second) {
        r.error(n["nodes"][i], at, "'" + name + "' is listed twice");
      } else {
        d.nodes.push_back(name);
      }
    }
  }
  if (const YAML::Node map = n["host_map"]; map) {
    const std::string p = path + ".host_map";
    if (!map.IsMap()) {
      r.error(map, p, "expected a map of node: plug");
    } else {
      for (const auto& kv : map) {
        const std::string node = kv.first.Scalar();
        const std::string at = p + "." + node;
        if (!r.expect_scalar(kv.second, at, "a plug")) continue;
        if (!d.can_fence(node)) {
          r.error(kv.first, at, "'" + node + "' is not in this device's nodes");
        } else if (kv.second.Scalar().empty() || !one_line(kv.second.Scalar())) {
          r.error(kv.second, at, "must be a non-empty plug name on one line");
        } else {
          d.host_map[node] = kv.second.Scalar();
        }
      }
    }
  }
  if (auto a = r.string_field(n, path, "action")) {
    if (*a == "off") {
      d.action = FenceAction::kOff;
    } else if (*a == "reboot") {
      d.action = FenceAction::kReboot;
    } else {
      r.error(n["action"], path + ".action", "must be off or reboot, got '" + *a + "'");
    }
  }
  if (auto t = r.duration_field(n, path, "timeout")) {
    if (*t < std::chrono::seconds{1} || *t > FenceDevice::kMaxTimeout) {
      r.error(n["timeout"], path + ".timeout",
              "must be between 1s and " + format_duration(FenceDevice::kMaxTimeout) + ", got " +
                  n["timeout"].Scalar());
    } else {
      d.timeout = *t;
    }
  }
  if (auto t = r.duration_field(n, path, "delay")) {
    if (*t > FenceDevice::kMaxDelay) {
      r.error(n["delay"], path + ".delay",
              "must be at most " + format_duration(FenceDevice::kMaxDelay) + ", got " +
                  n["delay"].Scalar());
    } else {
      d.delay = *t;
    }
  }
}

void load_levels(YamlReader& r, const YAML::Node& n, const ClusterConfig& config,
                 FencingConfig& f) {
  const std::string path = "fencing.levels";
  if (!n.IsMap()) {
    r.error(n, path, "expected a map of node: [[device, ...], ...]");
    return;
  }
  for (const auto& kv : n) {
    const std::string node = kv.first.Scalar();
    const std::string p = path + "." + node;
    if (!config.find_node(node)) {
      r.error(kv.first, p, "no node named '" + node + "' in nodes:");
      continue;
    }
    const YAML::Node list = kv.second;
    if (!list.IsSequence() || list.size() == 0) {
      r.error(list, p, "expected a non-empty list of levels, each a list of device ids");
      continue;
    }
    std::vector<std::vector<std::string>> levels;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string lp = p + "[" + std::to_string(i) + "]";
      const YAML::Node level = list[i];
      if (!level.IsSequence() || level.size() == 0) {
        r.error(level, lp, "expected a non-empty list of device ids");
        continue;
      }
      std::vector<std::string> ids;
      for (std::size_t j = 0; j < level.size(); ++j) {
        const std::string dp = lp + "[" + std::to_string(j) + "]";
        if (!r.expect_scalar(level[j], dp, "a device id")) continue;
        const std::string id = level[j].Scalar();
        const FenceDevice* d = f.device(id);
        if (d == nullptr) {
          r.error(level[j], dp, "no fence device '" + id + "' in fencing.devices");
        } else if (!d->can_fence(node)) {
          r.error(level[j], dp, "device '" + id + "' does not list '" + node + "' in its nodes");
        } else if (std::find(ids.begin(), ids.end(), id) != ids.end()) {
          r.error(level[j], dp, "'" + id + "' is listed twice in this level");
        } else {
          ids.push_back(id);
        }
      }
      levels.push_back(std::move(ids));
    }
    f.levels[node] = std::move(levels);
  }
}

}  // namespace

void load_fencing(YamlReader& r, const YAML::Node& n, ClusterConfig& config) {
  if (!r.expect_map(n, "fencing", {"devices", "levels"})) return;
  FencingConfig& f = config.fencing;
  if (const YAML::Node devices = n["devices"]; devices) {
    if (!devices.IsSequence()) {
      r.error(devices, "fencing.devices", "expected a list of fence devices");
    } else {
      std::set<std::string> ids;
      for (std::size_t i = 0; i < devices.size(); ++i) {
        const std::string path = "fencing.devices[" + std::to_string(i) + "]";
        FenceDevice d;
        load_device(r, devices[i], path, config, d);
        if (!d.id.empty() && !ids.insert(d.id).second) {
          r.error(devices[i]["id"], path + ".id", "'" + d.id + "' is used twice");
        }
        f.devices.push_back(std::move(d));
      }
    }
  }
  if (!f.enabled()) {
    if (n["levels"]) r.error(n["levels"], "fencing.levels", "levels need fencing.devices");
    return;
  }
  if (n["levels"]) load_levels(r, n["levels"], config, f);
  for (const auto& node : config.nodes) {
    if (!node.witness && f.levels_for(node.name).empty()) {
      r.warn("fencing",
             "no fence device can fence " + node.name +
                 ": its resources are recovered by its lease running out, not by fencing");
    }
  }
}

}  // namespace hactl
