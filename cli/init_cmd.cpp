// `hactl init` (see init_cmd.hpp).
#include "cli/init_cmd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "common/limits.hpp"
#include "common/wire.hpp"
#include "common/yaml_reader.hpp"
#include "resources/host_facts.hpp"

namespace hactl {
namespace {

constexpr int kTries = 5;  // wrong answers to one question before the dialogue gives up

using Check = std::function<std::optional<std::string>(const std::string&)>;

// One question: the default on an empty line, asked again while `check` finds a problem.
std::optional<std::string> ask(std::istream& in, std::ostream& out, const std::string& question,
                               const std::string& fallback, const Check& check) {
  for (int i = 0; i < kTries; ++i) {
    out << question << (fallback.empty() ? "" : " [" + fallback + "]") << ": " << std::flush;
    std::string line;
    if (!std::getline(in, line)) {
      out << "\n";
      return std::nullopt;
    }
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty()) line = fallback;
    const auto problem = check(line);
    if (!problem) return line;
    out << "  " << *problem << "\n";
  }
  return std::nullopt;
}

std::optional<std::string> required(const std::string& s, const Check& check) {
  if (s.empty()) return "an answer is needed";
  return check(s);
}

std::optional<std::string> node_name_problem(const std::string& name,
                                             const std::vector<std::string>& taken) {
  if (name.empty()) return "an answer is needed";
  if (!valid_name(name, limits::kMaxNodeNameLength))
    return "'" + name + "' is not a node name: 1 to 63 characters of A-Z a-z 0-9 _ . -";
  for (const auto& t : taken)
    if (t.substr(0, t.find('=')) == name) return "'" + name + "' is taken already";
  return std::nullopt;
}

std::optional<std::string> node_address_problem(const std::string& spec,
                                                const std::vector<std::string>& taken) {
  const auto node = parse_node_spec(spec, kDefaultNodePort);
  if (!node) return node.error();
  for (const auto& t : taken) {
    const auto other = parse_node_spec(t, kDefaultNodePort);
    if (other && other->address == node->address)
      return node->address.to_string() + " is " + other->name + "'s";
  }
  return std::nullopt;
}

// A node as NAME=ADDRESS (the pair's, or the witness), asked as two questions; this host's name
// and address are offered for the first.
std::optional<std::string> ask_node(std::istream& in, std::ostream& out, const std::string& who,
                                    const InitDefaults& d, const std::vector<std::string>& taken) {
  const bool first = taken.empty();
  const auto name = ask(in, out, who + ": name", first ? d.node_name : "",
                        [&](const std::string& n) { return node_name_problem(n, taken); });
  if (!name) return std::nullopt;
  const auto addr = ask(in, out, who + ": address, ADDRESS[:PORT] (UDP, port 5405 if not given)",
                        first ? d.node_address : "", [&](const std::string& a) {
                          if (a.empty()) return std::optional<std::string>("an answer is needed");
                          return node_address_problem(*name + "=" + a, taken);
                        });
  if (!addr) return std::nullopt;
  return *name + "=" + *addr;
}

std::optional<std::string> arbiter_problem(const std::string& address) {
  if (address.empty()) return "an answer is needed";
  const auto a = parse_init_address(address, kDefaultArbiterPort);
  if (!a) return a.error();
  return std::nullopt;
}

bool ask_vote(InitFlags& f, std::istream& in, std::ostream& out, const InitDefaults& d) {
  out << "A pair needs a third vote (docs/pairs.md): arbiter (a hactl-arbiter on any other host, "
         "shared by many pairs), witness (a third host running hactl-agent), or fencing (a fence "
         "device per node: the survivor powers its peer off).\n";
  const auto vote = ask(in, out, "Third vote: arbiter, witness or fencing", "arbiter",
                        [](const std::string& s) -> std::optional<std::string> {
                          if (s == "arbiter" || s == "witness" || s == "fencing")
                            return std::nullopt;
                          return "answer arbiter, witness or fencing";
                        });
  if (!vote) return false;
  if (*vote == "fencing") {
    f.fencing = true;
  } else if (*vote == "witness") {
    const auto w = ask_node(in, out, "Witness", d, f.nodes);
    if (!w) return false;
    f.witness = *w;
  } else {
    const auto a = ask(in, out, "Arbiter: address, HOST[:PORT] (UDP, port 5406 if not given)", "",
                       arbiter_problem);
    if (!a) return false;
    f.arbiter = *a;
  }
  return true;
}

bool ask_vip(InitFlags& f, std::istream& in, std::ostream& out, const InitDefaults& d) {
  if (f.vip.empty()) {
    const auto vip =
        ask(in, out, "Virtual IP, ADDRESS/PREFIX (empty: none)", "",
            [](const std::string& s) { return s.empty() ? std::nullopt : vip_problem(s); });
    if (!vip) return false;
    f.vip = *vip;
  }
  if (f.vip.empty() || !f.interface.empty()) return true;
  const auto iface =
      ask(in, out, "Interface for " + f.vip + " (the same name on both nodes)",
          d.interface_for ? d.interface_for(f.vip) : "", [](const std::string& s) {
            return required(s, [](const auto& i) { return init_interface_problem(i); });
          });
  if (!iface) return false;
  f.interface = *iface;
  return true;
}

std::string scp_host(const NodeAddress& a) {
  return a.host.find(':') == std::string::npos ? "root@" + a.host : "root@[" + a.host + "]";
}

std::string names_of(const std::vector<InitNode>& nodes) {
  std::string out;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == nodes.size() ? " and " : ", ") + nodes[i].name;
  }
  return out;
}

// Both files to `n`, through /root (private) and `install`, which sets each file's mode.
void copy_commands(std::ostringstream& out, const InitNode& n, const std::string& output,
                   const std::string& key, unsigned mode) {
  char m[8];
  std::snprintf(m, sizeof m, "%04o", mode);
  const std::string host = scp_host(n.address);
  out << "       scp " << output << " " << host << ":/root/hactl-init.yaml\n"
      << "       scp " << key << " " << host << ":/root/hactl-init.key\n"
      << "       ssh root@" << n.address.host << " 'install -D -m " << m
      << " /root/hactl-init.yaml " << output << " && install -D -m 0600 /root/hactl-init.key "
      << key << " && rm /root/hactl-init.yaml /root/hactl-init.key'\n";
}

void arbiter_step(std::ostringstream& out, int step, const InitAnswers& a,
                  const std::string& output) {
  const std::string host = scp_host(a.arbiter);
  const std::string local = "/root/" + a.name + ".arbiter.key";
  const std::string remote = "/etc/hactl-arbiter/clusters/" + a.name + ".key";
  out << "  " << step << ". On the arbiter's host (" << a.arbiter.host
      << "), install the hactl-arbiter package. Then give\n"
      << "     it this cluster's arbiter key (derived from the cluster key, which that host never\n"
      << "     holds), from this node:\n"
      << "       hactl arbiter key --config " << output << " --output " << local << "\n"
      << "       scp " << local << " " << host << ":" << remote << "\n"
      << "       ssh root@" << a.arbiter.host << " 'chmod 600 " << remote
      << " && systemctl enable --now hactl-arbiter && systemctl reload hactl-arbiter'\n"
      << "       rm " << local << "\n";
}

void start_step(std::ostringstream& out, int step, const std::vector<InitNode>& all,
                const std::string& output) {
  out << "  " << step << ". Start the agent on " << names_of(all) << ":\n"
      << "       systemctl enable --now hactl-agent\n"
      << "     Each agent takes its node's name from its host name; where they differ, first put\n"
      << "     HACTL_AGENT_OPTS=\"--node NAME";
  if (output != InitVerb{}.output) out << " --config " << output;
  out << "\" in /etc/default/hactl-agent\n"
      << "     (/etc/sysconfig/hactl-agent on RPM systems).\n";
  if (output != InitVerb{}.output) {
    out << "     (The agent reads " << InitVerb{}.output << " unless told --config " << output
        << ".)\n";
  }
}

}  // namespace

bool ask_missing_answers(InitFlags& f, std::istream& in, std::ostream& out, const InitDefaults& d) {
  out << "hactl init: a few questions for what the flags did not say (Enter takes the value in "
         "brackets).\n";
  if (f.name.empty()) {
    const auto name = ask(in, out, "Cluster name", "",
                          [](const std::string& s) { return required(s, cluster_name_problem); });
    if (!name) return false;
    f.name = *name;
  }
  while (f.nodes.size() < 2) {
    const auto n = ask_node(in, out, f.nodes.empty() ? "First node" : "Second node", d, f.nodes);
    if (!n) return false;
    f.nodes.push_back(*n);
  }
  if (f.arbiter.empty() && f.witness.empty() && !f.fencing && !ask_vote(f, in, out, d)) {
    return false;
  }
  return ask_vip(f, in, out, d);
}

std::string next_steps(const InitAnswers& a, const std::string& output,
                       const std::string& this_host) {
  std::vector<InitNode> all = a.nodes;
  if (a.vote == ThirdVote::kWitness) all.push_back(a.witness);
  std::vector<InitNode> others;
  for (const auto& n : all)
    if (n.name != this_host) others.push_back(n);
  std::ostringstream out;
  int step = 1;
  out << "\nNext steps:\n";
  if (a.vote == ThirdVote::kFencing) {
    out << "  " << step++ << ". Put your fence devices in place of the placeholders in fencing: "
        << "(each BMC's address,\n     user and password, or another agent), try each by hand "
        << "(docs/fencing.md), then:\n       hactl config validate " << output << "\n";
  }
  out << "  " << step++ << ". Copy both files to " << names_of(others)
      << (others.size() == all.size() ? " (this host is none of the nodes)" : "")
      << ", the key with mode 0600:\n";
  for (const auto& n : others) {
    out << "     to " << n.name << ":\n";
    copy_commands(out, n, output, a.key, config_file_mode(a));
  }
  if (a.vote == ThirdVote::kArbiter) arbiter_step(out, step++, a, output);
  start_step(out, step++, all, output);
  out << "  " << step << ". Check, on either node: hactl status   (" << names_of(all) << " online"
      << (a.vote == ThirdVote::kArbiter ? ", the arbiter reachable" : "") << ")\n";
  return out.str();
}

namespace {

// Writes `text` to a new file `path` with `mode` (O_EXCL: never over another), fsynced; with
// `replace`, to a new file beside it that is then renamed over it.
std::expected<void, std::string> write_file(const std::string& path, const std::string& text,
                                            unsigned mode, bool replace) {
  const std::string target = replace ? path + ".hactl-init." + std::to_string(::getpid()) : path;
  const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return std::unexpected("cannot create " + target + ": " + std::strerror(errno));
  const bool ok = ::fchmod(fd, mode) == 0 &&
                  ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(target.c_str());
    return std::unexpected("cannot write " + target + ": " + std::strerror(saved));
  }
  if (replace && ::rename(target.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(target.c_str());
    return std::unexpected("cannot replace " + path + ": " + std::strerror(e));
  }
  return {};
}

// A new key as `hactl keygen` writes it (mode 0600); with `replace`, renamed over the old one.
std::expected<void, std::string> write_key(const std::string& path, bool replace) {
  if (!replace) return write_new_key_file(path);
  const std::string tmp = path + ".hactl-init." + std::to_string(::getpid());
  if (auto r = write_new_key_file(tmp); !r) return r;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return std::unexpected("cannot replace " + path + ": " + std::strerror(e));
  }
  return {};
}

// Refuses files that exist (without --force), before anything is written.
bool refuse_existing(const InitVerb& v) {
  bool refused = false;
  for (const auto& [path, what] :
       {std::pair{v.output, std::string("")},
        std::pair{v.flags.key, std::string(" (a new key: every node then needs the new one)")}}) {
    struct stat st {};
    if (!v.force && ::lstat(path.c_str(), &st) == 0) {
      std::cerr << "hactl init: " << path << " exists: not overwritten (--force replaces it" << what
                << ")\n";
      refused = true;
    }
  }
  return refused;
}

// The key first, then the file: a file is never left naming a key that was not written.
int write_files(const InitVerb& v, const InitAnswers& a, const std::string& text) {
  if (refuse_existing(v)) return 1;
  if (auto r = write_key(v.flags.key, v.force); !r) {
    std::cerr << "hactl init: " << r.error() << "\n";
    return 1;
  }
  if (auto r = write_file(v.output, text, config_file_mode(a), v.force); !r) {
    std::cerr << "hactl init: " << r.error() << "\n";
    if (!v.force) ::unlink(v.flags.key.c_str());  // the key made a moment ago, for this file
    return 1;
  }
  return 0;
}

std::string absolute(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  const auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// This host's first IPv4 address that is up and not loopback ("" if none).
std::string first_address(const std::vector<HostInterface>& interfaces) {
  for (const auto& i : interfaces) {
    for (const auto& a : i.addresses) {
      if (!i.up || a.ipv6 || a.bytes[0] == 127) continue;
      const std::string s = to_string(a);
      return s.substr(0, s.find('/'));
    }
  }
  return "";
}

// The interface with a subnet that holds `vip`'s address ("" if none).
std::string interface_for(const std::vector<HostInterface>& interfaces, const std::string& vip) {
  InterfaceAddress want;
  const std::string ip = vip.substr(0, vip.find('/'));
  want.ipv6 = ip.find(':') != std::string::npos;
  if (inet_pton(want.ipv6 ? AF_INET6 : AF_INET, ip.c_str(), want.bytes.data()) != 1) return "";
  for (const auto& i : interfaces) {
    for (const auto& a : i.addresses) {
      want.prefix = a.prefix;
      if (a.ipv6 == want.ipv6 && subnet_string(a) == subnet_string(want)) return i.name;
    }
  }
  return "";
}

InitDefaults host_defaults() {
  const SystemHostFacts facts;
  auto interfaces = facts.interfaces();
  InitDefaults d;
  const std::string host = short_hostname();
  if (valid_name(host, limits::kMaxNodeNameLength)) d.node_name = host;
  d.node_address = first_address(interfaces);
  d.interface_for = [interfaces](const std::string& vip) { return interface_for(interfaces, vip); };
  return d;
}

void print_errors(const std::vector<InitError>& errors) {
  for (const auto& e : errors) std::cerr << "hactl init: " << e.to_string() << "\n";
}

// The answers, from the flags and, for what they leave out, the dialogue on a terminal.
std::optional<InitAnswers> gather(InitVerb& v) {
  if (const auto missing = missing_answers(v.flags); !missing.empty()) {
    if (::isatty(STDIN_FILENO) == 0) {
      print_errors(missing);
      std::cerr << "hactl init: standard input is not a terminal, so nothing is asked: give "
                   "the flags above (hactl init --help)\n";
      return std::nullopt;
    }
    if (!ask_missing_answers(v.flags, std::cin, std::cout, host_defaults())) {
      std::cerr << "hactl init: no answer (the input ended, or five wrong answers): nothing "
                   "written\n";
      return std::nullopt;
    }
  }
  auto answers = answers_from_flags(v.flags);
  if (!answers) {
    print_errors(answers.error());
    return std::nullopt;
  }
  return std::move(*answers);
}

int cmd_init(InitVerb& v) {
  v.output = absolute(v.output);
  v.flags.key = absolute(v.flags.key);
  std::vector<InitError> paths;
  if (auto why = init_path_problem(v.output)) paths.push_back({"--output", *why});
  if (!v.output.empty() && v.output == v.flags.key)
    paths.push_back({"--key", "is the same file as --output"});
  if (!paths.empty()) {
    print_errors(paths);
    return 2;
  }
  const auto answers = gather(v);
  if (!answers) return 2;
  const std::string text = render_pair_config(*answers);
  if (const auto errors = loader_errors(text, v.output); !errors.empty()) {
    std::cerr << "hactl init: the configuration made from these answers does not load, so "
                 "nothing is written:\n";
    print_errors(errors);
    const bool mapped = std::all_of(errors.begin(), errors.end(),
                                    [](const InitError& e) { return !e.flag.empty(); });
    return mapped ? 2 : 1;
  }
  if (const int r = write_files(v, *answers, text); r != 0) return r;
  std::cout << "wrote " << v.output << " (cluster " << answers->name << ", mode "
            << (config_file_mode(*answers) == 0600U ? "0600" : "0644") << ")\n"
            << "wrote a new cluster key to " << v.flags.key << " (mode 0600)\n"
            << next_steps(*answers, v.output, short_hostname());
  return 0;
}

}  // namespace

void add_init_verb(CLI::App& app, InitVerb& v) {
  v.cmd = app.add_subcommand(
      "init",
      "write a pair's commented configuration and a new cluster key, from flags or (on a "
      "terminal) a few questions, then print the steps that bring the pair up");
  auto& f = v.flags;
  v.cmd->add_option("--name", f.name, "the cluster's name (A-Z a-z 0-9 _ . -)");
  v.cmd->add_option("--node", f.nodes,
                    "a node of the pair, NAME=ADDRESS[:PORT] (UDP; port 5405 if not given): "
                    "give it twice");
  v.cmd->add_option("--vip", f.vip, "a virtual IP the pair runs, ADDRESS/PREFIX (optional)");
  v.cmd->add_option("--interface", f.interface,
                    "the interface the vip goes on, the same name on both nodes");
  v.cmd->add_option("--arbiter", f.arbiter,
                    "third vote: a hactl-arbiter at HOST[:PORT] (UDP; port 5406 if not given)");
  v.cmd->add_option("--witness", f.witness,
                    "third vote: a third host running hactl-agent as a witness, "
                    "NAME=ADDRESS[:PORT]");
  v.cmd->add_flag("--fencing", f.fencing,
                  "third vote: none; two_node with a fence device per node (placeholders to "
                  "fill in)");
  v.cmd->add_option("-o,--output", v.output, "the configuration file to write")
      ->capture_default_str();
  v.cmd->add_option("--key", f.key, "the cluster key to write (mode 0600), as hactl keygen does")
      ->capture_default_str();
  v.cmd->add_flag("--force", v.force, "replace the files if they exist (the key with a new one)");
}

std::optional<int> run_init_verb(InitVerb& v) {
  if (v.cmd == nullptr || !v.cmd->parsed()) return std::nullopt;
  return cmd_init(v);
}

}  // namespace hactl
