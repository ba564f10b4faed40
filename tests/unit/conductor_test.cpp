// The conductor alone: what it says it waits for, as `hactl status` shows it.
#include "coordinator/conductor.hpp"

#include <gtest/gtest.h>

#include "common/config.hpp"

namespace hactl {
namespace {

constexpr const char* kConfig = R"(cluster:
  name: c
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
resources:
  - id: ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
)";

Membership membership(bool leads) {
  Membership m;
  m.term = Term{3};
  m.leads = leads;
  m.up = {true, true, true};
  m.lease_bound.assign(3, std::nullopt);
  m.echo.assign(3, 0);
  return m;
}

// A coordinator that loses its lease (or steps down) waits for nothing any more: it used to
// keep its last reason ("actions in flight", "a report ...") in status for as long as it
// stayed a follower.
TEST(Conductor, WaitsForNothingOnceItNoLongerLeads) {
  auto loaded = parse_config(kConfig, "c.yaml");
  ASSERT_TRUE(loaded);
  Conductor c(loaded->config, NodeId{0});
  const Instant t0{Duration{1'000'000'000}};
  c.tick(membership(true), t0);
  ASSERT_TRUE(c.active());
  ASSERT_FALSE(c.waiting_for().empty()) << "no node has reported in this term yet";
  c.tick(membership(false), t0 + Duration{1'000'000});
  EXPECT_FALSE(c.active());
  EXPECT_EQ(c.waiting_for(), "");
}

}  // namespace
}  // namespace hactl
