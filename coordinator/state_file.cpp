#include "coordinator/state_file.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

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
  void attributes(const YAML::Node& n);
};

void StateReader::attributes(const YAML::Node& n) {
  // {node: {name: value}}: the node attributes in force (promotion scores: master-PRIMITIVE).
  if (!n.IsMap()) return r.error(n, "attributes", "expected a map of node: {name: value}");
  out.attributes.resize(config.nodes.size());
  for (const auto& kv : n) {
    const std::string path = "attributes." + kv.first.Scalar();
    const auto i = node(kv.first, path);
    if (!i) continue;
    if (!kv.second.IsMap()) {
      r.error(kv.second, path, "expected a map of name: value");
      continue;
    }
    for (const auto& a : kv.second) {
      if (r.expect_scalar(a.second, path + "." + a.first.Scalar(), "a value")) {
        out.attributes[*i][a.first.Scalar()] = a.second.Scalar();
      }
    }
  }
}

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
    if (r.expect_map(root, "",
                     {"nodes", "resources", "failed", "failures", "held", "attributes"})) {
      StateReader s{r, config, state};
      if (root["nodes"]) s.nodes(root["nodes"]);
      if (root["resources"]) s.roles(root["resources"]);
      if (root["failed"]) s.failed(root["failed"]);
      if (root["failures"]) s.failures(root["failures"]);
      if (root["held"]) s.held(root["held"]);
      if (root["attributes"]) s.attributes(root["attributes"]);
    }
  } catch (const YAML::Exception& e) {
    r.add_error(e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1,
                "", e.msg);
  }
  if (!r.errors().empty()) return std::unexpected(r.errors());
  return state;
}

// Writing a state back (write_state_yaml).
namespace {

// A name as a YAML scalar: plain when it cannot be read as anything else, else quoted.
std::string yaml_name(const std::string& s) {
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::vector<std::string> kWords = {"null", "true", "false", "yes", "no",
                                                  "on",   "off",  "y",     "n",   "~"};
  bool plain = !s.empty() && (std::isalnum(static_cast<unsigned char>(s[0])) || s[0] == '_') &&
               std::find(kWords.begin(), kWords.end(), lower) == kWords.end();
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    plain = plain && (std::isalnum(u) || c == '_' || c == '.' || c == '-');
  }
  if (plain) return s;
  std::string q = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

void write_nodes(std::ostringstream& out, const ClusterConfig& config, const ClusterState& state,
                 std::size_t n) {
  out << "nodes: {";
  for (std::size_t i = 0; i < n; ++i) {
    out << (i ? ", " : "") << yaml_name(config.nodes[i].name) << ": ";
    const Instant since = i < state.online_since.size() ? state.online_since[i] : Instant::min();
    if (since != Instant::min() && state.nodes[i] == NodeCondition::kOnline) {
      out << "{state: online, online_for: "
          << format_duration(std::max(Duration::zero(), state.now - since)) << "}";
    } else {
      out << to_string(state.nodes[i]);
    }
  }
  out << "}\n";
  if (!state.held.empty()) {
    out << "held:\n";
    for (const auto& [id, why] : state.held)
      out << "  " << yaml_name(id) << ": " << yaml_name(why) << "\n";
  }
  std::string attributes;
  for (std::size_t i = 0; i < n && i < state.attributes.size(); ++i) {
    if (state.attributes[i].empty()) continue;
    attributes += "  " + yaml_name(config.nodes[i].name) + ": {";
    bool first = true;
    for (const auto& [name, value] : state.attributes[i]) {
      attributes += (first ? "" : ", ") + yaml_name(name) + ": " + yaml_name(value);
      first = false;
    }
    attributes += "}\n";
  }
  if (!attributes.empty()) out << "attributes:\n" << attributes;
}

// The resources: section: each active primitive's role on each node.
std::string roles_line(const ClusterConfig& config, const ClusterState& state, std::size_t n,
                       const PrimitiveConfig& p) {
  const auto it = state.roles.find(p.id);
  if (it == state.roles.end()) return std::string();
  const CloneConfig* clone = config.resources.clone_of(p.id);
  const bool promotable = clone != nullptr && clone->promotable;
  std::string l;
  for (std::size_t i = 0; i < n && i < it->second.size(); ++i) {
    const ResourceRole role = it->second[i];
    if (role == ResourceRole::kStopped) continue;
    const bool settling = state.is_settling(p.id, NodeId{static_cast<std::uint16_t>(i)});
    const char* text = role == ResourceRole::kPromoted
                           ? (settling ? "settling-promoted" : "promoted")
                       : settling   ? "settling"
                       : promotable ? "unpromoted"
                                    : "started";
    l += (l.empty() ? "{" : ", ") + yaml_name(config.nodes[i].name) + ": " + text;
  }
  return l.empty() ? l : l + "}";
}

}  // namespace

std::string write_state_yaml(const ClusterConfig& config, const ClusterState& state) {
  const std::size_t n = std::min(config.nodes.size(), state.nodes.size());
  std::ostringstream out;
  write_nodes(out, config, state, n);
  // One "  resource: ..." line for each primitive that has something to say, under `section`.
  auto section = [&](const char* name, auto&& line) {
    std::string body;
    for (const auto& p : config.resources.primitives) {
      const std::string l = line(p);
      if (!l.empty()) body += "  " + yaml_name(p.id) + ": " + l + "\n";
    }
    if (!body.empty()) out << name << ":\n" << body;
  };
  section("resources", [&](const PrimitiveConfig& p) { return roles_line(config, state, n, p); });
  section("failed", [&](const PrimitiveConfig& p) {
    const auto it = state.failed.find(p.id);
    if (it == state.failed.end()) return std::string();
    std::string l;
    for (std::size_t i = 0; i < n && i < it->second.size(); ++i) {
      if (it->second[i]) l += (l.empty() ? "[" : ", ") + yaml_name(config.nodes[i].name);
    }
    return l.empty() ? l : l + "]";
  });
  section("failures", [&](const PrimitiveConfig& p) {
    const auto it = state.failures.find(p.id);
    if (it == state.failures.end()) return std::string();
    std::string l;
    for (std::size_t i = 0; i < n && i < it->second.size(); ++i) {
      const FailureRecord& f = it->second[i];
      if (f.count <= 0) continue;
      const Duration age = std::max(Duration::zero(), state.now - f.last);
      l += (l.empty() ? "{" : ", ") + yaml_name(config.nodes[i].name) + ": " +
           (age == Duration::zero()
                ? std::to_string(f.count)
                : "{count: " + std::to_string(f.count) + ", age: " + format_duration(age) + "}");
    }
    return l.empty() ? l : l + "}";
  });
  return out.str();
}

}  // namespace hactl
