// hactl-crm's Pacemaker tools (cli/crm_compat/) run with the command lines Debian's resource
// agents use (resource-agents 4.12 in /usr/lib/ocf/resource.d/heartbeat/, and ocf-shellfuncs):
// the request each builds, and what each prints from a canned reply, through the same run()
// the binary calls, with the socket replaced.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "cli/crm_compat/options.hpp"
#include "cli/crm_compat/run.hpp"

namespace hactl::crm {
namespace {

using nlohmann::json;

struct Call {
  json request;
  int timeout_ms = 0;
};

struct Harness {
  json reply = json::object();
  bool reachable = true;
  std::vector<Call> calls;

  Output run(Program p, std::vector<std::string> args, std::string instance = "") {
    const Ask ask = [this](const json& request,
                           int timeout_ms) -> std::expected<json, std::string> {
      calls.push_back({request, timeout_ms});
      if (!reachable)
        return std::unexpected("cannot reach the agent at /run/hactl/hactl.sock: refused");
      return reply;
    };
    return crm::run(p, args, Env{std::move(instance)}, ask);
  }
};

// Three data nodes and a witness; a group, a promotable clone, a stopped primitive.
json status_reply() {
  return json::parse(R"json({
    "node": "n1", "coordinator": "n1", "quorum": true,
    "document": {"config_version": 7},
    "nodes": [
      {"name": "n1", "state": "online", "self": true, "coordinator": true, "witness": false},
      {"name": "n2", "state": "standby", "self": false, "coordinator": false, "witness": false},
      {"name": "w", "state": "online", "self": false, "coordinator": false, "witness": true},
      {"name": "n3", "state": "offline", "self": false, "coordinator": false, "witness": false,
       "fencing": {"stage": "pending"}}],
    "resources": [
      {"id": "web-ip", "top": "web", "type": "vip", "nodes": ["n1"], "role": "started",
       "state": "started", "instances": [{"node": "n1", "role": "started"}]},
      {"id": "web-app", "top": "web", "type": "ocf:heartbeat:Dummy", "nodes": ["n1"],
       "role": "started", "state": "started", "instances": [{"node": "n1", "role": "started"}]},
      {"id": "pgsql", "top": "pgsql-ha", "type": "ocf:heartbeat:pgsql", "nodes": ["n1", "n2"],
       "role": "promoted", "state": "promoted", "clone": "pgsql-ha", "promotable": true,
       "instances": [{"node": "n1", "role": "promoted"}, {"node": "n2", "role": "started"}]},
      {"id": "solo", "top": "solo", "type": "systemd:solo.service", "nodes": [], "role": "stopped",
       "state": "stopped", "instances": []}],
    "attributes": [
      {"node": "n1", "name": "master-pgsql", "value": "1000", "lifetime": "reboot"},
      {"node": "n2", "name": "master-pgsql", "value": "100", "lifetime": "reboot"},
      {"node": "n1", "name": "pgsql-data-status", "value": "LATEST", "lifetime": "forever"},
      {"node": "n2", "name": "odd", "value": "a\"<b>&'\n$(x)", "lifetime": "reboot"}]
  })json");
}

// grep -q -i -E PATTERN over each line, as the agents run it.
bool grep_line(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern, std::regex::icase | std::regex::extended);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, re)) return true;
  }
  return false;
}

// ---- crm_attribute ---------------------------------------------------------------------------

TEST(CrmAttribute, PgsqlQueryOfAReverseAttribute) {
  // pgsql:1651  output=`$CRM_ATTR_REBOOT -N "$1" -n "$PGSQL_STATUS_ATTR" -G -q 2>/dev/null`
  // with CRM_ATTR_REBOOT="${HA_SBIN_DIR}/crm_attribute -l reboot" (pgsql:1945)
  Harness h;
  h.reply = {{"node", "n1"}, {"name", "pgsql-status"}, {"lifetime", "reboot"}, {"value", "PRI"}};
  const auto out =
      h.run(Program::kCrmAttribute, {"-l", "reboot", "-N", "n1", "-n", "pgsql-status", "-G", "-q"});
  ASSERT_EQ(h.calls.size(), 1u);
  EXPECT_EQ(h.calls[0].request, json({{"cmd", "attribute-query"},
                                      {"node", "n1"},
                                      {"name", "pgsql-status"},
                                      {"lifetime", "reboot"}}));
  EXPECT_EQ(h.calls[0].timeout_ms, 5000);
  EXPECT_EQ(out.out, "PRI\n");
  EXPECT_EQ(out.code, 0);
}

TEST(CrmAttribute, MissingValueIsEmptyOutputAndNoSuch) {
  // pgsql tests the output for emptiness; mariadb:372 (ocf_promotion_score -G -N $node) the exit.
  Harness h;
  h.reply = {{"node", "n2"}, {"name", "master-db"}, {"lifetime", "reboot"}, {"value", nullptr}};
  auto out = h.run(Program::kCrmAttribute, {"-p", "-G", "-N", "n2"}, "db");
  EXPECT_EQ(h.calls[0].request["name"], "master-db");
  EXPECT_EQ(out.out, "");
  EXPECT_NE(out.err, "");
  EXPECT_EQ(out.code, 105);
  // -d gives the default instead.
  out = h.run(Program::kCrmAttribute, {"-n", "x", "-G", "-q", "-d", "7"});
  EXPECT_EQ(out.out, "7\n");
  EXPECT_EQ(out.code, 0);
}

TEST(CrmAttribute, PgsqlUpdatesAndDeletes) {
  Harness h;
  h.reply = {{"ok", true}, {"node", "n1"}};
  // pgsql:1663  exec_with_retry 0 $CRM_ATTR_REBOOT -N "$1" -n "$PGSQL_STATUS_ATTR" -v "$2"
  auto out = h.run(Program::kCrmAttribute,
                   {"-l", "reboot", "-N", "n1", "-n", "pgsql-status", "-v", "HS:sync"});
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-set"},
                                          {"node", "n1"},
                                          {"name", "pgsql-status"},
                                          {"value", "HS:sync"},
                                          {"lifetime", "reboot"}}));
  EXPECT_EQ(h.calls.back().timeout_ms, 10000);
  EXPECT_EQ(out.out, "");
  EXPECT_EQ(out.code, 0);
  // pgsql:1682  "$CRM_ATTR_FOREVER" -N $1 -n $PGSQL_DATA_STATUS_ATTR -v "$2"
  h.run(Program::kCrmAttribute,
        {"-l", "forever", "-N", "n1", "-n", "pgsql-data-status", "-v", "LATEST"});
  EXPECT_EQ(h.calls.back().request["lifetime"], "forever");
  // pgsql:1528  $CRM_ATTR_REBOOT -N "$NODENAME" -n "$PGSQL_XLOG_LOC_NAME" -D
  h.run(Program::kCrmAttribute, {"-l", "reboot", "-N", "n1", "-n", "pgsql-xlog-loc", "-D"});
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-delete"},
                                          {"node", "n1"},
                                          {"name", "pgsql-xlog-loc"},
                                          {"lifetime", "reboot"}}));
}

TEST(CrmAttribute, PromotionScoreFromOcfShellfuncs) {
  // ocf-shellfuncs:1055  ${HA_SBIN_DIR}/crm_attribute -p $@, from Stateful:119 (-v 5) and
  // galera:501 (-D -N $node): "-v" after "-p" is not a resource name.
  Harness h;
  h.reply = {{"ok", true}};
  h.run(Program::kCrmAttribute, {"-p", "-v", "5"}, "stateful:1");
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-set"},
                                          {"name", "master-stateful"},
                                          {"value", "5"},
                                          {"lifetime", "reboot"}}));
  h.run(Program::kCrmAttribute, {"-p", "-D", "-N", "n2"}, "galera");
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-delete"},
                                          {"node", "n2"},
                                          {"name", "master-galera"},
                                          {"lifetime", "reboot"}}));
  h.run(Program::kCrmAttribute, {"--promotion=other", "-v", "1"}, "galera");
  EXPECT_EQ(h.calls.back().request["name"], "master-other");
  h.run(Program::kCrmAttribute, {"-pother:3", "-v", "1", "-l", "forever"});
  EXPECT_EQ(h.calls.back().request["name"], "master-other");
  EXPECT_EQ(h.calls.back().request["lifetime"], "forever");
  const auto out = h.run(Program::kCrmAttribute, {"-p", "-v", "1"});
  EXPECT_EQ(out.code, 64);  // no resource at all
}

TEST(CrmAttribute, GaleraAndRedisAndMysqlLines) {
  Harness h;
  h.reply = {{"node", "n1"}, {"value", "true"}};
  // galera:340  crm_attribute -N $NODENAME -l reboot --name "${INSTANCE_ATTR_NAME}-bootstrap"
  // --quiet (no -G: a query is the default action)
  auto out = h.run(Program::kCrmAttribute,
                   {"-N", "n1", "-l", "reboot", "--name", "galera-bootstrap", "--quiet"});
  EXPECT_EQ(h.calls.back().request["cmd"], "attribute-query");
  EXPECT_EQ(out.out, "true\n");
  // redis:472  crm_attribute --node "$master_name" -l forever --name ...-tunnel-port --query -q
  h.run(Program::kCrmAttribute,
        {"--node", "n2", "-l", "forever", "--name", "redis-tunnel-port", "--query", "-q"});
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-query"},
                                          {"node", "n2"},
                                          {"name", "redis-tunnel-port"},
                                          {"lifetime", "forever"}}));
  // mysql:739  $CRM_ATTR -l forever -n ${INSTANCE_ATTR_NAME}_mysql_master_IP -q -G: local node
  h.run(Program::kCrmAttribute, {"-l", "forever", "-n", "mysql_mysql_master_IP", "-q", "-G"});
  EXPECT_FALSE(h.calls.back().request.contains("node"));
  // Pacemaker's default lifetime for a node attribute is forever.
  h.run(Program::kCrmAttribute, {"-n", "x", "-G"});
  EXPECT_EQ(h.calls.back().request["lifetime"], "forever");
  // Xen:518  crm_attribute --type nodes --node $target_node -n $target_attr -G -q
  h.run(Program::kCrmAttribute, {"--type", "nodes", "--node", "n2", "-n", "a", "-G", "-q"});
  EXPECT_EQ(h.calls.back().request["lifetime"], "forever");
  h.run(Program::kCrmAttribute, {"-t", "status", "--name=b", "-lreboot", "-Gq"});
  EXPECT_EQ(h.calls.back().request["lifetime"], "reboot");
  EXPECT_EQ(h.calls.back().request["name"], "b");
}

TEST(CrmAttribute, LongOutputNamesTheScope) {
  Harness h;
  h.reply = {{"node", "n1"}, {"value", "1000"}};
  auto out =
      h.run(Program::kCrmAttribute, {"-N", "n1", "-n", "master-pgsql", "-l", "reboot", "-G"});
  EXPECT_EQ(out.out, "scope=status  name=master-pgsql value=1000\n");
  out = h.run(Program::kCrmAttribute, {"-N", "n1", "-n", "a", "-l", "forever", "-G"});
  EXPECT_EQ(out.out, "scope=nodes  name=a value=1000\n");
}

TEST(CrmAttribute, ClusterPropertiesOfRedis) {
  Harness h;
  // redis:236,299  crm_attribute --type crm_config --name ..._REPL_INFO -s redis_replication
  // -v "$1" -q: a cluster property, of no node and no lifetime.
  auto out = h.run(Program::kCrmAttribute, {"--type", "crm_config", "--name", "redis_REPL_INFO",
                                            "-s", "redis_replication", "-v", "n1", "-q"});
  EXPECT_EQ(out.code, 0) << out.err;
  ASSERT_EQ(h.calls.size(), 1u);
  const json& set = h.calls.back().request;
  EXPECT_EQ(set["cmd"], "attribute-set");
  EXPECT_EQ(set["scope"], "cluster");
  EXPECT_EQ(set["name"], "redis_REPL_INFO");
  EXPECT_EQ(set["value"], "n1");
  EXPECT_FALSE(set.contains("node"));
  EXPECT_FALSE(set.contains("lifetime"));
  // redis:305  ${CRM_ATTR_REPL_INFO} --query -q
  h.reply = {{"scope", "cluster"}, {"name", "redis_REPL_INFO"}, {"value", "n1"}};
  out = h.run(Program::kCrmAttribute, {"--type", "crm_config", "--name", "redis_REPL_INFO", "-s",
                                       "redis_replication", "--query", "-q"});
  EXPECT_EQ(out.out, "n1\n");
  EXPECT_EQ(h.calls.back().request["cmd"], "attribute-query");
  out = h.run(Program::kCrmAttribute, {"-t", "crm_config", "-n", "redis_REPL_INFO", "-G"});
  EXPECT_EQ(out.out, "scope=crm_config  name=redis_REPL_INFO value=n1\n");
  h.reply = {{"scope", "cluster"}, {"name", "gone"}, {"value", nullptr}};
  out = h.run(Program::kCrmAttribute, {"-t", "crm_config", "-n", "gone", "-G", "-q"});
  EXPECT_EQ(out.code, 105);
  EXPECT_NE(out.err.find("gone is not set as a cluster property"), std::string::npos) << out.err;
  // A cluster property has no node and no reboot lifetime.
  const auto calls = h.calls.size();
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"-t", "crm_config", "-N", "n1", "-n", "a", "-v", "1"},
           {"-t", "crm_config", "-l", "reboot", "-n", "a", "-v", "1"},
           {"-t", "crm_config", "-p", "-v", "1"}}) {
    out = h.run(Program::kCrmAttribute, bad, "redis:0");
    EXPECT_EQ(out.code, 64) << out.err;
  }
  EXPECT_EQ(h.calls.size(), calls);
}

TEST(CrmAttribute, RefusesWhatHactlDoesNotKeep) {
  Harness h;
  auto out = h.run(Program::kCrmAttribute, {"--type", "rsc_defaults", "--name", "x", "-v", "1"});
  EXPECT_EQ(out.code, 3);
  EXPECT_NE(out.err.find("rsc_defaults"), std::string::npos);
  // NodeUtilization:155  crm_attribute -t nodes --node "$host_name" -z -n cpu -v $sys_cpu
  out =
      h.run(Program::kCrmAttribute, {"-t", "nodes", "--node", "n1", "-z", "-n", "cpu", "-v", "4"});
  EXPECT_EQ(out.code, 3);
  EXPECT_TRUE(h.calls.empty());
}

TEST(CrmAttribute, UsageErrors) {
  Harness h;
  auto out = h.run(Program::kCrmAttribute, {"-n", "a", "-x"});
  EXPECT_EQ(out.code, 64);
  EXPECT_NE(out.err.find("'-x'"), std::string::npos);
  EXPECT_EQ(out.err.rfind("crm_attribute: ", 0), 0u);
  out = h.run(Program::kCrmAttribute, {"-n"});
  EXPECT_EQ(out.code, 64);
  EXPECT_NE(out.err.find("needs a value"), std::string::npos);
  out = h.run(Program::kCrmAttribute, {"-G"});
  EXPECT_EQ(out.code, 64);  // no name
  out = h.run(Program::kCrmAttribute, {"-n", "a", "-l", "sometimes"});
  EXPECT_EQ(out.code, 64);
  out = h.run(Program::kCrmAttribute, {"-n", "a", "stray"});
  EXPECT_EQ(out.code, 64);
  out = h.run(Program::kCrmAttribute, {"--bogus=1"});
  EXPECT_NE(out.err.find("'--bogus'"), std::string::npos);
  out = h.run(Program::kCrmAttribute, {"-G", "--quiet=yes", "-n", "a"});
  EXPECT_EQ(out.code, 64);
  EXPECT_TRUE(h.calls.empty());
}

TEST(CrmAttribute, HostileNamesAndValuesPassThroughUnchanged) {
  Harness h;
  h.reply = {{"ok", true}};
  const std::string name = "a\"b<c>&d'e";
  const std::string huge(1 << 20, 'v');
  h.run(Program::kCrmAttribute, {"-n", name, "-v", huge, "-N", "n\"1"});
  EXPECT_EQ(h.calls.back().request["name"], name);
  EXPECT_EQ(h.calls.back().request["value"], huge);
  EXPECT_EQ(h.calls.back().request["node"], "n\"1");
  h.reply = {{"node", "n1"}, {"value", "x\ny"}};
  EXPECT_EQ(h.run(Program::kCrmAttribute, {"-n", name, "-G", "-q"}).out, "x\ny\n");
  // A value of the wrong type from the agent is shown, not a crash.
  h.reply = {{"node", "n1"}, {"value", 12}};
  EXPECT_EQ(h.run(Program::kCrmAttribute, {"-n", "a", "-G", "-q"}).out, "12\n");
}

TEST(CrmAttribute, AgentErrorsAndAnAbsentAgent) {
  Harness h;
  h.reply = {{"error", "no quorum: the attribute was not stored"}};
  auto out = h.run(Program::kCrmAttribute, {"-n", "a", "-v", "1"});
  EXPECT_EQ(out.code, 1);
  EXPECT_EQ(out.err, "crm_attribute: ERROR: no quorum: the attribute was not stored\n");
  h.reachable = false;
  out = h.run(Program::kCrmAttribute, {"-n", "a", "-G", "-q"});
  EXPECT_EQ(out.code, 69);
  EXPECT_EQ(out.out, "");
  // Xen:299 and VirtualDomain:412 grep "not connected" to tell a cluster that is down.
  EXPECT_NE(out.err.find("not connected"), std::string::npos);
}

// ---- crm_master ------------------------------------------------------------------------------

TEST(CrmMaster, AgentsLines) {
  Harness h;
  h.reply = {{"ok", true}};
  // ocf-shellfuncs:1057  ${HA_SBIN_DIR}/crm_master -l reboot $@   (pgsql:647: -v $CAN_NOT_PROMOTE)
  h.run(Program::kCrmMaster, {"-l", "reboot", "-v", "-INFINITY"}, "pgsql:0");
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-set"},
                                          {"name", "master-pgsql"},
                                          {"value", "-INFINITY"},
                                          {"lifetime", "reboot"}}));
  // conntrackd:112  ${HA_SBIN_DIR}/crm_master -Q -l reboot -v $1  (-Q: quiet)
  h.run(Program::kCrmMaster, {"-Q", "-l", "reboot", "-v", "100"}, "conntrackd");
  EXPECT_EQ(h.calls.back().request["name"], "master-conntrackd");
  // redis:313 and 420  "${HA_SBIN_DIR}/crm_master" -N "$node" -l reboot -G --quiet
  h.reply = {{"node", "n2"}, {"value", "1000"}};
  const auto out =
      h.run(Program::kCrmMaster, {"-N", "n2", "-l", "reboot", "-G", "--quiet"}, "redis");
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-query"},
                                          {"node", "n2"},
                                          {"name", "master-redis"},
                                          {"lifetime", "reboot"}}));
  EXPECT_EQ(out.out, "1000\n");
  // redis:571  crm_master -N "$node" -l reboot -D
  h.reply = {{"ok", true}};
  h.run(Program::kCrmMaster, {"-N", "n2", "-l", "reboot", "-D"}, "redis");
  EXPECT_EQ(h.calls.back().request["cmd"], "attribute-delete");
  EXPECT_EQ(h.run(Program::kCrmMaster, {"-v", "1"}).code, 64);  // not from an agent
  EXPECT_EQ(h.run(Program::kCrmMaster, {"-n", "x", "-v", "1"}, "r").code, 64);
}

// ---- attrd_updater ---------------------------------------------------------------------------

TEST(AttrdUpdater, AgentsLines) {
  Harness h;
  h.reply = {{"ok", true}};
  // pgsql:940  attrd_updater -n "$PGSQL_WAL_RECEIVER_STATUS_ATTR" -v "normal"
  h.run(Program::kAttrdUpdater, {"-n", "pgsql-receiver-status", "-v", "normal (master)"});
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-set"},
                                          {"name", "pgsql-receiver-status"},
                                          {"value", "normal (master)"},
                                          {"lifetime", "reboot"}}));
  // pgsql:811  attrd_updater -n "$PGSQL_WAL_RECEIVER_STATUS_ATTR" -D
  h.run(Program::kAttrdUpdater, {"-n", "pgsql-receiver-status", "-D"});
  EXPECT_EQ(h.calls.back().request["cmd"], "attribute-delete");
  // mariadb:305  attrd_updater -p -n ${OCF_RESOURCE_INSTANCE}-gtid -U $gtid
  h.run(Program::kAttrdUpdater, {"-p", "-n", "db-gtid", "-U", "0-1-42"});
  EXPECT_EQ(h.calls.back().request["value"], "0-1-42");
  // SysInfo:122  attrd_updater ${OCF_RESKEY_delay} -S status -n $name -v "$value"
  h.run(Program::kAttrdUpdater, {"-d", "5s", "-S", "status", "-n", "cpu_load", "-v", "0.5"});
  EXPECT_EQ(h.calls.back().request["name"], "cpu_load");
  EXPECT_EQ(h.run(Program::kAttrdUpdater, {"-n", "a"}).code, 64);  // no action
  EXPECT_EQ(h.run(Program::kAttrdUpdater, {"-U", "1"}).code, 64);  // no name
}

TEST(AttrdUpdater, QueryOutputSurvivesMariadbsEval) {
  // mariadb:317  query_result=$(attrd_updater -p -N $node -n ${OCF_RESOURCE_INSTANCE}-gtid -Q)
  // then `eval ${query_result}`: the value must come back, never run.
  Harness h;
  h.reply = {{"node", "n2"}, {"name", "db-gtid"}, {"lifetime", "reboot"}, {"value", "0-1-42"}};
  auto out = h.run(Program::kAttrdUpdater, {"-p", "-N", "n2", "-n", "db-gtid", "-Q"});
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "attribute-query"},
                                          {"node", "n2"},
                                          {"name", "db-gtid"},
                                          {"lifetime", "reboot"}}));
  EXPECT_EQ(out.out, "name=\"db-gtid\" host=\"n2\" value=\"0-1-42\"\n");
  h.reply["value"] = "x\"; $(touch /tmp/p) `id` \\";
  out = h.run(Program::kAttrdUpdater, {"-N", "n2", "-n", "db-gtid", "-Q"});
  EXPECT_EQ(out.out,
            "name=\"db-gtid\" host=\"n2\" value=\"x\\\"; \\$(touch /tmp/p) \\`id\\` \\\\\"\n");
  h.reply["value"] = nullptr;
  out = h.run(Program::kAttrdUpdater, {"-N", "n2", "-n", "db-gtid", "-Q"});
  EXPECT_EQ(out.code, 105);
  EXPECT_EQ(out.out, "");
}

TEST(AttrdUpdater, QueryOfAllNodesReadsStatus) {
  Harness h;
  h.reply = status_reply();
  const auto out = h.run(Program::kAttrdUpdater, {"-n", "master-pgsql", "-Q", "-A"});
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "status"}}));
  EXPECT_EQ(out.out,
            "name=\"master-pgsql\" host=\"n1\" value=\"1000\"\n"
            "name=\"master-pgsql\" host=\"n2\" value=\"100\"\n");
}

// ---- crm_node --------------------------------------------------------------------------------

TEST(CrmNode, AgentsLines) {
  Harness h;
  h.reply = status_reply();
  // ocf-shellfuncs:615  crm_node -n
  EXPECT_EQ(h.run(Program::kCrmNode, {"-n"}).out, "n1\n");
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "status"}}));
  // galera:459  ${HA_SBIN_DIR}/crm_node -p | wc -w   (the witness is no Pacemaker node)
  EXPECT_EQ(h.run(Program::kCrmNode, {"-p"}).out, "n1 n2\n");
  // galera:460  ${HA_SBIN_DIR}/crm_node -q
  EXPECT_EQ(h.run(Program::kCrmNode, {"-q"}).out, "1\n");
  h.reply["quorum"] = false;
  const auto out = h.run(Program::kCrmNode, {"--quorum"});
  EXPECT_EQ(out.out, "0\n");
  EXPECT_EQ(out.code, 0);
  EXPECT_EQ(h.run(Program::kCrmNode, {"-l"}).out, "1 n1 member\n2 n2 member\n4 n3 lost\n");
  EXPECT_EQ(h.run(Program::kCrmNode, {"-i"}).out, "1\n");
  EXPECT_EQ(h.run(Program::kCrmNode, {"-N", "4"}).out, "n3\n");
  EXPECT_EQ(h.run(Program::kCrmNode, {"-N", "3"}).code, 105);  // the witness
  EXPECT_EQ(h.run(Program::kCrmNode, {"--name-for-id=99"}).code, 105);
  EXPECT_EQ(h.run(Program::kCrmNode, {}).code, 64);
  EXPECT_EQ(h.run(Program::kCrmNode, {"-R", "n3"}).code, 3);
}

// ---- crm_mon ---------------------------------------------------------------------------------

TEST(CrmMon, PgsqlAndRedisGrepsMatch) {
  Harness h;
  h.reply = status_reply();
  // pgsql:2134  crm_mon -1 $XMLOPT with XMLOPT="--output-as=xml" (pgsql:2123)
  const auto out = h.run(Program::kCrmMon, {"-1", "--output-as=xml"});
  ASSERT_EQ(out.code, 0);
  const std::string& x = out.out;
  EXPECT_NE(
      x.find("<pacemaker-result api-version=\"2.25\" request=\"crm_mon -1 --output-as=xml\">"),
      std::string::npos);
  // pgsql:1043  grep -q -i -E "<resource id=\"${RESOURCE_NAME}\" .* role=\"(Promoted|Master)\""
  EXPECT_TRUE(grep_line(x, "<resource id=\"pgsql\" .* role=\"(Promoted|Master)\""));
  EXPECT_FALSE(grep_line(x, "<resource id=\"web-app\" .* role=\"(Promoted|Master)\""));
  // pgsql:1818  grep -q -i "<node name=\"$1\" .* online=\"true\""
  EXPECT_TRUE(grep_line(x, "<node name=\"n2\" .* online=\"true\""));
  EXPECT_FALSE(grep_line(x, "<node name=\"n3\" .* online=\"true\""));
  EXPECT_TRUE(grep_line(x, "<node name=\"n3\" .* online"));  // pgsql:1822
  // redis:289 (and galera:491 with .*role=)
  EXPECT_TRUE(grep_line(x,
                        "resource.*id=\"pgsql\".* role=\"(Promoted|Master)\".* active=\"true\".* "
                        "orphaned=\"false\".* failed=\"false\""));
  EXPECT_TRUE(grep_line(x, "<clone id=\"pgsql-ha\" multi_state=\"true\""));
  EXPECT_TRUE(grep_line(x, "<resource id=\"pgsql\" .* role=\"Unpromoted\" .*<node name=\"n2\"") ||
              grep_line(x, "<resource id=\"pgsql\" .* role=\"Unpromoted\""));
  EXPECT_TRUE(grep_line(x, "<group id=\"web\" number_resources=\"2\""));
  EXPECT_TRUE(grep_line(x, "<resource id=\"solo\" .* role=\"Stopped\" active=\"false\""));
  EXPECT_TRUE(grep_line(x, "<current_dc present=\"true\" version=\"2.1.5\" name=\"n1\" id=\"1\""));
  EXPECT_TRUE(grep_line(x, "<nodes_configured number=\"3\"/>"));
  EXPECT_TRUE(grep_line(x,
                        "<node name=\"n1\" id=\"1\" online=\"true\" standby=\"false\" "
                        "standby_onfail=\"false\" maintenance=\"false\" pending=\"false\" "
                        "unclean=\"false\" shutdown=\"false\" expected_up=\"true\" "
                        "is_dc=\"true\" resources_running=\"3\" type=\"member\"/>"));
  EXPECT_TRUE(grep_line(x, "<node name=\"n2\" .* standby=\"true\""));
  EXPECT_TRUE(grep_line(x, "<node name=\"n3\" .* unclean=\"true\""));
  EXPECT_FALSE(grep_line(x, "name=\"w\""));
  EXPECT_TRUE(grep_line(x, "<attribute name=\"master-pgsql\" value=\"1000\"/>"));
  EXPECT_TRUE(grep_line(x, "<status code=\"0\" message=\"OK\"/>"));
}

TEST(CrmMon, EveryStringIsEscaped) {
  Harness h;
  h.reply = status_reply();
  h.reply["resources"][3]["id"] = "s<o>&\"lo";
  h.reply["resources"][3]["top"] = "s<o>&\"lo";
  const auto out = h.run(Program::kCrmMon, {"-1", "-X", "--bad\"<"});
  EXPECT_EQ(out.code, 64);  // an unknown option, before anything is asked
  const auto x = h.run(Program::kCrmMon, {"-1X"}).out;
  EXPECT_NE(x.find("<resource id=\"s&lt;o&gt;&amp;&quot;lo\""), std::string::npos);
  EXPECT_NE(x.find("value=\"a&quot;&lt;b&gt;&amp;&apos;&#10;$(x)\""), std::string::npos);
  // Nothing unescaped: every '<' opens a tag of ours, every '&' an entity.
  EXPECT_EQ(x.find("<o>"), std::string::npos);
  for (auto at = x.find('&'); at != std::string::npos; at = x.find('&', at + 1)) {
    const std::string rest = x.substr(at, 7);
    EXPECT_TRUE(std::regex_search(rest, std::regex("^&(amp|lt|gt|quot|apos|#[0-9]+);"))) << rest;
  }
  // The request line is escaped too.
  h.run(Program::kCrmMon, {"--as-xml", "-r"});
  const auto y = h.run(Program::kCrmMon, {"--output-as", "xml", "-A", "-f", "-n"}).out;
  EXPECT_NE(y.find("request=\"crm_mon --output-as xml -A -f -n\""), std::string::npos);
}

TEST(CrmMon, TextSummaryWithoutXml) {
  Harness h;
  h.reply = status_reply();
  const auto out = h.run(Program::kCrmMon, {"-1"});
  EXPECT_NE(out.out.find("Current DC: n1 - partition with quorum"), std::string::npos);
  EXPECT_NE(out.out.find("Online: [ n1 n2 ]"), std::string::npos);
  EXPECT_NE(out.out.find("OFFLINE: [ n3 ]"), std::string::npos);
  EXPECT_NE(out.out.find("pgsql\t(ocf:heartbeat:pgsql):\t Promoted n1 Unpromoted n2"),
            std::string::npos);
  EXPECT_EQ(h.run(Program::kCrmMon, {"--output-as=html"}).code, 64);
}

TEST(CrmMon, OlderAgentsWithoutInstancesOrCloneFields) {
  Harness h;
  h.reply = status_reply();
  for (auto& r : h.reply["resources"]) {
    r.erase("instances");
    r.erase("clone");
    r.erase("promotable");
  }
  const auto x = h.run(Program::kCrmMon, {"-1", "--output-as=xml"}).out;
  // A promoted role under another top: still the clone's.
  EXPECT_TRUE(grep_line(x, "<clone id=\"pgsql-ha\" multi_state=\"true\""));
  EXPECT_TRUE(grep_line(x, "<resource id=\"web-ip\" .* role=\"Started\""));
}

// ---- cibadmin --------------------------------------------------------------------------------

TEST(Cibadmin, QueryGivesAMinimalCib) {
  Harness h;
  h.reply = status_reply();
  // ocf-shellfuncs:697  ${HA_SBIN_DIR}/cibadmin -Q | sed 's/validate-with="[^"]*"/.../'
  auto out = h.run(Program::kCibadmin, {"-Q"});
  ASSERT_EQ(out.code, 0);
  const std::string& x = out.out;
  EXPECT_EQ(x.rfind("<cib crm_feature_set=\"3.16.2\" validate-with=\"pacemaker-3.9\" epoch=\"7\" "
                    "num_updates=\"0\" admin_epoch=\"0\" have-quorum=\"1\" dc-uuid=\"1\">\n",
                    0),
            0u);
  EXPECT_NE(
      x.find(
          "<nvpair id=\"nodes-1-pgsql-data-status\" name=\"pgsql-data-status\" value=\"LATEST\"/>"),
      std::string::npos);
  EXPECT_NE(x.find("<node_state id=\"4\" uname=\"n3\" in_ccm=\"false\" crmd=\"offline\""),
            std::string::npos);
  EXPECT_NE(x.find("<transient_attributes id=\"1\">"), std::string::npos);
  EXPECT_NE(x.find("<nvpair id=\"status-1-master-pgsql\" name=\"master-pgsql\" value=\"1000\"/>"),
            std::string::npos);
  EXPECT_NE(x.find("</cib>\n"), std::string::npos);
  out = h.run(Program::kCibadmin, {"-Q", "-l", "-o", "nodes"});
  EXPECT_EQ(out.out.rfind("<nodes>\n", 0), 0u);
  EXPECT_EQ(h.run(Program::kCibadmin, {"--query", "--scope=resources"}).out, "<resources/>\n");
  EXPECT_EQ(h.run(Program::kCibadmin, {"-Q", "-o", "bogus"}).code, 105);
}

TEST(Cibadmin, WritesAreRefused) {
  Harness h;
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"-C", "-o", "resources", "-X", "<primitive/>"},
                                             {"-M", "-X", "<x/>"},
                                             {"-R", "-x", "f"},
                                             {"-D", "-X", "<x/>"},
                                             {"-E"},
                                             {"-B"},
                                             {"--replace"}}) {
    const auto out = h.run(Program::kCibadmin, args);
    EXPECT_EQ(out.code, 3) << args[0];
    EXPECT_NE(out.err.find("read-only"), std::string::npos) << args[0];
  }
  EXPECT_EQ(h.run(Program::kCibadmin, {}).code, 64);
  EXPECT_TRUE(h.calls.empty());
}

// ---- crm_resource ----------------------------------------------------------------------------

TEST(CrmResource, PgsqlBan) {
  // pgsql:1122  exec_with_retry 0 $CRM_RESOURCE -B -r $OCF_RESOURCE_INSTANCE -N $NODENAME -Q
  Harness h;
  h.reply = {{"ok", true}, {"changed", true}};
  const auto out = h.run(Program::kCrmResource, {"-B", "-r", "pgsql", "-N", "n2", "-Q"});
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "resource-ban"},
                                          {"resource", "pgsql"},
                                          {"node", "n2"},
                                          {"lifetime_s", -1},
                                          {"dry_run", false}}));
  EXPECT_EQ(h.calls.back().timeout_ms, 10000);
  EXPECT_EQ(out.out, "");
  EXPECT_EQ(out.code, 0);
  EXPECT_EQ(h.run(Program::kCrmResource, {"--ban", "--resource=pgsql"}).code, 64);  // no node
  h.reply = {{"error", "unknown resource 'nope'"}};
  EXPECT_EQ(h.run(Program::kCrmResource, {"-B", "-r", "nope", "-N", "n2"}).code, 1);
}

TEST(CrmResource, Locate) {
  Harness h;
  h.reply = status_reply();
  auto out = h.run(Program::kCrmResource, {"--locate", "-r", "pgsql"});
  EXPECT_EQ(out.out,
            "resource pgsql is running on: n1 Promoted\nresource pgsql is running on: n2\n");
  EXPECT_EQ(h.run(Program::kCrmResource, {"-W", "-r", "pgsql-ha"}).out,
            "resource pgsql-ha is running on: n1 Promoted\nresource pgsql-ha is running on: n2\n");
  EXPECT_EQ(h.run(Program::kCrmResource, {"-W", "-r", "web"}).out,
            "resource web is running on: n1\n");
  EXPECT_EQ(h.run(Program::kCrmResource, {"-W", "-Q", "-r", "web-ip"}).out, "n1\n");
  EXPECT_EQ(h.run(Program::kCrmResource, {"-W", "-r", "solo"}).out,
            "resource solo is NOT running\n");
  EXPECT_EQ(h.run(Program::kCrmResource, {"-W", "-r", "nope"}).code, 105);
}

TEST(CrmResource, GetParameter) {
  Harness h;
  h.reply = {{"text",
              "resources:\n  - id: pgsql\n    type: ocf:heartbeat:pgsql\n    params: {pgdata: "
              "/var/lib/pg, rep_mode: sync}\n"
              "    meta: {stickiness: 200}\nclones:\n  - id: pgsql-ha\n    resource: pgsql\n"}};
  auto out = h.run(Program::kCrmResource, {"-r", "pgsql", "--get-parameter", "rep_mode"});
  EXPECT_EQ(h.calls.back().request, json({{"cmd", "config-show"}}));
  EXPECT_EQ(out.out, "sync\n");
  EXPECT_EQ(h.run(Program::kCrmResource, {"-r", "pgsql", "-g", "stickiness", "--meta"}).out,
            "200\n");
  EXPECT_EQ(h.run(Program::kCrmResource, {"-r", "pgsql", "-g", "nope"}).code, 105);
  EXPECT_EQ(h.run(Program::kCrmResource, {"-r", "other", "-g", "pgdata"}).code, 105);
  h.reply = {{"text", "resources: [unclosed"}};
  EXPECT_EQ(h.run(Program::kCrmResource, {"-r", "pgsql", "-g", "x"}).code, 1);
}

TEST(CrmResource, RefusesTheRest) {
  Harness h;
  // VirtualDomain:420  crm_resource -r $OCF_RESOURCE_INSTANCE -z -p $attr -v $val
  EXPECT_EQ(h.run(Program::kCrmResource, {"-r", "vm", "-z", "-p", "cpu", "-v", "2"}).code, 3);
  // azure-events:335  crm_resource --list-operations -N node
  EXPECT_EQ(h.run(Program::kCrmResource, {"--list-operations", "-N", "n1"}).code, 3);
  EXPECT_EQ(h.run(Program::kCrmResource, {"--cleanup", "-r", "x"}).code, 3);
  EXPECT_EQ(h.run(Program::kCrmResource, {"-r", "x"}).code, 64);
  EXPECT_TRUE(h.calls.empty());
}

// ---- pacemakerd ------------------------------------------------------------------------------

TEST(Pacemakerd, VersionForOcfLocalNodename) {
  // ocf-shellfuncs:609  pacemakerd -$ | grep "Pacemaker .*" | awk '{ print $2 }': one line, 2.1.5
  Harness h;
  const auto out = h.run(Program::kPacemakerd, {"-$"});
  EXPECT_EQ(out.code, 0);
  EXPECT_TRUE(h.calls.empty());
  std::istringstream in(out.out);
  std::vector<std::string> matching;
  for (std::string line; std::getline(in, line);) {
    if (line.find("Pacemaker ") != std::string::npos) matching.push_back(line);
  }
  ASSERT_EQ(matching.size(), 1u);
  EXPECT_EQ(matching[0], "Pacemaker 2.1.5");
  EXPECT_NE(out.out.find("hactl"), std::string::npos);
  EXPECT_EQ(h.run(Program::kPacemakerd, {"--version"}).code, 0);
  const auto daemon = h.run(Program::kPacemakerd, {});
  EXPECT_EQ(daemon.code, 3);
  EXPECT_NE(daemon.err.find("hactl does not run Pacemaker"), std::string::npos);
  EXPECT_EQ(h.run(Program::kPacemakerd, {"-f"}).code, 3);
}

// ---- the rest --------------------------------------------------------------------------------

TEST(CrmCompat, ProgramByArgv0) {
  Harness h;
  h.reply = status_reply();
  const Ask ask = [&](const json&, int) -> std::expected<json, std::string> { return h.reply; };
  const std::vector<std::string> args{"-n"};
  EXPECT_EQ(run_as("/usr/lib/hactl/bin/crm_node", args, {}, ask).out, "n1\n");
  EXPECT_EQ(run_as("crm_node", args, {}, ask).out, "n1\n");
  EXPECT_EQ(run_as("/usr/lib/hactl/bin/hactl-crm", args, {}, ask).code, 64);
  EXPECT_EQ(run_as("", args, {}, ask).code, 64);
}

TEST(CrmCompat, HelpGoesToStdout) {
  Harness h;
  const auto out = h.run(Program::kCrmAttribute, {"--help"});
  EXPECT_EQ(out.code, 0);
  EXPECT_NE(out.out.find("crm_attribute"), std::string::npos);
}

TEST(CrmCompat, MalformedStatusIsAnError) {
  Harness h;
  h.reply = {{"nodes", "not a list"}};
  EXPECT_EQ(h.run(Program::kCrmNode, {"-n"}).code, 1);
  h.reply = json::array();
  EXPECT_EQ(h.run(Program::kCrmMon, {"-1"}).code, 1);
  h.reply = {{"node", 5}, {"nodes", json::array()}};
  EXPECT_EQ(h.run(Program::kCibadmin, {"-Q"}).code, 1);
}

TEST(ScanOptions, BundlesValuesAndTheEnd) {
  const std::array specs{OptionSpec{'1', "one-shot", ArgKind::kNone, "one"},
                         OptionSpec{'X', "", ArgKind::kNone, "x"},
                         OptionSpec{'l', "lifetime", ArgKind::kRequired, "l"},
                         OptionSpec{'p', "promotion", ArgKind::kOptional, "p"}};
  const std::vector<std::string> args{"-1X", "-lreboot", "-p", "--promotion=r", "-pq", "--", "-l"};
  const auto s = scan_options(args, specs);
  ASSERT_TRUE(s.has_value());
  ASSERT_EQ(s->options.size(), 6u);
  EXPECT_EQ(s->options[2].value, "reboot");
  EXPECT_FALSE(s->options[3].value.has_value());
  EXPECT_EQ(s->options[4].value, "r");
  EXPECT_EQ(s->options[5].value, "q");
  EXPECT_EQ(s->operands, std::vector<std::string>{"-l"});
  const std::vector<std::string> bad{"-l"};
  EXPECT_FALSE(scan_options(bad, specs).has_value());
  const std::vector<std::string> control{std::string("-\x01")};
  const auto e = scan_options(control, specs);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().find('\x01'), std::string::npos);  // shown printable
}

}  // namespace
}  // namespace hactl::crm
