#include "resources/vip_guard.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

std::int64_t monotonic_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
}

void remove_all(std::set<std::string>& held) {
  for (const auto& line : held) {
    if (auto spec = parse_line(line)) vip_stop(*spec);
  }
  held.clear();
}

[[noreturn]] void guard_main(int fd) {
  setsid();
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
  std::set<std::string> held;
  std::int64_t deadline = -1;  // none
  std::string buffer;
  char chunk[512];
  for (;;) {
    int wait_ms = -1;
    if (deadline >= 0 && !held.empty()) {
      const std::int64_t left = deadline - monotonic_us();
      if (left <= 0) {
        std::fprintf(stderr, "event=vip_guard_deadline action=remove vips=%zu\n", held.size());
        remove_all(held);
        continue;
      }
      wait_ms = static_cast<int>(std::min<std::int64_t>((left + 999) / 1000, 60'000));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;
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
      if (line[0] == 'L') {
        deadline = line == "L-" ? -1 : std::max(0LL, std::strtoll(line.c_str() + 1, nullptr, 10));
      }
    }
  }
  remove_all(held);
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

void VipGuard::set_deadline(std::optional<std::int64_t> monotonic_us) {
  write_line(monotonic_us ? "L" + std::to_string(*monotonic_us) : std::string("L-"));
}

void VipGuard::send(char op, const VipSpec& vip) {
  write_line(std::string(1, op) + vip.text + " " + vip.interface);
}

void VipGuard::write_line(std::string line) {
  if (fd_ < 0) return;
  line += '\n';
  // Lines are far below PIPE_BUF, so each write is atomic; the guard reads as fast as we write.
  [[maybe_unused]] const ssize_t n = write(fd_, line.data(), line.size());
}

}  // namespace hactl
