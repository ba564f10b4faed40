// The checking side of a verified VIP move (coordinator/announcer.hpp), run by a node that does
// not hold the address, on the agent's libuv loop (non-blocking sockets, no child process):
//
//  - IPv4: an AF_PACKET socket for ARP on the interface. It asks for the address with an ARP
//    probe (sender address 0.0.0.0, RFC 5227, so no neighbour cache learns anything from it;
//    the kernel that holds the address answers it), every 500 ms until answered, and records
//    the sender MAC of every answer (reply with the address as sender) and every announcement
//    (gratuitous ARP: sender and target both the address).
//  - IPv6: a raw ICMPv6 socket bound to the interface, passing only neighbour advertisements.
//    It sends a neighbour solicitation to the address's solicited-node group (from this node's
//    link-local address) and records the target link-layer address of every advertisement for
//    the address: solicited ones are answers, the others announcements.
//
// It ends at the request's window, or as soon as the holder's MAC both answered and announced,
// or as soon as any other MAC did (a conflict). At most kMaxRunning at once; more are refused
// (probed = false), as is a check on an interface this node lacks.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <set>

#include "common/messages.hpp"

namespace hactl {

class VipChecker {
 public:
  static constexpr std::size_t kMaxRunning = 64;
  using Done = std::function<void(VipCheckResult)>;

  explicit VipChecker(uv_loop_t* loop) : loop_(loop) {}
  ~VipChecker();  // close()
  VipChecker(const VipChecker&) = delete;
  VipChecker& operator=(const VipChecker&) = delete;

  // Starts one check; `done` is called from the loop, never from inside check().
  void check(const VipCheckRequest& request, Done done);
  // Ends every running check without calling its done. Idempotent.
  void close();
  std::size_t running() const { return checks_.size(); }

  struct Check;

 private:
  void finish(Check* c);
  uv_loop_t* loop_;
  std::set<Check*> checks_;
};

}  // namespace hactl
