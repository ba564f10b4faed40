#include "coordinator/state_file.hpp"

#include <algorithm>
#include <map>

#include "common/yaml_reader.hpp"

namespace hactl {
namespace {

// A clock far from zero, so failure ages can be subtracted from it.
constexpr Instant kNow{std::chrono::hours{24 * 365}};

struct StateReader {
  YamlReader& r;
  const ClusterConfig& config;
  ClusterState& out;

  std::optional<std::size_t> node(const YAML::Node& key, const std::string& path) {
    const auto id = config.find_node(key.Scalar());
    if (!id) r.error(key, path, "no node is called '" + key.Scalar() + "'");
    return id ? std::optional{static_cast<std::size_t>(id->value)} : std::nullopt;
  }
  std::string top_level_of(const std::string& id) const {
    for (const auto& g : config.resources.groups) {
      if (std::find(g.members.begin(), g.members.end(), id) != g.members.end()) return g.id;
    }
    for (const auto& c : config.resources.clones) {
      if (c.child == id) return c.id;
    }
    return id;
  }
  bool primitive(const YAML::Node& key, const std::string& path) {
    if (config.resources.primitive(key.Scalar()) != nullptr) return true;
    r.error(key, path,
            "no resource is called '" + key.Scalar() + "' (name primitives, not groups or clones)");
    return false;
  }

  void nodes(const YAML::Node& n);
  void roles(const YAML::Node& n);
  void failed(const YAML::Node& n);
  void failures(const YAML::Node& n);
  void held(const YAML::Node& n);
};

void StateReader::held(const YAML::Node& n) {
  // [resource, ...] or {resource: why}: top-level resources flap damping holds.
  const auto one = [&](const YAML::Node& key, std::string why) {
    const std::string id = key.Scalar();
    if (!config.resources.exists(id) || config.resources.clone(id) != nullptr ||
        top_level_of(id) != id) {
      r.error(key, "held." + id,
              "no primitive or group outside a group or clone is called '" + id + "'");
      return;
    }
    out.held[id] = std::move(why);
  };
  if (n.IsSequence()) {
    for (const auto& k : n) {
      if (r.expect_scalar(k, "held", "a resource")) one(k, "held");
    }
  } else if (n.IsMap()) {
    for (const auto& kv : n) {
      if (r.expect_scalar(kv.second, "held." + kv.first.Scalar(), "why it is held"))
        one(kv.first, kv.second.Scalar());
    }
  } else {
    r.error(n, "held", "expected a list of resources, or a map of resource: why");
  }
}

void StateReader::nodes(const YAML::Node& n) {
  if (!n.IsMap()) return r.error(n, "nodes", "expected a map of node: state");
  static const std::map<std::string, NodeCondition, std::less<>> kConditions = {
      {"online", NodeCondition::kOnline},
      {"standby", NodeCondition::kStandby},
      {"maintenance", NodeCondition::kMaintenance},
      {"offline", NodeCondition::kOffline},
      {"unclean", NodeCondition::kUnclean}};
  for (const auto& kv : n) {
    const std::string path = "nodes." + kv.first.Scalar();
    const auto i = node(kv.first, path);
    if (!i) continue;
    // Either a state or {state: S, online_for: DURATION} (how long it has been online).
    YAML::Node value = kv.second;
    if (value.IsMap()) {
      if (!r.expect_map(value, path, {"state", "online_for"})) continue;
      if (const auto d = r.duration_field(value, path, "online_for")) {
        out.online_since.resize(config.nodes.size(), Instant::min());
        out.online_since[*i] = kNow - *d;
      }
      value = value["state"] ? value["state"] : YAML::Node("online");
    }
    if (!r.expect_scalar(value, path, "a node state")) continue;
    const auto it = kConditions.find(value.Scalar());
    if (it == kConditions.end()) {
      r.error(value, path, "must be online, standby, maintenance, offline or unclean");
      continue;
    }
    out.nodes[*i] = it->second;
  }
}

void StateReader::roles(const YAML::Node& n) {
  if (!n.IsMap()) return r.error(n, "resources", "expected a map of resource: {node: role}");
  for (const auto& rsc : n) {
    const std::string path = "resources." + rsc.first.Scalar();
    if (!primitive(rsc.first, path)) continue;
    if (!rsc.second.IsMap()) {
      r.error(rsc.second, path, "expected a map of node: role");
      continue;
    }
    auto& roles = out.roles[rsc.first.Scalar()];
    roles.assign(config.nodes.size(), ResourceRole::kStopped);
    for (const auto& kv : rsc.second) {
      const auto i = node(kv.first, path + "." + kv.first.Scalar());
      if (!i || !r.expect_scalar(kv.second, path, "a role")) continue;
      const std::string role = kv.second.Scalar();
      if (role == "started" || role == "unpromoted") {
        roles[*i] = ResourceRole::kStarted;
      } else if (role == "settling" || role == "settling-promoted") {
        // Active on a node whose lease is over, until its takeover_delay is over too.
        roles[*i] = role == "settling" ? ResourceRole::kStarted : ResourceRole::kPromoted;
        auto& settling = out.settling[rsc.first.Scalar()];
        settling.resize(config.nodes.size(), false);
        settling[*i] = true;
      } else if (role == "promoted") {
        roles[*i] = ResourceRole::kPromoted;
      } else if (role != "stopped") {
        r.error(kv.second, path + "." + kv.first.Scalar(),
                "must be started, unpromoted, promoted, settling, settling-promoted or stopped");
      }
    }
  }
}

void StateReader::failed(const YAML::Node& n) {
  if (!n.IsMap()) return r.error(n, "failed", "expected a map of resource: [nodes]");
  for (const auto& rsc : n) {
    const std::string path = "failed." + rsc.first.Scalar();
    if (!primitive(rsc.first, path)) continue;
    if (!rsc.second.IsSequence()) {
      r.error(rsc.second, path, "expected a list of nodes whose last monitor failed");
      continue;
    }
    auto& flags = out.failed[rsc.first.Scalar()];
    flags.assign(config.nodes.size(), false);
    for (const auto& name : rsc.second) {
      if (const auto i = node(name, path)) flags[*i] = true;
    }
  }
}

void StateReader::failures(const YAML::Node& n) {
  if (!n.IsMap()) return r.error(n, "failures", "expected a map of resource: {node: count}");
  for (const auto& rsc : n) {
    const std::string path = "failures." + rsc.first.Scalar();
    if (!primitive(rsc.first, path) || !rsc.second.IsMap()) continue;
    auto& records = out.failures[rsc.first.Scalar()];
    records.assign(config.nodes.size(), FailureRecord{0, kNow});
    for (const auto& kv : rsc.second) {
      const std::string p = path + "." + kv.first.Scalar();
      const auto i = node(kv.first, p);
      if (!i) continue;
      // Either a count (failed just now) or {count: N, age: DURATION}.
      if (kv.second.IsScalar()) {
        records[*i].count = kv.second.as<int>();
        continue;
      }
      if (!r.expect_map(kv.second, p, {"count", "age"})) continue;
      records[*i].count = r.int_field(kv.second, p, "count", 0, 1'000'000).value_or(0);
      records[*i].last = kNow - r.duration_field(kv.second, p, "age").value_or(Duration{0});
    }
  }
}

}  // namespace

std::expected<ClusterState, std::vector<ConfigError>> parse_state(const ClusterConfig& config,
                                                                  std::string_view yaml_text,
                                                                  std::string_view file) {
  YamlReader r(file);
  ClusterState state;
  state.now = kNow;
  state.nodes.assign(config.nodes.size(), NodeCondition::kOnline);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (root.IsNull()) return state;
    if (r.expect_map(root, "", {"nodes", "resources", "failed", "failures", "held"})) {
      StateReader s{r, config, state};
      if (root["nodes"]) s.nodes(root["nodes"]);
      if (root["resources"]) s.roles(root["resources"]);
      if (root["failed"]) s.failed(root["failed"]);
      if (root["failures"]) s.failures(root["failures"]);
      if (root["held"]) s.held(root["held"]);
    }
  } catch (const YAML::Exception& e) {
    r.add_error(e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1,
                "", e.msg);
  }
  if (!r.errors().empty()) return std::unexpected(r.errors());
  return state;
}

}  // namespace hactl
