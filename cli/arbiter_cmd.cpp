// `hactl arbiter status` and `hactl arbiter key` (see arbiter_cmd.hpp).
#include "cli/arbiter_cmd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>

#include "common/arbiter_wire.hpp"
#include "common/config.hpp"
#include "common/wire.hpp"

namespace hactl {
namespace {

constexpr int kHttpTimeoutMs = 5000;
constexpr std::size_t kMaxStatusBytes = 64 * 1024 * 1024;  // 10,000 clusters' worth

std::expected<sockaddr_storage, std::string> tcp_address(const std::string& text) {
  sockaddr_storage ss{};
  const bool v6 = !text.empty() && text.front() == '[';
  const auto sep = v6 ? text.find("]:") : text.rfind(':');
  if (sep == std::string::npos) return std::unexpected("expected IPv4:PORT or [IPv6]:PORT");
  const std::string host = v6 ? text.substr(1, sep - 1) : text.substr(0, sep);
  const int port = std::atoi(text.c_str() + sep + (v6 ? 2 : 1));
  if (v6) {
    auto& a = reinterpret_cast<sockaddr_in6&>(ss);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) == 1 && port > 0) return ss;
  } else {
    auto& a = reinterpret_cast<sockaddr_in&>(ss);
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1 && port > 0) return ss;
  }
  return std::unexpected("'" + text + "' is not a numeric IP address and port");
}

// Reads the whole response of a Connection: close server, within the timeout.
std::expected<std::string, std::string> read_all(int fd) {
  std::string in;
  char buf[65536];
  while (in.size() < kMaxStatusBytes) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kHttpTimeoutMs) <= 0)
      return std::unexpected(std::string("no answer in time"));
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) return std::unexpected(std::string("read failed"));
    if (n == 0) return in;
    in.append(buf, static_cast<std::size_t>(n));
  }
  return std::unexpected(std::string("answer too large"));
}

std::expected<std::string, std::string> http_get(const std::string& address,
                                                 const std::string& path) {
  const auto addr = tcp_address(address);
  if (!addr) return std::unexpected(addr.error());
  const int fd = ::socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(std::string("cannot make a socket"));
  const socklen_t len = addr->ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), len) != 0) {
    ::close(fd);
    return std::unexpected("cannot connect to " + address +
                           " (is hactl-arbiter running with --metrics " + address + "?)");
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
  const bool sent = ::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size());
  auto response = sent ? read_all(fd) : std::unexpected(std::string("write failed"));
  ::close(fd);
  if (!response) return std::unexpected(address + ": " + response.error());
  const auto head_end = response->find("\r\n\r\n");
  if (!response->starts_with("HTTP/1.1 200") || head_end == std::string::npos) {
    return std::unexpected(address + path + ": " + response->substr(0, response->find('\r')));
  }
  return response->substr(head_end + 4);
}

std::string seconds_text(const nlohmann::json& v) {
  if (!v.is_number()) return "never";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", v.get<double>());
  return buf;
}

int cmd_status(const ArbiterVerbs& v) {
  const auto body = http_get(v.address, "/status");
  if (!body) {
    std::cerr << "hactl: " << body.error() << "\n";
    return 2;
  }
  const auto j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::cerr << "hactl: " << v.address << "/status is not JSON\n";
    return 1;
  }
  std::cout << (v.as_json ? j.dump(2) + "\n" : format_arbiter_status(j));
  return 0;
}

int cmd_key(const ArbiterVerbs& v) {
  const auto loaded = load_config_file(v.config);
  if (!loaded) {
    for (const auto& e : loaded.error()) std::cerr << e.to_string() << "\n";
    return 1;
  }
  const auto& c = loaded->config;
  auto key = load_key_file(c.auth_key_file);
  if (!key) {
    std::cerr << "hactl: " << key.error() << "\n";
    return 1;
  }
  ClusterKey derived = derive_arbiter_key(*key);
  sodium_memzero(key->data(), key->size());
  const std::string target = "/etc/hactl-arbiter/clusters/" + c.name + ".key";
  const std::string host = c.arbiter() ? c.node(*c.arbiter()).address.host : "ARBITER-HOST";
  if (!c.arbiter()) {
    std::cerr << "note: " << v.config << " has no arbiter: section yet\n";
  }
  if (v.output.empty()) {
    std::cout << format_key_file(derived);
    std::cerr << "this is cluster " << c.name << "'s arbiter key: put it in " << target << " on "
              << host << " (mode 0600), then: systemctl reload hactl-arbiter\n";
  } else {
    auto written = write_key_file(v.output, derived);
    if (!written) {
      std::cerr << "hactl: " << written.error() << "\n";
      sodium_memzero(derived.data(), derived.size());
      return 1;
    }
    std::cout << "wrote cluster " << c.name << "'s arbiter key to " << v.output << " (mode 0600)\n"
              << "copy it to the arbiter's host, then reload it:\n"
              << "  scp " << v.output << " " << host << ":" << target << "\n"
              << "  ssh " << host << " 'chmod 600 " << target
              << " && systemctl reload hactl-arbiter'\n";
  }
  sodium_memzero(derived.data(), derived.size());
  return 0;
}

}  // namespace

void add_arbiter_verbs(CLI::App& app, ArbiterVerbs& v) {
  auto* arbiter = app.add_subcommand("arbiter", "see a hactl-arbiter, and give it a cluster's key");
  arbiter->require_subcommand(1);
  v.status = arbiter->add_subcommand(
      "status", "the clusters an arbiter serves: nodes heard, holder, term and votes");
  v.status
      ->add_option("--address", v.address,
                   "the arbiter's HTTP listener (where it serves /metrics and /status)")
      ->capture_default_str();
  v.status->add_flag("--json", v.as_json, "print the arbiter's JSON status");
  v.key = arbiter->add_subcommand(
      "key", "derive this cluster's arbiter key from its key (the arbiter never holds the latter)");
  v.key->add_option("-c,--config", v.config, "the cluster file (its name and auth_key_file)")
      ->capture_default_str();
  v.key->add_option("-o,--output", v.output,
                    "write it to this file (mode 0600, never overwritten) instead of stdout");
}

std::optional<int> run_arbiter_verb(const ArbiterVerbs& v) {
  if (v.status != nullptr && v.status->parsed()) return cmd_status(v);
  if (v.key != nullptr && v.key->parsed()) return cmd_key(v);
  return std::nullopt;
}

std::string format_arbiter_status(const nlohmann::json& j) {
  std::ostringstream out;
  out << "arbiter " << j.value("listen", "?") << "  version " << j.value("version", "?") << "  up "
      << seconds_text(j.value("uptime_s", nlohmann::json())) << "  clusters "
      << j.value("clusters", nlohmann::json::array()).size() << "  keys " << j.value("keys", 0)
      << "  received " << j.value("received", 0) << "  sent " << j.value("sent", 0) << "\n";
  for (const auto& u : j.value("unreadable_state", nlohmann::json::array())) {
    out << "cluster " << u.get<std::string>()
        << ": NOT SERVED, its state file did not parse (see the arbiter's log)\n";
  }
  for (const auto& c : j.value("clusters", nlohmann::json::array())) {
    const std::string holder = c.value("holder", "");
    out << "\ncluster " << c.value("name", "?") << "  term " << c.value("term", 0) << "  voted for "
        << (c.value("voted_for", "").empty() ? "-" : c.value("voted_for", "")) << "  holder "
        << (holder.empty() ? "-" : holder);
    if (!holder.empty()) out << " (" << seconds_text(c["hold_left_s"]) << " left)";
    out << "  claims " << c.value("claims", 0) << "  grants " << c.value("grants", 0)
        << (c.value("ready", false) ? "" : "  (restarted lately: backs nobody yet)") << "\n";
    for (const auto& n : c.value("nodes", nlohmann::json::array())) {
      out << "  " << n.value("name", "?") << "  " << n.value("address", "-") << "  last contact "
          << seconds_text(n["last_contact_s"]) << " ago  claims " << n.value("claims", 0)
          << "  granted " << n.value("granted", 0) << "\n";
    }
  }
  return out.str();
}

}  // namespace hactl
