// Resource sections of the cluster file: the shapes the issues promise, and each error class.
#include <gtest/gtest.h>

#include <tuple>

#include "common/config.hpp"
#include "common/vip_params.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;

const std::string kHead = R"(cluster:
  name: demo
  auth_key_file: /etc/hactl/authkey
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
  - {name: n3, address: "10.213.0.13:5405"}
)";

const std::string kWeb = R"(resources:
  - id: web-ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
  - id: web-app
    type: ocf:heartbeat:Dummy
    params: {state: /run/hactl/web-app.state}
    ops: {monitor: {interval: 1s, timeout: 5s}, notify: {timeout: 7s}}
    meta: {stickiness: inf, migration_threshold: 3, failure_timeout: 1m, on_fail: move}
  - id: db
    type: ocf:heartbeat:Stateful
  - id: web-server
    type: systemd:nginx
  - id: job
    type: exec:/usr/local/bin/job
groups:
  - id: web
    members: [web-ip, web-app]
clones:
  - id: db-clone
    resource: db
    promotable: true
    promoted_max: 2
constraints:
  location:
    - {resource: web, node: n1, score: 100}
    - {resource: db-clone, node: n3, score: -inf, role: promoted}
  colocation:
    - {resource: web, with: db-clone, score: inf, with_role: promoted}
  order:
    - {first: db-clone, first_action: promote, then: web}
)";

std::string errors(const std::string& yaml) {
  auto r = parse_config(kHead + yaml, "c.yaml");
  if (r) return "";
  std::string all;
  for (const auto& e : r.error()) all += e.to_string() + "\n";
  return all;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

TEST(ResourceConfig, TheDocumentedShapeParses) {
  auto r = parse_config(kHead + kWeb, "c.yaml");
  ASSERT_TRUE(r) << errors(kWeb);
  const ResourceConfig& rc = r->config.resources;
  ASSERT_EQ(rc.primitives.size(), 5u);
  const auto* app = rc.primitive("web-app");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->cls, ResourceClass::kOcf);
  EXPECT_EQ(app->provider, "heartbeat");
  EXPECT_EQ(app->type, "Dummy");
  EXPECT_EQ(app->params.at("state"), "/run/hactl/web-app.state");
  EXPECT_EQ(app->monitor.interval, 1s);
  EXPECT_EQ(app->monitor.timeout, 5s);
  EXPECT_EQ(app->start.timeout, 20s);
  EXPECT_EQ(app->notify.timeout, 7s);
  EXPECT_EQ(app->stickiness, 1'000'000);
  EXPECT_EQ(app->migration_threshold, 3);
  EXPECT_EQ(app->failure_timeout, 1min);
  EXPECT_EQ(app->on_fail, OnFail::kMove);
  EXPECT_EQ(rc.primitive("web-server")->type, "nginx.service");
  EXPECT_EQ(rc.primitive("job")->cls, ResourceClass::kExec);
  EXPECT_EQ(rc.group("web")->members, (std::vector<std::string>{"web-ip", "web-app"}));
  EXPECT_TRUE(rc.clone("db-clone")->promotable);
  EXPECT_EQ(rc.clone("db-clone")->promoted_max, 2);
  EXPECT_EQ(rc.locations[1].score, -1'000'000);
  EXPECT_EQ(rc.locations[1].role, RoleFilter::kPromoted);
  EXPECT_EQ(rc.colocations[0].with_role, RoleFilter::kPromoted);
  EXPECT_EQ(rc.orders[0].first_action, ActionKind::kPromote);
  EXPECT_TRUE(rc.orders[0].symmetrical);
}

TEST(ResourceConfig, ErrorsNameFileLineAndField) {
  EXPECT_NE(errors(replace(kWeb, "type: vip", "type: vipp"))
                .find("c.yaml:10:11: resources[0].type: unknown type 'vipp'"),
            std::string::npos);
  EXPECT_NE(
      errors(replace(kWeb, "type: systemd:nginx", "type: \"systemd:\"")).find("resources[3].type"),
      std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "exec:/usr", "exec:usr")).find("resources[4].type"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "interval: 1s", "intervall: 1s"))
                .find("resources[1].ops.monitor.intervall: unknown key 'intervall' (did you mean "
                      "'interval'?)"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "on_fail: move", "on_fail: panic"))
                .find("resources[1].meta.on_fail: must be restart, move, stop or ignore"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "migration_threshold: 3", "migration_threshold: 0"))
                .find("meta.migration_threshold: expected a whole number from 1"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "score: 100", "score: lots"))
                .find("constraints.location[0].score: expected a score (an integer, inf or -inf), "
                      "got 'lots'"),
            std::string::npos);
  const std::string order = "{first: db-clone, first_action: promote, then: web}";
  EXPECT_NE(errors(replace(kWeb, order, "{first: db-clone, then: web, kind: sometimes}"))
                .find("c.yaml:38:42: constraints.order[0].kind: must be mandatory, optional or "
                      "serialize, got 'sometimes'"),
            std::string::npos)
      << errors(replace(kWeb, order, "{first: db-clone, then: web, kind: sometimes}"));
  EXPECT_NE(errors(replace(kWeb, order,
                           "{first: db-clone, then: web, kind: serialize, symmetrical: true}"))
                .find("constraints.order[0].symmetrical: a serialize order has no direction"),
            std::string::npos);
}

TEST(ResourceConfig, CloneMaxZeroIsAcceptedAndUnsetMeansEveryNode) {
  auto unset = parse_config(kHead + kWeb, "c.yaml");
  ASSERT_TRUE(unset);
  EXPECT_FALSE(unset->config.resources.clones.front().clone_max.has_value());
  auto zero = parse_config(
      kHead + replace(kWeb, "promoted_max: 2", "promoted_max: 2\n    clone_max: 0"), "c.yaml");
  ASSERT_TRUE(zero) << zero.error().front().to_string();
  EXPECT_EQ(zero->config.resources.clones.front().clone_max, 0);
}

TEST(ResourceConfig, ColocationRoleOnTheColocatedSide) {
  const std::string coloc = "{resource: web, with: db-clone, score: inf, with_role: promoted}";
  EXPECT_NE(
      errors(replace(kWeb, coloc, "{resource: web, role: promoted, with: db-clone, score: inf}"))
          .find("constraints.colocation[0].role: the roles promoted and unpromoted exist only "
                "for promotable clones"),
      std::string::npos);
  EXPECT_NE(
      errors(replace(kWeb, coloc, "{resource: db-clone, role: unpromoted, with: web, score: inf}"))
          .find("constraints.colocation[0].role: role: unpromoted on the colocated side is "
                "not supported"),
      std::string::npos);
  auto ok = parse_config(
      kHead + replace(kWeb, coloc, "{resource: db-clone, role: promoted, with: web, score: inf}"),
      "c.yaml");
  ASSERT_TRUE(ok) << ok.error().front().to_string();
  EXPECT_EQ(ok->config.resources.colocations.front().role, RoleFilter::kPromoted);
}

TEST(ResourceConfig, OrderKinds) {
  const std::string order = "{first: db-clone, first_action: promote, then: web}";
  for (const auto& [text, kind, symmetrical] :
       std::vector<std::tuple<std::string, OrderConstraint::Kind, bool>>{
           {"", OrderConstraint::Kind::kMandatory, true},
           {", kind: Optional", OrderConstraint::Kind::kOptional, true},
           {", kind: optional, symmetrical: false", OrderConstraint::Kind::kOptional, false},
           {", kind: serialize", OrderConstraint::Kind::kSerialize, false}}) {
    auto r = parse_config(kHead + replace(kWeb, order, "{first: db-clone, then: web" + text + "}"),
                          "c.yaml");
    ASSERT_TRUE(r) << text << ": " << r.error().front().to_string();
    EXPECT_EQ(r->config.resources.orders.front().kind, kind) << text;
    EXPECT_EQ(r->config.resources.orders.front().symmetrical, symmetrical) << text;
  }
}

TEST(ResourceConfig, CrossChecks) {
  EXPECT_NE(errors(replace(kWeb, "  - id: db\n", "  - id: web-app\n"))
                .find("duplicate id 'web-app' (also resources[1].id)"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "10.213.0.100/24", "10.213.0.100"))
                .find("resources[0].params.address: '10.213.0.100' is not an address/prefix"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, ", interface: eth0", ""))
                .find("resources[0].params.interface: a vip needs the interface"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "interface: eth0}", "interface: eth0, verify: maybe}"))
                .find("resources[0].params.verify: must be true or false, got 'maybe'"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "interface: eth0}", "interface: eth0, announce_refresh: 100ms}"))
                .find("resources[0].params.announce_refresh: must be 0s (never) or between 1s"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "interface: eth0}", "interface: eth0, nodad: true}"))
                .find("resources[0].params.nodad: applies to IPv6 addresses only"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "interface: eth0}", "interface: eth0, dad: no}"))
                .find("resources[0].params.dad: unknown vip parameter 'dad' (known: address, "
                      "interface, verify, announce_refresh, nodad, preferred_lft, outside_subnet)"),
            std::string::npos);
  EXPECT_TRUE(parse_vip_params({{"address", "fd00::1/64"},
                                {"interface", "eth0"},
                                {"nodad", "false"},
                                {"preferred_lft", "0"}}));
  EXPECT_NE(errors(replace(kWeb, "[web-ip, web-app]", "[web-ip, ghost]"))
                .find("groups[0].members[1]: 'ghost' is not a resource"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "resource: db\n", "resource: web-ip\n"))
                .find("clones[0].resource: 'web-ip' already belongs to web"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "resource: db\n", "resource: web-server\n"))
                .find("a promotable clone needs an ocf resource"),
            std::string::npos);
  // A location constraint may name a group's member (Pacemaker's rule); other constraints and
  // a cloned primitive may not.
  EXPECT_EQ(errors(replace(kWeb, "{resource: web, node: n1", "{resource: web-ip, node: n1")), "");
  EXPECT_NE(
      errors(replace(kWeb, "{resource: web, with: db-clone", "{resource: web-ip, with: db-clone"))
          .find("constraints.colocation[0].resource: 'web-ip' belongs to web: constrain web "
                "instead"),
      std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "{resource: db-clone, node: n3", "{resource: db, node: n3"))
                .find("constraints.location[1].resource: 'db' belongs to db-clone"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "node: n1", "node: n7"))
                .find("constraints.location[0].node: no node is called 'n7'"),
            std::string::npos);
  EXPECT_NE(
      errors(replace(kWeb, "with: db-clone", "with: web")).find("cannot be colocated with itself"),
      std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "{resource: web, node: n1, score: 100}",
                           "{resource: web, node: n1, score: 100, role: promoted}"))
                .find("only for promotable clones"),
            std::string::npos);
  EXPECT_NE(errors(kWeb + "    - {first: web, then: db-clone}\n")
                .find("order constraints form a cycle: db-clone -> web -> db-clone"),
            std::string::npos);
  EXPECT_NE(errors(replace(kWeb, "promoted_max: 2", "promoted_max: 2\n    clone_max: 1"))
                .find("promoted_max (2) exceeds clone_max (1)"),
            std::string::npos);
}

// notify: true on a clone of an OCF primitive (its agent has a notify action); refused on
// anything else, naming the field.
TEST(ResourceConfig, CloneNotifyNeedsAnOcfPrimitive) {
  auto r = parse_config(
      kHead + replace(kWeb, "    promoted_max: 2\n", "    promoted_max: 2\n    notify: true\n"),
      "c.yaml");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->config.resources.clones.size(), 1u);
  EXPECT_TRUE(r->config.resources.clones[0].notify);
  const std::string job_clone = replace(
      kWeb, "constraints:\n", "  - {id: job-clone, resource: job, notify: true}\nconstraints:\n");
  EXPECT_NE(errors(job_clone).find(
                "clones[1].notify: notify needs the clone's resource to be an OCF primitive"),
            std::string::npos)
      << errors(job_clone);
}

TEST(ResourceConfig, FailbackAndFlapDampingFromTheClusterAndPerResource) {
  const std::string head = R"(cluster:
  name: demo
  auth_key_file: /etc/hactl/authkey
  failback: {after: 5m}
  flap_damping: {moves: 4, within: 30m}
nodes:
  - {name: n1, address: "10.213.0.11:5405"}
  - {name: n2, address: "10.213.0.12:5405"}
)";
  auto r = parse_config(head + R"(resources:
  - id: a
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
    meta: {failback: never, flap_damping: off}
  - id: b
    type: exec:/bin/true
    meta: {failback: immediate, flap_damping: {moves: 2}}
  - id: c
    type: exec:/bin/true
)",
                        "c.yaml");
  ASSERT_TRUE(r) << r.error().front().to_string();
  const ClusterConfig& c = r->config;
  ASSERT_TRUE(c.failback);
  EXPECT_EQ(to_string(*c.failback), "after 5m");
  EXPECT_EQ(c.flap_damping, (FlapDamping{4, 30min}));
  EXPECT_EQ(to_string(*c.resources.primitives[0].failback), "never");
  EXPECT_FALSE(c.resources.primitives[0].flap_damping->on());
  EXPECT_EQ(to_string(*c.resources.primitives[1].failback), "immediate");
  EXPECT_EQ(c.resources.primitives[1].flap_damping, (FlapDamping{2, 1h}));
  EXPECT_FALSE(c.resources.primitives[2].failback);
  // Defaults: no failback (the scores decide), damping on at 6 moves within 1h.
  auto d = parse_config(kHead, "c.yaml");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->config.failback);
  EXPECT_EQ(d->config.flap_damping, (FlapDamping{6, 1h}));
}

TEST(ResourceConfig, BadFailbackAndFlapDampingNameTheLineAndField) {
  const std::string prim = "resources:\n  - id: a\n    type: exec:/bin/true\n    meta: ";
  EXPECT_EQ(errors(prim + "{failback: later}\n"),
            "c.yaml:11:22: resources[0].meta.failback: must be never, immediate or {after: "
            "DURATION}, got 'later'\n");
  EXPECT_EQ(errors(prim + "{failback: {after: 5}}\n"),
            "c.yaml:11:30: resources[0].meta.failback.after: '5' has no unit: write e.g. 5ms or "
            "5s\n");
  EXPECT_NE(errors(prim + "{failback: {after: 0s}}\n").find("must be longer than zero"),
            std::string::npos);
  EXPECT_NE(errors(prim + "{failback: {afterr: 5m}}\n").find("failback.afterr"), std::string::npos);
  EXPECT_NE(errors(prim + "{flap_damping: {moves: 0}}\n").find("flap_damping.moves"),
            std::string::npos);
  EXPECT_NE(errors(prim + "{flap_damping: sometimes}\n")
                .find("must be off or {moves: N, within: DURATION}"),
            std::string::npos);
  // A group moves as one: its members must agree.
  EXPECT_NE(errors(R"(resources:
  - id: a
    type: exec:/bin/true
    meta: {failback: never}
  - id: b
    type: exec:/bin/true
    meta: {failback: immediate}
groups:
  - id: g
    members: [a, b]
)")
                .find("groups[0].members: members of a group move together: 'a' has failback "
                      "never and 'b' immediate"),
            std::string::npos);
}

const std::string kPreferN1 = "    - {resource: web, node: n1, score: 100}\n";

// Location constraints whose nodes come from a rule on node attributes (docs/scheduler.md,
// "Location rules"), with a score or score_attribute and a role, as Pacemaker's rule has.
TEST(ResourceConfig, LocationRules) {
  const std::string yaml =
      replace(kWeb, kPreferN1,
              "    - {resource: web, rule: \"not_defined pingd or pingd lte 0\", score: -inf}\n"
              "    - resource: db-clone\n"
              "      rule: not_defined pgsql-data-status or pgsql-data-status ne LATEST\n"
              "      score: -inf\n"
              "      role: promoted\n"
              "    - {resource: web, rule: defined cpu_mips, score_attribute: cpu_mips}\n");
  auto r = parse_config(kHead + yaml, "c.yaml");
  ASSERT_TRUE(r) << errors(yaml);
  const auto& locs = r->config.resources.locations;
  ASSERT_EQ(locs.size(), 4u);
  EXPECT_TRUE(locs[0].node.empty());
  ASSERT_TRUE(locs[0].rule);
  EXPECT_EQ(locs[0].rule->text, "not_defined pingd or pingd lte 0");
  EXPECT_EQ(locs[0].score, -1'000'000);
  ASSERT_TRUE(locs[1].rule);
  EXPECT_EQ(locs[1].rule->text, "not_defined pgsql-data-status or pgsql-data-status ne LATEST");
  EXPECT_EQ(locs[1].role, RoleFilter::kPromoted);
  EXPECT_EQ(locs[2].score_attribute, "cpu_mips");
  EXPECT_EQ(locs[3].node, "n3");
  EXPECT_FALSE(locs[3].rule);
}

std::string with_location(const std::string& location) {
  return errors(replace(kWeb, kPreferN1, "    - " + location + "\n"));
}

TEST(ResourceConfig, LocationRuleErrorsNameFileLineFieldAndCharacter) {
  // One error, at the rule's own line and column, naming the character in the rule.
  EXPECT_EQ(with_location("{resource: web, rule: \"pingd lte\", score: -inf}"),
            "c.yaml:33:29: constraints.location[0].rule: rule 'pingd lte': at character 10: "
            "expected a value to compare pingd with after 'lte', got the end of the rule\n");
  EXPECT_NE(with_location("{resource: web, rule: \"a eq 1 and b eq 2 or c eq 3\", score: 1}")
                .find("constraints.location[0].rule: rule 'a eq 1 and b eq 2 or c eq 3': at "
                      "character 19: 'or' follows 'and' (character 8) without parentheses"),
            std::string::npos);
  EXPECT_EQ(with_location("{resource: web, node: n1, rule: \"pingd lte 0\", score: -inf}"),
            "c.yaml:33:39: constraints.location[0].rule: a location has a node or a rule, not "
            "both\n");
  EXPECT_EQ(with_location("{resource: web, score: -inf}"),
            "c.yaml:33:7: constraints.location[0].node: required key 'node' (or 'rule') is "
            "missing\n");
  EXPECT_NE(with_location("{resource: web, rule: defined pingd}")
                .find("constraints.location[0].score: required key 'score' is missing"),
            std::string::npos);
  EXPECT_NE(with_location("{resource: web, node: n1, score_attribute: pingd}")
                .find("constraints.location[0].score_attribute: score_attribute goes with a rule "
                      "(with a node, give score)"),
            std::string::npos);
  EXPECT_NE(with_location("{resource: web, rule: defined p, score: 1, score_attribute: p}")
                .find("constraints.location[0].score: give score or score_attribute, not both"),
            std::string::npos);
  EXPECT_NE(with_location("{resource: web, rule: defined p, score_attribute: \"#uname\"}")
                .find("constraints.location[0].score_attribute: a built-in attribute is not a "
                      "score"),
            std::string::npos);
  EXPECT_NE(with_location("{resource: web, rule: \"#uname eq n4 or #uname eq n2\", score: 1}")
                .find("constraints.location[0].rule: rule '#uname eq n4 or #uname eq n2': no "
                      "node is called 'n4'"),
            std::string::npos);
  EXPECT_EQ(with_location("{resource: web, rule: \"#uname eq N2 or #uname ne n3\", score: 1}"), "");
  EXPECT_NE(with_location("{resource: web, rule: defined p, score: 1, role: promoted}")
                .find("constraints.location[0].role: the roles promoted and unpromoted exist "
                      "only for promotable clones"),
            std::string::npos);
}

}  // namespace
}  // namespace hactl

namespace hactl {
namespace {

// The loader indexes the resources; lookups through the index find what a scan finds, and an
// index made stale by later changes falls back to a scan instead of answering wrong.
TEST(ResourceConfigIndex, LookupsAgreeWithAScanAndSurviveChanges) {
  auto r = parse_config(kHead + kWeb, "c.yaml");
  ASSERT_TRUE(r) << r.error().front().to_string();
  ResourceConfig rc = r->config.resources;  // a copy keeps a valid index (positions, not pointers)
  ASSERT_NE(rc.primitive("web-app"), nullptr);
  EXPECT_EQ(rc.primitive("web-app")->id, "web-app");
  EXPECT_EQ(rc.primitive("web"), nullptr);
  EXPECT_EQ(rc.group("web")->id, "web");
  EXPECT_EQ(rc.clone("db-clone")->child, "db");
  EXPECT_EQ(rc.clone_of("db")->id, "db-clone");
  EXPECT_EQ(rc.clone_of("web-app"), nullptr);
  EXPECT_TRUE(rc.exists("web") && rc.exists("db-clone") && !rc.exists("nope"));

  // Added after indexing: found by a scan.
  PrimitiveConfig extra;
  extra.id = "extra";
  rc.primitives.push_back(extra);
  ASSERT_NE(rc.primitive("extra"), nullptr);
  EXPECT_EQ(rc.primitive("web-app")->id, "web-app");
  // Reordered after indexing (same size): a hit is checked, so still right.
  std::swap(rc.primitives.front(), rc.primitives.back());
  EXPECT_EQ(rc.primitive("web-ip")->id, "web-ip");
  EXPECT_EQ(rc.primitive("extra")->id, "extra");
  rc.build_index();
  EXPECT_EQ(rc.primitive("extra"), &rc.primitives.front());
  // A cloned group's members belong to the clone.
  rc.clones.push_back(CloneConfig{.id = "web-clone", .child = "web"});
  rc.build_index();
  EXPECT_EQ(rc.clone_of("web-ip")->id, "web-clone");
}

}  // namespace
}  // namespace hactl
