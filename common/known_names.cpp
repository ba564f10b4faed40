#include "common/known_names.hpp"

namespace hactl {

std::vector<std::string> node_names(const ClusterConfig& config) {
  std::vector<std::string> out;
  out.reserve(config.nodes.size());
  for (const auto& n : config.nodes) out.push_back(n.name);
  return out;
}

std::vector<std::string> resource_ids(const ResourceConfig& resources) {
  std::vector<std::string> out;
  for (const auto& p : resources.primitives) out.push_back(p.id);
  for (const auto& g : resources.groups) out.push_back(g.id);
  for (const auto& c : resources.clones) out.push_back(c.id);
  return out;
}

}  // namespace hactl
