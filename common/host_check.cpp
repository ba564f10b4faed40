#include "common/host_check.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "common/assert.hpp"
#include "common/limits.hpp"
#include "common/vip_params.hpp"

namespace hactl {
namespace {

// Interfaces named in a finding: enough to spot a typo, bounded for a host with hundreds.
constexpr std::size_t kMaxKnownShown = 16;

std::optional<InterfaceAddress> parse_cidr(std::string_view cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  InterfaceAddress a;
  const std::string ip(cidr.substr(0, slash));
  a.ipv6 = ip.find(':') != std::string::npos;
  if (inet_pton(a.ipv6 ? AF_INET6 : AF_INET, ip.c_str(), a.bytes.data()) != 1) return std::nullopt;
  a.prefix = std::stoi(std::string(cidr.substr(slash + 1)));
  return a;
}

// Whether `ip` lies in the subnet of `net` (its address and prefix).
bool in_subnet(const InterfaceAddress& ip, const InterfaceAddress& net) {
  if (ip.ipv6 != net.ipv6) return false;
  const int bits = std::clamp(net.prefix, 0, ip.ipv6 ? 128 : 32);
  for (int i = 0; i < bits; ++i) {
    const auto byte = static_cast<std::size_t>(i / 8);
    const int mask = 0x80 >> (i % 8);
    if ((ip.bytes[byte] & mask) != (net.bytes[byte] & mask)) return false;
  }
  return true;
}

// What `self` may run: a primitive is ruled out there by -inf on it, its group or its clone.
class Scope {
 public:
  Scope(const ClusterConfig& config, const std::string& self) {
    for (const auto& l : config.resources.locations) {
      if (l.node == self && l.score <= -limits::kInfinity && l.role == RoleFilter::kAny) {
        ruled_out_.insert(l.resource);
      }
    }
    for (const auto& g : config.resources.groups) {
      for (const auto& m : g.members) group_of_.emplace(m, g.id);
    }
    for (const auto& c : config.resources.clones) clone_of_.emplace(c.child, c.id);
  }
  bool may_run(const std::string& primitive) const {
    std::string id = primitive;
    for (int depth = 0; depth < 3; ++depth) {  // primitive, group, clone
      if (ruled_out_.contains(id)) return false;
      if (const auto g = group_of_.find(id); g != group_of_.end()) {
        id = g->second;
      } else if (const auto c = clone_of_.find(id); c != clone_of_.end()) {
        id = c->second;
      } else {
        return true;
      }
    }
    return !ruled_out_.contains(id);
  }

 private:
  std::set<std::string> ruled_out_;
  std::map<std::string, std::string> group_of_;  // primitive -> group
  std::map<std::string, std::string> clone_of_;  // primitive or group -> clone
};

class Checker {
 public:
  Checker(const ClusterConfig& config, const HostFacts& facts, NodeId self)
      : config_(config), facts_(facts), self_(config.node(self).name) {}

  std::vector<HostFinding> run(bool resources, bool fencing);

 private:
  void check_resources();
  // The host asked once per distinct thing (20,000 primitives of one agent: one stat).
  const FileCheck& ocf_agent(const std::string& provider, const std::string& type) {
    auto [it, fresh] = files_.try_emplace("ocf:" + provider + ":" + type);
    if (fresh) it->second = facts_.ocf_agent(provider, type);
    return it->second;
  }
  const FileCheck& program(const std::string& path) {
    auto [it, fresh] = files_.try_emplace(path);
    if (fresh) it->second = facts_.program(path);
    return it->second;
  }
  void load_interfaces();
  void vip(const std::string& field, const PrimitiveConfig& p);
  void vip_subnet(const std::string& field, const PrimitiveConfig& p, const VipParams& v,
                  const HostInterface& iface);
  const std::vector<InterfaceAddress>& subnets(const HostInterface& iface);
  void file(const std::string& field, const std::string& id, HostSubject subject,
            const FileCheck& check);
  void unit(const std::string& field, const PrimitiveConfig& p);
  HostFinding& add(HostSeverity severity, HostSubject subject, HostProblem problem,
                   const std::string& id, const std::string& field, std::string looked_for);

  const ClusterConfig& config_;
  const HostFacts& facts_;
  std::string self_;
  bool interfaces_read_ = false;  // once per check, and only if there is a vip
  std::vector<HostInterface> interfaces_;
  std::map<std::string, const HostInterface*> by_name_;
  std::set<std::pair<bool, std::array<std::uint8_t, 16>>> vip_addresses_;  // family, bytes
  std::map<std::string, std::vector<InterfaceAddress>> subnets_;
  std::map<std::string, FileCheck> files_;  // by path, or ocf:PROVIDER:TYPE
  std::map<std::string, UnitCheck> units_;
  bool systemd_unreachable_ = false;
  std::uint32_t index_ = 0;  // of the primitive or fence device being checked
  std::vector<HostFinding> out_;
};

HostFinding& Checker::add(HostSeverity severity, HostSubject subject, HostProblem problem,
                          const std::string& id, const std::string& field, std::string looked_for) {
  HostFinding f;
  f.severity = severity;
  f.subject = subject;
  f.problem = problem;
  f.node = self_;
  f.resource = id;
  f.index = index_;
  f.field = field;
  f.looked_for = std::move(looked_for);
  out_.push_back(std::move(f));
  return out_.back();
}

std::vector<HostFinding> Checker::run(bool resources, bool fencing) {
  if (resources) check_resources();
  const auto& devices = config_.fencing.devices;
  for (std::size_t i = 0; fencing && i < devices.size(); ++i) {
    index_ = static_cast<std::uint32_t>(i);
    file("fencing.devices[" + std::to_string(i) + "].agent", devices[i].id,
         HostSubject::kFenceAgent, program(devices[i].agent));
  }
  return std::move(out_);
}

void Checker::check_resources() {
  const auto& prims = config_.resources.primitives;
  for (const auto& p : prims) {
    if (p.cls != ResourceClass::kVip) continue;
    if (const auto v = parse_vip_params(p.params)) {
      if (const auto a = parse_cidr(v->address)) vip_addresses_.insert({a->ipv6, a->bytes});
    }
  }
  const Scope scope(config_, self_);
  for (std::size_t i = 0; i < prims.size(); ++i) {
    const PrimitiveConfig& p = prims[i];
    if (!scope.may_run(p.id)) continue;
    index_ = static_cast<std::uint32_t>(i);
    const std::string at = "resources[" + std::to_string(i) + "]";
    switch (p.cls) {
      case ResourceClass::kVip:
        vip(at + ".params", p);
        break;
      case ResourceClass::kOcf:
        file(at + ".type", p.id, HostSubject::kOcfAgent, ocf_agent(p.provider, p.type));
        break;
      case ResourceClass::kExec:
        file(at + ".type", p.id, HostSubject::kScript, program(p.type));
        break;
      case ResourceClass::kSystemd:
        unit(at + ".type", p);
        break;
    }
  }
}

void Checker::load_interfaces() {
  if (interfaces_read_) return;
  interfaces_read_ = true;
  interfaces_ = facts_.interfaces();
  for (const auto& i : interfaces_) by_name_.emplace(i.name, &i);
}

void Checker::vip(const std::string& field, const PrimitiveConfig& p) {
  const auto v = parse_vip_params(p.params);
  if (!v) return;  // the loader reported it
  load_interfaces();
  const auto it = by_name_.find(v->interface);
  if (it == by_name_.end()) {
    HostFinding& f = add(HostSeverity::kError, HostSubject::kInterface, HostProblem::kMissing, p.id,
                         field + ".interface", v->interface);
    for (const auto& [name, _] : by_name_) {
      if (f.known.size() == kMaxKnownShown) {
        f.known.push_back("and " + std::to_string(by_name_.size() - kMaxKnownShown) + " more");
        break;
      }
      f.known.push_back(name);
    }
    return;
  }
  if (!it->second->up) {
    add(HostSeverity::kWarning, HostSubject::kInterface, HostProblem::kDown, p.id,
        field + ".interface", v->interface);
  }
  if (!v->outside_subnet) vip_subnet(field + ".address", p, *v, *it->second);
}

// The interface's own subnets, once per interface: its addresses but the vips' (a vip held
// here now is no evidence of a subnet). So each vip costs a look at the host's own addresses,
// not at every vip the host holds.
const std::vector<InterfaceAddress>& Checker::subnets(const HostInterface& iface) {
  auto [it, fresh] = subnets_.try_emplace(iface.name);
  if (!fresh) return it->second;
  for (const auto& a : iface.addresses) {
    if (!vip_addresses_.contains({a.ipv6, a.bytes})) it->second.push_back(a);
  }
  return it->second;
}

void Checker::vip_subnet(const std::string& field, const PrimitiveConfig& p, const VipParams& v,
                         const HostInterface& iface) {
  const auto ip = parse_cidr(v.address);
  if (!ip) return;
  std::vector<std::string> shown;
  for (const auto& a : subnets(iface)) {
    if (a.ipv6 != ip->ipv6) continue;
    if (in_subnet(*ip, a)) return;
    std::string net = subnet_string(a);
    if (shown.size() < kMaxKnownShown &&
        std::find(shown.begin(), shown.end(), net) == shown.end()) {
      shown.push_back(std::move(net));
    }
  }
  HostFinding& f = add(HostSeverity::kError, HostSubject::kAddress, HostProblem::kOutsideSubnet,
                       p.id, field, v.address.substr(0, v.address.find('/')));
  f.known = std::move(shown);
  f.detail = iface.name;
}

void Checker::file(const std::string& field, const std::string& id, HostSubject subject,
                   const FileCheck& check) {
  HostProblem problem = HostProblem::kMissing;
  switch (check.state) {
    case FileState::kExecutable:
      return;
    case FileState::kNotExecutable:
      problem = HostProblem::kNotExecutable;
      break;
    case FileState::kNotAFile:
      problem = HostProblem::kNotAFile;
      break;
    case FileState::kMissing:
      problem = HostProblem::kMissing;
      break;
  }
  add(HostSeverity::kError, subject, problem, id, field, check.path);
}

void Checker::unit(const std::string& field, const PrimitiveConfig& p) {
  if (systemd_unreachable_) return;  // said once
  auto [cached, fresh] = units_.try_emplace(p.type);
  if (fresh) cached->second = facts_.systemd_unit(p.type);
  const UnitCheck& u = cached->second;
  HostProblem problem = HostProblem::kMissing;
  switch (u.state) {
    case UnitState::kFound:
      return;
    case UnitState::kNotFound:
      problem = HostProblem::kMissing;
      break;
    case UnitState::kMasked:
      problem = HostProblem::kMasked;
      break;
    case UnitState::kBroken:
      problem = HostProblem::kBroken;
      break;
    case UnitState::kUnknown:
      systemd_unreachable_ = true;
      add(HostSeverity::kWarning, HostSubject::kSystemdUnit, HostProblem::kUnreachable, p.id, field,
          p.type)
          .detail = u.detail;
      return;
  }
  add(HostSeverity::kError, HostSubject::kSystemdUnit, problem, p.id, field, p.type).detail =
      u.detail;
}

std::string joined(const std::vector<std::string>& list) {
  std::string s;
  for (const auto& x : list) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string_view what(HostSubject s) {
  switch (s) {
    case HostSubject::kInterface:
      return "interface";
    case HostSubject::kAddress:
      return "address";
    case HostSubject::kOcfAgent:
      return "OCF agent";
    case HostSubject::kScript:
      return "script";
    case HostSubject::kSystemdUnit:
      return "systemd unit";
    case HostSubject::kFenceAgent:
      return "fence agent";
  }
  return "?";
}

// The position of the node at `field` ("resources[2].params.interface") under `root`.
std::optional<YAML::Mark> locate(const YAML::Node& root, std::string_view field) {
  YAML::Node at;
  at.reset(root);
  for (std::size_t i = 0; i < field.size();) {
    if (!at.IsDefined()) return std::nullopt;
    const YAML::Node& here = at;  // const lookups: nothing is added to the tree
    if (field[i] == '.') {
      ++i;
    } else if (field[i] == '[') {
      const auto close = field.find(']', i);
      if (close == std::string_view::npos || !here.IsSequence()) return std::nullopt;
      const std::string index(field.substr(i + 1, close - i - 1));
      at.reset(here[std::stoul(index)]);
      i = close + 1;
    } else {
      const auto end = std::min(field.find_first_of(".[", i), field.size());
      if (!here.IsMap()) return std::nullopt;
      at.reset(here[std::string(field.substr(i, end - i))]);
      i = end;
    }
  }
  if (!at.IsDefined()) return std::nullopt;
  return at.Mark();
}

}  // namespace

std::string to_string(const InterfaceAddress& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.ipv6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(a.prefix);
}

std::string subnet_string(const InterfaceAddress& a) {
  InterfaceAddress net = a;
  const int bits = std::clamp(a.prefix, 0, a.ipv6 ? 128 : 32);
  for (int i = bits; i < 128; ++i) {
    net.bytes[static_cast<std::size_t>(i / 8)] &= static_cast<std::uint8_t>(~(0x80 >> (i % 8)));
  }
  return to_string(net);
}

std::string_view to_string(HostSubject s) {
  switch (s) {
    case HostSubject::kInterface:
      return "interface";
    case HostSubject::kAddress:
      return "address";
    case HostSubject::kOcfAgent:
      return "ocf_agent";
    case HostSubject::kScript:
      return "script";
    case HostSubject::kSystemdUnit:
      return "systemd_unit";
    case HostSubject::kFenceAgent:
      return "fence_agent";
  }
  return "unknown";
}

std::string_view to_string(HostProblem p) {
  switch (p) {
    case HostProblem::kMissing:
      return "missing";
    case HostProblem::kDown:
      return "down";
    case HostProblem::kOutsideSubnet:
      return "outside_subnet";
    case HostProblem::kNotExecutable:
      return "not_executable";
    case HostProblem::kNotAFile:
      return "not_a_file";
    case HostProblem::kMasked:
      return "masked";
    case HostProblem::kBroken:
      return "broken";
    case HostProblem::kUnreachable:
      return "unreachable";
  }
  return "unknown";
}

bool has_errors(const std::vector<HostFinding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const HostFinding& f) { return f.severity == HostSeverity::kError; });
}

std::string reason(const HostFinding& f) {
  const std::string thing = std::string(what(f.subject)) + " \"" + f.looked_for + "\"";
  const std::string on = " on " + f.node;
  switch (f.problem) {
    case HostProblem::kMissing:
      if (f.subject == HostSubject::kInterface) {
        return thing + " does not exist" + on + " (has: " + joined(f.known) + ")";
      }
      return thing + " does not exist" + on;
    case HostProblem::kDown:
      return thing + " is down" + on + " (the address would be added but not answered)";
    case HostProblem::kOutsideSubnet:
      return thing + " is in no subnet of " + f.detail + on + " (" + f.detail + " has " +
             (f.known.empty() ? "no address of that family" : joined(f.known)) +
             "); set outside_subnet: true if it is meant to be";
    case HostProblem::kNotExecutable:
      return thing + " is not executable" + on;
    case HostProblem::kNotAFile:
      return thing + " is not a file" + on;
    case HostProblem::kMasked:
      return thing + " is masked" + on;
    case HostProblem::kBroken:
      return thing + " cannot be loaded" + on + " (" + f.detail + ")";
    case HostProblem::kUnreachable:
      return "systemd cannot be asked" + on + " (" + f.detail +
             "): this unit and the ones after it not checked";
  }
  return thing + ": unknown problem";
}

std::string located(const HostFinding& f) {
  std::string s;
  if (f.line > 0) {
    s = f.file + ":" + std::to_string(f.line) + ":" + std::to_string(f.column) + ": ";
  }
  const char* kind = f.subject == HostSubject::kFenceAgent ? "fence device " : "resource ";
  return s + f.field + ": " + f.node + ": " + kind + f.resource + ": " + reason(f);
}

std::string to_string(const HostFinding& f) {
  return (f.severity == HostSeverity::kWarning ? "warning: " : "") + located(f);
}

std::vector<HostFinding> check_host(const ClusterConfig& config, const HostFacts& facts,
                                    NodeId self) {
  HACTL_ASSERT(self.value < config.nodes.size());
  const bool witness = config.node(self).witness;
  // A witness runs nothing and never fences (it never becomes coordinator).
  return Checker(config, facts, self).run(!witness, !witness);
}

void locate_findings(std::string_view yaml_text, std::string_view file,
                     std::vector<HostFinding>& findings) {
  if (findings.empty()) return;  // parsing the text again costs as much as the first time
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception&) {
    return;  // the text was checked before: nothing to locate in text that no longer parses
  }
  for (auto& f : findings) {
    if (const auto mark = locate(root, f.field)) {
      f.file = std::string(file);
      f.line = mark->line + 1;
      f.column = mark->column + 1;
    }
  }
}

}  // namespace hactl

namespace hactl {
namespace {

// Fills a report's findings' node and resource from `config` (the asker's copy of the text);
// drops any whose index is out of range (not the text the asker sent).
void complete(std::vector<HostFinding>& findings, const ClusterConfig& config,
              const std::string& node) {
  const auto& prims = config.resources.primitives;
  const auto& devices = config.fencing.devices;
  std::erase_if(findings, [&](HostFinding& f) {
    const bool fence = f.subject == HostSubject::kFenceAgent;
    if (f.index >= (fence ? devices.size() : prims.size())) return true;
    f.node = node;
    f.resource = fence ? devices[f.index].id : prims[f.index].id;
    return false;
  });
}

// By item (primitives, then fence devices): whether `next` adds or redefines it.
std::vector<bool> changed_items(const ClusterConfig& base, const ClusterConfig& next) {
  std::map<std::string_view, const PrimitiveConfig*> before;
  for (const auto& p : base.resources.primitives) before.emplace(p.id, &p);
  std::vector<bool> changed;
  for (const auto& p : next.resources.primitives) {
    const auto it = before.find(p.id);
    changed.push_back(it == before.end() || !same_definition(*it->second, p));
  }
  for (const auto& d : next.fencing.devices) {
    const FenceDevice* old = base.fencing.device(d.id);
    changed.push_back(old == nullptr || old->agent != d.agent);
  }
  return changed;
}

}  // namespace

ClusterCheck cluster_verdict(const ClusterConfig& base, const ClusterConfig& next,
                             std::vector<NodeReport> reports) {
  const std::size_t prims = next.resources.primitives.size();
  const std::vector<bool> changed = changed_items(base, next);
  auto item = [&](const HostFinding& f) {
    return f.subject == HostSubject::kFenceAgent ? prims + f.index : f.index;
  };
  // By item: nodes that checked and may run it, and those of them that cannot.
  std::vector<int> able(changed.size(), 0), unable(changed.size(), 0);
  ClusterCheck out;
  for (auto& r : reports) {
    const NodeConfig& node = next.node(r.node);
    if (!r.report || !r.report->checked) {
      out.nodes.emplace_back(node.name, r.report ? "not checked: " + r.report->detail : r.missing);
      continue;
    }
    out.nodes.emplace_back(node.name, "checked");
    complete(r.report->findings, next, node.name);
    std::vector<bool> fails(changed.size(), false);
    for (const auto& f : r.report->findings) {
      if (f.severity == HostSeverity::kError) fails[item(f)] = true;
    }
    const Scope scope(next, node.name);
    for (std::size_t i = 0; i < changed.size() && !node.witness; ++i) {
      if (i < prims && !scope.may_run(next.resources.primitives[i].id)) continue;
      ++(fails[i] ? unable : able)[i];
    }
  }
  for (auto& r : reports) {
    if (!r.report || !r.report->checked) continue;
    for (std::size_t k = 0; k < r.report->findings.size(); ++k) {
      HostFinding& f = r.report->findings[k];
      const std::size_t i = item(f);
      const bool refuses = changed[i] && able[i] == 0 && unable[i] > 0;
      if (f.severity == HostSeverity::kError && !refuses) f.severity = HostSeverity::kWarning;
      out.refused = out.refused || (f.severity == HostSeverity::kError);
      if (k < kMaxDetailedFindings) {
        out.findings.push_back(std::move(f));
      } else {
        ++out.brief;
      }
    }
  }
  return out;
}

}  // namespace hactl
