// The resource guard: a small child process, forked by the agent at start, that gives up what
// the agent holds (VIPs and every other resource) when the agent can no longer do it itself.
//
//  - VIPs: removed the moment the agent dies (SIGKILL included: the kernel closes the agent's
//    end of the pipe, the guard reads EOF), and at the lease deadline the agent gave it, so a
//    stopped (SIGSTOP), starved or stuck agent cannot keep a VIP past its lease.
//  - Other resources (OCF, exec and systemd classes): stopped, all at once (a promotable
//    instance demoted first), at the lease deadline + restart_grace, the instant after which the
//    cluster may start them elsewhere once their own demote and stop timeouts are over
//    (PrimitiveConfig::effective_takeover_delay), if by then the agent is dead and no
//    new agent runs (the lock file is free) or the agent has been silent for longer than
//    `alive_window` (stopped or hung). An agent that lives does this itself; a new agent that
//    started meanwhile keeps what it finds if it gets a lease in time, or stops it itself.
//
// Lines from the agent: "+ADDRESS/PREFIX INTERFACE" and "-ADDRESS/PREFIX INTERFACE" when a VIP
// is added (or found) and removed; "R+ID" when a start or promote of resource ID begins or a
// probe finds it running, "R-ID" when a stop succeeds or a probe finds it not running;
// "L" when the lease deadline moved earlier or went away (the guard then looks again); "F<path>"
// when a configuration is applied at run time: the guard takes its resource definitions from that
// file (keeping the old definition of anything it holds that the file no longer has); "M1" and
// "M0" when this node enters and leaves maintenance: in maintenance the guard removes and stops
// nothing, even when the agent dies (an operator restarting or upgrading it). The guard has
// its own session and ignores SIGINT, SIGTERM and SIGHUP.
//
// Two values change with every heartbeat and so are not lines but words of a page the agent
// and the guard share (mapped before the fork): the CLOCK_MONOTONIC microsecond by which VIPs
// must be gone unless the lease is renewed (-1: none), and when the agent last said it runs.
// The guard reads them whenever it wakes, and it wakes by itself at the deadline it read: a
// later deadline needs no word to it, an earlier one (or none) comes with an "L" line so it
// wakes at once. An idle agent's guard so wakes about once per lease, not once per heartbeat.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include "common/config.hpp"
#include "resources/ocf_agent.hpp"
#include "resources/vip.hpp"

namespace hactl {

struct GuardOptions {
  ResourceConfig resources;  // the guard keeps its own copy
  OcfContext ocf;            // as the agent runs them (the clone meta, hactl's Pacemaker commands)
  Duration restart_grace{0};
  Duration alive_window{0};   // 0: never take the agent for stopped
  std::string lock_file;      // held by every live agent ("": do not look)
  int realtime_priority = 0;  // > 0: the guard runs SCHED_RR at this priority (realtime.hpp)
  // With `resources`, what the lease deadline takes away (stops_without_quorum).
  NoQuorumPolicy no_quorum_policy = NoQuorumPolicy::kStop;
};

class ResourceGuard {
 public:
  // Forks the guard; call before any thread exists.
  static std::expected<ResourceGuard, std::string> spawn(const GuardOptions& options = {});
  ResourceGuard() = default;
  ResourceGuard(ResourceGuard&& o) noexcept
      : fd_(o.fd_), pid_(o.pid_), shared_(o.shared_), deadline_(o.deadline_) {
    o.fd_ = -1;
    o.shared_ = nullptr;
  }
  ResourceGuard& operator=(ResourceGuard&& o) noexcept;
  ~ResourceGuard();

  void hold(const VipSpec& vip);
  void release(const VipSpec& vip);
  void hold_resource(const std::string& id) { write_line("R+" + id); }
  void release_resource(const std::string& id) { write_line("R-" + id); }
  // Microseconds of CLOCK_MONOTONIC (the agent's clock), or none.
  void set_deadline(std::optional<std::int64_t> deadline_us);
  void keepalive();
  // A configuration file to take definitions from: parsed on a thread of the guard's at normal
  // priority while it goes on watching, taken up once parsed (and before it stops resources).
  void reload_definitions(const std::string& config_file) { write_line("F" + config_file); }
  // In maintenance the guard leaves everything as it is, even when the agent dies ("M1"/"M0").
  void set_maintenance(bool on) { write_line(on ? "M1" : "M0"); }
  pid_t pid() const { return pid_; }
  struct Shared;  // the page shared with the guard (resource_guard.cpp)

 private:
  void send(char op, const VipSpec& vip);
  void write_line(std::string line);
  int fd_ = -1;
  pid_t pid_ = -1;
  Shared* shared_ = nullptr;
  std::optional<std::int64_t> deadline_;  // as last told
};

}  // namespace hactl
