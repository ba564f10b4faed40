// The built hactl-crm, run through its links in the build tree's lib/hactl/bin as an agent runs
// them, against a fake hactl-agent: a thread serving a Unix socket in a temporary directory that
// answers each request line with a canned reply and records what it was asked.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/unit/skip.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class FakeAgent {
 public:
  explicit FakeAgent(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0) {
      throw std::runtime_error("cannot listen on " + path.string());
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeAgent() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::vector<json> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  json answer(const json& request) {
    const std::string cmd = request.value("cmd", "");
    if (cmd == "attribute-query") {
      return {{"node", request.value("node", "n1")}, {"name", request["name"]}, {"value", "1000"}};
    }
    if (cmd == "attribute-set" || cmd == "attribute-delete" || cmd == "resource-ban")
      return {{"ok", true}};
    if (cmd == "status") {
      return json::parse(R"json({"node": "n1", "coordinator": "n1", "quorum": true,
        "nodes": [{"name": "n1", "state": "online", "self": true, "coordinator": true},
                  {"name": "n2", "state": "offline"}],
        "resources": [{"id": "pgsql", "top": "pgsql-ha", "type": "ocf:heartbeat:pgsql",
                       "nodes": ["n1"], "role": "promoted", "state": "promoted",
                       "clone": "pgsql-ha", "promotable": true,
                       "instances": [{"node": "n1", "role": "promoted"}]}],
        "attributes": [{"node": "n1", "name": "a<&\"", "value": "v", "lifetime": "reboot"}]})json");
    }
    return {{"error", "unknown command " + cmd}};
  }

  void serve_one(int c) {
    std::string line;
    char buf[4096];
    while (line.find('\n') == std::string::npos) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      line.append(buf, static_cast<std::size_t>(n));
    }
    const json request = json::parse(line.substr(0, line.find('\n')));
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
    }
    const std::string reply = answer(request).dump() + "\n";
    (void)!::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
  }

  void serve() {
    while (!stop_) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve_one(c);
      ::close(c);
    }
  }

  fs::path path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> requests_;
};

struct Result {
  std::string out;
  std::string err;
  int code = -1;
};

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class CrmBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hactl-crm-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    agent_ = std::make_unique<FakeAgent>(dir_ / "hactl.sock");
  }
  void TearDown() override {
    agent_.reset();
    fs::remove_all(dir_);
  }

  // Runs TOOL from lib/hactl/bin through sh, as an agent's $(...) does.
  Result run(const std::string& tool, const std::vector<std::string>& args,
             const std::string& socket = "") {
    std::string cmd =
        "HACTL_SOCKET=" + quoted(socket.empty() ? (dir_ / "hactl.sock").string() : socket) +
        " OCF_RESOURCE_INSTANCE=pgsql:0 " + quoted(std::string(HACTL_CRM_LINK_DIR) + "/" + tool);
    for (const auto& a : args) cmd += " " + quoted(a);
    cmd += " >" + quoted((dir_ / "out").string()) + " 2>" + quoted((dir_ / "err").string());
    const int status = std::system(cmd.c_str());
    return {slurp(dir_ / "out"), slurp(dir_ / "err"), WIFEXITED(status) ? WEXITSTATUS(status) : -1};
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
  }

  fs::path dir_;
  std::unique_ptr<FakeAgent> agent_;
};

TEST_F(CrmBinary, EveryLinkAnswers) {
  if (!fs::exists(fs::path(HACTL_CRM_LINK_DIR) / "crm_attribute"))
    HACTL_SKIP("hactl-crm is not built");
  // pgsql:1695  current_score=`$CRM_ATTR_REBOOT -N "$1" -n "master-$3" -G -q 2>/dev/null`
  auto r = run("crm_attribute", {"-l", "reboot", "-N", "n2", "-n", "master-pgsql", "-G", "-q"});
  EXPECT_EQ(r.out, "1000\n");
  EXPECT_EQ(r.code, 0);
  // ocf-shellfuncs:1057  crm_master -l reboot -v 100, with OCF_RESOURCE_INSTANCE=pgsql:0
  r = run("crm_master", {"-l", "reboot", "-v", "100"});
  EXPECT_EQ(r.code, 0);
  auto asked = agent_->requests();
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[1], json({{"cmd", "attribute-set"},
                            {"name", "master-pgsql"},
                            {"value", "100"},
                            {"lifetime", "reboot"}}));
  EXPECT_EQ(run("attrd_updater", {"-n", "x", "-Q"}).out, "name=\"x\" host=\"n1\" value=\"1000\"\n");
  EXPECT_EQ(run("crm_node", {"-n"}).out, "n1\n");
  EXPECT_EQ(run("crm_node", {"-p"}).out, "n1\n");
  r = run("crm_mon", {"-1", "--output-as=xml"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("role=\"Promoted\""), std::string::npos);
  EXPECT_NE(r.out.find("<attribute name=\"a&lt;&amp;&quot;\" value=\"v\"/>"), std::string::npos);
  EXPECT_EQ(run("cibadmin", {"-Q"}).out.rfind("<cib ", 0), 0u);
  EXPECT_EQ(run("cibadmin", {"-E"}).code, 3);
  EXPECT_EQ(run("crm_resource", {"-B", "-r", "pgsql", "-N", "n2", "-Q"}).code, 0);
  EXPECT_EQ(agent_->requests().back(), json({{"cmd", "resource-ban"},
                                             {"resource", "pgsql"},
                                             {"node", "n2"},
                                             {"lifetime_s", -1},
                                             {"dry_run", false}}));
  EXPECT_EQ(run("crm_resource", {"-W", "-r", "pgsql"}).out,
            "resource pgsql is running on: n1 Promoted\n");
  r = run("pacemakerd", {"-$"});
  EXPECT_EQ(r.out.substr(0, 16), "Pacemaker 2.1.5\n");
  // ocf-shellfuncs:609, the pipeline itself: the version it compares with 1.1.8.
  const std::string pipeline =
      "PATH=" + quoted(std::string(HACTL_CRM_LINK_DIR)) +
      ":\"$PATH\" pacemakerd -$ | grep \"Pacemaker .*\" | awk '{ print $2 }' >" +
      quoted((dir_ / "version").string());
  ASSERT_EQ(std::system(pipeline.c_str()), 0);
  EXPECT_EQ(slurp(dir_ / "version"), "2.1.5\n");
  EXPECT_EQ(run("hactl-crm", {}).code, 64);
}

TEST_F(CrmBinary, UnderTheGuardNothingWaitsOnTheAgent) {
  if (!fs::exists(fs::path(HACTL_CRM_LINK_DIR) / "crm_master"))
    HACTL_SKIP("hactl-crm is not built");
  // The guard runs a demote or stop when its agent is stopped (SIGSTOP) or hung: a command that
  // waited on its socket would hold the stop until the agent woke. It says "not connected" (as
  // a Pacemaker without its cluster does) and exits CRM_EX_UNAVAILABLE without asking.
  const std::string cmd = "HACTL_CRM_OFFLINE='the hactl agent is silent' HACTL_SOCKET=" +
                          quoted((dir_ / "hactl.sock").string()) + " OCF_RESOURCE_INSTANCE=db:0 " +
                          quoted(std::string(HACTL_CRM_LINK_DIR) + "/crm_master") +
                          " -l reboot -v 5 2>" + quoted((dir_ / "err").string());
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 69);
  EXPECT_EQ(slurp(dir_ / "err"),
            "crm_master: not connected to the hactl agent: the hactl agent is silent\n");
  EXPECT_TRUE(agent_->requests().empty());
}

TEST_F(CrmBinary, OutputIsWellFormedXml) {
  if (!fs::exists(fs::path(HACTL_CRM_LINK_DIR) / "crm_mon")) HACTL_SKIP("hactl-crm is not built");
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0)
    HACTL_SKIP("xmllint is not installed");
  // galera:450  crm_mon_no_validation -1X | xmllint --xpath "count(//nodes/node[@type='member'])" -
  const auto mon = run("crm_mon", {"-1X"});
  std::ofstream(dir_ / "mon.xml") << mon.out;
  const auto count = std::string("xmllint --xpath \"count(//nodes/node[@type='member'])\" ") +
                     quoted((dir_ / "mon.xml").string()) + " > " +
                     quoted((dir_ / "count").string());
  ASSERT_EQ(std::system(count.c_str()), 0);
  EXPECT_EQ(slurp(dir_ / "count").substr(0, 1), "2") << "xmllint printed " << slurp(dir_ / "count");
  std::ofstream(dir_ / "cib.xml") << run("cibadmin", {"-Q"}).out;
  EXPECT_EQ(std::system(("xmllint --noout " + quoted((dir_ / "cib.xml").string())).c_str()), 0);
}

TEST_F(CrmBinary, NoAgentIsUnavailable) {
  if (!fs::exists(fs::path(HACTL_CRM_LINK_DIR) / "crm_attribute"))
    HACTL_SKIP("hactl-crm is not built");
  const auto r = run("crm_attribute", {"-n", "a", "-G", "-q"}, (dir_ / "nobody.sock").string());
  EXPECT_EQ(r.code, 69);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("crm_attribute: not connected"), std::string::npos);
}

}  // namespace
