// YAML -> ClusterConfig. Every problem becomes a ConfigError naming file, line, column and the
// field's path; all problems are collected so a user fixes a file in one pass.
#include "common/config.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/limits.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

class Loader {
 public:
  explicit Loader(std::string_view file) : file_(file) {}

  void error(const YAML::Node& at, const std::string& path, const std::string& message) {
    const YAML::Mark m = at.Mark();
    add_error(m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, path, message);
  }
  void add_error(int line, int column, const std::string& path, const std::string& message) {
    errors_.push_back(ConfigError{std::string(file_), line, column, path, message});
  }
  void warn(const std::string& path, const std::string& message) {
    warnings_.push_back(ConfigWarning{path, message});
  }

  // A map with only the given keys; unknown ones are errors with a suggestion.
  bool expect_map(const YAML::Node& n, const std::string& path,
                  const std::vector<std::string_view>& known);
  bool expect_scalar(const YAML::Node& n, const std::string& path, std::string_view what);
  std::optional<std::string> string_field(const YAML::Node& map, const std::string& path,
                                          const char* key, bool required);

  void load_cluster(const YAML::Node& n, ClusterConfig& c);
  void load_nodes(const YAML::Node& n, ClusterConfig& c);
  void load_node(const YAML::Node& n, const std::string& path, NodeConfig& node);
  void check_cluster(const YAML::Node& root, ClusterConfig& c);

  std::vector<ConfigError> errors_;
  std::vector<ConfigWarning> warnings_;

 private:
  std::string_view file_;
};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggestion(std::string_view key, const std::vector<std::string_view>& known) {
  std::string_view best;
  std::size_t best_distance = 3;  // only close matches are worth suggesting
  for (auto k : known) {
    const std::size_t d = edit_distance(key, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  return best.empty() ? "" : " (did you mean '" + std::string(best) + "'?)";
}

std::string join(const std::vector<std::string_view>& v) {
  std::string out;
  for (auto s : v) out += (out.empty() ? "" : ", ") + std::string(s);
  return out;
}

std::string_view kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "an undefined value";
  }
}

bool Loader::expect_map(const YAML::Node& n, const std::string& path,
                        const std::vector<std::string_view>& known) {
  if (!n.IsMap()) {
    error(n, path, "expected a map, got " + std::string(kind_name(n)));
    return false;
  }
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    error(kv.first, path.empty() ? key : path + "." + key,
          "unknown key '" + key + "'" + suggestion(key, known) + "; known keys: " + join(known));
  }
  return true;
}

bool Loader::expect_scalar(const YAML::Node& n, const std::string& path, std::string_view what) {
  if (n.IsScalar()) return true;
  error(n, path, "expected " + std::string(what) + ", got " + std::string(kind_name(n)));
  return false;
}

std::optional<std::string> Loader::string_field(const YAML::Node& map, const std::string& path,
                                                const char* key, bool required) {
  const YAML::Node v = map[key];
  const std::string p = path.empty() ? key : path + "." + key;
  if (!v) {
    if (required) error(map, p, "required key '" + std::string(key) + "' is missing");
    return std::nullopt;
  }
  if (!expect_scalar(v, p, "a string")) return std::nullopt;
  return v.Scalar();
}

bool valid_name(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  });
}

std::expected<NodeAddress, std::string> parse_address(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::unexpected("expected '[ipv6]:port', got '" + std::string(text) + "'");
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) {
      return std::unexpected("'" + host + "' is not an IPv6 address");
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::unexpected("expected 'host:port', got '" + std::string(text) + "'");
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) {
      return std::unexpected("'" + host +
                             "' is not an IPv4 address: use a numeric IP address (IPv6 as "
                             "[addr]:port); host names are not resolved");
    }
  }
  unsigned port = 0;
  const auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return std::unexpected("port '" + std::string(port_text) + "' is not a number from 1 to 65535");
  }
  return NodeAddress{host, static_cast<std::uint16_t>(port)};
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  return std::nullopt;
}

}  // namespace

void Loader::load_cluster(const YAML::Node& n, ClusterConfig& c) {
  static const std::vector<std::string_view> kKnown = {
      "name",      "auth_key_file", "heartbeat_interval", "node_timeout", "no_quorum_policy",
      "state_dir", "control_socket"};
  if (!expect_map(n, "cluster", kKnown)) return;
  if (auto name = string_field(n, "cluster", "name", true)) {
    if (valid_name(*name, limits::kMaxClusterNameLength)) {
      c.name = *name;
    } else {
      error(n["name"], "cluster.name", "must be 1 to 63 characters of A-Z a-z 0-9 _ . -");
    }
  }
  for (auto [key, target, required] : {std::tuple{"auth_key_file", &c.auth_key_file, true},
                                       std::tuple{"state_dir", &c.state_dir, false},
                                       std::tuple{"control_socket", &c.control_socket, false}}) {
    if (auto v = string_field(n, "cluster", key, required)) {
      if (v->empty() || v->front() != '/') {
        error(n[key], std::string("cluster.") + key, "must be an absolute path, got '" + *v + "'");
      } else {
        *target = *v;
      }
    }
  }
  for (auto [key, target] : {std::pair{"heartbeat_interval", &c.timing.heartbeat_interval},
                             std::pair{"node_timeout", &c.timing.node_timeout}}) {
    if (auto v = string_field(n, "cluster", key, false)) {
      auto d = parse_duration(*v);
      if (d) {
        *target = *d;
      } else {
        error(n[key], std::string("cluster.") + key, d.error());
      }
    }
  }
  if (auto v = string_field(n, "cluster", "no_quorum_policy", false)) {
    static const std::map<std::string, NoQuorumPolicy, std::less<>> kPolicies = {
        {"stop", NoQuorumPolicy::kStop},
        {"freeze", NoQuorumPolicy::kFreeze},
        {"ignore", NoQuorumPolicy::kIgnore}};
    if (auto it = kPolicies.find(*v); it != kPolicies.end()) {
      c.no_quorum_policy = it->second;
    } else {
      error(n["no_quorum_policy"], "cluster.no_quorum_policy",
            "must be stop, freeze or ignore, got '" + *v + "'");
    }
  }
}

void Loader::load_node(const YAML::Node& n, const std::string& path, NodeConfig& node) {
  if (!expect_map(n, path, {"name", "address", "witness"})) return;
  if (auto name = string_field(n, path, "name", true)) {
    if (valid_name(*name, limits::kMaxNodeNameLength)) {
      node.name = *name;
    } else {
      error(n["name"], path + ".name", "must be 1 to 63 characters of A-Z a-z 0-9 _ . -");
    }
  }
  if (auto addr = string_field(n, path, "address", true)) {
    auto a = parse_address(*addr);
    if (a) {
      node.address = *a;
    } else {
      error(n["address"], path + ".address", a.error());
    }
  }
  if (const YAML::Node w = n["witness"];
      w && expect_scalar(w, path + ".witness", "true or false")) {
    if (auto b = parse_bool(w.Scalar())) {
      node.witness = *b;
    } else {
      error(w, path + ".witness", "expected true or false, got '" + w.Scalar() + "'");
    }
  }
}

void Loader::load_nodes(const YAML::Node& n, ClusterConfig& c) {
  if (!n.IsSequence()) {
    error(n, "nodes", "expected a list of nodes, got " + std::string(kind_name(n)));
    return;
  }
  if (n.size() == 0 || n.size() > limits::kMaxNodes) {
    error(n, "nodes",
          "must list 1 to " + std::to_string(limits::kMaxNodes) + " nodes, got " +
              std::to_string(n.size()));
    return;
  }
  std::map<std::string, std::size_t> names;
  std::map<std::string, std::size_t> addresses;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string path = "nodes[" + std::to_string(i) + "]";
    NodeConfig node;
    load_node(n[i], path, node);
    if (!node.name.empty()) {
      if (auto [it, fresh] = names.emplace(node.name, i); !fresh) {
        error(n[i]["name"], path + ".name",
              "duplicate node name '" + node.name + "' (also nodes[" + std::to_string(it->second) +
                  "])");
      }
    }
    if (node.address.port != 0) {
      const std::string a = node.address.to_string();
      if (auto [it, fresh] = addresses.emplace(a, i); !fresh) {
        error(n[i]["address"], path + ".address",
              "duplicate address " + a + " (also nodes[" + std::to_string(it->second) + "])");
      }
    }
    c.nodes.push_back(std::move(node));
  }
}

void Loader::check_cluster(const YAML::Node& root, ClusterConfig& c) {
  const auto& t = c.timing;
  if (t.heartbeat_interval < limits::kMinHeartbeatInterval ||
      t.heartbeat_interval > limits::kMaxHeartbeatInterval) {
    error(root["cluster"]["heartbeat_interval"], "cluster.heartbeat_interval",
          "must be between " + format_duration(limits::kMinHeartbeatInterval) + " and " +
              format_duration(limits::kMaxHeartbeatInterval));
  } else if (t.node_timeout < limits::kMinHeartbeatsPerTimeout * t.heartbeat_interval) {
    const YAML::Node at =
        root["cluster"]["node_timeout"] ? root["cluster"]["node_timeout"] : root["cluster"];
    error(at, "cluster.node_timeout",
          "must be at least " + std::to_string(limits::kMinHeartbeatsPerTimeout) +
              " heartbeat intervals (" +
              format_duration(limits::kMinHeartbeatsPerTimeout * t.heartbeat_interval) +
              "), so that one lost heartbeat never marks a node down");
  }
  if (c.nodes.empty()) return;
  const auto voters = c.nodes.size();
  const bool any_server =
      std::any_of(c.nodes.begin(), c.nodes.end(), [](const NodeConfig& n) { return !n.witness; });
  if (!any_server)
    error(root["nodes"], "nodes", "every node is a witness: at least one must run resources");
  const bool has_witness =
      std::any_of(c.nodes.begin(), c.nodes.end(), [](const NodeConfig& n) { return n.witness; });
  if (voters == 2 && !has_witness) {
    warn("nodes",
         "a two-node cluster without a witness cannot tell a dead peer from a cut link: losing "
         "either node or the link leaves no quorum; add a third node with witness: true");
  } else if (voters % 2 == 0) {
    warn("nodes", "an even number of voting nodes (" + std::to_string(voters) +
                      ") tolerates no more failures than one fewer; consider adding a witness");
  }
}

std::expected<LoadedConfig, std::vector<ConfigError>> parse_config(std::string_view yaml_text,
                                                                   std::string_view file) {
  Loader loader(file);
  LoadedConfig out;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    loader.add_error(e.mark.is_null() ? 0 : e.mark.line + 1,
                     e.mark.is_null() ? 0 : e.mark.column + 1, "", "YAML syntax: " + e.msg);
    return std::unexpected(loader.errors_);
  }
  try {
    if (loader.expect_map(root, "", {"cluster", "nodes"})) {
      if (root["cluster"]) {
        loader.load_cluster(root["cluster"], out.config);
      } else {
        loader.error(root, "cluster", "required section 'cluster' is missing");
      }
      if (root["nodes"]) {
        loader.load_nodes(root["nodes"], out.config);
      } else {
        loader.error(root, "nodes", "required section 'nodes' is missing");
      }
      if (loader.errors_.empty()) loader.check_cluster(root, out.config);
    }
  } catch (const YAML::Exception& e) {
    loader.add_error(e.mark.is_null() ? 0 : e.mark.line + 1,
                     e.mark.is_null() ? 0 : e.mark.column + 1, "", e.msg);
  }
  if (!loader.errors_.empty()) return std::unexpected(loader.errors_);
  out.warnings = loader.warnings_;
  return out;
}

std::expected<LoadedConfig, std::vector<ConfigError>> load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return std::unexpected(std::vector<ConfigError>{
        ConfigError{path, 0, 0, "", "cannot read the file: " + std::string(std::strerror(errno))}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

std::expected<Duration, std::string> parse_duration(std::string_view text) {
  const std::string t(text);
  const auto unit_at = t.find_first_not_of("0123456789.");
  if (t.empty() || unit_at == 0) {
    return std::unexpected(
        "'" + t + "' is not a duration: write a number and a unit (us, ms, s, m, h), e.g. 100ms");
  }
  if (unit_at == std::string::npos) {
    return std::unexpected("'" + t + "' has no unit: write e.g. " + t + "ms or " + t + "s");
  }
  static const std::map<std::string, double, std::less<>> kUnits = {
      {"us", 1.0}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}};
  const auto unit = kUnits.find(t.substr(unit_at));
  double value = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + unit_at, value);
  if (unit == kUnits.end() || ec != std::errc{} || ptr != t.data() + unit_at) {
    return std::unexpected(
        "'" + t + "' is not a duration: write a number and a unit (us, ms, s, m, h), e.g. 100ms");
  }
  const double us = value * unit->second;
  if (!std::isfinite(us) || us > 1e15) return std::unexpected("'" + t + "' is too long");
  if (us != std::floor(us)) return std::unexpected("'" + t + "' is finer than a microsecond");
  return Duration{static_cast<Duration::rep>(us)};
}

std::string format_duration(Duration d) {
  const auto us = d.count();
  if (us % 3'600'000'000 == 0 && us != 0) return std::to_string(us / 3'600'000'000) + "h";
  if (us % 60'000'000 == 0 && us != 0) return std::to_string(us / 60'000'000) + "m";
  if (us % 1'000'000 == 0 && us != 0) return std::to_string(us / 1'000'000) + "s";
  if (us % 1000 == 0) return std::to_string(us / 1000) + "ms";
  return std::to_string(us) + "us";
}

std::string_view to_string(NoQuorumPolicy p) {
  switch (p) {
    case NoQuorumPolicy::kStop:
      return "stop";
    case NoQuorumPolicy::kFreeze:
      return "freeze";
    case NoQuorumPolicy::kIgnore:
      return "ignore";
  }
  return "unknown";
}

std::string NodeAddress::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<NodeId> ClusterConfig::find_node(std::string_view node_name) const {
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name == node_name) return NodeId{static_cast<std::uint16_t>(i)};
  }
  return std::nullopt;
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

}  // namespace hactl
