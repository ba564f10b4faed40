// The hosts' keepalived.conf files, read (keepalived_model.hpp), as one hactl configuration: nodes,
// the instances paired across hosts, their vips, locations, failback, trackers and hooks; then the
// YAML, which must load through the real loader before it is handed out. The mapping is described
// in import_keepalived.hpp and docs/importing.md.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "cli/init_config.hpp"
#include "cli/keepalived_model.hpp"
#include "common/config.hpp"
#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/vip_params.hpp"
#include "common/yaml_reader.hpp"

namespace hactl::ka {
namespace {

using namespace std::chrono_literals;

// What the check of a track_script runs in: a process that only sleeps, so start and stop always
// work, and a monitor that runs the script (ocf:heartbeat:anything's monitor_hook; its start runs
// the monitor too).
constexpr const char* kCheckAgent = "ocf:heartbeat:anything";
constexpr const char* kCheckBinary = "/bin/sleep";
constexpr const char* kInterfaceAgent = "ocf:heartbeat:ethmonitor";
// After a failed check, how long until the node may run what is colocated with it again.
constexpr const char* kCheckFailureTimeout = "1m";
constexpr std::size_t kIdBase = 40;  // an id's part from keepalived; suffixes fit in 64

struct Prim {
  std::string id = {};
  std::string type = {};
  std::vector<std::pair<std::string, std::string>> params = {};
  std::string monitor_interval = {};  // "" : hactl's defaults
  std::string monitor_timeout = {};
  std::string failback = {};  // never, immediate, or the duration of {after: ...}
  std::string failure_timeout = {};
};

struct NodeOut {
  std::string name = {};
  std::string address = {};
  bool witness = false;
};

struct Location {
  std::string resource = {};
  std::string node = {};  // or a rule
  std::string rule = {};
  std::string score = {};
};

struct Colocation {
  std::string resource = {};
  std::string with = {};
  std::string score = {};
};

struct Hook {
  std::string id = {};
  std::string path = {};
  std::vector<std::string> kinds = {};
  std::vector<std::string> why = {};  // "notify_master of vrrp_instance VI_1"
};

struct Out {
  std::vector<NodeOut> nodes = {};  // hosts first, in order; then peers and a witness
  std::string arbiter = {};
  bool unsafe_pair = false;
  std::vector<Prim> prims = {};
  std::vector<std::pair<std::string, std::vector<std::string>>> groups = {};
  std::vector<std::pair<std::string, std::string>> clones = {};
  std::vector<Location> locations = {};
  std::vector<Colocation> colocations = {};
  std::vector<Hook> hooks = {};
};

// One vrrp_instance as it is on every host that has it (paired by virtual_router_id and family).
struct Placed {
  std::string name = {};
  int vrid = 0;
  bool ipv6 = false;
  std::size_t first = 0;                 // the first host that has it
  std::vector<const Instance*> on = {};  // per host; nullptr where it is not
  std::string group = {};                // its vrrp_sync_group, if any
};

// What the scheduler places as one: an instance, or a sync group of instances.
struct Unit {
  std::string what = {};  // "vrrp_instance VI_1", "vrrp_sync_group G1"
  bool sync = false;
  std::vector<std::size_t> members = {};  // into Mapper::placed
  std::string id = {};
  std::vector<std::string> prims = {};
  std::vector<std::string> where = {};
  std::string group = {};  // the sync group's name
};

struct Mapper {
  std::vector<Host>& hosts;
  const KaImportOptions& options;
  Notes& notes;
  std::vector<std::string> errors = {};
  std::vector<std::string> mapped = {};
  Out out = {};
  std::vector<Placed> placed = {};
  std::map<std::string, std::vector<const SyncGroup*>> groups = {};  // name -> per host
  std::vector<Unit> units = {};
  std::set<std::string> ids = {};                     // resource, group and clone ids
  std::set<std::string> alert_ids = {};               // alert ids
  std::map<std::string, std::string> checks = {};     // vrrp_script -> clone id ("": none)
  std::map<std::string, std::string> commands = {};   // vrrp_script -> its command, as imported
  std::map<std::string, std::string> ethmons = {};    // interface -> clone id
  std::map<std::string, std::string> tracked = {};    // unit + '\0' + clone id -> score
  std::map<std::string, std::size_t> hooks = {};      // path -> index in out.hooks
  std::map<std::string, std::string> addresses = {};  // vip address -> vip id
  std::set<std::string> scripts_tracked = {};         // vrrp_script names some tracker names
  bool one_file = false;
};

// keepalived's name as the start of a hactl id: A-Z a-z 0-9 _ . - only.
std::string id_from(std::string_view name) {
  std::string out = {};
  for (const char c : name.substr(0, kIdBase)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    out += ok ? c : '-';
  }
  return out.empty() ? "x" : out;
}

// `base`, or base-2, base-3, ... : the first not yet taken.
std::string take(std::set<std::string>& taken, const std::string& base) {
  if (taken.insert(base).second) return base;
  for (std::size_t n = 2; n <= taken.size() + 1; ++n) {
    const std::string id = base + "-" + std::to_string(n);
    if (taken.insert(id).second) return id;
  }
  return base;  // unreachable: one of size + 1 candidates is free
}

std::string list(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out = {};
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

std::string file_stem(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);
  if (base.ends_with(".conf")) base.resize(base.size() - 5);
  return base;
}

// Why the host's router_id cannot name its node ("" : it can).
std::string router_id_problem(const Host& h, const std::map<std::string, int>& counts,
                              const std::set<std::string>& taken) {
  if (h.router_id.empty()) return h.file + " has no global_defs router_id";
  if (!valid_name(h.router_id, limits::kMaxNodeNameLength)) {
    return "router_id '" + h.router_id + "' is not a node name (1 to 63 of A-Z a-z 0-9 _ . -)";
  }
  if (counts.at(h.router_id) > 1) return "router_id '" + h.router_id + "' is in several files";
  if (taken.contains(h.router_id)) return "router_id '" + h.router_id + "' is taken";
  return "";
}

void name_host(Mapper& m, std::size_t i, const std::map<std::string, int>& counts,
               std::set<std::string>& taken) {
  Host& h = m.hosts[i];
  const std::string problem = router_id_problem(h, counts, taken);
  if (problem.empty()) {
    h.node = h.router_id;
    h.node_from = "its router_id";
    taken.insert(h.node);
    return;
  }
  const std::string stem = file_stem(h.file);
  if (valid_name(stem, limits::kMaxNodeNameLength) && stem != "keepalived" &&
      !taken.contains(stem)) {
    h.node = stem;
    h.node_from = "the file's name";
  } else {
    h.node = take(taken, "node" + std::to_string(i + 1));
    h.node_from = "assumed";
  }
  taken.insert(h.node);
  m.notes.assume(h.router_id_where.empty() ? h.file : h.router_id_where, "node " + h.node,
                 problem + ": the node is named " +
                     (h.node_from == "assumed" ? "by its place" : "after the file") +
                     " (--node NAME=FILE names it)");
}

void name_nodes(Mapper& m) {
  std::set<std::string> taken;
  if (!m.options.arbiter.empty()) taken.insert("arbiter");
  if (const auto w = parse_node_spec(m.options.witness, kDefaultNodePort)) taken.insert(w->name);
  std::map<std::string, int> counts;
  for (Host& h : m.hosts) {
    ++counts[h.router_id];
    if (h.given_node.empty()) continue;
    if (!valid_name(h.given_node, limits::kMaxNodeNameLength)) {
      m.errors.push_back("--node " + h.given_node + "=" + h.file + ": '" + h.given_node +
                         "' is not a node name: 1 to 63 characters of A-Z a-z 0-9 _ . -");
    } else if (!taken.insert(h.given_node).second) {
      m.errors.push_back("--node " + h.given_node + "=" + h.file + ": the name '" + h.given_node +
                         "' is taken");
    }
    h.node = h.given_node;
    h.node_from = "--node";
  }
  for (std::size_t i = 0; i < m.hosts.size(); ++i) {
    if (m.hosts[i].node.empty()) name_host(m, i, counts, taken);
  }
  m.notes.assume("", "nodes",
                 "hactl-agent takes its node's name from the host's name (up to the first dot): "
                 "on a host named otherwise, give the agent --node NAME (HACTL_AGENT_OPTS in "
                 "/etc/default/hactl-agent)");
}

std::string placeholder(std::size_t i) {
  return "192.0.2." + std::to_string(i + 1) + ":" + std::to_string(kDefaultNodePort);
}

// The host's address: --address, else its unicast_src_ip or mcast_src_ip, else a placeholder.
std::string host_address(Mapper& m, std::size_t i, std::string& from) {
  const Host& h = m.hosts[i];
  if (const auto it = m.options.addresses.find(h.node); it != m.options.addresses.end()) {
    from = "--address";
    const auto a = parse_init_address(it->second, kDefaultNodePort);
    if (!a) m.errors.push_back("--address " + it->first + "=" + it->second + ": " + a.error());
    return a ? a->to_string() : "";
  }
  for (const Instance& in : h.instances) {
    if (in.src_ip.empty()) continue;
    from = "its unicast_src_ip";
    const auto a = parse_init_address(in.src_ip, kDefaultNodePort);
    if (!a) m.errors.push_back(in.where + ": vrrp_instance " + in.name + ": " + a.error());
    return a ? a->to_string() : "";
  }
  from = "assumed";
  m.notes.assume(h.file, "node " + h.node + ": address " + placeholder(i),
                 "no unicast_src_ip or mcast_src_ip: a documentation address (RFC 5737) to "
                 "replace with the address " +
                     h.node + "'s agent listens on (or give --address " + h.node + "=ADDRESS)");
  return placeholder(i);
}

// One host's file alone: its peers are the unicast_peer addresses, else one assumed peer.
void add_peers(Mapper& m, std::set<std::string>& taken) {
  const Host& h = m.hosts[0];
  std::vector<std::string> peers;
  for (const Instance& in : h.instances) {
    for (const auto& p : in.unicast_peers) {
      if (std::find(peers.begin(), peers.end(), p) == peers.end()) peers.push_back(p);
    }
  }
  if (peers.empty()) {
    const std::string name = take(taken, "peer");
    const auto given = m.options.addresses.find(name);
    const auto a = given == m.options.addresses.end()
                       ? parse_init_address(placeholder(1), kDefaultNodePort)
                       : parse_init_address(given->second, kDefaultNodePort);
    if (!a) {
      m.errors.push_back("--address " + name + "=" + given->second + ": " + a.error());
      return;
    }
    const bool assumed = given == m.options.addresses.end();
    m.out.nodes.push_back({name, a->to_string()});
    m.mapped.push_back("the peer: node " + name + ", address " + a->to_string() +
                       (assumed ? " (assumed)" : " (--address)"));
    m.notes.assume(h.file, "node " + name + (assumed ? ": address " + a->to_string() : ""),
                   assumed ? "one host's file names no peer: a second node with a documentation "
                             "address (RFC 5737) to replace; give every host's file to import "
                             "the pair"
                           : "one host's file names no peer: a second node at --address; its "
                             "priorities are not known, so it has no location score");
    return;
  }
  for (std::size_t i = 0; i < peers.size() && i < limits::kMaxNodes; ++i) {
    const auto a = parse_init_address(peers[i], kDefaultNodePort);
    if (!a) {
      m.errors.push_back(h.file + ": unicast_peer " + peers[i] + ": " + a.error());
      continue;
    }
    const std::string name =
        take(taken, peers.size() == 1 ? "peer" : "peer" + std::to_string(i + 1));
    m.out.nodes.push_back({name, a->to_string()});
    m.mapped.push_back("unicast_peer " + peers[i] + ": node " + name + ", address " +
                       a->to_string());
    m.notes.assume(h.file, "node " + name + ": address " + a->to_string(),
                   "from the unicast_peer of one host's file: its priorities are not known, so "
                   "it has no location score; give every host's file to import them");
  }
}

void third_vote(Mapper& m) {
  const KaImportOptions& o = m.options;
  if (!o.arbiter.empty() && !o.witness.empty()) {
    m.errors.push_back("--arbiter and --witness: give one third vote, not both");
  } else if (!o.arbiter.empty()) {
    const auto a = parse_init_address(o.arbiter, kDefaultArbiterPort);
    if (!a) m.errors.push_back("--arbiter " + o.arbiter + ": " + a.error());
    m.out.arbiter = a ? a->to_string() : "";
    if (a) m.mapped.push_back("the third vote: the arbiter at " + a->to_string() + " (--arbiter)");
  } else if (!o.witness.empty()) {
    const auto w = parse_node_spec(o.witness, kDefaultNodePort);
    if (!w) m.errors.push_back("--witness " + o.witness + ": " + w.error());
    if (w) {
      m.out.nodes.push_back({w->name, w->address.to_string(), true});
      m.mapped.push_back("the third vote: node " + w->name + ", a witness at " +
                         w->address.to_string() + " (--witness)");
    }
  } else if (m.out.nodes.size() == 2) {
    m.out.unsafe_pair = true;
    m.notes.assume("", "cluster: two_node: true, last_resort: unsafe_take_over",
                   "a keepalived pair has no third vote: in a split both hosts took every "
                   "address, and so does hactl with this setting (a node that loses its peer "
                   "runs everything); give --arbiter HOST or --witness NAME=ADDRESS for a safe "
                   "third vote (docs/pairs.md)");
    m.notes.assume("", "cluster: wait_for_all: true (the default with two_node)",
                   "a node started alone runs nothing until it has run with its peer once, or "
                   "until `hactl cluster unblock`, where keepalived started alone took the "
                   "addresses after 3 x advert_int; wait_for_all: false does that too, and runs "
                   "both sides of a link cut while they boot");
  } else {
    m.notes.assume("", "nodes: majority quorum",
                   "hactl runs resources only where a majority of the nodes is: a host cut off "
                   "from the others gives its vips up, where keepalived's took them");
  }
}

void place_nodes(Mapper& m) {
  std::set<std::string> taken;
  for (const Host& h : m.hosts) taken.insert(h.node);
  for (std::size_t i = 0; i < m.hosts.size(); ++i) {
    std::string from = {};
    const std::string address = host_address(m, i, from);
    m.out.nodes.push_back({m.hosts[i].node, address});
    m.mapped.push_back(m.hosts[i].file + ": node " + m.hosts[i].node + " (" + m.hosts[i].node_from +
                       "), address " + address + " (" + from + ")");
  }
  if (m.one_file) add_peers(m, taken);
  std::vector<std::string> names;  // what --address may name: the hosts and their peers
  for (const NodeOut& n : m.out.nodes) names.push_back(n.name);
  third_vote(m);
  for (const auto& [name, value] : m.options.addresses) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      m.errors.push_back("--address " + name + "=" + value + ": no node is called '" + name +
                         "' (the nodes: " + list(names) + ")");
    }
  }
  std::map<std::string, std::string> seen;
  for (const NodeOut& n : m.out.nodes) {
    if (n.address.empty()) continue;
    if (auto [it, fresh] = seen.emplace(n.address, n.name); !fresh) {
      m.errors.push_back("nodes " + it->second + " and " + n.name + " would both be at " +
                         n.address + ": give --address NAME=ADDRESS");
    }
  }
  if (m.out.nodes.size() + (m.out.arbiter.empty() ? 0 : 1) > limits::kMaxNodes) {
    m.errors.push_back("more than " + std::to_string(limits::kMaxNodes) + " nodes");
  }
}

std::vector<std::string> addresses_of(const Instance& in) {
  std::vector<std::string> out;
  for (const Vip& v : in.vips) out.push_back(v.address);
  std::sort(out.begin(), out.end());
  return out;
}

void pair_instance(Mapper& m, std::size_t h, const Instance& in,
                   std::map<std::pair<int, bool>, std::size_t>& by_key) {
  const auto [it, fresh] = by_key.emplace(std::pair{in.vrid, in.ipv6()}, m.placed.size());
  if (fresh) {
    Placed p{in.name, in.vrid, in.ipv6(), h, std::vector<const Instance*>(m.hosts.size())};
    p.on[h] = &in;
    m.placed.push_back(std::move(p));
    return;
  }
  Placed& p = m.placed[it->second];
  const Instance& first = *p.on[p.first];
  const std::string what = "vrrp_instance " + in.name;
  if (p.on[h] != nullptr) {
    m.notes.not_carried(in.where, what,
                        "virtual_router_id " + std::to_string(in.vrid) + " again in " +
                            m.hosts[h].file + " (vrrp_instance " + p.on[h]->name + ", " +
                            p.on[h]->where + "): hactl pairs instances across hosts by it");
    return;
  }
  p.on[h] = &in;
  if (in.name != p.name) {
    m.notes.assume(in.where, what,
                   "the same as vrrp_instance " + p.name + " of " + m.hosts[p.first].file +
                       " (virtual_router_id " + std::to_string(in.vrid) + "): imported as one");
  }
  if (addresses_of(in) != addresses_of(first)) {
    m.notes.assume(
        in.where, what + ": virtual_ipaddress",
        "differs from " + first.where + ": " + m.hosts[p.first].file + "'s addresses are imported");
  }
}

void pair_instances(Mapper& m) {
  std::map<std::pair<int, bool>, std::size_t> by_key;
  for (std::size_t h = 0; h < m.hosts.size(); ++h) {
    for (const Instance& in : m.hosts[h].instances) {
      if (in.vips.empty()) {
        m.notes.not_carried(in.where, "vrrp_instance " + in.name,
                            "no virtual_ipaddress: nothing for hactl to move");
        continue;
      }
      pair_instance(m, h, in, by_key);
    }
  }
}

void sync_groups(Mapper& m) {
  std::map<std::pair<std::size_t, std::string>, std::size_t> by_name;
  for (std::size_t p = 0; p < m.placed.size(); ++p) {
    for (std::size_t h = 0; h < m.hosts.size(); ++h) {
      if (m.placed[p].on[h] != nullptr) by_name[{h, m.placed[p].on[h]->name}] = p;
    }
  }
  for (std::size_t h = 0; h < m.hosts.size(); ++h) {
    for (const SyncGroup& g : m.hosts[h].groups) {
      auto& per_host = m.groups[g.name];
      per_host.resize(m.hosts.size());
      per_host[h] = &g;
      for (std::size_t k = 0; k < g.members.size(); ++k) {
        const std::string what = "vrrp_sync_group " + g.name + ": " + g.members[k];
        const auto it = by_name.find({h, g.members[k]});
        if (it == by_name.end()) {
          m.notes.not_carried(
              g.member_where[k], what,
              "no vrrp_instance of that name with a virtual_ipaddress in " + m.hosts[h].file);
        } else if (m.placed[it->second].group.empty()) {
          m.placed[it->second].group = g.name;
        } else if (m.placed[it->second].group != g.name) {
          m.notes.assume(
              g.member_where[k], what,
              "already in vrrp_sync_group " + m.placed[it->second].group + ": kept there");
        }
      }
    }
  }
}

void make_units(Mapper& m) {
  std::set<std::string> done;
  for (std::size_t p = 0; p < m.placed.size(); ++p) {
    const std::string& g = m.placed[p].group;
    if (g.empty()) {
      m.units.push_back(Unit{"vrrp_instance " + m.placed[p].name, false, {p}});
      continue;
    }
    if (!done.insert(g).second) continue;
    Unit u{"vrrp_sync_group " + g, true};
    u.group = g;
    for (std::size_t q = p; q < m.placed.size(); ++q) {
      if (m.placed[q].group == g) u.members.push_back(q);
    }
    for (const SyncGroup* sg : m.groups[g]) {
      if (sg == nullptr) continue;
      if (std::find(u.where.begin(), u.where.end(), sg->where) == u.where.end()) {
        u.where.push_back(sg->where);
      }
    }
    m.units.push_back(std::move(u));
  }
}

// The first member of `u` on host h, if the host has one.
const Instance* on_host(const Mapper& m, const Unit& u, std::size_t h) {
  for (const std::size_t p : u.members) {
    if (m.placed[p].on[h] != nullptr) return m.placed[p].on[h];
  }
  return nullptr;
}

std::string vip_interface(const Host& h, const Instance& in, const Vip& v) {
  if (!v.interface.empty()) return v.interface;
  if (!in.interface.empty()) return in.interface;
  return h.default_interface.empty() ? "eth0" : h.default_interface;
}

// Other hosts naming another interface for the k-th address of `p`.
void compare_interfaces(Mapper& m, const Placed& p, std::size_t k, const std::string& iface) {
  for (std::size_t h = 0; h < m.hosts.size(); ++h) {
    const Instance* in = p.on[h];
    if (h == p.first || in == nullptr || k >= in->vips.size()) continue;
    const std::string other = vip_interface(m.hosts[h], *in, in->vips[k]);
    if (other == iface) continue;
    m.notes.assume(in->vips[k].where, "vrrp_instance " + in->name + ": " + in->vips[k].address,
                   "on " + other + " on " + m.hosts[h].node + ", on " + iface + " on " +
                       m.hosts[p.first].node +
                       ": a hactl vip names one interface for every "
                       "node, so " +
                       iface + " is imported (rename the interface on " + m.hosts[h].node +
                       ", e.g. with a systemd .link file)");
  }
}

// announce_refresh from garp_master_refresh (the instance's, else global), when one is set.
void refresh_param(Mapper& m, const Host& h, const Instance& in, Prim& prim, std::string& text) {
  const auto r = in.garp_refresh ? in.garp_refresh : h.garp_refresh;
  if (!r || *r <= Duration::zero()) return;
  const Duration d =
      std::clamp<Duration>(std::chrono::duration_cast<std::chrono::seconds>(*r), 1s, 1h);
  if (d != *r) {
    m.notes.assume(in.where, "vrrp_instance " + in.name + ": garp_master_refresh",
                   "announce_refresh takes whole seconds from 1s to 1h: " + format_duration(d));
  }
  prim.params.emplace_back("announce_refresh", format_duration(d));
  text += ", announce_refresh " + format_duration(d) + " (garp_master_refresh)";
}

// The vip of the k-th address of placed instance p; false when it is not carried over.
bool add_vip(Mapper& m, const Placed& p, std::size_t k, const std::string& id, std::string& text) {
  const Host& h = m.hosts[p.first];
  const Instance& in = *p.on[p.first];
  const Vip& v = in.vips[k];
  const std::string what = "vrrp_instance " + in.name + ": " + v.address;
  const std::string iface = vip_interface(h, in, v);
  if (v.interface.empty() && in.interface.empty() && h.default_interface.empty()) {
    m.notes.assume(v.where, what, "no interface named: keepalived's default, eth0");
  }
  const std::string bare = v.address.substr(0, v.address.find('/'));
  if (const auto [it, fresh] = m.addresses.emplace(bare, id); !fresh) {
    m.notes.not_carried(v.where, what, "the address of " + it->second + " already");
    return false;
  }
  Prim prim{id, "vip", {{"address", v.address}, {"interface", iface}}};
  if (const auto bad = parse_vip_params({prim.params.begin(), prim.params.end()}); !bad) {
    const auto& e = bad.error().front();
    m.errors.push_back(v.where + ": " + what + ": " + e.key + ": " + e.message);
    return false;
  }
  compare_interfaces(m, p, k, iface);
  text = id + " " + v.address + (v.prefix_given ? "" : " (keepalived's default prefix)") + " on " +
         iface;
  const bool host_route = v.address.ends_with("/128");
  if (p.ipv6 && (v.preferred_lft == "0" || (!v.preferred_lft && host_route))) {
    prim.params.emplace_back("preferred_lft", "0");
    text += v.preferred_lft ? ", preferred_lft 0" : ", preferred_lft 0 (keepalived's for a /128)";
  } else if (!p.ipv6 && v.preferred_lft) {
    m.notes.not_carried(v.where, what + ": preferred_lft",
                        "an IPv4 address has no preferred lifetime in hactl");
  }
  refresh_param(m, h, in, prim, text);
  m.out.prims.push_back(std::move(prim));
  return true;
}

// The unit's vips, its id and its group: an instance with one address is a vip named after it;
// with several, a group of them; a sync group, a group of its instances' vips.
void add_vips(Mapper& m, Unit& u) {
  const bool alone =
      !u.sync && m.placed[u.members[0]].on[m.placed[u.members[0]].first]->vips.size() == 1;
  u.id = take(m.ids, id_from(u.sync ? u.group : m.placed[u.members[0]].name));
  std::vector<std::string> texts;
  for (const std::size_t pi : u.members) {
    const Placed& p = m.placed[pi];
    const Instance& in = *p.on[p.first];
    for (std::size_t k = 0; k < in.vips.size(); ++k) {
      const std::string id =
          alone ? u.id
                : take(m.ids, id_from(in.name) +
                                  (in.vips.size() == 1 ? "" : "-ip" + std::to_string(k + 1)));
      std::string text = {};
      if (add_vip(m, p, k, id, text)) {
        u.prims.push_back(id);
        texts.push_back(text);
      }
    }
    for (std::size_t h = 0; h < m.hosts.size(); ++h) {
      if (p.on[h] == nullptr || u.sync) continue;
      const std::string& w = p.on[h]->where;  // one file given for two hosts: its place once
      if (std::find(u.where.begin(), u.where.end(), w) == u.where.end()) u.where.push_back(w);
    }
  }
  if (!alone && !u.prims.empty()) m.out.groups.emplace_back(u.id, u.prims);
  m.mapped.push_back(u.what + " (" + list(u.where) +
                     "): " + (alone ? "vip " : "group " + u.id + " of vips ") + list(texts));
}

void add_locations(Mapper& m, const Unit& u) {
  std::vector<std::string> scores;
  std::set<int> priorities;
  for (std::size_t h = 0; h < m.hosts.size(); ++h) {
    const Instance* in = on_host(m, u, h);
    for (const std::size_t p : u.members) {
      const Instance* other = m.placed[p].on[h];
      if (in != nullptr && other != nullptr && other->priority != in->priority) {
        m.notes.assume(other->where, u.what + ": priority",
                       "its instances' priorities differ on " + m.hosts[h].node +
                           ": the group's location score there is vrrp_instance " + in->name +
                           "'s, " + std::to_string(in->priority));
      }
    }
    if (in == nullptr && m.one_file) continue;
    const std::string score = in != nullptr ? std::to_string(in->priority) : "-inf";
    if (in != nullptr) priorities.insert(in->priority);
    m.out.locations.push_back({u.id, m.hosts[h].node, "", score});
    scores.push_back(m.hosts[h].node + " " + score);
  }
  m.mapped.push_back("  location (priority): " + list(scores) +
                     (m.one_file ? "; the other nodes none (their priorities are not known)" : ""));
  if (!m.one_file && priorities.size() == 1 && m.hosts.size() > 1) {
    m.notes.assume(u.where.front(), u.what + ": priority",
                   "the same on every host: keepalived broke the tie by the higher address, "
                   "hactl keeps the vip where it runs, else puts it on the node with the fewest "
                   "resources placed so far, then the first by name (docs/scheduler.md)");
  }
}

// The failback of a host's instance, as keepalived would preempt from there.
std::string preemption(Mapper& m, const Instance& in, bool report) {
  const bool master = in.state == "MASTER";
  const std::string what = "vrrp_instance " + in.name;
  if (master && report && in.nopreempt) {
    m.notes.not_carried(in.where, what + ": nopreempt",
                        "keepalived ignores it with the initial state MASTER");
  }
  if (master && report && in.preempt_delay && *in.preempt_delay > Duration::zero()) {
    m.notes.not_carried(in.where, what + ": preempt_delay",
                        "keepalived ignores it with the initial state MASTER");
  }
  if (in.nopreempt && !master) return "never";
  if (in.preempt_delay && *in.preempt_delay > Duration::zero() && !master) {
    return format_duration(*in.preempt_delay);
  }
  return "immediate";
}

// failback from the host of the highest priority: the one that would take the vip back.
void add_failback(Mapper& m, const Unit& u) {
  std::size_t top = m.hosts.size();
  for (std::size_t h = 0; h < m.hosts.size(); ++h) {
    const Instance* in = on_host(m, u, h);
    if (in != nullptr && (top == m.hosts.size() || in->priority > on_host(m, u, top)->priority)) {
      top = h;
    }
  }
  const Instance& best = *on_host(m, u, top);
  const std::string mode = preemption(m, best, true);
  for (std::size_t h = 0; h < m.hosts.size(); ++h) {
    const Instance* in = on_host(m, u, h);
    if (h == top || in == nullptr) continue;
    const std::string other = preemption(m, *in, true);
    if (other == mode) continue;
    m.notes.assume(in->where, u.what + ": preemption",
                   m.hosts[h].node + "'s (failback " + other + ") differs from " +
                       m.hosts[top].node + "'s: the failback is " + m.hosts[top].node +
                       "'s, the host of the highest priority, that would take the vip back");
  }
  for (Prim& p : m.out.prims) {
    if (std::find(u.prims.begin(), u.prims.end(), p.id) != u.prims.end()) p.failback = mode;
  }
  const char* why = best.nopreempt && mode == "never" ? "nopreempt"
                    : mode == "immediate"             ? "keepalived preempts"
                                                      : "preempt_delay";
  m.mapped.push_back(
      "  failback: " + (mode == "never" || mode == "immediate" ? mode : "after " + mode) + " (" +
      why + " on " + m.hosts[top].node + ")");
}

std::string score_text(int weight, bool reverse, bool interface) {
  if (weight == 0) return interface || reverse ? "-inf" : "inf";
  const int size = std::abs(weight);
  return std::to_string(interface || reverse ? -size : size);
}

bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// The check clone of a vrrp_script, made once; "" when it is not carried over.
std::string check_for(Mapper& m, const Host& h, const Script& s) {
  if (s.fall > 1 || s.rise > 1) {
    m.notes.not_carried(s.where,
                        "vrrp_script " + s.name + ": rise " + std::to_string(s.rise) + ", fall " +
                            std::to_string(s.fall),
                        "hactl acts on the first failed check, and lets the node run what is "
                        "colocated with it again a failure_timeout (1m) after the last failure");
  }
  if (const auto it = m.checks.find(s.name); it != m.checks.end()) {
    if (!it->second.empty() && m.commands[s.name] != s.command) {
      m.notes.assume(s.where, "vrrp_script " + s.name,
                     "its script differs between hosts: '" + m.commands[s.name] +
                         "' is imported, not '" + s.command + "' of " + h.file);
    }
    return it->second;
  }
  if (!printable(s.command)) {
    m.notes.not_carried(s.where, "vrrp_script " + s.name,
                        "its script holds characters other than printable ASCII");
    return m.checks[s.name] = "";
  }
  const std::string id = take(m.ids, "check-" + id_from(s.name));
  const std::string clone = take(m.ids, id + "-clone");
  const Duration timeout = s.timeout.value_or(s.interval) + 1s;
  m.out.prims.push_back(Prim{
      id,
      kCheckAgent,
      {{"binfile", kCheckBinary}, {"cmdline_options", "infinity"}, {"monitor_hook", s.command}},
      format_duration(s.interval),
      format_duration(timeout),
      "",
      kCheckFailureTimeout});
  m.out.clones.emplace_back(clone, id);
  m.commands[s.name] = s.command;
  m.mapped.push_back("vrrp_script " + s.name + " (" + s.where + "): " + id + ", " + kCheckAgent +
                     " cloned on every node as " + clone + ", its monitor runs '" + s.command +
                     "' every " + format_duration(s.interval) + " (timeout " +
                     format_duration(timeout) + ", the script's and 1s for the agent)");
  return m.checks[s.name] = clone;
}

// The first tracker of a unit on a thing wins; a host weighing it otherwise is noted.
bool first_track(Mapper& m, const Unit& u, const std::string& thing, const std::string& score,
                 const std::string& where, const std::string& what) {
  const auto [it, fresh] = m.tracked.emplace(u.id + '\0' + thing, score);
  if (!fresh && it->second != score) {
    m.notes.assume(where, what,
                   "weighs " + score + " here and " + it->second + " elsewhere: " + it->second +
                       " is imported");
  }
  return fresh;
}

void track_script(Mapper& m, const Unit& u, const std::string& ctx, std::size_t h, const Track& t,
                  bool grouped_member) {
  const Host& host = m.hosts[h];
  const std::string what = ctx + ": track_script " + t.name;
  m.scripts_tracked.insert(t.name);
  const auto s = host.scripts.find(t.name);
  if (s == host.scripts.end()) {
    m.notes.not_carried(t.where, what, "no vrrp_script of that name in " + host.file);
    return;
  }
  const int weight = t.weight.value_or(s->second.weight);
  const bool reverse = t.reverse.value_or(s->second.reverse);
  if (grouped_member && weight != 0) {
    m.notes.not_carried(t.where, what,
                        "keepalived ignores a weighted tracker of a sync group's member "
                        "(sync_group_tracking_weight is not set)");
    return;
  }
  const std::string clone = check_for(m, host, s->second);
  if (clone.empty()) return;
  const std::string score = score_text(weight, reverse, false);
  if (!first_track(m, u, clone, score, t.where, what)) return;
  m.out.colocations.push_back({u.id, clone, score});
  m.mapped.push_back("  " + u.id + " colocated with " + clone + " (" + score + ": track_script " +
                     t.name + (weight == 0 ? ", no weight" : ", weight " + std::to_string(weight)) +
                     (reverse ? ", reverse" : "") + ")");
}

// The ethmonitor clone of an interface, made once.
std::string ethmon_for(Mapper& m, const std::string& iface) {
  if (const auto it = m.ethmons.find(iface); it != m.ethmons.end()) return it->second;
  const std::string id = take(m.ids, "ethmon-" + id_from(iface));
  const std::string clone = take(m.ids, id + "-clone");
  m.out.prims.push_back(Prim{id,
                             kInterfaceAgent,
                             {{"interface", iface},
                              {"name", "ethmonitor-" + iface},
                              {"link_status_only", "true"},
                              {"repeat_count", "1"}},
                             "2s",
                             "20s"});
  m.out.clones.emplace_back(clone, id);
  m.mapped.push_back("interface " + iface + ": " + id + ", " + kInterfaceAgent +
                     " cloned on every node as " + clone +
                     ", its link state every 2s in the "
                     "node attribute ethmonitor-" +
                     iface + " (1 up, 0 down)");
  return m.ethmons[iface] = clone;
}

void track_interface(Mapper& m, const Unit& u, const std::string& ctx, const Track& t,
                     bool grouped_member, bool primary) {
  const std::string what = ctx + ": " + (primary ? "interface " : "track_interface ") + t.name;
  if (const auto why = interface_name_problem(t.name)) {
    m.errors.push_back(t.where + ": " + what + ": " + *why);
    return;
  }
  const int weight = t.weight.value_or(0);
  const bool reverse = t.reverse.value_or(false);
  if (grouped_member && weight != 0) {
    m.notes.not_carried(t.where, what,
                        "keepalived ignores a weighted tracker of a sync group's member "
                        "(sync_group_tracking_weight is not set)");
    return;
  }
  const std::string clone = ethmon_for(m, t.name);
  const std::string score = score_text(weight, false, true);
  if (!first_track(m, u, clone, score, t.where, what)) return;
  const std::string attr = "ethmonitor-" + t.name;
  const std::string rule =
      reverse ? attr + " gt 0" : "not_defined " + attr + " or " + attr + " lte 0";
  m.out.locations.push_back({u.id, "", rule, score});
  m.mapped.push_back(
      "  " + u.id + ": " + score + " where " + t.name + " is " + (reverse ? "up" : "down") + " (" +
      (primary ? "the instance's own interface, tracked as keepalived does without "
                 "dont_track_primary"
               : "track_interface" +
                     std::string(weight == 0 ? "" : ", weight " + std::to_string(weight))) +
      ")");
}

void add_tracks(Mapper& m, const Unit& u) {
  for (std::size_t h = 0; h < m.hosts.size(); ++h) {
    const SyncGroup* g = u.sync ? m.groups[u.group][h] : nullptr;
    const bool member_weights_ignored = u.sync && (g == nullptr || !g->tracking_weight);
    // The instance's own interface first: keepalived faults the instance when it is down,
    // whatever a track_interface entry for it weighs.
    for (const std::size_t p : u.members) {
      const Instance* in = m.placed[p].on[h];
      if (in == nullptr || !in->track_primary || in->interface.empty()) continue;
      track_interface(m, u, "vrrp_instance " + in->name, Track{in->interface, in->where}, false,
                      true);
    }
    for (const std::size_t p : u.members) {
      const Instance* in = m.placed[p].on[h];
      if (in == nullptr) continue;
      const std::string ctx = "vrrp_instance " + in->name;
      for (const Track& t : in->scripts) track_script(m, u, ctx, h, t, member_weights_ignored);
      for (const Track& t : in->interfaces) {
        track_interface(m, u, ctx, t, member_weights_ignored, false);
      }
    }
    if (g != nullptr) {
      for (const Track& t : g->scripts) track_script(m, u, u.what, h, t, false);
      for (const Track& t : g->interfaces) track_interface(m, u, u.what, t, false, false);
    }
  }
}

// The event kinds a notify keyword's script is for.
std::vector<std::string> kinds_of(const std::string& keyword) {
  if (keyword == "notify_master") return {"resource_up"};
  if (keyword == "notify_backup" || keyword == "notify_stop") return {"resource_down"};
  if (keyword == "notify_fault") return {"monitor_failed"};
  return {"resource_up", "resource_down", "monitor_failed"};
}

void add_hook(Mapper& m, const std::string& ctx, const Notify& n) {
  const auto blank = n.command.find_first_of(" \t");
  const std::string path = n.command.substr(0, blank);
  const std::string args = blank == std::string::npos ? "" : n.command.substr(blank + 1);
  if (!path.starts_with('/') || program_path_problem(path)) {
    m.notes.not_carried(
        n.where, ctx + ": " + n.keyword,
        "hactl runs a hook by its absolute path, without a shell: '" + path + "' is not one");
    return;
  }
  auto it = m.hooks.find(path);
  if (it == m.hooks.end()) {
    if (m.out.hooks.size() >= AlertConfig::kMaxAlerts) {
      m.notes.not_carried(n.where, ctx + ": " + n.keyword,
                          "more than " + std::to_string(AlertConfig::kMaxAlerts) + " hooks");
      return;
    }
    const std::string base = path.substr(path.rfind('/') + 1);
    m.out.hooks.push_back(Hook{take(m.alert_ids, "notify-" + id_from(base)), path});
    it = m.hooks.emplace(path, m.out.hooks.size() - 1).first;
  }
  Hook& hook = m.out.hooks[it->second];
  for (const auto& k : kinds_of(n.keyword)) {
    if (std::find(hook.kinds.begin(), hook.kinds.end(), k) == hook.kinds.end()) {
      hook.kinds.push_back(k);
    }
  }
  const std::string why = n.keyword + " of " + ctx;
  if (std::find(hook.why.begin(), hook.why.end(), why) == hook.why.end()) hook.why.push_back(why);
  m.notes.not_carried(n.where, "notify scripts",
                      "written as alert hooks at the end of the configuration, commented out: "
                      "hactl runs a hook on every node for every event of its kinds, with the "
                      "event in HACTL_* variables and no arguments, where keepalived ran the "
                      "script on the host that changed state; make each script check "
                      "HACTL_FIELD_RESOURCE and HACTL_FIELD_ON first (docs/importing.md), then "
                      "uncomment them");
  if (!args.empty()) {
    m.notes.assume(n.where, ctx + ": " + n.keyword,
                   "its arguments ('" + args +
                       "') are not passed: hactl runs a hook without "
                       "arguments, the event in HACTL_* variables");
  }
}

void add_hooks(Mapper& m, const Unit& u) {
  for (std::size_t h = 0; h < m.hosts.size(); ++h) {
    for (const std::size_t p : u.members) {
      const Instance* in = m.placed[p].on[h];
      if (in == nullptr) continue;
      for (const Notify& n : in->notifies) add_hook(m, "vrrp_instance " + in->name, n);
    }
    const SyncGroup* g = u.sync ? m.groups[u.group][h] : nullptr;
    if (g == nullptr) continue;
    for (const Notify& n : g->notifies) add_hook(m, u.what, n);
  }
}

void emit_prim(YAML::Emitter& e, const Prim& p) {
  e << YAML::BeginMap << YAML::Key << "id" << YAML::Value << p.id << YAML::Key << "type"
    << YAML::Value << p.type << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : p.params) e << YAML::Key << k << YAML::Value << v;
  e << YAML::EndMap;
  if (!p.monitor_interval.empty()) {
    e << YAML::Key << "ops" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "monitor"
      << YAML::Value << YAML::BeginMap << YAML::Key << "interval" << YAML::Value
      << p.monitor_interval << YAML::Key << "timeout" << YAML::Value << p.monitor_timeout
      << YAML::EndMap << YAML::EndMap;
  }
  if (!p.failback.empty() || !p.failure_timeout.empty()) {
    e << YAML::Key << "meta" << YAML::Value << YAML::BeginMap;
    if (p.failback == "never" || p.failback == "immediate") {
      e << YAML::Key << "failback" << YAML::Value << p.failback;
    } else if (!p.failback.empty()) {
      e << YAML::Key << "failback" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
        << "after" << YAML::Value << p.failback << YAML::EndMap;
    }
    if (!p.failure_timeout.empty()) {
      e << YAML::Key << "failure_timeout" << YAML::Value << p.failure_timeout;
    }
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
}

void emit_cluster(YAML::Emitter& e, const Mapper& m) {
  e << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap << YAML::Key << "name" << YAML::Value
    << m.options.cluster_name << YAML::Key << "auth_key_file" << YAML::Value << m.options.key_file;
  if (m.out.unsafe_pair) {
    e << YAML::Key << "two_node" << YAML::Value << "true" << YAML::Key << "last_resort"
      << YAML::Value << "unsafe_take_over";
  }
  e << YAML::EndMap << YAML::Key << "nodes" << YAML::Value << YAML::BeginSeq;
  for (const NodeOut& n : m.out.nodes) {
    e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << n.name << YAML::Key << "address"
      << YAML::Value << n.address;
    if (n.witness) e << YAML::Key << "witness" << YAML::Value << "true";
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
  if (!m.out.arbiter.empty()) {
    e << YAML::Key << "arbiter" << YAML::Value << YAML::BeginMap << YAML::Key << "address"
      << YAML::Value << m.out.arbiter << YAML::EndMap;
  }
}

void emit_constraints(YAML::Emitter& e, const Out& o) {
  if (o.locations.empty() && o.colocations.empty()) return;
  e << YAML::Key << "constraints" << YAML::Value << YAML::BeginMap;
  if (!o.locations.empty()) {
    e << YAML::Key << "location" << YAML::Value << YAML::BeginSeq;
    for (const Location& l : o.locations) {
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "resource" << YAML::Value << l.resource;
      if (l.rule.empty()) {
        e << YAML::Key << "node" << YAML::Value << l.node;
      } else {
        e << YAML::Key << "rule" << YAML::Value << l.rule;
      }
      e << YAML::Key << "score" << YAML::Value << l.score << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  if (!o.colocations.empty()) {
    e << YAML::Key << "colocation" << YAML::Value << YAML::BeginSeq;
    for (const Colocation& c : o.colocations) {
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "resource" << YAML::Value << c.resource
        << YAML::Key << "with" << YAML::Value << c.with << YAML::Key << "score" << YAML::Value
        << c.score << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  e << YAML::EndMap;
}

void emit_resources(YAML::Emitter& e, const Out& o) {
  if (!o.prims.empty()) {
    e << YAML::Key << "resources" << YAML::Value << YAML::BeginSeq;
    for (const Prim& p : o.prims) emit_prim(e, p);
    e << YAML::EndSeq;
  }
  if (!o.groups.empty()) {
    e << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
    for (const auto& [id, members] : o.groups) {
      e << YAML::BeginMap << YAML::Key << "id" << YAML::Value << id << YAML::Key << "members"
        << YAML::Value << YAML::Flow << members << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  if (!o.clones.empty()) {
    e << YAML::Key << "clones" << YAML::Value << YAML::BeginSeq;
    for (const auto& [id, child] : o.clones) {
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "id" << YAML::Value << id << YAML::Key
        << "resource" << YAML::Value << child << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  emit_constraints(e, o);
}

std::string header(const Mapper& m) {
  std::vector<std::string> files;
  for (const Host& h : m.hosts) files.push_back(h.file + " (node " + h.node + ")");
  return "# An hactl configuration imported from keepalived by `hactl import keepalived`, from\n"
         "# " +
         list(files) +
         ".\n"
         "# Read the import report first: what was not carried over, and what was assumed\n"
         "# (docs/importing.md). Check it with: hactl config validate FILE\n\n";
}

// The notify scripts as alert hooks, commented out (add_hook says why).
std::string hooks_comment(const Out& o) {
  if (o.hooks.empty()) return "";
  std::string s =
      "\n# keepalived's notify scripts as alert hooks (docs/alerts.md), commented out: hactl\n"
      "# runs a hook on every node for every event of its kinds, with the event in HACTL_*\n"
      "# variables and no arguments. Make each script act only when HACTL_FIELD_RESOURCE is\n"
      "# its resource and HACTL_FIELD_ON is HACTL_NODE (docs/importing.md), then uncomment.\n"
      "# alerts:\n";
  for (const Hook& h : o.hooks) {
    s += "#   - id: " + h.id + "\n#     path: " + h.path + "\n#     kinds: [" + list(h.kinds) +
         "]\n#     # " + list(h.why, "; ") + "\n";
  }
  return s;
}

std::string emit(const Mapper& m) {
  YAML::Emitter e;
  e.SetIndent(2);
  e << YAML::BeginMap;
  emit_cluster(e, m);
  emit_resources(e, m.out);
  e << YAML::EndMap;
  return header(m) + e.c_str() + "\n" + hooks_comment(m.out);
}

void map_units(Mapper& m) {
  for (Unit& u : m.units) {
    add_vips(m, u);
    if (u.prims.empty()) continue;
    add_locations(m, u);
    add_failback(m, u);
    add_tracks(m, u);
    add_hooks(m, u);
  }
  for (const Hook& h : m.out.hooks) {
    m.mapped.push_back("notify script " + h.path + ": alert hook " + h.id + ", kinds " +
                       list(h.kinds) + ", commented out (" + list(h.why, "; ") + ")");
  }
  for (const Host& h : m.hosts) {
    for (const auto& [name, script] : h.scripts) {
      if (m.scripts_tracked.contains(name)) continue;
      m.notes.not_carried(script.where, "vrrp_script " + name,
                          "no vrrp_instance or vrrp_sync_group tracks it (keepalived does not "
                          "run it either)");
    }
  }
  if (m.units.empty()) {
    m.notes.assume("", "resources",
                   "no vrrp_instance with a virtual_ipaddress: the configuration has nodes only");
  }
}

}  // namespace

std::expected<KaImport, std::vector<std::string>> map_hosts(std::vector<Host> hosts,
                                                            const KaImportOptions& options,
                                                            Notes& notes) {
  Mapper m{hosts, options, notes};
  m.one_file = hosts.size() == 1;
  if (const auto why = cluster_name_problem(options.cluster_name)) {
    m.errors.push_back("--name: " + *why);
  }
  if (const auto why = init_path_problem(options.key_file)) m.errors.push_back("--key: " + *why);
  name_nodes(m);
  place_nodes(m);
  if (m.errors.empty()) {
    pair_instances(m);
    sync_groups(m);
    make_units(m);
    map_units(m);
  }
  if (!m.errors.empty()) return std::unexpected(std::move(m.errors));
  KaImport out{emit(m), std::move(m.mapped), notes.take_not_carried(), notes.take_assumptions()};
  if (const auto loaded = parse_config(out.yaml, "<imported>"); !loaded) {
    std::vector<std::string> errors;
    for (const auto& e : loaded.error()) {
      errors.push_back(
          "the imported configuration does not load (a bug of hactl import "
          "keepalived): " +
          e.to_string());
    }
    return std::unexpected(std::move(errors));
  }
  return out;
}

}  // namespace hactl::ka
