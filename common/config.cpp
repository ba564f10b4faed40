// YAML -> ClusterConfig. Every problem becomes a ConfigError naming file, line, column and the
// field's path; all problems are collected so a user fixes a file in one pass.
#include "common/config.hpp"

#include <arpa/inet.h>
#include <sodium.h>
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

#include "common/assert.hpp"
#include "common/event.hpp"
#include "common/limits.hpp"
#include "common/resource_loader.hpp"
#include "common/suggest.hpp"
#include "common/yaml_reader.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

// Why `a` cannot be a node's address, if it cannot: peers send it heartbeats, so it must name
// one host they reach. Loopback does only for a cluster of one node.
std::optional<std::string> unusable_node_address(const NodeAddress& a, bool one_node) {
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, a.host.c_str(), &v4) == 1) {
    const std::uint32_t ip = ntohl(v4.s_addr);
    if (ip == 0) return a.host + " is the unspecified address, which names no host";
    if (ip == 0xffffffffU) return a.host + " is the broadcast address, which names no one host";
    if ((ip >> 28) == 0xe) return a.host + " is a multicast address, which names no one host";
    if ((ip >> 24) == 127 && !one_node)
      return a.host + " is a loopback address: the other nodes cannot reach it";
  } else if (inet_pton(AF_INET6, a.host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_UNSPECIFIED(&v6))
      return a.host + " is the unspecified address, which names no host";
    if (IN6_IS_ADDR_MULTICAST(&v6))
      return a.host + " is a multicast address, which names no one host";
    if (IN6_IS_ADDR_LOOPBACK(&v6) && !one_node)
      return a.host + " is a loopback address: the other nodes cannot reach it";
  }
  return std::nullopt;
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

// The offset of the first byte that is not part of well-formed UTF-8 (RFC 3629 section 4: no
// overlong forms, no surrogates, nothing past U+10FFFF), if any.
std::optional<std::size_t> invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t more = 0;  // continuation bytes
    unsigned lo = 0x80;    // the range of the first of them
    unsigned hi = 0xbf;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      more = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      more = 2;
      lo = b == 0xe0 ? 0xa0 : 0x80;
      hi = b == 0xed ? 0x9f : 0xbf;
    } else if (b >= 0xf0 && b <= 0xf4) {
      more = 3;
      lo = b == 0xf0 ? 0x90 : 0x80;
      hi = b == 0xf4 ? 0x8f : 0xbf;
    } else {
      return i;
    }
    for (std::size_t k = 1; k <= more; ++k) {
      if (i + k >= s.size()) return i;
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf)) return i;
    }
    i += more + 1;
  }
  return std::nullopt;
}

// A configuration is stored in the cluster document, which is JSON, so UTF-8: yaml-cpp would
// read a Latin-1 byte without a word and doc_to_bytes then throw. The place of the first bad
// byte, 1-based (the column in bytes).
void check_utf8(YamlReader& reader, std::string_view text) {
  const auto at = invalid_utf8_at(text);
  if (!at) return;
  const auto line_start = *at == 0 ? std::string_view::npos : text.rfind('\n', *at - 1);
  const std::size_t column = line_start == std::string_view::npos ? *at + 1 : *at - line_start;
  const auto line = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(*at), '\n');
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(text[*at]));
  reader.add_error(static_cast<int>(line) + 1, static_cast<int>(column), "",
                   std::string("the file is not UTF-8 text: byte ") + byte +
                       " is not part of a UTF-8 character (save it as UTF-8)");
}

void load_cluster(YamlReader& loader, const YAML::Node& n, ClusterConfig& c) {
  static const std::vector<std::string_view> kKnown = {
      "name",      "auth_key_file",  "heartbeat_interval", "node_timeout", "no_quorum_policy",
      "state_dir", "control_socket", "read_group",         "admin_group",  "metrics_address",
      "failback",  "flap_damping",   "two_node",           "wait_for_all", "last_resort"};
  if (!loader.expect_map(n, "cluster", kKnown)) return;
  if (auto v = loader.string_field(n, "cluster", "metrics_address", false)) {
    if (v->empty()) {
      c.metrics_address.clear();
    } else if (auto a = parse_address(*v); !a) {
      loader.error(n["metrics_address"], "cluster.metrics_address",
                   a.error() + " (\"\" turns the metrics endpoint off)");
    } else {
      c.metrics_address = *v;
    }
  }
  for (auto [key, target] :
       {std::pair{"read_group", &c.read_group}, std::pair{"admin_group", &c.admin_group}}) {
    if (auto v = loader.string_field(n, "cluster", key, false)) {
      if (!v->empty() && !valid_name(*v, 32)) {
        loader.error(n[key], std::string("cluster.") + key,
                     "must be a group name (A-Z a-z 0-9 _ . -), got '" + *v + "'");
      } else {
        *target = *v;
      }
    }
  }
  if (auto name = loader.string_field(n, "cluster", "name", true)) {
    if (valid_name(*name, limits::kMaxClusterNameLength)) {
      c.name = *name;
    } else {
      loader.error(n["name"], "cluster.name", "must be 1 to 63 characters of A-Z a-z 0-9 _ . -");
    }
  }
  for (auto [key, target, required] : {std::tuple{"auth_key_file", &c.auth_key_file, true},
                                       std::tuple{"state_dir", &c.state_dir, false},
                                       std::tuple{"control_socket", &c.control_socket, false}}) {
    if (auto v = loader.string_field(n, "cluster", key, required)) {
      if (v->empty() || v->front() != '/') {
        loader.error(n[key], std::string("cluster.") + key,
                     "must be an absolute path, got '" + *v + "'");
      } else {
        *target = *v;
      }
    }
  }
  for (auto [key, target] : {std::pair{"heartbeat_interval", &c.timing.heartbeat_interval},
                             std::pair{"node_timeout", &c.timing.node_timeout}}) {
    if (auto v = loader.string_field(n, "cluster", key, false)) {
      auto d = parse_duration(*v);
      if (d) {
        *target = *d;
      } else {
        loader.error(n[key], std::string("cluster.") + key, d.error());
      }
    }
  }
  if (auto v = loader.bool_field(n, "cluster", "two_node")) c.two_node = *v;
  c.wait_for_all = loader.bool_field(n, "cluster", "wait_for_all").value_or(c.two_node);
  if (auto v = loader.string_field(n, "cluster", "last_resort", false)) {
    if (*v == "unsafe_take_over") {
      c.last_resort_unsafe = true;
    } else {
      loader.error(n["last_resort"], "cluster.last_resort",
                   "the only policy is unsafe_take_over (a node that loses its peer runs "
                   "everything: a cut link runs it on both nodes), got '" +
                       *v + "'");
    }
  }
  if (auto v = failback_field(loader, n, "cluster")) c.failback = *v;
  if (auto v = flap_damping_field(loader, n, "cluster")) c.flap_damping = *v;
  if (auto v = loader.string_field(n, "cluster", "no_quorum_policy", false)) {
    static const std::map<std::string, NoQuorumPolicy, std::less<>> kPolicies = {
        {"stop", NoQuorumPolicy::kStop},
        {"freeze", NoQuorumPolicy::kFreeze},
        {"ignore", NoQuorumPolicy::kIgnore}};
    if (auto it = kPolicies.find(*v); it != kPolicies.end()) {
      c.no_quorum_policy = it->second;
    } else {
      loader.error(n["no_quorum_policy"], "cluster.no_quorum_policy",
                   "must be stop, freeze or ignore, got '" + *v + "'");
    }
  }
}

void load_node(YamlReader& loader, const YAML::Node& n, const std::string& path, NodeConfig& node) {
  if (!loader.expect_map(n, path, {"name", "address", "witness", "capacity"})) return;
  if (auto c = loader.amounts_field(n, path, "capacity")) node.capacity = *c;
  if (auto name = loader.string_field(n, path, "name", true)) {
    if (valid_name(*name, limits::kMaxNodeNameLength)) {
      node.name = *name;
    } else {
      loader.error(n["name"], path + ".name", "must be 1 to 63 characters of A-Z a-z 0-9 _ . -");
    }
  }
  if (auto addr = loader.string_field(n, path, "address", true)) {
    auto a = parse_address(*addr);
    if (a) {
      node.address = *a;
    } else {
      loader.error(n["address"], path + ".address", a.error());
    }
  }
  if (const YAML::Node w = n["witness"];
      w && loader.expect_scalar(w, path + ".witness", "true or false")) {
    if (auto b = parse_bool(w.Scalar())) {
      node.witness = *b;
    } else {
      loader.error(w, path + ".witness", "expected true or false, got '" + w.Scalar() + "'");
    }
  }
}

// `arbiter: {address: HOST:PORT, name: arbiter}`: a hactl-arbiter that serves this cluster,
// listed after the nodes as a witness that is never sent a heartbeat (docs/pairs.md).
void load_arbiter(YamlReader& loader, const YAML::Node& n, ClusterConfig& c) {
  if (!loader.expect_map(n, "arbiter", {"address", "name", "rtt"})) return;
  if (auto v = loader.string_field(n, "arbiter", "rtt", false)) {
    if (auto d = parse_duration(*v); !d) {
      loader.error(n["rtt"], "arbiter.rtt", d.error());
    } else {
      c.arbiter_rtt = *d;
    }
  }
  NodeConfig arbiter;
  arbiter.name = "arbiter";
  arbiter.witness = true;
  arbiter.arbiter = true;
  if (auto name = loader.string_field(n, "arbiter", "name", false)) {
    if (valid_name(*name, limits::kMaxNodeNameLength)) {
      arbiter.name = *name;
    } else {
      loader.error(n["name"], "arbiter.name", "must be 1 to 63 characters of A-Z a-z 0-9 _ . -");
    }
  }
  if (auto addr = loader.string_field(n, "arbiter", "address", true)) {
    if (auto a = parse_address(*addr); !a) {
      loader.error(n["address"], "arbiter.address", a.error());
    } else if (auto why = unusable_node_address(*a, false)) {
      loader.error(n["address"], "arbiter.address", *why);
    } else {
      arbiter.address = *a;
    }
  }
  for (const NodeConfig& node : c.nodes) {
    if (node.name == arbiter.name) {
      loader.error(n["name"] ? n["name"] : n, "arbiter.name",
                   "'" + arbiter.name + "' is also a node's name: give the arbiter another one");
    }
    if (node.address == arbiter.address) {
      loader.error(n["address"], "arbiter.address",
                   "is also node " + node.name + "'s address: the arbiter runs on another host");
    }
  }
  if (c.nodes.size() >= limits::kMaxNodes) {
    loader.error(n, "arbiter",
                 "a cluster with an arbiter has at most " + std::to_string(limits::kMaxNodes - 1) +
                     " nodes");
  }
  if (loader.errors().empty()) c.nodes.push_back(std::move(arbiter));
}

void load_nodes(YamlReader& loader, const YAML::Node& n, ClusterConfig& c) {
  if (!n.IsSequence()) {
    loader.error(n, "nodes", "expected a list of nodes, got " + std::string(kind_name(n)));
    return;
  }
  if (n.size() == 0 || n.size() > limits::kMaxNodes) {
    loader.error(n, "nodes",
                 "must list 1 to " + std::to_string(limits::kMaxNodes) + " nodes, got " +
                     std::to_string(n.size()));
    return;
  }
  std::map<std::string, std::size_t> names;
  std::map<std::string, std::size_t> addresses;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string path = "nodes[" + std::to_string(i) + "]";
    NodeConfig node;
    load_node(loader, n[i], path, node);
    if (!node.name.empty()) {
      if (auto [it, fresh] = names.emplace(node.name, i); !fresh) {
        loader.error(n[i]["name"], path + ".name",
                     "duplicate node name '" + node.name + "' (also nodes[" +
                         std::to_string(it->second) + "])");
      }
    }
    if (node.address.port != 0) {
      if (auto why = unusable_node_address(node.address, n.size() == 1)) {
        loader.error(n[i]["address"], path + ".address", *why);
      }
      const std::string a = node.address.to_string();
      if (auto [it, fresh] = addresses.emplace(a, i); !fresh) {
        loader.error(
            n[i]["address"], path + ".address",
            "duplicate address " + a + " (also nodes[" + std::to_string(it->second) + "])");
      }
    }
    c.nodes.push_back(std::move(node));
  }
}

// An alert hook listens for kinds the agent emits (common/event.hpp); a mistyped one would never
// run it.
std::string unknown_kind_message(const std::string& kind) {
  const auto names = event_kind_names();
  const std::vector<std::string> known(names.begin(), names.end());
  std::string m = "no event is of kind '" + kind + "'";
  if (const auto near = closest_name(kind, known)) return m + "; did you mean '" + *near + "'?";
  return m + " (docs/events.md lists the kinds)";
}

// One `alerts:` entry. Durations and counts are bounded here so a hook can never hold a run
// slot for long or retry without end; whether the file exists is the runner's business (the
// same file is validated on machines that do not have the hooks installed).

void load_alert(YamlReader& loader, const YAML::Node& n, const std::string& path, AlertConfig& a) {
  if (!loader.expect_map(n, path, {"id", "path", "timeout", "kinds", "retries", "retry_delay"}))
    return;
  if (auto p = loader.string_field(n, path, "path", true)) {
    if (p->empty() || p->front() != '/' || p->back() == '/') {
      loader.error(n["path"], path + ".path",
                   "must be the absolute path of an executable file, got '" + *p + "'");
    } else {
      a.path = *p;
    }
  }
  if (auto id = loader.string_field(n, path, "id", false)) {
    if (valid_name(*id, limits::kMaxNodeNameLength)) {
      a.id = *id;
    } else {
      loader.error(n["id"], path + ".id", "must be 1 to 63 characters of A-Z a-z 0-9 _ . -");
    }
  } else if (!n["id"] && !a.path.empty()) {
    const std::string base = a.path.substr(a.path.rfind('/') + 1);
    if (valid_name(base, limits::kMaxNodeNameLength)) {
      a.id = base;
    } else {
      loader.error(n["path"], path + ".path",
                   "the file name '" + base +
                       "' is not a valid alert id (1 to 63 characters of A-Z a-z 0-9 _ . -): "
                       "set 'id'");
    }
  }
  for (auto [key, target, min, max] :
       {std::tuple{"timeout", &a.timeout, Duration{std::chrono::milliseconds{1}},
                   AlertConfig::kMaxTimeout},
        std::tuple{"retry_delay", &a.retry_delay, Duration{0}, AlertConfig::kMaxRetryDelay}}) {
    if (auto d = loader.duration_field(n, path, key)) {
      if (*d < min || *d > max) {
        loader.error(n[key], path + "." + key,
                     "must be between " + format_duration(min) + " and " + format_duration(max) +
                         ", got " + n[key].Scalar());
      } else {
        *target = *d;
      }
    }
  }
  if (auto r = loader.int_field(n, path, "retries", 0, AlertConfig::kMaxRetries)) a.retries = *r;
  if (auto kinds = loader.string_list(n, path, "kinds")) {
    const std::string p = path + ".kinds";
    if (kinds->empty()) {
      loader.error(n["kinds"], p,
                   "must name at least one event kind (leave 'kinds' out to run on every event)");
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < kinds->size(); ++i) {
      const std::string& k = (*kinds)[i];
      const std::string at = p + "[" + std::to_string(i) + "]";
      if (!valid_name(k, AlertConfig::kMaxKindLength)) {
        loader.error(n["kinds"][i], at,
                     "must be an event kind such as node_down (1 to 64 characters of A-Z a-z 0-9 "
                     "_ . -), got '" +
                         k + "'");
      } else if (!event_kind_named(k)) {
        loader.error(n["kinds"][i], at, unknown_kind_message(k));
      } else if (!seen.insert(k).second) {
        loader.error(n["kinds"][i], at, "duplicate event kind '" + k + "'");
      } else {
        a.kinds.push_back(k);
      }
    }
  }
}

void load_alerts(YamlReader& loader, const YAML::Node& n, ClusterConfig& c) {
  if (!n.IsSequence()) {
    loader.error(n, "alerts", "expected a list of alert hooks, got " + std::string(kind_name(n)));
    return;
  }
  if (n.size() > AlertConfig::kMaxAlerts) {
    loader.error(n, "alerts",
                 "must list at most " + std::to_string(AlertConfig::kMaxAlerts) +
                     " alert hooks, got " + std::to_string(n.size()));
    return;
  }
  std::map<std::string, std::size_t> ids;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string path = "alerts[" + std::to_string(i) + "]";
    AlertConfig a;
    load_alert(loader, n[i], path, a);
    if (!a.id.empty()) {
      if (auto [it, fresh] = ids.emplace(a.id, i); !fresh) {
        const bool named = n[i].IsMap() && n[i]["id"];
        loader.error(named ? n[i]["id"] : n[i]["path"], path + (named ? ".id" : ".path"),
                     "duplicate alert id '" + a.id + "' (also alerts[" +
                         std::to_string(it->second) + "])" +
                         (named ? "" : "; set 'id' to tell them apart"));
      }
    }
    c.alerts.push_back(std::move(a));
  }
}

// two_node: exactly two nodes, nothing else that votes, a fence device for each, and the
// freeze policy (a node that loses its peer keeps what it runs until the fence race decides).
void check_two_node(YamlReader& loader, const YAML::Node& root, ClusterConfig& c) {
  const YAML::Node at = root["cluster"]["two_node"];
  if (c.arbiter()) {
    loader.error(at, "cluster.two_node",
                 "a cluster with an arbiter has its third vote: remove two_node or the arbiter");
    return;
  }
  const auto servers =
      std::count_if(c.nodes.begin(), c.nodes.end(), [](const NodeConfig& n) { return !n.witness; });
  if (c.nodes.size() != 2 || servers != 2) {
    loader.error(at, "cluster.two_node",
                 "is for exactly two nodes and no witness (this cluster lists " +
                     std::to_string(c.nodes.size()) + " nodes, " + std::to_string(servers) +
                     " running resources)");
    return;
  }
  if (c.last_resort_unsafe) {
    if (c.fencing.enabled()) {
      loader.error(root["cluster"]["last_resort"], "cluster.last_resort",
                   "is for a pair with no fence device; with fencing configured, leave it out "
                   "(the fence race decides safely)");
    }
    loader.warn("cluster.last_resort",
                "UNSAFE: with last_resort: unsafe_take_over a node that stops hearing its peer "
                "runs everything after node_timeout, so a cut link between the two runs every "
                "resource on both nodes until it heals; give the pair an arbiter, a witness or "
                "fence devices instead (docs/pairs.md)");
  }
  for (const NodeConfig& n : c.nodes) {
    if (c.last_resort_unsafe) break;
    if (c.fencing.levels_for(n.name).empty()) {
      loader.error(root["fencing"] ? root["fencing"] : at, "fencing",
                   "two_node needs a fence device for every node, and none can fence " + n.name +
                       ": in a split each node fences the other before it takes anything over "
                       "(docs/pairs.md, \"Two nodes with fencing\")");
    }
  }
  if (root["cluster"]["no_quorum_policy"] && c.no_quorum_policy == NoQuorumPolicy::kStop) {
    loader.error(root["cluster"]["no_quorum_policy"], "cluster.no_quorum_policy",
                 "stop cannot go with two_node: a node whose peer died would stop everything; "
                 "with two_node a node keeps what it runs until the fence race decides (freeze)");
  }
  c.no_quorum_policy = NoQuorumPolicy::kFreeze;
}

void check_cluster(YamlReader& loader, const YAML::Node& root, ClusterConfig& c) {
  const auto& t = c.timing;
  if (t.heartbeat_interval < limits::kMinHeartbeatInterval ||
      t.heartbeat_interval > limits::kMaxHeartbeatInterval) {
    loader.error(root["cluster"]["heartbeat_interval"], "cluster.heartbeat_interval",
                 "must be between " + format_duration(limits::kMinHeartbeatInterval) + " and " +
                     format_duration(limits::kMaxHeartbeatInterval));
  } else if (t.node_timeout < limits::kMinHeartbeatsPerTimeout * t.heartbeat_interval) {
    const YAML::Node at =
        root["cluster"]["node_timeout"] ? root["cluster"]["node_timeout"] : root["cluster"];
    loader.error(at, "cluster.node_timeout",
                 "must be at least " + std::to_string(limits::kMinHeartbeatsPerTimeout) +
                     " heartbeat intervals (" +
                     format_duration(limits::kMinHeartbeatsPerTimeout * t.heartbeat_interval) +
                     "), so that one lost heartbeat never marks a node down");
  }
  if (c.nodes.empty()) return;
  if (c.arbiter() && t.node_timeout < 2 * c.arbiter_rtt + t.heartbeat_interval) {
    const YAML::Node at = root["arbiter"]["rtt"] ? root["arbiter"]["rtt"] : root["arbiter"];
    loader.error(at, "arbiter.rtt",
                 "an arbiter " + format_duration(c.arbiter_rtt) +
                     " away needs cluster.node_timeout of at least 2 x rtt + heartbeat_interval (" +
                     format_duration(2 * c.arbiter_rtt + t.heartbeat_interval) +
                     "): an election through the arbiter must be answered within the vote's "
                     "lease (docs/pairs.md, \"Timing\")");
  }
  if (c.two_node) {
    check_two_node(loader, root, c);
  } else if (c.last_resort_unsafe) {
    loader.error(root["cluster"]["last_resort"], "cluster.last_resort",
                 "goes with two_node: true (a pair with neither arbiter, witness nor fencing)");
  } else if (c.wait_for_all) {
    loader.error(root["cluster"]["wait_for_all"], "cluster.wait_for_all",
                 "goes with two_node: true (a cluster with a third vote needs no wait)");
  }
  const auto voters = c.nodes.size();
  const bool any_server =
      std::any_of(c.nodes.begin(), c.nodes.end(), [](const NodeConfig& n) { return !n.witness; });
  if (!any_server)
    loader.error(root["nodes"], "nodes",
                 "every node is a witness: at least one must run resources");
  const bool has_witness =
      std::any_of(c.nodes.begin(), c.nodes.end(), [](const NodeConfig& n) { return n.witness; });
  if (c.arbiter() && voters % 2 == 0) {
    loader.warn("arbiter",
                "with the arbiter the cluster has an even number of voters (" +
                    std::to_string(voters) +
                    "): an arbiter breaks ties between two halves; with an odd number of nodes "
                    "it adds nothing but a voter to lose");
  } else if (voters == 2 && !has_witness && !c.two_node) {
    loader.warn(
        "nodes",
        "a two-node cluster cannot tell a dead peer from a cut link: losing either node or the "
        "link leaves no quorum, so nothing fails over. Add one of: a shared hactl-arbiter "
        "(arbiter: {address: HOST:5406}), a third node with witness: true, or two_node: true "
        "with a fence device for each node (docs/pairs.md)");
  } else if (voters % 2 == 0 && !c.two_node) {
    loader.warn("nodes",
                "an even number of voting nodes (" + std::to_string(voters) +
                    ") tolerates no more failures than one fewer; consider adding a witness");
  }
}

}  // namespace

std::size_t ClusterConfig::resource_nodes() const {
  const auto a = arbiter();
  std::size_t n = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    n += !nodes[i].witness && (!a || a->value != i) ? 1 : 0;
  }
  return n;
}

std::optional<NodeId> ClusterConfig::arbiter() const {
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].arbiter) return NodeId{static_cast<std::uint16_t>(i)};
  }
  return std::nullopt;
}

std::uint64_t text_digest(std::string_view text) {
  HACTL_ASSERT(sodium_init() >= 0);
  unsigned char out[8];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), nullptr, 0);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(out[i]) << (8 * i);
  return v;
}

// YAML keeps the first of two equal keys in a map and drops the rest without a word, so the
// stored text would show a value that is not in effect: every later one is an error naming both
// lines. One pass over the document, a set per map: n log n. `budget` (nodes left to visit,
// at first the text's size: every node takes a byte of it) stops the walk where aliases would
// make it expand the document past its text.
void check_duplicate_keys(YamlReader& reader, const YAML::Node& n, const std::string& path,
                          int depth, std::size_t& budget) {
  if (depth > 64 || budget == 0) return;  // deeper or larger than any configuration
  --budget;
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size() && budget > 0; ++i) {
      check_duplicate_keys(reader, n[i], path + "[" + std::to_string(i) + "]", depth + 1, budget);
    }
    return;
  }
  if (!n.IsMap()) return;
  std::map<std::string, int> seen;  // key -> line (1-based)
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) continue;
    const std::string key = kv.first.Scalar();
    const YAML::Mark m = kv.first.Mark();
    const int line = m.is_null() ? 0 : m.line + 1;
    if (auto [it, fresh] = seen.emplace(key, line); !fresh) {
      reader.add_error(line, m.is_null() ? 0 : m.column + 1, path_join(path, key),
                       "duplicate key '" + key + "' (first at line " + std::to_string(it->second) +
                           "): only the first would take effect; keep one");
      continue;
    }
    check_duplicate_keys(reader, kv.second, path_join(path, key), depth + 1, budget);
    if (budget == 0) return;
  }
}

std::expected<LoadedConfig, std::vector<ConfigError>> parse_config(std::string_view yaml_text,
                                                                   std::string_view file) {
  YamlReader reader(file);
  LoadedConfig out;
  if (yaml_text.size() > limits::kMaxConfigBytes) {
    reader.add_error(0, 0, "",
                     "larger than the " + std::to_string(limits::kMaxConfigBytes / (1024 * 1024)) +
                         " MiB a configuration may have (limits::kMaxConfigBytes)");
    return std::unexpected(reader.errors());
  }
  check_utf8(reader, yaml_text);
  if (!reader.errors().empty()) return std::unexpected(reader.errors());
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    reader.add_error(e.mark.is_null() ? 0 : e.mark.line + 1,
                     e.mark.is_null() ? 0 : e.mark.column + 1, "", "YAML syntax: " + e.msg);
    return std::unexpected(reader.errors());
  }
  try {
    std::size_t budget = yaml_text.size();
    check_duplicate_keys(reader, root, "", 0, budget);
    if (reader.expect_map(root, "",
                          {"cluster", "nodes", "resources", "groups", "clones", "constraints",
                           "alerts", "fencing", "arbiter"})) {
      if (root["cluster"]) {
        load_cluster(reader, root["cluster"], out.config);
      } else {
        reader.error(root, "cluster", "required section 'cluster' is missing");
      }
      if (root["nodes"]) {
        load_nodes(reader, root["nodes"], out.config);
      } else {
        reader.error(root, "nodes", "required section 'nodes' is missing");
      }
      if (root["arbiter"] && reader.errors().empty()) {
        load_arbiter(reader, root["arbiter"], out.config);
      }
      load_resources(reader, root, out.config.resources);
      if (root["alerts"]) load_alerts(reader, root["alerts"], out.config);
      if (root["fencing"]) load_fencing(reader, root["fencing"], out.config);
      if (reader.errors().empty()) check_cluster(reader, root, out.config);
      if (reader.errors().empty()) check_resources(reader, root, out.config);
    }
  } catch (const YAML::Exception& e) {
    reader.add_error(e.mark.is_null() ? 0 : e.mark.line + 1,
                     e.mark.is_null() ? 0 : e.mark.column + 1, "", e.msg);
  }
  if (!reader.errors().empty()) return std::unexpected(reader.errors());
  out.warnings = reader.warnings();
  out.config.config_id = text_digest(yaml_text);
  return out;
}

std::expected<LoadedConfig, std::vector<ConfigError>> load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return std::unexpected(std::vector<ConfigError>{
        ConfigError{path, 0, 0, "", "cannot read the file: " + std::string(std::strerror(errno))}});
  }
  // Never more than the limit and a byte: a huge file is refused without being read whole.
  std::string text(limits::kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return parse_config(text, path);
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

bool AlertConfig::wants(std::string_view kind) const {
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
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
