// The host check (common/host_check.hpp) against a fake host: each kind of finding, with the
// node, resource, field, reason and position it names; what it leaves out (a witness, a
// resource banned from the node by -inf); and that it asks the host once per thing, whatever
// the size of the configuration.
#include "common/host_check.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

namespace hactl {
namespace {

InterfaceAddress addr(const std::string& cidr) {
  InterfaceAddress a;
  const auto slash = cidr.find('/');
  const std::string ip = cidr.substr(0, slash);
  a.ipv6 = ip.find(':') != std::string::npos;
  EXPECT_EQ(inet_pton(a.ipv6 ? AF_INET6 : AF_INET, ip.c_str(), a.bytes.data()), 1);
  a.prefix = std::stoi(cidr.substr(slash + 1));
  return a;
}

class FakeHost final : public HostFacts {
 public:
  std::vector<HostInterface> ifaces = {
      {"eth0", true, {addr("10.213.0.11/24"), addr("fe80::1/64")}},
      {"lo", true, {addr("127.0.0.1/8"), addr("::1/128")}},
      {"eth1", false, {}},
  };
  std::map<std::string, FileState> files = {
      {"/usr/lib/ocf/resource.d/heartbeat/Dummy", FileState::kExecutable},
      {"/usr/lib/ocf/resource.d/heartbeat/README", FileState::kNotExecutable},
      {"/usr/local/bin/job", FileState::kExecutable},
      {"/usr/sbin/fence_dummy", FileState::kExecutable},
  };
  std::map<std::string, UnitState> units = {{"nginx.service", UnitState::kFound},
                                            {"old.service", UnitState::kMasked}};
  bool systemd_up = true;
  mutable int interface_reads = 0;
  mutable int unit_asks = 0;
  mutable int file_asks = 0;

  std::vector<HostInterface> interfaces() const override {
    ++interface_reads;
    return ifaces;
  }
  FileCheck ocf_agent(std::string_view provider, std::string_view type) const override {
    return program("/usr/lib/ocf/resource.d/" + std::string(provider) + "/" + std::string(type));
  }
  FileCheck program(const std::string& path) const override {
    ++file_asks;
    const auto it = files.find(path);
    return {it == files.end() ? FileState::kMissing : it->second, path};
  }
  UnitCheck systemd_unit(const std::string& unit) const override {
    ++unit_asks;
    if (!systemd_up) return {UnitState::kUnknown, "no bus"};
    const auto it = units.find(unit);
    return {it == units.end() ? UnitState::kNotFound : it->second, ""};
  }
};

const std::string kHead = R"(cluster:
  name: demo
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: w, address: "10.213.0.13:5405", witness: true}
resources:
)";  // 8 lines: the first resource is on line 9

ClusterConfig parsed(const std::string& tail) {
  auto r = parse_config(kHead + tail, "c.yaml");
  EXPECT_TRUE(r) << (r ? "" : r.error().front().to_string());
  return r ? r->config : ClusterConfig{};
}

std::vector<std::string> lines(const std::string& tail, const FakeHost& host,
                               const char* node = "n1") {
  const ClusterConfig c = parsed(tail);
  auto findings = check_host(c, host, *c.find_node(node));
  locate_findings(kHead + tail, "c.yaml", findings);
  std::vector<std::string> out;
  for (const auto& f : findings) out.push_back(to_string(f));
  return out;
}

using Lines = std::vector<std::string>;

TEST(HostCheck, AVipOnAMissingInterfaceNamesNodeResourceFieldAndWhatThereIs) {
  const FakeHost host;
  EXPECT_EQ(lines("  - {id: web-ip, type: vip, params: {address: 10.213.0.100/24, interface: "
                  "eth9}}\n",
                  host),
            Lines{"c.yaml:9:75: resources[0].params.interface: n1: resource web-ip: interface "
                  "\"eth9\" does not exist on n1 (has: eth0, eth1, lo)"});
  const ClusterConfig c =
      parsed("  - {id: web-ip, type: vip, params: {address: 10.213.0.100/24, interface: eth9}}\n");
  const auto f = check_host(c, host, NodeId{0});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, HostSeverity::kError);
  EXPECT_EQ(f[0].subject, HostSubject::kInterface);
  EXPECT_EQ(f[0].problem, HostProblem::kMissing);
  EXPECT_EQ(f[0].node, "n1");
  EXPECT_EQ(f[0].resource, "web-ip");
  EXPECT_EQ(f[0].field, "resources[0].params.interface");
  EXPECT_TRUE(has_errors(f));
}

TEST(HostCheck, AVipOutsideEverySubnetOfItsInterfaceUnlessItSaysSo) {
  const FakeHost host;
  EXPECT_EQ(
      lines("  - {id: ip, type: vip, params: {address: 192.0.2.7/24, interface: eth0}}\n", host),
      Lines{"c.yaml:9:43: resources[0].params.address: n1: resource ip: address "
            "\"192.0.2.7\" is in no subnet of eth0 on n1 (eth0 has 10.213.0.0/24); set "
            "outside_subnet: true if it is meant to be"});
  EXPECT_EQ(lines("  - {id: ip, type: vip, params: {address: 192.0.2.7/32, interface: eth0, "
                  "outside_subnet: true}}\n",
                  host),
            Lines{});
  EXPECT_EQ(
      lines("  - {id: ip, type: vip, params: {address: 10.213.0.200/32, interface: eth0}}\n", host),
      Lines{});  // in 10.213.0.0/24, whatever its own prefix
  EXPECT_EQ(
      lines("  - {id: ip, type: vip, params: {address: fd00::7/64, interface: eth0}}\n", host),
      Lines{"c.yaml:9:43: resources[0].params.address: n1: resource ip: address "
            "\"fd00::7\" is in no subnet of eth0 on n1 (eth0 has fe80::/64); set "
            "outside_subnet: true if it is meant to be"});
  EXPECT_EQ(
      lines("  - {id: ip, type: vip, params: {address: 10.1.0.7/24, interface: eth1}}\n", host),
      (Lines{"warning: c.yaml:9:67: resources[0].params.interface: n1: resource ip: "
             "interface \"eth1\" is down on n1 (the address would be added but not "
             "answered)",
             "c.yaml:9:43: resources[0].params.address: n1: resource ip: address "
             "\"10.1.0.7\" is in no subnet of eth1 on n1 (eth1 has no address of that "
             "family); set outside_subnet: true if it is meant to be"}));
}

TEST(HostCheck, AVipHeldHereIsNoSubnetForItselfOrAnother) {
  FakeHost host;
  // Two vips outside the node's subnet, one of them held here now (the kernel lists it), and
  // a second address in the node's own subnet (shown once).
  host.ifaces[0].addresses.push_back(addr("192.0.2.7/24"));
  host.ifaces[0].addresses.push_back(addr("10.213.0.99/24"));
  const auto out = lines(
      "  - {id: a, type: vip, params: {address: 192.0.2.7/24, interface: eth0}}\n"
      "  - {id: b, type: vip, params: {address: 192.0.2.8/24, interface: eth0}}\n",
      host);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(out[0].find("resource a: address \"192.0.2.7\" is in no subnet"), std::string::npos);
  EXPECT_NE(out[1].find("resource b: address \"192.0.2.8\" is in no subnet of eth0 on n1 (eth0 "
                        "has 10.213.0.0/24)"),
            std::string::npos);
}

TEST(HostCheck, AgentsScriptsUnitsAndFenceAgents) {
  const FakeHost host;
  const std::string tail =
      "  - {id: ok-ocf, type: \"ocf:heartbeat:Dummy\"}\n"
      "  - {id: no-ocf, type: \"ocf:heartbeat:Dumy\"}\n"
      "  - {id: noexec-ocf, type: \"ocf:heartbeat:README\"}\n"
      "  - {id: job, type: \"exec:/usr/local/bin/job\"}\n"
      "  - {id: nojob, type: \"exec:/usr/local/bin/jobb\"}\n"
      "  - {id: web, type: systemd:nginx}\n"
      "  - {id: gone, type: systemd:gone}\n"
      "  - {id: old, type: systemd:old}\n"
      "fencing:\n"
      "  devices:\n"
      "    - {id: d1, agent: fence_dummy, nodes: [n1]}\n"
      "    - {id: d2, agent: fence_nope, nodes: [n2]}\n";
  EXPECT_EQ(lines(tail, host),
            (Lines{"c.yaml:10:24: resources[1].type: n1: resource no-ocf: OCF agent "
                   "\"/usr/lib/ocf/resource.d/heartbeat/Dumy\" does not exist on n1",
                   "c.yaml:11:28: resources[2].type: n1: resource noexec-ocf: OCF agent "
                   "\"/usr/lib/ocf/resource.d/heartbeat/README\" is not executable on n1",
                   "c.yaml:13:23: resources[4].type: n1: resource nojob: script "
                   "\"/usr/local/bin/jobb\" does not exist on n1",
                   "c.yaml:15:22: resources[6].type: n1: resource gone: systemd unit "
                   "\"gone.service\" does not exist on n1",
                   "c.yaml:16:21: resources[7].type: n1: resource old: systemd unit "
                   "\"old.service\" is masked on n1",
                   "c.yaml:20:23: fencing.devices[1].agent: n1: fence device d2: fence agent "
                   "\"/usr/sbin/fence_nope\" does not exist on n1"}));
}

TEST(HostCheck, AnUnreachableSystemdIsOneWarningAndNoMoreQuestions) {
  FakeHost host;
  host.systemd_up = false;
  std::string tail;
  for (int i = 0; i < 50; ++i) tail += "  - {id: u" + std::to_string(i) + ", type: systemd:u}\n";
  const ClusterConfig c = parsed(tail);
  const auto f = check_host(c, host, NodeId{0});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, HostSeverity::kWarning);
  EXPECT_FALSE(has_errors(f));
  EXPECT_EQ(to_string(f[0]),
            "warning: resources[0].type: n1: resource u0: systemd cannot be asked on n1 (no "
            "bus): this unit and the ones after it not checked");
  EXPECT_EQ(host.unit_asks, 1);
}

TEST(HostCheck, AWitnessAndABannedResourceAreNotChecked) {
  const FakeHost host;
  const std::string tail =
      "  - {id: a, type: vip, params: {address: 10.213.0.100/24, interface: eth9}}\n"
      "  - {id: b, type: \"ocf:heartbeat:Nope\"}\n"
      "  - {id: c, type: \"ocf:heartbeat:Nope\"}\n"
      "  - {id: d, type: \"ocf:heartbeat:Nope\"}\n"
      "groups:\n  - {id: g, members: [b]}\n"
      "clones:\n  - {id: cl, resource: c}\n"
      "constraints:\n  location:\n"
      "    - {resource: a, node: n1, score: -inf}\n"
      "    - {resource: g, node: n1, score: -inf}\n"
      "    - {resource: cl, node: n1, score: -inf}\n"
      "    - {resource: d, node: n1, score: -999999}\n";
  const auto on_n1 = lines(tail, host, "n1");
  ASSERT_EQ(on_n1.size(), 1u);  // only d: -999,999 is a preference, not a ban
  EXPECT_NE(on_n1[0].find("resource d: OCF agent"), std::string::npos);
  EXPECT_EQ(lines(tail, host, "n2").size(), 4u);
  EXPECT_EQ(lines(tail, host, "w"), Lines{});
}

TEST(HostCheck, LinearInTheConfigurationTheHostAskedOncePerThing) {
  FakeHost host;
  for (int i = 0; i < 200; ++i) {  // a host holding many addresses
    host.ifaces[0].addresses.push_back(addr("172.16." + std::to_string(i) + ".1/24"));
  }
  std::string tail;
  for (int i = 0; i < 5000; ++i) {
    tail += "  - {id: v" + std::to_string(i) + ", type: vip, params: {address: 10.213." +
            std::to_string(1 + i / 250) + "." + std::to_string(i % 250) +
            "/24, interface: eth0}}\n";
  }
  for (int i = 0; i < 5000; ++i) {
    tail += "  - {id: d" + std::to_string(i) + ", type: \"ocf:heartbeat:Dummy\"}\n";
    tail += "  - {id: u" + std::to_string(i) + ", type: systemd:nginx}\n";
  }
  const ClusterConfig c = parsed(tail);
  const auto f = check_host(c, host, NodeId{0});
  EXPECT_EQ(f.size(), 5000u);  // no vip in 10.213.0.0/24; Dummy and nginx are there
  EXPECT_EQ(host.interface_reads, 1);
  EXPECT_EQ(host.file_asks, 1);
  EXPECT_EQ(host.unit_asks, 1);
}

}  // namespace
}  // namespace hactl
