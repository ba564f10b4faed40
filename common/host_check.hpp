// The host check: what only the host a node runs on can say about a configuration, as typed
// findings. A vip's interface exists there (and is up) and its address falls in a subnet
// configured on that interface (unless the vip sets outside_subnet); OCF agents, exec scripts
// and fence agents exist and are executable; systemd units exist and are not masked.
//
// `check_host` is pure: what it knows of the host comes through `HostFacts` (a fake in unit
// tests, resources/host_facts.hpp on a real host), and it is linear in the size of the
// configuration. It takes any configuration, the one in force or one proposed, so a node can
// run it on a configuration another node proposes and send its findings back: a finding is
// plain data (enums and short strings, no pointers into the configuration) for that reason.
// Text is made only by `to_string`, at the edge.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace hactl {

struct InterfaceAddress {
  bool ipv6 = false;
  std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 in the first four
  int prefix = 0;
  bool operator==(const InterfaceAddress&) const = default;
};
std::string to_string(const InterfaceAddress& a);  // "10.213.0.11/24"
// The network an address is in: "10.213.0.0/24" for 10.213.0.11/24.
std::string subnet_string(const InterfaceAddress& a);

struct HostInterface {
  std::string name;
  bool up = false;  // administratively up (IFF_UP)
  std::vector<InterfaceAddress> addresses;
};

enum class FileState : std::uint8_t { kExecutable, kNotExecutable, kNotAFile, kMissing };
struct FileCheck {
  FileState state = FileState::kMissing;
  std::string path;  // the path looked at (for an OCF agent, under the OCF root)
};

// kUnknown: systemd could not be asked (no bus, no answer in time).
enum class UnitState : std::uint8_t { kFound, kNotFound, kMasked, kBroken, kUnknown };
struct UnitCheck {
  UnitState state = UnitState::kUnknown;
  std::string detail;  // systemd's LoadState, or why it could not be asked
};

// What the host says. Each call may do I/O (netlink, the filesystem, D-Bus): call it where
// blocking is allowed, never on the agent's loop. One thread at a time.
class HostFacts {
 public:
  virtual ~HostFacts() = default;
  virtual std::vector<HostInterface> interfaces() const = 0;
  virtual FileCheck ocf_agent(std::string_view provider, std::string_view type) const = 0;
  virtual FileCheck program(const std::string& path) const = 0;
  virtual UnitCheck systemd_unit(const std::string& unit) const = 0;
};

enum class HostSeverity : std::uint8_t { kError, kWarning };
// What was looked for.
enum class HostSubject : std::uint8_t {
  kInterface,
  kAddress,
  kOcfAgent,
  kScript,
  kSystemdUnit,
  kFenceAgent,
};
enum class HostProblem : std::uint8_t {
  kMissing,        // no such interface, file or unit
  kDown,           // the interface is administratively down (a warning)
  kOutsideSubnet,  // the vip's address is in no subnet of its interface
  kNotExecutable,
  kNotAFile,
  kMasked,       // a masked unit
  kBroken,       // systemd cannot load the unit (bad-setting, error)
  kUnreachable,  // systemd could not be asked (a warning: units were not checked)
};

struct HostFinding {
  HostSeverity severity = HostSeverity::kError;
  HostSubject subject = HostSubject::kInterface;
  HostProblem problem = HostProblem::kMissing;
  std::string node;                // whose host
  std::string resource;            // a primitive's id, or a fence device's (subject kFenceAgent)
  std::uint32_t index = 0;         // that primitive's or fence device's place in its list
  std::string field;               // its path in the file: "resources[2].params.interface"
  std::string looked_for;          // "eth9", an address, a path, a unit
  std::vector<std::string> known;  // what there is instead: the interfaces, or its subnets
  std::string detail;              // systemd's word for it, when it had one
  // Where `field` is in `file`, once located (locate_findings); line 0: not known.
  std::string file;
  int line = 0;
  int column = 0;
  bool operator==(const HostFinding&) const = default;
};

// Words for the JSON answers: "interface", "ocf_agent", ...; "missing", "outside_subnet", ...
std::string_view to_string(HostSubject s);
std::string_view to_string(HostProblem p);

bool has_errors(const std::vector<HostFinding>& findings);
// `interface "eth9" does not exist on n1 (has: eth0, lo)`
std::string reason(const HostFinding& f);
// `c.yaml:12:29: resources[0].params.interface: n1: resource web-ip: <reason>`, the position
// when known; to_string puts "warning: " first for a warning.
std::string located(const HostFinding& f);
std::string to_string(const HostFinding& f);

// The findings of node `self` for what it could run under `config`: every primitive unless
// self is a witness or a location constraint (an operator's ban included) says -inf for it,
// its group or its clone on self; and, on a node that may fence (not a witness), every fence
// device's agent. In configuration order.
std::vector<HostFinding> check_host(const ClusterConfig& config, const HostFacts& facts,
                                    NodeId self);

// One node's host check of a configuration another node asked it to check (the cluster-wide
// check before `hactl config apply`, coordinator/host_checks.hpp), as sent back: typed, with
// node, resource, file and line left for the asker to fill from its own copy of the text
// (complete_report). The first kMaxDetailedFindings findings come whole; the rest (a file of
// 20,000 vips on a missing interface) only as severity, subject, problem and index, enough for
// the verdict (cluster_verdict).
struct HostReport {
  bool checked = false;  // false: the node could not check (detail says why)
  std::string detail;
  std::vector<HostFinding> findings;
  bool operator==(const HostReport&) const = default;
};
inline constexpr std::size_t kMaxDetailedFindings = 64;

// One node's part in a cluster-wide check: its report, or why there is none ("offline", "no
// answer within 5 s").
struct NodeReport {
  NodeId node;
  std::optional<HostReport> report;
  std::string missing;
};

// The verdict of a cluster-wide check of `next`, to replace `base`. Only what the change adds
// or redefines can refuse it (a finding on what stays as it is is a warning: the apply neither
// stops nor starts it). A primitive or fence device that every node that checked it and may
// run it (common/host_check: witnesses and -inf locations excepted) reports it cannot run
// refuses the change, with each node's reason; one that some node can run is a warning naming
// the others. Nodes that did not check count neither way.
struct ClusterCheck {
  bool refused = false;
  std::vector<HostFinding> findings;  // node and resource filled; in node order
  std::vector<std::pair<std::string, std::string>> nodes;  // (node, "checked" or why not)
  std::size_t brief = 0;  // findings sent without detail (beyond kMaxDetailedFindings a node)
};
ClusterCheck cluster_verdict(const ClusterConfig& base, const ClusterConfig& next,
                             std::vector<NodeReport> reports);

// Fills file, line and column of each finding from the YAML text its configuration came from.
void locate_findings(std::string_view yaml_text, std::string_view file,
                     std::vector<HostFinding>& findings);

}  // namespace hactl
