#include "coordinator/attributes.hpp"

#include <algorithm>

#include "common/known_names.hpp"
#include "common/limits.hpp"
#include "common/suggest.hpp"

namespace hactl {
namespace {

// Printable ASCII, or well-formed UTF-8 beyond it: the value goes into JSON documents and
// into the XML crm_mon prints, and nlohmann::json throws on malformed UTF-8.
bool clean_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    std::size_t len = 1;
    if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
    } else if (c >= 0xe0) {
      len = 3;
    } else if (c >= 0xc2) {
      len = 2;
    } else if (c >= 0x80) {
      return false;
    }
    if (c >= 0xf5 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

std::expected<std::string, std::string> name_member(const nlohmann::json& body) {
  const auto it = body.find("name");
  if (it == body.end() || !it->is_string())
    return std::unexpected("the attribute's name is missing");
  const auto name = it->get<std::string>();
  if (name.empty() || name.size() > limits::kMaxAttributeNameLength) {
    return std::unexpected("an attribute name has 1 to " +
                           std::to_string(limits::kMaxAttributeNameLength) + " characters");
  }
  if (name.front() == '#') {
    return std::unexpected("attribute '" + name + "': names that start with # are built in");
  }
  if (!valid_attribute_name(name)) {
    return std::unexpected("attribute name '" +
                           std::string(clean_text(name) ? name : "(unprintable)") +
                           "': letters, digits and - _ . : only");
  }
  return name;
}

}  // namespace

std::expected<AttributeRequest, std::string> attribute_request(ControlVerb verb,
                                                               const nlohmann::json& body,
                                                               const ClusterConfig& config,
                                                               const std::string& self) {
  AttributeRequest r;
  r.op = verb == ControlVerb::kAttributeSet      ? AttributeRequest::Op::kSet
         : verb == ControlVerb::kAttributeDelete ? AttributeRequest::Op::kDelete
                                                 : AttributeRequest::Op::kQuery;
  const auto scope = body.find("scope");
  if (scope != body.end() && !scope->is_null() && *scope != "cluster" && *scope != "node") {
    return std::unexpected("scope is cluster or node");
  }
  r.cluster = scope != body.end() && *scope == "cluster";
  r.node = r.cluster ? std::string() : self;
  if (const auto n = body.find("node"); r.cluster && n != body.end() && !n->is_null()) {
    return std::unexpected("a cluster property belongs to no node: no node with scope cluster");
  }
  if (const auto n = body.find("node"); n != body.end() && !n->is_null()) {
    if (!n->is_string()) return std::unexpected("malformed request: node is not a string");
    r.node = n->get<std::string>();
    if (!config.find_node(r.node)) {
      return std::unexpected(unknown_name_message("node", r.node, node_names(config)));
    }
  }
  auto name = name_member(body);
  if (!name) return std::unexpected(name.error());
  r.name = std::move(*name);
  if (const auto l = body.find("lifetime"); l != body.end() && !l->is_null()) {
    if (!l->is_string() || (*l != "reboot" && *l != "forever")) {
      return std::unexpected("lifetime is reboot or forever");
    }
    r.reboot = *l == "reboot";
    if (r.cluster && r.reboot) {
      return std::unexpected("a cluster property is kept until deleted: no reboot lifetime");
    }
  }
  if (r.op != AttributeRequest::Op::kSet) return r;
  const auto v = body.find("value");
  if (v == body.end() || !v->is_string()) {
    return std::unexpected("attribute '" + r.name + "': the value is missing (a string)");
  }
  r.value = v->get<std::string>();
  if (r.value.size() > limits::kMaxAttributeValueLength || !clean_text(r.value)) {
    return std::unexpected("attribute '" + r.name + "': a value is printable text of at most " +
                           std::to_string(limits::kMaxAttributeValueLength) + " bytes");
  }
  return r;
}

namespace {

std::expected<std::optional<ClusterDoc>, std::string> apply_property(const ClusterDoc& doc,
                                                                     const AttributeRequest& r) {
  const auto have = doc.properties.find(r.name);
  if (r.op == AttributeRequest::Op::kDelete) {
    if (have == doc.properties.end()) return std::nullopt;
    ClusterDoc next = doc;
    next.properties.erase(r.name);
    return next;
  }
  if (have != doc.properties.end() && have->second == r.value) return std::nullopt;
  if (have == doc.properties.end() && doc.properties.size() >= limits::kMaxClusterProperties) {
    return std::unexpected("the cluster has " + std::to_string(limits::kMaxClusterProperties) +
                           " properties already: delete some first");
  }
  ClusterDoc next = doc;
  next.properties[r.name] = r.value;
  return next;
}

}  // namespace

std::expected<std::optional<ClusterDoc>, std::string> apply_attribute(const ClusterDoc& doc,
                                                                      const AttributeRequest& r,
                                                                      std::uint64_t incarnation) {
  if (r.cluster) return apply_property(doc, r);
  const NodeAttribute* have = find_attribute(doc, r.node, r.name, r.reboot);
  if (r.op == AttributeRequest::Op::kDelete) {
    if (have == nullptr) return std::nullopt;
    ClusterDoc next = doc;
    std::erase(next.attributes, *have);
    return next;
  }
  const NodeAttribute want{r.node, r.name, r.value, r.reboot, r.reboot ? incarnation : 0};
  if (have != nullptr && *have == want) return std::nullopt;
  ClusterDoc next = doc;
  if (have != nullptr) {
    std::erase(next.attributes, *have);
  } else {
    const auto on_node = std::count_if(doc.attributes.begin(), doc.attributes.end(),
                                       [&](const NodeAttribute& a) { return a.node == r.node; });
    if (static_cast<std::size_t>(on_node) >= limits::kMaxAttributesPerNode) {
      return std::unexpected("node " + r.node + " has " +
                             std::to_string(limits::kMaxAttributesPerNode) +
                             " attributes already: delete some first");
    }
  }
  next.attributes.push_back(want);
  sort_attributes(next.attributes);
  return next;
}

std::optional<std::string> query_attribute(const ClusterDoc& doc, const AttributeRequest& r,
                                           std::uint64_t incarnation) {
  if (r.cluster) {
    const auto it = doc.properties.find(r.name);
    if (it == doc.properties.end()) return std::nullopt;
    return it->second;
  }
  const NodeAttribute* a = find_attribute(doc, r.node, r.name, r.reboot);
  if (a == nullptr || !attribute_in_force(*a, incarnation)) return std::nullopt;
  return a->value;
}

}  // namespace hactl
