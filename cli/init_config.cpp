// `hactl init`'s answers and the pair configuration they make (see init_config.hpp).
#include "cli/init_config.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <sstream>

#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/vip_params.hpp"
#include "common/yaml_reader.hpp"
#include "version.hpp"

namespace hactl {
namespace {

constexpr const char* kNameRule = "1 to 63 characters of A-Z a-z 0-9 _ . -";
constexpr const char* kVoteFlags = "--arbiter, --witness or --fencing";

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

std::expected<std::uint16_t, std::string> parse_port(std::string_view text) {
  unsigned port = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || ptr != text.data() + text.size() || port == 0 || port > 65535) {
    return std::unexpected("port '" + std::string(text) + "' is not a number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(port);
}

struct HostPort {
  std::string host;
  std::optional<std::string_view> port;  // nullopt: none given
};

// Splits "host", "host:port", "[v6]" and "[v6]:port"; a bare IPv6 address has no port.
std::expected<HostPort, std::string> split_host_port(std::string_view text) {
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::unexpected(std::string("no closing ']'"));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      return std::unexpected("expected ':PORT' after ']', got '" + std::string(rest) + "'");
    }
    return HostPort{std::string(text.substr(1, close - 1)),
                    rest.empty() ? std::nullopt : std::optional(rest.substr(1))};
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || text.find(':') != colon) {
    return HostPort{std::string(text), std::nullopt};  // no port, or a bare IPv6 address
  }
  return HostPort{std::string(text.substr(0, colon)), text.substr(colon + 1)};
}

std::string yaml_quoted(const std::string& s) { return "\"" + s + "\""; }

// An address as a YAML scalar: IPv6 quoted ("[fd00::1]:5405" would open a flow sequence, and
// colons in a flow map are best kept out of plain scalars).
std::string yaml_address(const std::string& s) {
  return s.find(':') != s.rfind(':') ? yaml_quoted(s) : s;
}

void render_header(std::ostringstream& out, const InitAnswers& a) {
  out << "# hactl configuration of the pair '" << a.name << "', written by `hactl init` (hactl "
      << kVersion << ").\n"
      << "# The same file on every node of the cluster. Check it with:\n"
      << "#   hactl config validate FILE\n"
      << "# Every key is described in hactl.yaml(5); pairs and their third vote in "
         "docs/pairs.md.\n\n";
}

void render_cluster(std::ostringstream& out, const InitAnswers& a) {
  out << "cluster:\n"
      << "  # A name for the cluster (letters, digits, _ . -). Shown by `hactl status`.\n"
      << "  name: " << a.name << "\n"
      << "  # The shared secret that authenticates and encrypts every datagram: the same file on\n"
      << "  # every node, mode 0600, owner root (the agent refuses a key others can read).\n"
      << "  auth_key_file: " << a.key << "\n"
      << "  # How often every agent sends a heartbeat to every other agent.\n"
      << "  heartbeat_interval: 100ms\n"
      << "  # A node not heard for this long is declared down: at least 3 heartbeat intervals.\n"
      << "  # Lower is faster failover, higher tolerates longer stalls.\n"
      << "  node_timeout: 300ms\n";
  if (a.vote != ThirdVote::kFencing) {
    out << "  # What a node without quorum does with its resources: stop (safe), freeze or "
           "ignore.\n"
        << "  no_quorum_policy: stop\n";
    return;
  }
  out << "  # Two nodes and no third vote: a node that loses its peer keeps what it runs\n"
      << "  # (no_quorum_policy is freeze) and fences the peer (fencing: below) before it takes\n"
      << "  # anything over; in a split both race to fence, and the loser is powered off\n"
      << "  # (docs/pairs.md, \"Two nodes with fencing\").\n"
      << "  two_node: true\n"
      << "  # The default with two_node: a node that starts alone fences nobody and runs nothing\n"
      << "  # until it has run with its peer once (no fence loop after a split); when the peer\n"
      << "  # is really gone, `hactl cluster unblock` on the survivor.\n"
      << "  # wait_for_all: true\n";
}

void render_node(std::ostringstream& out, const InitNode& n, bool witness) {
  out << "  - name: " << n.name << "\n"
      << "    address: " << yaml_address(n.address.to_string()) << "\n";
  if (witness) out << "    witness: true   # votes, never runs resources, never coordinates\n";
}

void render_nodes(std::ostringstream& out, const InitAnswers& a) {
  out << "\n# Every node with the numeric address:port its agent listens on (UDP), as its peers\n"
      << "# reach it.\n";
  if (a.vote == ThirdVote::kWitness) {
    out << "# The third, a witness, runs hactl-agent with this file too: it is the pair's third\n"
        << "# vote, on the cluster's segment and timing.\n";
  }
  out << "nodes:\n";
  for (const auto& n : a.nodes) render_node(out, n, false);
  if (a.vote == ThirdVote::kWitness) render_node(out, a.witness, true);
}

void render_arbiter(std::ostringstream& out, const InitAnswers& a) {
  out << "\n# The pair's third vote: a hactl-arbiter on another host (UDP), shared by many "
         "pairs and\n"
      << "# asked only while the two lose contact. Give it this cluster's arbiter key:\n"
      << "#   hactl arbiter key --output FILE, then FILE to the arbiter's\n"
      << "#   /etc/hactl-arbiter/clusters/" << a.name << ".key (docs/pairs.md).\n"
      << "arbiter:\n"
      << "  address: " << yaml_address(a.arbiter.to_string()) << "\n"
      << "  # The round trip to the arbiter to allow for (default 50ms): node_timeout must be at\n"
      << "  # least 2 x rtt + heartbeat_interval.\n"
      << "  # rtt: 50ms\n";
}

void render_vip(std::ostringstream& out, const InitAnswers& a) {
  out << "\n# What the cluster runs. A vip is an address the agent adds to the interface (the "
         "same\n"
      << "# name on both nodes) where the pair's holder runs, announced with gratuitous ARP or an\n"
      << "# unsolicited neighbour advertisement (docs/vip.md). Add your services (ocf:, systemd:,\n"
      << "# exec:) and group them with it: hactl.yaml(5).\n"
      << "resources:\n"
      << "  - id: vip\n"
      << "    type: vip\n"
      << "    params: {address: " << yaml_address(a.vip) << ", interface: " << a.interface << "}\n"
      << "    ops: {monitor: {interval: 10s, timeout: 5s}}\n";
}

void render_device(std::ostringstream& out, const InitNode& n, const std::string& ip,
                   const InitNode& peer, bool delay) {
  out << "    - id: fence-" << n.name << "   # powers " << n.name << " off (its BMC)\n"
      << "      agent: fence_ipmilan\n"
      << "      # Placeholders: " << n.name << "'s BMC address and credentials.\n"
      << "      params: {ip: " << ip
      << ", username: admin, password: CHANGE-ME, lanplus: " << yaml_quoted("1") << "}\n"
      << "      nodes: [" << n.name << "]\n";
  if (delay) {
    out << "      # Fencing " << n.name << " waits this long first, so in a race (the link cut, "
        << "both\n"
        << "      # alive) " << peer.name << "'s attempt waits while " << n.name << "'s on "
        << peer.name << " runs: " << n.name << " survives.\n"
        << "      # Longer than the other device takes to power a node off (IPMI: a few seconds);\n"
        << "      # only one of the two devices has a delay (pcmk_delay_base in Pacemaker).\n"
        << "      delay: 10s\n";
  }
}

void render_fencing(std::ostringstream& out, const InitAnswers& a) {
  out << "\n# One fence device per node (docs/fencing.md): fence_ipmilan, from fence-agents, as "
         "an\n"
      << "# example. Replace the placeholder params with your BMCs' (or use another agent), "
         "then\n"
      << "# try each device by hand the way hactl runs it:\n"
      << "#   printf 'action=status\\nip=...\\nusername=...\\npassword=...\\nlanplus=1\\n' | "
         "fence_ipmilan\n"
      << "fencing:\n"
      << "  devices:\n";
  render_device(out, a.nodes[0], "192.0.2.101", a.nodes[1], true);
  render_device(out, a.nodes[1], "192.0.2.102", a.nodes[0], false);
}

// "nodes[1].address" -> 1 (nullopt when the path names no node).
std::optional<std::size_t> node_index(std::string_view path) {
  if (!path.starts_with("nodes[")) return std::nullopt;
  std::size_t i = 0;
  const auto [ptr, ec] = std::from_chars(path.data() + 6, path.data() + path.size(), i);
  if (ec != std::errc{}) return std::nullopt;
  return i;
}

// The flag whose answer a loader path holds ("" when none does).
std::string flag_of(std::string_view path) {
  if (path.starts_with("cluster.name")) return "--name";
  if (path.starts_with("cluster.auth_key_file")) return "--key";
  if (path.starts_with("cluster.two_node") || path.starts_with("fencing")) return "--fencing";
  if (path.starts_with("arbiter")) return "--arbiter";
  if (path.starts_with("resources")) {
    return path.ends_with(".interface") ? "--interface" : "--vip";
  }
  if (const auto i = node_index(path)) return *i < 2 ? "--node" : "--witness";
  if (path == "nodes") return "--node";
  return "";
}

void check_vote(const InitFlags& f, std::vector<InitError>& errors) {
  std::vector<std::string> given;
  if (!f.arbiter.empty()) given.push_back("--arbiter");
  if (!f.witness.empty()) given.push_back("--witness");
  if (f.fencing) given.push_back("--fencing");
  if (given.size() > 1) {
    std::string list;
    for (const auto& g : given) list += (list.empty() ? "" : " and ") + g;
    errors.push_back(
        {list, std::string("a pair takes one third vote: give only one of ") + kVoteFlags});
  }
}

void check_node(const std::string& flag, const std::string& text, std::uint16_t port,
                std::vector<InitNode>& out, std::vector<InitError>& errors) {
  auto n = parse_node_spec(text, port);
  if (!n) {
    errors.push_back({flag, n.error()});
    return;
  }
  for (const auto& other : out) {
    if (other.name == n->name) {
      errors.push_back({flag, "'" + n->name + "' is given twice: each node needs its own name"});
      return;
    }
    if (other.address == n->address) {
      errors.push_back({flag, n->address.to_string() + " is given twice (" + other.name +
                                  " has it): each node needs its own address"});
      return;
    }
  }
  out.push_back(std::move(*n));
}

// The address of a vip, without its prefix, in bytes (empty when it does not parse).
std::string ip_bytes(const std::string& ip) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return std::string(buf, buf + 4);
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return std::string(buf, buf + 16);
  return {};
}

// A vip is an address of its own: one of a node's would be removed from that node on a move.
void check_vip_address(const InitAnswers& a, std::vector<InitError>& errors) {
  const std::string vip = ip_bytes(a.vip.substr(0, a.vip.find('/')));
  std::vector<InitNode> all = a.nodes;
  if (a.vote == ThirdVote::kWitness) all.push_back(a.witness);
  for (const auto& n : all) {
    if (!vip.empty() && ip_bytes(n.address.host) == vip) {
      errors.push_back({"--vip", n.address.host + " is " + n.name +
                                     "'s own address: a vip needs an address of its own"});
    }
  }
}

void check_third_vote(const InitFlags& f, InitAnswers& a, std::vector<InitError>& errors) {
  if (!f.arbiter.empty()) {
    a.vote = ThirdVote::kArbiter;
    if (auto addr = parse_init_address(f.arbiter, kDefaultArbiterPort); !addr) {
      errors.push_back({"--arbiter", addr.error()});
    } else {
      a.arbiter = *addr;
    }
    for (const auto& n : a.nodes) {
      if (n.name == "arbiter") {
        errors.push_back({"--node",
                          "'arbiter' is the name the arbiter goes by in the file: "
                          "give the node another one"});
      }
    }
  } else if (!f.witness.empty()) {
    a.vote = ThirdVote::kWitness;
    std::vector<InitNode> all = a.nodes;
    check_node("--witness", f.witness, kDefaultNodePort, all, errors);
    if (all.size() == a.nodes.size() + 1) a.witness = all.back();
  } else if (f.fencing) {
    a.vote = ThirdVote::kFencing;
  }
}

}  // namespace

std::string InitError::to_string() const { return flag.empty() ? message : flag + ": " + message; }

std::expected<NodeAddress, std::string> parse_init_address(std::string_view text,
                                                           std::uint16_t default_port) {
  const auto parts = split_host_port(text);
  if (!parts) return std::unexpected("'" + std::string(text) + "': " + parts.error());
  const std::string& host = parts->host;
  if (host.empty()) return std::unexpected(std::string("no address given"));
  if (!is_ipv4(host) && !is_ipv6(host)) {
    return std::unexpected("'" + host +
                           "' is not a numeric IP address (host names are not resolved: the "
                           "file holds addresses; IPv6 with a port as [ADDRESS]:PORT)");
  }
  NodeAddress a{host, default_port};
  if (parts->port) {
    const auto port = parse_port(*parts->port);
    if (!port) return std::unexpected(port.error());
    a.port = *port;
  }
  return a;
}

std::expected<InitNode, std::string> parse_node_spec(std::string_view text,
                                                     std::uint16_t default_port) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    return std::unexpected("expected NAME=ADDRESS[:PORT], got '" + std::string(text) + "'");
  }
  InitNode n{std::string(text.substr(0, eq)), {}};
  if (!valid_name(n.name, limits::kMaxNodeNameLength)) {
    return std::unexpected("'" + n.name + "' is not a node name: " + kNameRule);
  }
  auto a = parse_init_address(text.substr(eq + 1), default_port);
  if (!a) return std::unexpected(n.name + ": " + a.error());
  n.address = *a;
  return n;
}

std::optional<std::string> cluster_name_problem(std::string_view name) {
  if (valid_name(name, limits::kMaxClusterNameLength)) return std::nullopt;
  return "'" + std::string(name) + "' is not a cluster name: " + kNameRule;
}

std::optional<std::string> vip_problem(std::string_view vip) {
  const auto v = parse_vip_params({{"address", std::string(vip)}, {"interface", "eth0"}});
  if (v) return std::nullopt;
  return v.error().front().message;
}

std::optional<std::string> init_interface_problem(std::string_view interface) {
  return interface_name_problem(interface);
}

std::optional<std::string> init_path_problem(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.back() == '/') {
    return "'" + std::string(path) + "' is not the absolute path of a file";
  }
  if (auto why = program_path_problem(path)) return "'" + std::string(path) + "' " + *why;
  return std::nullopt;
}

std::vector<InitError> missing_answers(const InitFlags& f) {
  std::vector<InitError> missing;
  if (f.name.empty()) missing.push_back({"--name", "the cluster's name is missing"});
  if (f.nodes.size() < 2) {
    missing.push_back({"--node", std::string(f.nodes.empty() ? "not given" : "given once") +
                                     ": a pair needs both nodes, NAME=ADDRESS[:PORT] each"});
  }
  if (f.arbiter.empty() && f.witness.empty() && !f.fencing) {
    missing.push_back({kVoteFlags,
                       "the pair's third vote is missing: give one of them "
                       "(docs/pairs.md compares them)"});
  }
  if (!f.vip.empty() && f.interface.empty()) {
    missing.push_back({"--interface", "the vip needs the interface to add " + f.vip +
                                          " to (the same name on both nodes), e.g. eth0"});
  }
  return missing;
}

std::expected<InitAnswers, std::vector<InitError>> answers_from_flags(const InitFlags& f) {
  std::vector<InitError> errors = missing_answers(f);
  InitAnswers a;
  a.name = f.name;
  if (auto why = cluster_name_problem(f.name); why && !f.name.empty()) {
    errors.push_back({"--name", *why});
  }
  if (f.nodes.size() > 2) {
    errors.push_back({"--node", "given " + std::to_string(f.nodes.size()) +
                                    " times: hactl init writes a pair (a third node: --witness; "
                                    "add more nodes to the file afterwards)"});
  }
  for (const auto& n : f.nodes) check_node("--node", n, kDefaultNodePort, a.nodes, errors);
  check_vote(f, errors);
  check_third_vote(f, a, errors);
  if (!f.vip.empty()) {
    if (auto why = vip_problem(f.vip)) errors.push_back({"--vip", *why});
    if (auto why = init_interface_problem(f.interface); why && !f.interface.empty()) {
      errors.push_back({"--interface", *why});
    }
  } else if (!f.interface.empty()) {
    errors.push_back({"--interface", "names the vip's interface: give --vip too"});
  }
  a.vip = f.vip;
  a.interface = f.interface;
  check_vip_address(a, errors);
  if (auto why = init_path_problem(f.key)) errors.push_back({"--key", *why});
  a.key = f.key;
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return a;
}

std::string render_pair_config(const InitAnswers& a) {
  std::ostringstream out;
  render_header(out, a);
  render_cluster(out, a);
  render_nodes(out, a);
  if (a.vote == ThirdVote::kArbiter) render_arbiter(out, a);
  if (!a.vip.empty()) render_vip(out, a);
  if (a.vote == ThirdVote::kFencing) render_fencing(out, a);
  return out.str();
}

unsigned config_file_mode(const InitAnswers& a) {
  return a.vote == ThirdVote::kFencing ? 0600U : 0644U;
}

std::vector<InitError> loader_errors(std::string_view text, std::string_view file) {
  const auto loaded = parse_config(text, file);
  std::vector<InitError> out;
  if (loaded) return out;
  for (const auto& e : loaded.error()) out.push_back({flag_of(e.path), e.to_string()});
  return out;
}

}  // namespace hactl
