#include "resources/vip_guard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace hactl {
namespace {

// "10.0.0.1/24 eth0" -> a spec, through the same parser the resource class uses.
std::optional<VipSpec> parse_line(const std::string& line) {
  const auto space = line.find(' ');
  if (space == std::string::npos) return std::nullopt;
  auto spec =
      parse_vip({{"address", line.substr(0, space)}, {"interface", line.substr(space + 1)}});
  return spec ? std::optional{*spec} : std::nullopt;
}

[[noreturn]] void guard_main(int fd) {
  setsid();
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
  std::set<std::string> held;
  std::string buffer;
  char chunk[512];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the agent is gone
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      const std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (line.size() < 2 || held.size() > 4096) continue;
      if (line[0] == '+') held.insert(line.substr(1));
      if (line[0] == '-') held.erase(line.substr(1));
    }
  }
  for (const auto& line : held) {
    if (auto spec = parse_line(line)) vip_stop(*spec);
  }
  _exit(0);
}

}  // namespace

std::expected<VipGuard, std::string> VipGuard::spawn() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return std::unexpected(std::string("vip guard: pipe: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return std::unexpected(std::string("vip guard: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(fds[1]);
    guard_main(fds[0]);
  }
  close(fds[0]);
  VipGuard g;
  g.fd_ = fds[1];
  g.pid_ = pid;
  return g;
}

VipGuard& VipGuard::operator=(VipGuard&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    pid_ = o.pid_;
    o.fd_ = -1;
  }
  return *this;
}

VipGuard::~VipGuard() {
  if (fd_ >= 0) close(fd_);  // the guard removes what is held and exits
}

void VipGuard::hold(const VipSpec& vip) { send('+', vip); }
void VipGuard::release(const VipSpec& vip) { send('-', vip); }

void VipGuard::send(char op, const VipSpec& vip) {
  if (fd_ < 0) return;
  const std::string line = std::string(1, op) + vip.text + " " + vip.interface + "\n";
  // Lines are far below PIPE_BUF, so each write is atomic; the guard reads as fast as we write.
  [[maybe_unused]] const ssize_t n = write(fd_, line.data(), line.size());
}

}  // namespace hactl
