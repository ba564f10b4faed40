// The vip guard: a small child process, forked by the agent at start, that removes every VIP
// the agent holds the moment the agent dies (SIGKILL included: the kernel closes the agent's
// end of the pipe, the guard reads EOF). Without it a crashed agent would leave its VIPs on the
// host while the cluster, once the agent's lease is over, starts them on another node.
//
// The agent tells the guard "+ADDRESS/PREFIX INTERFACE" when a VIP is added (or found at a
// probe) and "-ADDRESS/PREFIX INTERFACE" when it is removed, and "L<microseconds>" the
// CLOCK_MONOTONIC instant by which its VIPs must be gone unless its lease is renewed ("L-":
// no such instant). The guard removes them at that instant itself, so an agent that is
// stopped (SIGSTOP), starved or stuck cannot keep a VIP past its lease. The guard has its own
// session and ignores SIGINT, SIGTERM and SIGHUP, so a signal to the agent's terminal or process
// group does not take it down first. Only a SIGKILL of both defeats it (document: KillMode).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include "resources/vip.hpp"

namespace hactl {

class VipGuard {
 public:
  // Forks the guard; call before any thread exists.
  static std::expected<VipGuard, std::string> spawn();
  VipGuard() = default;
  VipGuard(VipGuard&& o) noexcept : fd_(o.fd_), pid_(o.pid_) { o.fd_ = -1; }
  VipGuard& operator=(VipGuard&& o) noexcept;
  ~VipGuard();

  void hold(const VipSpec& vip);
  void release(const VipSpec& vip);
  // Microseconds of CLOCK_MONOTONIC (the agent's clock), or none.
  void set_deadline(std::optional<std::int64_t> monotonic_us);
  pid_t pid() const { return pid_; }

 private:
  void send(char op, const VipSpec& vip);
  void write_line(std::string line);
  int fd_ = -1;
  pid_t pid_ = -1;
};

}  // namespace hactl
