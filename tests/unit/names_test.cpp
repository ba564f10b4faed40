// Names that leave hactl for the kernel, systemd or the filesystem (common/names.hpp), and the
// loader's errors for them: file, line, column and field, as for every other error (a vip
// on an interface named "eth0;reboot" once passed validate).
#include "common/names.hpp"

#include <gtest/gtest.h>

#include "common/config.hpp"

namespace hactl {
namespace {

TEST(Names, InterfaceNamesFollowTheKernelAndRefuseShellCharacters) {
  for (const char* good : {"eth0", "lo", "br-lan", "bond0.100", "enp0s31f6", "wg_0",
                           "enx0123456789ab" /* 15 bytes */}) {
    EXPECT_EQ(interface_name_problem(good), std::nullopt) << good;
  }
  for (const std::string& bad : std::vector<std::string>{
           "", "enx0123456789abc" /* 16 */, ".", "..", "eth0;reboot", "eth/0", "eth:0", "eth 0",
           "eth\t0", std::string("eth\0", 4), "eth0\n", "$(id)", "eth0@if5", "eth`x`"}) {
    EXPECT_NE(interface_name_problem(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(*interface_name_problem("eth0;reboot"),
            "an interface name is A-Z a-z 0-9 _ . - only, got ';'");
  EXPECT_EQ(*interface_name_problem("eth0\n"),
            "an interface name is A-Z a-z 0-9 _ . - only, got byte 0x0a");
}

TEST(Names, UnitNamesAreSystemdsStartableOnes) {
  for (const char* good :
       {"nginx.service", "getty@tty1.service", "web.socket", "app.target", "srv-data.mount",
        "backup.timer", "a:b-c_d.e\\x2df.service", "openvpn@site@1.service"}) {
    EXPECT_EQ(unit_name_problem(good), std::nullopt) << good;
  }
  for (const char* bad : {"nginx", ".service", "nginx.conf", "x.device", "x.scope", "@x.service",
                          "nginx;id.service", "ng inx.service", "ng/inx.service"}) {
    EXPECT_NE(unit_name_problem(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(*unit_name_problem("getty@.service"),
            "'getty@.service' is a template: name an instance, e.g. getty@INSTANCE.service");
  EXPECT_NE(unit_name_problem(std::string(252, 'a') + ".service"), std::nullopt);  // 260 bytes
}

TEST(Names, OcfComponentsAndProgramPathsCannotLeaveTheirDirectory) {
  for (const char* good : {"heartbeat", "Dummy", "IPaddr2", "mysql-proxy", "pgsql_1.0"}) {
    EXPECT_EQ(path_component_problem(good), std::nullopt) << good;
  }
  for (const char* bad : {"", ".", "..", ".hidden", "-x", "a/b", "a;b", "a b"}) {
    EXPECT_NE(path_component_problem(bad), std::nullopt) << bad;
  }
  for (const char* good : {"/usr/local/bin/job", "/opt/app-1.2/bin/run+x", "/srv/a@b:c"}) {
    EXPECT_EQ(program_path_problem(good), std::nullopt) << good;
  }
  for (const char* bad : {"", "job", "/", "/opt/", "/opt//job", "/opt/../bin/sh", "/opt/./job",
                          "/opt/my job", "/opt/job;reboot", "/opt/$(id)", "/opt/job\n"}) {
    EXPECT_NE(program_path_problem(bad), std::nullopt) << bad;
  }
  EXPECT_NE(program_path_problem("/" + std::string(1024, 'a')), std::nullopt);
  EXPECT_TRUE(valid_fence_agent_name("fence_ipmilan"));
  EXPECT_TRUE(valid_fence_agent_name("fence_dummy_2"));
  for (const char* bad :
       {"fence_", "fence_IPMI", "fence_a;b", "fence-x", "ipmitool", "fence_a.b"}) {
    EXPECT_FALSE(valid_fence_agent_name(bad)) << bad;
  }
}

const std::string kHead = R"(cluster:
  name: demo
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
resources:
)";  // 7 lines: the first resource is on line 8

std::string errors(const std::string& tail) {
  auto r = parse_config(kHead + tail, "c.yaml");
  if (r) return "";
  std::string all;
  for (const auto& e : r.error()) all += e.to_string() + "\n";
  return all;
}

TEST(Names, TheLoaderNamesFileLineAndField) {
  EXPECT_EQ(errors("  - {id: ip, type: vip, params: {address: 10.0.0.1/24, interface: "
                   "\"eth0;reboot\"}}\n"),
            "c.yaml:8:67: resources[0].params.interface: an interface name is A-Z a-z 0-9 _ . - "
            "only, got ';'\n");
  EXPECT_EQ(errors("  - {id: a, type: \"ocf:heartbeat:..\"}\n"),
            "c.yaml:8:19: resources[0].type: OCF type must not start with '.'\n");
  EXPECT_EQ(errors("  - {id: a, type: \"ocf:../x:Dummy\"}\n"),
            "c.yaml:8:19: resources[0].type: OCF provider must not start with '.'\n");
  EXPECT_EQ(errors("  - {id: a, type: \"systemd:web;id\"}\n"),
            "c.yaml:8:19: resources[0].type: systemd unit: a unit name is A-Z a-z 0-9 : - _ . \\ "
            "and @ before an instance, got ';'\n");
  EXPECT_EQ(errors("  - {id: a, type: \"systemd:getty@\"}\n"),
            "c.yaml:8:19: resources[0].type: systemd unit: 'getty@.service' is a template: name "
            "an instance, e.g. getty@INSTANCE.service\n");
  EXPECT_EQ(errors("  - {id: a, type: \"exec:/opt/run job\"}\n"),
            "c.yaml:8:19: resources[0].type: exec script must be A-Z a-z 0-9 / _ . - + @ : only, "
            "got byte 0x20\n");
  EXPECT_EQ(errors("  - {id: a, type: \"exec:/opt/../bin/sh\"}\n"),
            "c.yaml:8:19: resources[0].type: exec script must not have an empty, '.' or '..' "
            "component\n");
  EXPECT_EQ(errors("  - {id: a, type: systemd:nginx}\n"), "");
  EXPECT_EQ(errors("  - {id: a, type: vip, params: {address: 10.0.0.1/24, interface: eth0, "
                   "outside_subnet: perhaps}}\n"),
            "c.yaml:8:88: resources[0].params.outside_subnet: must be true or false, got "
            "'perhaps'\n");
}

TEST(Names, FenceAgents) {
  const std::string fencing = "fencing:\n  devices:\n    - {id: d, agent: AGENT, nodes: [n1]}\n";
  auto with = [&](const std::string& agent) {
    std::string t = fencing;
    return errors("  - {id: a, type: systemd:nginx}\n" + t.replace(t.find("AGENT"), 5, agent));
  };
  EXPECT_EQ(with("fence_dummy"), "");
  EXPECT_EQ(with("/usr/local/sbin/fence_x"), "");
  EXPECT_EQ(with("fence_IPMI"),
            "c.yaml:11:22: fencing.devices[0].agent: must be a fence agent's name, fence_ and "
            "a-z 0-9 _ (fence_ipmilan: /usr/sbin/fence_ipmilan), or an absolute path, got "
            "'fence_IPMI'\n");
  EXPECT_EQ(with("\"/usr/sbin/fence_x;id\""),
            "c.yaml:11:22: fencing.devices[0].agent: an agent's path must be A-Z a-z 0-9 / _ . - "
            "+ @ : only, got ';'\n");
}

}  // namespace
}  // namespace hactl
