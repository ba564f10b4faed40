#include "coordinator/config_plan.hpp"

#include <map>
#include <set>
#include <type_traits>

#include "common/cluster_doc.hpp"
#include "coordinator/scheduler.hpp"

namespace hactl {
namespace {

bool active(ResourceRole r) { return r != ResourceRole::kStopped; }

std::vector<std::string> where(const ClusterConfig& config,
                               const std::vector<ResourceRole>* roles) {
  std::vector<std::string> out;
  if (roles == nullptr) return out;
  for (std::size_t i = 0; i < roles->size() && i < config.nodes.size(); ++i) {
    if (!active((*roles)[i])) continue;
    out.push_back(config.nodes[i].name +
                  ((*roles)[i] == ResourceRole::kPromoted ? " (promoted)" : ""));
  }
  return out;
}

template <typename Map>
const typename Map::mapped_type* find(const Map& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace

std::string_view to_string(ResourcePlan::Definition d) {
  switch (d) {
    case ResourcePlan::Definition::kSame:
      return "same";
    case ResourcePlan::Definition::kUpdated:
      return "updated";
    case ResourcePlan::Definition::kRedefined:
      return "redefined";
    case ResourcePlan::Definition::kAdded:
      return "added";
    case ResourcePlan::Definition::kRemoved:
      return "removed";
  }
  return "same";
}

std::string_view to_string(ResourcePlan::Outcome o) {
  switch (o) {
    case ResourcePlan::Outcome::kNothing:
      return "nothing";
    case ResourcePlan::Outcome::kUpdate:
      return "update";
    case ResourcePlan::Outcome::kRestart:
      return "restart";
    case ResourcePlan::Outcome::kMove:
      return "move";
    case ResourcePlan::Outcome::kStart:
      return "start";
    case ResourcePlan::Outcome::kStop:
      return "stop";
  }
  return "nothing";
}

namespace {

// Primitives by id, and each one's top-level resource: once, so that every lookup below is
// logarithmic (a linear search per primitive took seconds over 20,000).
struct ById {
  explicit ById(const ResourceConfig& rc) {
    const std::vector<std::string> tops = top_level_resources(rc);
    for (std::size_t i = 0; i < rc.primitives.size(); ++i) {
      prims.emplace(rc.primitives[i].id, &rc.primitives[i]);
      top.emplace(rc.primitives[i].id, tops[i]);
    }
  }
  const PrimitiveConfig* primitive(const std::string& id) const {
    const auto it = prims.find(id);
    return it == prims.end() ? nullptr : it->second;
  }
  std::map<std::string_view, const PrimitiveConfig*> prims;
  std::map<std::string_view, std::string> top;
};

// The top-level resources of the current configuration that the apply stops first: those
// with an active primitive it removes or redefines.
std::set<std::string> stopped_first(const ClusterConfig& current, const ById& now, const ById& then,
                                    const ClusterState& state) {
  std::set<std::string> out;
  for (const auto& p : current.resources.primitives) {
    const PrimitiveConfig* q = then.primitive(p.id);
    if (q != nullptr && same_definition(p, *q)) continue;
    const auto* roles = find(state.roles, p.id);
    bool is_active = false;
    for (std::size_t i = 0; roles != nullptr && i < roles->size(); ++i)
      is_active = is_active || active((*roles)[i]);
    if (is_active) out.insert(now.top.at(p.id));
  }
  return out;
}

}  // namespace

std::vector<ResourcePlan> plan_apply(const ClusterConfig& current, const ClusterConfig& next,
                                     const ClusterState& state) {
  using D = ResourcePlan::Definition;
  using O = ResourcePlan::Outcome;
  // The state the apply leaves: what it keeps as it was; what it removes or redefines stopped
  // (and its failures forgotten: a new definition starts afresh), with the whole group or clone
  // it is in when it is active (`hactl config apply` stops those first); what it adds, stopped.
  const ById now(current.resources), then(next.resources);
  const std::set<std::string> stopped = stopped_first(current, now, then, state);
  auto restarted = [&](const std::string& id) {
    const auto top = now.top.find(id);
    return top != now.top.end() && stopped.contains(top->second);
  };
  ClusterState after = state;
  after.roles.clear();
  after.failed.clear();
  after.settling.clear();
  after.failures.clear();
  const std::size_t n = next.nodes.size();
  for (const auto& q : next.resources.primitives) {
    const PrimitiveConfig* p = now.primitive(q.id);
    const bool kept = p != nullptr && same_definition(*p, q) && !restarted(q.id);
    auto take = [&](auto& to, const auto& from, auto none) {
      const auto* v = find(from, q.id);
      using Vec = std::remove_cvref_t<decltype(*v)>;
      to[q.id] = kept && v != nullptr ? *v : Vec(n, none);
    };
    take(after.roles, state.roles, ResourceRole::kStopped);
    take(after.failed, state.failed, false);
    take(after.settling, state.settling, false);
    take(after.failures, state.failures, FailureRecord{});
  }
  const Transition t = schedule(next, after);

  std::vector<ResourcePlan> out;
  auto outcome = [](const std::vector<std::string>& from, const std::vector<std::string>& to,
                    bool stopped_and_started, bool updated) {
    if (from.empty()) return to.empty() ? O::kNothing : O::kStart;
    if (to.empty()) return O::kStop;
    if (from != to) return O::kMove;
    if (stopped_and_started) return O::kRestart;
    return updated ? O::kUpdate : O::kNothing;
  };
  for (const auto& p : current.resources.primitives) {
    const PrimitiveConfig* q = then.primitive(p.id);
    ResourcePlan r;
    r.resource = p.id;
    r.from = where(current, find(state.roles, p.id));
    if (q == nullptr) {
      r.definition = D::kRemoved;
      r.outcome = r.from.empty() ? O::kNothing : O::kStop;
    } else {
      r.definition = !same_definition(p, *q) ? D::kRedefined
                     : !same_settings(p, *q) ? D::kUpdated
                                             : D::kSame;
      r.to = where(next, find(t.target, p.id));
      r.outcome = outcome(r.from, r.to, r.definition == D::kRedefined || restarted(p.id),
                          r.definition == D::kUpdated);
    }
    out.push_back(std::move(r));
  }
  for (const auto& q : next.resources.primitives) {
    if (now.primitive(q.id) != nullptr) continue;
    ResourcePlan r;
    r.resource = q.id;
    r.definition = D::kAdded;
    r.to = where(next, find(t.target, q.id));
    r.outcome = r.to.empty() ? O::kNothing : O::kStart;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace hactl
