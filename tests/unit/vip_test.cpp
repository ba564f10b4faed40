// The vip class against a real kernel: in a private network namespace (created by a forked
// child, so nothing of the host is touched) with a veth pair, add, announce, monitor and remove
// IPv4 and IPv6 addresses, and capture the gratuitous ARP / neighbour advertisement on the peer.
#include "resources/vip.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace hactl {
namespace {

#define CHILD_CHECK(cond)                                                    \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
      _exit(1);                                                              \
    }                                                                        \
  } while (false)

int capture_socket(const char* ifname, int proto) {
  const int fd = ::socket(AF_PACKET, SOCK_DGRAM, htons(static_cast<std::uint16_t>(proto)));
  sockaddr_ll a{};
  a.sll_family = AF_PACKET;
  a.sll_protocol = htons(static_cast<std::uint16_t>(proto));
  a.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads packets until one contains `needle`; false after the 2 s receive timeout.
bool saw(int fd, const unsigned char* needle, std::size_t len) {
  unsigned char buf[2048];
  for (int i = 0; i < 50; ++i) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    if (std::search(buf, buf + n, needle, needle + len) != buf + n) return true;
  }
  return false;
}

void child_body() {
  CHILD_CHECK(::unshare(CLONE_NEWNET) == 0);
  CHILD_CHECK(std::system("ip link set lo up && ip link add vip0 type veth peer name vip1 && "
                          "ip link set vip0 up && ip link set vip1 up") == 0);
  const int arp = capture_socket("vip1", ETH_P_ARP);
  CHILD_CHECK(arp >= 0);
  auto v4 = parse_vip({{"address", "10.213.0.100/24"}, {"interface", "vip0"}});
  CHILD_CHECK(v4.has_value());
  CHILD_CHECK(vip_monitor(*v4).code == OcfCode::kNotRunning);
  CHILD_CHECK(vip_start(*v4).code == OcfCode::kSuccess);
  CHILD_CHECK(vip_monitor(*v4).code == OcfCode::kSuccess);
  CHILD_CHECK(vip_start(*v4).code == OcfCode::kSuccess);  // idempotent
  const unsigned char vip_bytes[4] = {10, 213, 0, 100};
  CHILD_CHECK(saw(arp, vip_bytes, 4));
  CHILD_CHECK(std::system("ip -4 addr show dev vip0 | grep -q 'inet 10.213.0.100/24'") == 0);
  CHILD_CHECK(vip_stop(*v4).code == OcfCode::kSuccess);
  CHILD_CHECK(vip_monitor(*v4).code == OcfCode::kNotRunning);
  CHILD_CHECK(vip_stop(*v4).code == OcfCode::kSuccess);  // idempotent

  const int nd = capture_socket("vip1", ETH_P_IPV6);
  CHILD_CHECK(nd >= 0);
  auto v6 = parse_vip({{"address", "fd00:213::100/64"}, {"interface", "vip0"}});
  CHILD_CHECK(v6.has_value());
  CHILD_CHECK(vip_start(*v6).code == OcfCode::kSuccess);
  CHILD_CHECK(vip_monitor(*v6).code == OcfCode::kSuccess);  // no DAD: usable at once
  CHILD_CHECK(saw(nd, v6->address.data(), 16));
  CHILD_CHECK(vip_stop(*v6).code == OcfCode::kSuccess);
  CHILD_CHECK(vip_monitor(*v6).code == OcfCode::kNotRunning);

  auto missing = parse_vip({{"address", "10.213.0.101/24"}, {"interface", "nope0"}});
  CHILD_CHECK(vip_start(*missing).code == OcfCode::kErrConfigured);
  _exit(0);
}

TEST(Vip, StartAnnounceMonitorStopInAPrivateNamespace) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root for a network namespace";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) child_body();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "see the check that failed above";
}

TEST(Vip, ParseErrors) {
  EXPECT_FALSE(parse_vip({{"address", "10.0.0.1"}, {"interface", "eth0"}}));
  EXPECT_FALSE(parse_vip({{"address", "10.0.0.1/33"}, {"interface", "eth0"}}));
  EXPECT_FALSE(parse_vip({{"address", "10.0.0.1/24"}}));
  EXPECT_EQ(parse_vip({{"address", "fd00::1/64"}, {"interface", "eth0"}})->family, AF_INET6);
}

}  // namespace
}  // namespace hactl
