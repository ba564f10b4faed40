#include "cli/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hactl {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string cannot_reach(const std::string& path, const std::string& why) {
  return "cannot reach the agent at " + path + ": " + why +
         " (is hactl-agent running on this host? use --socket PATH for another socket)";
}

}  // namespace

std::expected<nlohmann::json, std::string> control_request(const std::string& path,
                                                           const nlohmann::json& request,
                                                           int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return std::unexpected("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return std::unexpected(cannot_reach(path, std::strerror(errno)));
  }
  const std::string line = request.dump() + "\n";
  // The agent may answer and close before it has read the whole request (one over its size
  // limit): then the answer is read, and the send's error only reported without one.
  std::size_t sent = 0;
  int send_errno = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      send_errno = n < 0 ? errno : EPIPE;
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buf[4096];
  while (reply.find('\n') == std::string::npos) {
    pollfd p{fd.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready == 0) {
      return std::unexpected(cannot_reach(
          path, send_errno != 0 ? std::strerror(send_errno)
                                : "no answer within " + std::to_string(timeout_ms / 1000) + " s"));
    }
    if (ready < 0 && errno == EINTR) continue;
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      return std::unexpected(
          cannot_reach(path, send_errno != 0 ? std::strerror(send_errno) : "connection closed"));
    }
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.size() > 16 * 1024 * 1024) return std::unexpected("answer too large");
  }
  auto j = nlohmann::json::parse(reply.substr(0, reply.find('\n')), nullptr, false);
  if (j.is_discarded()) return std::unexpected("the agent sent something that is not JSON");
  return j;
}

}  // namespace hactl
