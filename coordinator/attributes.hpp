// Node attributes as operators' intents (crm_attribute, crm_master, attrd_updater through
// hactl's compatibility commands, docs/pacemaker-tools.md): a request checked and turned into
// the next cluster document, or refused with its reason. Pure: the agent proposes the document
// and answers once a majority stored it, so an agent that reads an attribute back after its
// write returned sees it on every node that coordinates from then on.
#pragma once

#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/cluster_doc.hpp"
#include "common/config.hpp"
#include "common/control_request.hpp"

namespace hactl {

struct AttributeRequest {
  enum class Op { kSet, kDelete, kQuery };
  Op op = Op::kQuery;
  std::string node;  // a configured node's name
  std::string name;
  std::string value;  // kSet
  bool reboot = false;
  // A cluster property (crm_attribute -t crm_config; the body's "scope": "cluster"): no node
  // (`node` is empty) and no lifetime (kept until deleted).
  bool cluster = false;
};

// The request a control body asks for ("node" absent: `self`; "lifetime" absent: forever, as
// Pacemaker's crm_attribute; "scope": "cluster" a cluster property, with neither node nor
// lifetime); an error naming the member otherwise.
std::expected<AttributeRequest, std::string> attribute_request(ControlVerb verb,
                                                               const nlohmann::json& body,
                                                               const ClusterConfig& config,
                                                               const std::string& self);

// The document with the change made (a set stamped with `incarnation`, the node's agent's boot
// incarnation as the asking node knows it), nullopt when it holds already (the same value, or
// a delete of what is not there), or an error (too many attributes on the node).
std::expected<std::optional<ClusterDoc>, std::string> apply_attribute(const ClusterDoc& doc,
                                                                      const AttributeRequest& r,
                                                                      std::uint64_t incarnation);

// The value a query answers: a reboot attribute only while the node's agent runs with the
// incarnation it carries (`incarnation`, 0: the node is down).
std::optional<std::string> query_attribute(const ClusterDoc& doc, const AttributeRequest& r,
                                           std::uint64_t incarnation);

}  // namespace hactl
