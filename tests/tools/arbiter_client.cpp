// arbiter_client: speaks to a hactl-arbiter as the nodes of clusters would, for the integration
// test (tests/integration/test_arbiter_daemon.py) and the benchmark (bench/arbiter_bench.py).
//
//   arbiter_client keys --dir D --clusters N [--prefix pair-]
//       writes D/<prefix><i>.key, the arbiter key of bench clusters whose cluster keys are
//       derived from their names (a benchmark's keys, not secrets).
//   arbiter_client talk --arbiter HOST:PORT --cluster C --key FILE [--arbiter-name arbiter]
//       reads commands on stdin, one per line, and prints one JSON line per answer:
//         claim NODE TERM PING PROMISE_MS [probe] [leads]
//         prevote NODE TERM
//         vote NODE TERM PING
//         replay            (sends the last datagram again, byte for byte)
//       A node that does not know the arbiter's challenge yet (its first request, or the first
//       after the arbiter restarted) gets a refusal carrying it; the tool then sends the request
//       again once, as a node would, and prints both answers ("challenge": true on the first).
//   arbiter_client load --arbiter HOST:PORT --pairs N [--sockets S] [--probe-ms 2000]
//       [--split 0.1] [--claim-ms 100] [--warmup 5] [--duration 30]
//       N bench clusters of two nodes each (n1, n2), 2N node names over S UDP sockets (node i
//       on socket i % S; default one socket per node). Every node probes every --probe-ms; in the
//       first --split fraction of the pairs both nodes claim every --claim-ms. Prints one JSON
//       object: answers/s, claims' round trip p50/p95/p99, grants, over --duration seconds after
//       --warmup.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <sstream>
#include <string>
#include <vector>

#include "common/arbiter_wire.hpp"

namespace hactl {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::map<std::string, std::string> flags(int argc, char** argv, int from) {
  std::map<std::string, std::string> out;
  for (int i = from; i + 1 < argc; i += 2) out[argv[i]] = argv[i + 1];
  return out;
}

std::string flag(const std::map<std::string, std::string>& f, const std::string& name,
                 const std::string& fallback) {
  const auto it = f.find(name);
  return it == f.end() ? fallback : it->second;
}

sockaddr_in parse_v4(const std::string& text) {
  sockaddr_in a{};
  const auto colon = text.rfind(':');
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1))));
  if (colon == std::string::npos ||
      inet_pton(AF_INET, text.substr(0, colon).c_str(), &a.sin_addr) != 1) {
    std::cerr << "arbiter_client: --arbiter wants IPv4:PORT\n";
    std::exit(2);
  }
  return a;
}

int udp_socket() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) {
    std::perror("arbiter_client: socket");
    std::exit(1);
  }
  return fd;
}

// A bench cluster's key, from its name (a benchmark's, not a secret).
ClusterKey bench_arbiter_key(const std::string& cluster) {
  ClusterKey k;
  const std::string seed = "hactl-bench:" + cluster;
  crypto_generichash(k.data(), k.size(), reinterpret_cast<const unsigned char*>(seed.data()),
                     seed.size(), nullptr, 0);
  return derive_arbiter_key(k);
}

// One node's side of the conversation with the arbiter.
struct NodeState {
  std::string cluster;
  std::string name;
  // A later run of the tool is a later boot of its nodes.
  std::uint64_t incarnation =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::uint64_t session = new_session();
  std::uint64_t seq = 1;
  std::uint64_t sent_echo = 0;  // the echo of the last request: 0 or a challenge not current
  PeerGate gate{session};       // the arbiter's answers to this node
};

std::vector<std::uint8_t> seal_request(const ArbiterSealer& sealer, NodeState& n,
                                       const std::string& arbiter, Message m) {
  ArbiterEnvelope e;
  e.cluster = n.cluster;
  e.sender = n.name;
  e.recipient = arbiter;
  e.incarnation = n.incarnation;
  e.session = n.session;
  e.echo = n.gate.echo();
  n.sent_echo = e.echo;
  e.seq = n.seq++;
  e.message = std::move(m);
  return sealer.seal(e);
}

json message_json(const Message& m) {
  json j;
  if (const auto* a = std::get_if<ArbiterAnswer>(&m)) {
    j = {{"type", "answer"},
         {"term", a->term.value},
         {"echo", a->echo},
         {"granted", a->granted},
         {"leads_acked", a->leads_acked},
         {"holder", a->holder},
         {"hold_left_ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(a->hold_left).count()}};
  } else if (const auto* p = std::get_if<PreVoteResponse>(&m)) {
    j = {{"type", "prevote"}, {"term", p->term.value}, {"granted", p->granted}};
  } else if (const auto* v = std::get_if<VoteResponse>(&m)) {
    j = {{"type", "vote"}, {"term", v->term.value}, {"granted", v->granted}, {"echo", v->echo}};
  } else {
    j = {{"type", "other"}};
  }
  return j;
}

// --- keys ----------------------------------------------------------------------------------

int cmd_keys(const std::map<std::string, std::string>& f) {
  const std::string dir = flag(f, "--dir", ".");
  const int n = std::stoi(flag(f, "--clusters", "1"));
  const std::string prefix = flag(f, "--prefix", "pair-");
  for (int i = 0; i < n; ++i) {
    const std::string name = prefix + std::to_string(i);
    if (auto r = write_key_file(dir + "/" + name + ".key", bench_arbiter_key(name)); !r) {
      std::cerr << "arbiter_client: " << r.error() << "\n";
      return 1;
    }
  }
  return 0;
}

// --- talk ----------------------------------------------------------------------------------

struct Talk {
  int fd = -1;
  sockaddr_in arbiter{};
  std::string arbiter_name;
  std::unique_ptr<ArbiterSealer> sealer;
  ClusterKey key{};
  std::string cluster;
  std::map<std::string, NodeState> nodes;
  std::vector<std::uint8_t> last;
  std::string last_node;
};

// The next datagram for `node` within `ms`, opened; nullopt on timeout.
std::optional<ArbiterEnvelope> receive(Talk& t, int ms, json& out) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
  for (int guard = 0; guard < 1000; ++guard) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{t.fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    std::uint8_t buf[2048];
    const ssize_t n = ::recv(t.fd, buf, sizeof buf, 0);
    if (n <= 0) continue;
    auto env = open_arbiter(std::span(buf, static_cast<std::size_t>(n)), t.key);
    if (!env) {
      out["refused"] = std::string(to_string(env.error()));
      continue;
    }
    return *env;
  }
  return std::nullopt;
}

void send_bytes(Talk& t, const std::vector<std::uint8_t>& d) {
  ::sendto(t.fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&t.arbiter),
           sizeof t.arbiter);
}

// Sends `m` as `node` and prints the answer; a challenge is answered by sending again once.
void exchange(Talk& t, const std::string& node, const Message& m, bool raw_replay) {
  auto& n = t.nodes.try_emplace(node, NodeState{t.cluster, node}).first->second;
  if (!raw_replay) {
    t.last = seal_request(*t.sealer, n, t.arbiter_name, m);
    t.last_node = node;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    send_bytes(t, t.last);
    json out = {{"node", node}, {"replay", raw_replay}};
    const auto env = receive(t, 1000, out);
    if (!env) {
      out["answer"] = nullptr;
      std::cout << out.dump() << std::endl;
      return;
    }
    const auto verdict = n.gate.check(gate_header(*env));
    out["answer"] = message_json(env->message);
    out["from"] = env->sender;
    out["gate"] = verdict == PeerGate::Verdict::kReplayed ? "replayed" : "accepted";
    // A request that did not echo the arbiter's current challenge was answered with a refusal
    // that carries it (the arbiter's voter never saw the request).
    const bool challenge = n.sent_echo != env->session;
    out["challenge"] = challenge;
    std::cout << out.dump() << std::endl;
    if (!challenge || raw_replay) return;
    t.last = seal_request(*t.sealer, n, t.arbiter_name, m);
  }
}

void talk_line(Talk& t, const std::string& line) {
  std::istringstream in(line);
  std::string cmd, node;
  in >> cmd;
  if (cmd == "replay") return exchange(t, t.last_node, Message{}, true);
  std::uint64_t term = 0, ping = 0, promise_ms = 0;
  in >> node >> term;
  if (cmd == "claim") {
    in >> ping >> promise_ms;
    ArbiterClaim c{Term{term}, false, ping, std::chrono::milliseconds(promise_ms), false};
    for (std::string w; in >> w;) {
      c.probe = c.probe || w == "probe";
      c.leads = c.leads || w == "leads";
    }
    return exchange(t, node, c, false);
  }
  if (cmd == "prevote") return exchange(t, node, PreVoteRequest{Term{term}, {}}, false);
  if (cmd == "vote") {
    in >> ping;
    return exchange(t, node, VoteRequest{Term{term}, ping, {}, false}, false);
  }
  std::cout << json{{"error", "unknown command: " + line}}.dump() << std::endl;
}

int cmd_talk(const std::map<std::string, std::string>& f) {
  Talk t;
  t.fd = udp_socket();
  t.arbiter = parse_v4(flag(f, "--arbiter", "127.0.0.1:5406"));
  t.arbiter_name = flag(f, "--arbiter-name", "arbiter");
  t.cluster = flag(f, "--cluster", "c");
  auto key = load_key_file(flag(f, "--key", ""));
  if (!key) {
    std::cerr << "arbiter_client: " << key.error() << "\n";
    return 2;
  }
  t.key = *key;
  t.sealer = std::make_unique<ArbiterSealer>(t.key);
  for (std::string line; std::getline(std::cin, line);) {
    if (!line.empty()) talk_line(t, line);
  }
  return 0;
}

// --- load ----------------------------------------------------------------------------------

struct Sent {
  std::uint64_t ping = 0;
  Clock::time_point at{};
  bool probe = true;
};

struct LoadNode {
  NodeState st;
  std::size_t cluster = 0;
  int fd = -1;
  bool split = false;
  std::uint64_t ping = 0;
  std::array<Sent, 32> sent{};  // the last requests, by ping % 32
};

struct LoadStats {
  std::uint64_t sent = 0, answers = 0, challenges = 0, grants = 0, refused = 0;
  std::vector<double> claim_rtt_ms, probe_rtt_ms;
};

struct Load {
  sockaddr_in arbiter{};
  std::vector<std::string> clusters;
  std::map<std::string, std::size_t, std::less<>> cluster_index;
  std::vector<std::unique_ptr<ArbiterSealer>> sealers;
  std::vector<ClusterKey> keys;
  std::vector<LoadNode> nodes;  // cluster i: nodes 2i (n1) and 2i+1 (n2)
  std::vector<int> fds;
  Duration probe_every{}, claim_every{};
  Clock::time_point measure_from{}, measure_to{};
  LoadStats stats;
};

void load_send(Load& l, std::size_t i, Clock::time_point now) {
  LoadNode& n = l.nodes[i];
  const bool probe = !n.split;
  ArbiterClaim c{Term{1}, false, ++n.ping, std::chrono::milliseconds{3000}, probe};
  const auto d = seal_request(*l.sealers[n.cluster], n.st, "arbiter", c);
  n.sent[n.ping % n.sent.size()] = Sent{n.ping, now, probe};
  if (::sendto(n.fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&l.arbiter),
               sizeof l.arbiter) > 0 &&
      now >= l.measure_from && now < l.measure_to) {
    ++l.stats.sent;
  }
}

void load_answer(Load& l, std::span<const std::uint8_t> d, Clock::time_point now) {
  const auto cluster = peek_arbiter_cluster(d);
  const auto ci = cluster ? l.cluster_index.find(*cluster) : l.cluster_index.end();
  if (ci == l.cluster_index.end()) return;
  const auto env = open_arbiter(d, l.keys[ci->second]);
  if (!env) return;
  LoadNode& n = l.nodes[2 * ci->second + (env->recipient == "n2" ? 1 : 0)];
  const auto verdict = n.st.gate.check(gate_header(*env));
  const bool measured = now >= l.measure_from && now < l.measure_to;
  if (env->echo != n.st.session || verdict == PeerGate::Verdict::kStaleEcho ||
      n.st.sent_echo != env->session) {
    if (measured) ++l.stats.challenges;
    return;
  }
  const auto* a = std::get_if<ArbiterAnswer>(&env->message);
  if (a == nullptr || !measured) return;
  ++l.stats.answers;
  if (a->granted) ++l.stats.grants;
  const Sent& s = n.sent[a->echo % n.sent.size()];
  if (s.ping != a->echo) return;
  const double ms = std::chrono::duration<double, std::milli>(now - s.at).count();
  (s.probe ? l.stats.probe_rtt_ms : l.stats.claim_rtt_ms).push_back(ms);
}

void load_setup(Load& l, const std::map<std::string, std::string>& f) {
  const std::size_t pairs = std::stoul(flag(f, "--pairs", "1000"));
  const std::size_t sockets = std::stoul(flag(f, "--sockets", std::to_string(2 * pairs)));
  const double split = std::stod(flag(f, "--split", "0.1"));
  l.probe_every = std::chrono::milliseconds(std::stoi(flag(f, "--probe-ms", "2000")));
  l.claim_every = std::chrono::milliseconds(std::stoi(flag(f, "--claim-ms", "100")));
  for (std::size_t s = 0; s < std::max<std::size_t>(1, sockets); ++s) l.fds.push_back(udp_socket());
  for (std::size_t i = 0; i < pairs; ++i) {
    const std::string name = "pair-" + std::to_string(i);
    l.clusters.push_back(name);
    l.cluster_index[name] = i;
    l.keys.push_back(bench_arbiter_key(name));
    l.sealers.push_back(std::make_unique<ArbiterSealer>(l.keys.back()));
    for (const char* node : {"n1", "n2"}) {
      LoadNode n{NodeState{name, node}, i, l.fds[l.nodes.size() % l.fds.size()],
                 static_cast<double>(i) < split * static_cast<double>(pairs)};
      l.nodes.push_back(std::move(n));
    }
  }
}

void load_drain(Load& l, int epfd, int timeout_ms) {
  epoll_event ev[64];
  const int n = ::epoll_wait(epfd, ev, 64, timeout_ms);
  for (int e = 0; e < n; ++e) {
    for (int guard = 0; guard < 256; ++guard) {
      std::uint8_t buf[2048];
      const ssize_t got = ::recv(ev[e].data.fd, buf, sizeof buf, 0);
      if (got <= 0) break;
      load_answer(l, std::span(buf, static_cast<std::size_t>(got)), Clock::now());
    }
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

int load_main(const std::map<std::string, std::string>& f) {
  Load l;
  l.arbiter = parse_v4(flag(f, "--arbiter", "127.0.0.1:5406"));
  load_setup(l, f);
  const auto start = Clock::now();
  l.measure_from = start + std::chrono::seconds(std::stoi(flag(f, "--warmup", "5")));
  l.measure_to = l.measure_from + std::chrono::seconds(std::stoi(flag(f, "--duration", "30")));
  const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  for (const int fd : l.fds) {
    epoll_event ev{EPOLLIN, {}};
    ev.data.fd = fd;
    ::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  }
  using Due = std::pair<Clock::time_point, std::size_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due;
  for (std::size_t i = 0; i < l.nodes.size(); ++i) {
    const auto every = l.nodes[i].split ? l.claim_every : l.probe_every;
    due.emplace(start + every * static_cast<long>(i % 97) / 97, i);  // spread over a period
  }
  while (Clock::now() < l.measure_to) {
    const auto now = Clock::now();
    while (!due.empty() && due.top().first <= now) {
      const auto [at, i] = due.top();
      due.pop();
      load_send(l, i, now);
      due.emplace(at + (l.nodes[i].split ? l.claim_every : l.probe_every), i);
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(due.top().first - Clock::now());
    load_drain(l, epfd, static_cast<int>(std::clamp<long>(wait.count(), 0, 50)));
  }
  const double secs = std::chrono::duration<double>(l.measure_to - l.measure_from).count();
  const auto& s = l.stats;
  json out = {{"pairs", l.clusters.size()},
              {"nodes", l.nodes.size()},
              {"sockets", l.fds.size()},
              {"seconds", secs},
              {"sent_per_s", static_cast<double>(s.sent) / secs},
              {"answers_per_s", static_cast<double>(s.answers) / secs},
              {"challenges", s.challenges},
              {"grants", s.grants},
              {"claim_rtt_ms",
               {{"n", s.claim_rtt_ms.size()},
                {"p50", percentile(s.claim_rtt_ms, 0.5)},
                {"p95", percentile(s.claim_rtt_ms, 0.95)},
                {"p99", percentile(s.claim_rtt_ms, 0.99)}}},
              {"probe_rtt_ms",
               {{"n", s.probe_rtt_ms.size()},
                {"p50", percentile(s.probe_rtt_ms, 0.5)},
                {"p95", percentile(s.probe_rtt_ms, 0.95)}}}};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

}  // namespace hactl

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  const std::string cmd = argc > 1 ? argv[1] : "";
  const auto f = hactl::flags(argc, argv, 2);
  if (cmd == "keys") return hactl::cmd_keys(f);
  if (cmd == "talk") return hactl::cmd_talk(f);
  if (cmd == "load") return hactl::load_main(f);
  std::cerr
      << "usage: arbiter_client keys|talk|load [--flag value ...] (see the source's header)\n";
  return 2;
}
