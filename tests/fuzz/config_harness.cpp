// The YAML loader: parse_config on any text. A configuration it accepts must keep the
// invariants the rest of hactl relies on (config.hpp: "A ClusterConfig that exists has passed
// validate()"), load the same again, and survive the trip every accepted file makes: into the
// cluster document (JSON, doc_to_bytes) and back, and parsed again from there.
#include <algorithm>
#include <set>

#include "common/cluster_doc.hpp"
#include "common/config.hpp"
#include "common/limits.hpp"
#include "common/yaml_reader.hpp"
#include "tests/fuzz/harness.hpp"

namespace hactl::fuzz {
namespace {

std::string check_nodes(const ClusterConfig& c) {
  if (c.nodes.empty() || c.nodes.size() > limits::kMaxNodes) return "node count out of range";
  std::set<std::string> names, addresses;
  for (const auto& n : c.nodes) {
    if (!valid_name(n.name, limits::kMaxNodeNameLength)) return "invalid node name accepted";
    if (!names.insert(n.name).second) return "duplicate node name accepted";
    if (n.address.port == 0) return "node address without a port accepted";
    if (!addresses.insert(n.address.to_string()).second) return "duplicate address accepted";
  }
  if (std::all_of(c.nodes.begin(), c.nodes.end(), [](const auto& n) { return n.witness; })) {
    return "a cluster of witnesses accepted";
  }
  const auto& t = c.timing;
  if (t.heartbeat_interval < limits::kMinHeartbeatInterval ||
      t.heartbeat_interval > limits::kMaxHeartbeatInterval ||
      t.node_timeout < limits::kMinHeartbeatsPerTimeout * t.heartbeat_interval) {
    return "unsafe timing accepted";
  }
  return {};
}

std::string check_resources(const ClusterConfig& c) {
  const ResourceConfig& rc = c.resources;
  if (rc.primitives.size() > limits::kMaxResources) return "too many primitives accepted";
  std::set<std::string> ids;
  for (const auto& p : rc.primitives) ids.insert(p.id);
  for (const auto& g : rc.groups) ids.insert(g.id);
  for (const auto& k : rc.clones) ids.insert(k.id);
  if (ids.size() != rc.primitives.size() + rc.groups.size() + rc.clones.size()) {
    return "duplicate resource ids accepted";
  }
  std::set<std::string> grouped;
  for (const auto& g : rc.groups) {
    for (const auto& m : g.members) {
      if (rc.primitive(m) == nullptr) return "a group member that is no primitive accepted";
      if (!grouped.insert(m).second) return "a primitive in two groups accepted";
    }
  }
  for (const auto& k : rc.clones) {
    if (!rc.exists(k.child) || rc.clone(k.child) != nullptr) return "a bad clone child accepted";
  }
  for (const auto& p : rc.primitives) {
    if (!same_definition(p, p)) return "a primitive differs from itself";
    if (!top_level_resource(rc, p.id)) return "a primitive without a top-level resource";
  }
  for (const auto& l : rc.locations) {
    if (!rc.exists(l.resource)) return "a location on an unknown resource accepted";
    if (l.node.empty() == !l.rule) return "a location without exactly one of node and rule";
    if (!l.score_attribute.empty() && !l.rule) return "a score_attribute without a rule";
    if (l.score < -limits::kInfinity || l.score > limits::kInfinity) return "a score past infinity";
  }
  return {};
}

// The agent stores an accepted file in the cluster document and parses it from there again
// (agent initial_doc, config apply, a node catching up).
std::string check_document(std::string_view text, const ClusterConfig& c) {
  ClusterDoc doc;
  doc.config_version = 1;
  doc.config_text = std::string(text);
  doc.config_by = "fuzz";
  std::string bytes;
  try {
    bytes = doc_to_bytes(doc);
  } catch (const std::exception& e) {
    return std::string("an accepted file cannot be stored in the cluster document: ") + e.what();
  }
  const auto back = doc_from_bytes(bytes);
  if (!back) return "the cluster document does not read back: " + back.error();
  if (!(*back == doc)) return "the cluster document reads back different";
  const auto again = parse_config(back->config_text, "fuzz.yaml");
  if (!again) return "an accepted file, read back from the document, is refused";
  if (again->config.config_id != c.config_id || again->config.nodes.size() != c.nodes.size() ||
      again->config.resources.primitives.size() != c.resources.primitives.size()) {
    return "an accepted file loads differently the second time";
  }
  if (!static_differences(c, again->config).empty()) return "a file differs from itself";
  const ClusterConfig eff = effective_config(c, doc, 0);
  if (eff.resources.primitives.size() != c.resources.primitives.size()) {
    return "effective_config changed the primitives";
  }
  return {};
}

}  // namespace

std::string config(Input input) {
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  const auto loaded = parse_config(text, "fuzz.yaml");
  if (!loaded) {
    if (loaded.error().empty()) return "refused without an error";
    for (const auto& e : loaded.error()) {
      if (e.message.empty() || e.line < 0 || e.column < 0) return "an error without a message";
      (void)e.to_string();
    }
    return {};
  }
  const ClusterConfig& c = loaded->config;
  if (c.config_id != text_digest(text)) return "config_id is not the text's digest";
  if (!valid_name(c.name, limits::kMaxClusterNameLength)) return "invalid cluster name accepted";
  if (c.auth_key_file.empty() || c.auth_key_file.front() != '/') return "relative key path";
  if (auto why = check_nodes(c); !why.empty()) return why;
  if (auto why = check_resources(c); !why.empty()) return why;
  return check_document(text, c);
}

}  // namespace hactl::fuzz
