// The agent's status reply (docs/status.md) read into what the Pacemaker tools show: nodes with
// Pacemaker-style ids, primitives with where each instance runs, node attributes. Witness nodes
// vote but run nothing, as a corosync quorum device, which Pacemaker does not list as a node:
// they are left out of every list, though ids count them (id = 1-based position of the node in
// the configuration, stable across restarts). Reading never throws: a reply of the wrong shape
// is an error value.
#pragma once

#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/crm_compat/command.hpp"

namespace hactl::crm {

struct NodeView {
  std::string name;
  int id = 0;
  bool online = false;  // online, standby and maintenance nodes are members
  bool standby = false;
  bool maintenance = false;
  bool unclean = false;  // lost, and fencing has not dealt with it yet
  bool self = false;
  bool coordinator = false;
};

struct InstanceView {
  std::string node;
  bool promoted = false;
};

struct PrimitiveView {
  std::string id;
  std::string top;    // its group or clone, or itself
  std::string type;   // vip, ocf:heartbeat:pgsql, systemd:UNIT, exec:PATH
  std::string clone;  // the clone it runs in, "" when none or unknown
  bool promotable = false;
  bool failed = false;
  std::vector<InstanceView> instances;
};

struct AttributeView {
  std::string node;
  std::string name;
  std::string value;
  Lifetime lifetime = Lifetime::kReboot;
};

struct StatusView {
  std::string local;  // the answering node
  std::optional<std::string> coordinator;
  bool quorum = false;
  std::uint64_t epoch = 0;  // the configuration's version
  std::vector<NodeView> nodes;
  std::vector<PrimitiveView> primitives;
  std::vector<AttributeView> attributes;

  const NodeView* node(std::string_view name) const;
  const NodeView* local_node() const { return node(local); }
};

std::expected<StatusView, std::string> read_status(const nlohmann::json& reply);

}  // namespace hactl::crm
