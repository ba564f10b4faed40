// `hactl import keepalived` (cli/import_keepalived.hpp): the keepalived.conf parser (comments,
// quotes, blocks, includes, conditional lines, its bounds and its errors), the mapping onto
// hactl's configuration, and the golden cases of tests/import/keepalived/<case>/: each case's
// files and `cmdline` give expected.yaml and report.txt (HACTL_REGEN=1 rewrites them: commit only
// once the diff is understood); every expected.yaml loads through the real config loader, with
// its commented-out hooks too.
#include "cli/import_keepalived.hpp"

#include <fnmatch.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/config.hpp"
#include "common/limits.hpp"
#include "tests/unit/line_diff.hpp"

namespace hactl {
namespace {

namespace fs = std::filesystem;

// Files in memory, for includes.
class MemReader : public KaFileReader {
 public:
  std::map<std::string, std::string> files;
  std::expected<std::vector<std::string>, std::string> glob(
      const std::string& pattern) const override {
    std::vector<std::string> out;
    for (const auto& [path, text] : files) {
      if (fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0) out.push_back(path);
    }
    return out;
  }
  std::expected<std::string, std::string> read(const std::string& path,
                                               std::size_t max_bytes) const override {
    const auto it = files.find(path);
    if (it == files.end()) return std::unexpected(std::string("no such file"));
    if (it->second.size() > max_bytes) return std::unexpected(std::string("too large"));
    return it->second;
  }
};

const MemReader kNoFiles;

std::vector<KaStatement> parse_ok(const std::string& text, const std::string& id = "",
                                  const KaFileReader& reader = kNoFiles) {
  auto r = parse_keepalived("k.conf", text, id, reader);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().front());
  return r ? r->statements : std::vector<KaStatement>{};
}

std::string parse_error(const std::string& text, const std::string& id = "",
                        const KaFileReader& reader = kNoFiles) {
  auto r = parse_keepalived("k.conf", text, id, reader);
  EXPECT_FALSE(r.has_value());
  return r ? "" : r.error().front();
}

TEST(KeepalivedParser, CommentsQuotesAndBlocks) {
  const auto s = parse_ok(
      "! Configuration File\n"
      "vrrp_script chk { # a comment\n"
      "  script \"killall -0 haproxy\"   ! another\n"
      "  weight -2 reverse\n"
      "}\n"
      "vrrp_instance VI_1\n"
      "{\n"
      "  virtual_ipaddress { 10.0.0.1/24 dev eth0 }\n"
      "  notify_master \"/bin/n 'a b'\\x21\" root\n"
      "}\n");
  ASSERT_EQ(s.size(), 2U);
  EXPECT_EQ(s[0].keyword, "vrrp_script");
  EXPECT_EQ(s[0].args, std::vector<std::string>{"chk"});
  ASSERT_TRUE(s[0].has_block);
  ASSERT_EQ(s[0].block.size(), 2U);
  EXPECT_EQ(s[0].block[0].args, std::vector<std::string>{"killall -0 haproxy"});
  EXPECT_EQ(s[0].block[0].where(), "k.conf:3");
  EXPECT_EQ(s[0].block[1].args, (std::vector<std::string>{"-2", "reverse"}));
  // A brace on a line of its own opens the block of the statement before it.
  EXPECT_TRUE(s[1].has_block);
  ASSERT_EQ(s[1].block.size(), 2U);
  EXPECT_EQ(s[1].block[0].keyword, "virtual_ipaddress");
  ASSERT_EQ(s[1].block[0].block.size(), 1U);
  EXPECT_EQ(s[1].block[0].block[0].keyword, "10.0.0.1/24");
  EXPECT_EQ(s[1].block[0].block[0].args, (std::vector<std::string>{"dev", "eth0"}));
  // Quotes are removed, what is between them kept whole; escapes decoded inside them.
  EXPECT_EQ(s[1].block[1].args, (std::vector<std::string>{"/bin/n 'a b'!", "root"}));
}

TEST(KeepalivedParser, ErrorsNameFileAndLine) {
  EXPECT_EQ(parse_error("a {\n  b \"c\n}\n"),
            "k.conf:2: the quote (\") is not closed on this line");
  EXPECT_EQ(parse_error("a {\n  b {\n  }\n"),
            "k.conf:1: the block of 'a' is not closed: a '}' is missing");
  EXPECT_EQ(parse_error("a {\n}\n}\n"), "k.conf:3: '}' with no '{' open");
  EXPECT_EQ(parse_error("{\n}\n"), "k.conf:1: '{' with no keyword before it");
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "b {\n";
  EXPECT_EQ(parse_error(deep), "k.conf:17: blocks nest deeper than 16");
  EXPECT_EQ(parse_error(std::string(KaParseLimits::kMaxFileBytes + 1, '#')),
            "k.conf: larger than 1024 KiB");
}

TEST(KeepalivedParser, ConditionalLinesNeedTheConfigId) {
  const std::string text = "@lb1 priority 150\n@lb2 priority 100\n@^lb1 state BACKUP\n";
  const auto lb1 = parse_ok(text, "lb1");
  ASSERT_EQ(lb1.size(), 1U);
  EXPECT_EQ(lb1[0].args, std::vector<std::string>{"150"});
  const auto lb2 = parse_ok(text, "lb2");
  ASSERT_EQ(lb2.size(), 2U);
  EXPECT_EQ(lb2[1].keyword, "state");
  EXPECT_NE(parse_error(text).find("k.conf:1: '@lb1': a conditional line needs the host's "
                                   "config-id: give the file as --node NAME=FILE"),
            std::string::npos);
}

TEST(KeepalivedParser, ParameterSubstitutionAndSequencesAreRefused) {
  EXPECT_NE(parse_error("x 1\n$PRIO=100\n").find("k.conf:2: parameter substitution ('$PRIO=...')"),
            std::string::npos);
  EXPECT_NE(parse_error("~SEQ(N, 1, 3) a $N\n").find("k.conf:1: '~SEQ' blocks"), std::string::npos);
  // A '$' that defines nothing is kept as it is, as keepalived keeps it.
  EXPECT_EQ(parse_ok("script \"echo $HOME\"\n")[0].args, std::vector<std::string>{"echo $HOME"});
}

TEST(KeepalivedParser, IncludesAreSplicedRelativeToTheIncludingFile) {
  MemReader r;
  r.files["etc/conf.d/a.conf"] = "vrrp_script a {\n  script /a\n}\n";
  r.files["etc/conf.d/b.conf"] = "  script /b\n";
  r.files["etc/main.conf"] = "include conf.d/a.conf\nvrrp_script b {\ninclude conf.d/b.conf\n}\n";
  auto parsed = parse_keepalived("etc/main.conf", r.files["etc/main.conf"], "", r);
  ASSERT_TRUE(parsed) << parsed.error().front();
  ASSERT_EQ(parsed->statements.size(), 2U);
  EXPECT_EQ(parsed->statements[0].where(), "etc/conf.d/a.conf:1");
  ASSERT_EQ(parsed->statements[1].block.size(), 1U);
  EXPECT_EQ(parsed->statements[1].block[0].where(), "etc/conf.d/b.conf:1");
  // A pattern that matches nothing: noted for include, an error for includea.
  parsed = parse_keepalived("m.conf", "include none/*.conf\n", "", r);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->unmatched.size(), 1U);
  EXPECT_EQ(parsed->unmatched[0].where, "m.conf:1");
  EXPECT_EQ(parse_error("includea none/*.conf\n", "", r),
            "k.conf:1: includea none/*.conf: matches no file");
  // A file that includes itself stops at the depth bound.
  r.files["loop.conf"] = "include loop.conf\n";
  EXPECT_NE(parse_error("include loop.conf\n", "", r).find("includes nest deeper than 8"),
            std::string::npos);
}

TEST(KeepalivedParser, LargeInputIsOnePass) {
  std::string text;
  for (int i = 0; text.size() < KaParseLimits::kMaxFileBytes - 100; ++i) {
    text += "vrrp_script s" + std::to_string(i) + " {\n  script \"/bin/true x\" # c\n}\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const auto s = parse_ok(text);
  EXPECT_GT(s.size(), 20'000U);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds{5});
}

KaSource src(std::string path, std::string text, std::string node = "") {
  return KaSource{std::move(path), std::move(node), std::move(text)};
}

std::string pair_file(const std::string& id, int priority, const std::string& extra = "") {
  return "global_defs {\n  router_id " + id + "\n}\nvrrp_instance VI_1 {\n  interface eth0\n" +
         "  virtual_router_id 7\n  priority " + std::to_string(priority) +
         "\n  virtual_ipaddress {\n    10.0.0.7/24\n  }\n" + extra + "}\n";
}

ClusterConfig load(const KaImport& i) {
  auto loaded = parse_config(i.yaml, "<import>");
  EXPECT_TRUE(loaded.has_value()) << i.yaml;
  return loaded ? loaded->config : ClusterConfig{};
}

TEST(ImportKeepalived, PrioritiesBecomeLocationScoresAndPreemptionFailback) {
  const auto r = import_keepalived(
      {src("a.conf", pair_file("a", 150)), src("b.conf", pair_file("b", 100))}, {}, kNoFiles);
  ASSERT_TRUE(r) << r.error().front();
  const ClusterConfig c = load(*r);
  ASSERT_EQ(c.nodes.size(), 2U);
  EXPECT_EQ(c.nodes[0].name, "a");
  EXPECT_TRUE(c.two_node && c.last_resort_unsafe);
  const PrimitiveConfig* vip = c.resources.primitive("VI_1");
  ASSERT_NE(vip, nullptr);
  EXPECT_EQ(vip->cls, ResourceClass::kVip);
  EXPECT_EQ(vip->params.at("address"), "10.0.0.7/24");
  ASSERT_TRUE(vip->failback);
  EXPECT_EQ(vip->failback->mode, Failback::Mode::kImmediate);
  std::map<std::string, int> scores;
  for (const auto& l : c.resources.locations) {
    if (l.resource == "VI_1" && !l.rule) scores[l.node] = l.score;
  }
  EXPECT_EQ(scores, (std::map<std::string, int>{{"a", 150}, {"b", 100}}));
}

TEST(ImportKeepalived, NopreemptFromTheHostOfTheHighestPriority) {
  // nopreempt on the host that would take the vip back: never; with state MASTER keepalived
  // ignores it.
  auto r = import_keepalived(
      {src("a.conf", pair_file("a", 150, "  nopreempt\n")), src("b.conf", pair_file("b", 100))}, {},
      kNoFiles);
  ASSERT_TRUE(r);
  EXPECT_EQ(load(*r).resources.primitive("VI_1")->failback->mode, Failback::Mode::kNever);
  r = import_keepalived({src("a.conf", pair_file("a", 150, "  state MASTER\n  nopreempt\n")),
                         src("b.conf", pair_file("b", 100, "  preempt_delay 30\n"))},
                        {}, kNoFiles);
  ASSERT_TRUE(r);
  EXPECT_EQ(load(*r).resources.primitive("VI_1")->failback->mode, Failback::Mode::kImmediate);
  EXPECT_NE(r->report().find("nopreempt: keepalived ignores it with the initial state MASTER"),
            std::string::npos);
}

TEST(ImportKeepalived, OneFileAloneSaysWhatItAssumed) {
  const auto r =
      import_keepalived({src("keepalived.conf", pair_file("LVS_DEVEL", 100))}, {}, kNoFiles);
  ASSERT_TRUE(r);
  const ClusterConfig c = load(*r);
  ASSERT_EQ(c.nodes.size(), 2U);
  EXPECT_EQ(c.nodes[0].name, "LVS_DEVEL");
  EXPECT_EQ(c.nodes[1].name, "peer");
  EXPECT_EQ(c.nodes[1].address.host, "192.0.2.2");
  const std::string report = r->report();
  EXPECT_NE(report.find("one host's file names no peer"), std::string::npos) << report;
  EXPECT_NE(report.find("a documentation address (RFC 5737) to replace"), std::string::npos);
  // The assumed peer's address may be given.
  KaImportOptions o;
  o.addresses = {{"peer", "10.1.1.2"}, {"LVS_DEVEL", "10.1.1.1"}};
  const auto given =
      import_keepalived({src("keepalived.conf", pair_file("LVS_DEVEL", 100))}, o, kNoFiles);
  ASSERT_TRUE(given) << given.error().front();
  EXPECT_EQ(load(*given).nodes[1].address.to_string(), "10.1.1.2:5405");
}

TEST(ImportKeepalived, ThirdVoteAndNames) {
  KaImportOptions o;
  o.arbiter = "203.0.113.7";
  o.cluster_name = "web";
  o.addresses = {{"a", "10.9.0.1"}};
  auto r = import_keepalived(
      {src("x.conf", pair_file("same", 10), "a"), src("y.conf", pair_file("same", 20))}, o,
      kNoFiles);
  ASSERT_TRUE(r) << r.error().front();
  const ClusterConfig c = load(*r);
  EXPECT_EQ(c.name, "web");
  ASSERT_TRUE(c.arbiter());
  EXPECT_EQ(c.nodes[0].name, "a");
  EXPECT_EQ(c.nodes[0].address.to_string(), "10.9.0.1:5405");
  EXPECT_EQ(c.nodes[1].name, "y");  // "same" is in both files: named after its file
  o.addresses = {{"nobody", "10.9.0.1"}};
  r = import_keepalived({src("x.conf", pair_file("a", 10)), src("y.conf", pair_file("b", 20))}, o,
                        kNoFiles);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().front().find("--address nobody=10.9.0.1: no node is called 'nobody'"),
            std::string::npos);
}

TEST(ImportKeepalived, InstanceMissingOnAHostIsNeverThere) {
  const std::string other =
      "vrrp_instance VI_9 {\n  interface eth0\n  virtual_router_id 9\n  priority 50\n"
      "  dont_track_primary\n  virtual_ipaddress {\n    10.0.0.9/24\n  }\n}\n";
  const auto r =
      import_keepalived({src("a.conf", pair_file("a", 150, "  dont_track_primary\n") + other),
                         src("b.conf", pair_file("b", 100, "  dont_track_primary\n"))},
                        {}, kNoFiles);
  ASSERT_TRUE(r);
  const ClusterConfig c = load(*r);
  bool never = false;
  for (const auto& l : c.resources.locations) {
    never |= l.resource == "VI_9" && l.node == "b" && l.score == -limits::kInfinity;
  }
  EXPECT_TRUE(never) << r->yaml;
  // dont_track_primary: no interface monitor at all.
  EXPECT_TRUE(c.resources.clones.empty()) << r->yaml;
}

TEST(ImportKeepalived, BadValuesAreErrorsNamingFileLineAndField) {
  const auto r = import_keepalived(
      {src("a.conf", pair_file("a", 150,
                               "  priority 0\n  virtual_ipaddress {\n"
                               "    10.0.0.999\n  }\n")),
       src("b.conf", "vrrp_instance VI_1 {\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n")},
      {}, kNoFiles);
  ASSERT_FALSE(r);
  const std::string all = [&] {
    std::string s;
    for (const auto& e : r.error()) s += e + "\n";
    return s;
  }();
  EXPECT_NE(all.find("a.conf:11: vrrp_instance VI_1: priority: '0' is not a whole number from 1 "
                     "to 255"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("b.conf:1: vrrp_instance VI_1: virtual_router_id is missing"),
            std::string::npos)
      << all;
}

TEST(ImportKeepalived, ScriptsAndAddressesSurviveTheYaml) {
  // What a check runs is the script as keepalived read it, through YAML's quoting and back.
  const std::string script = "/bin/sh -c 'test -e /run/ok: && echo \\\"#1\\\"' ";
  const std::string extra = "  unicast_src_ip fd00::11\n  track_script {\n    chk\n  }\n";
  const std::string checks = "vrrp_script chk {\n  script \"" + script + "\"\n}\n";
  const auto r = import_keepalived({src("a.conf", checks + pair_file("a", 150, extra)),
                                    src("b.conf", checks + pair_file("b", 100))},
                                   {}, kNoFiles);
  ASSERT_TRUE(r) << r.error().front();
  const ClusterConfig c = load(*r);
  const PrimitiveConfig* check = c.resources.primitive("check-chk");
  ASSERT_NE(check, nullptr) << r->yaml;
  EXPECT_EQ(check->params.at("monitor_hook"), "/bin/sh -c 'test -e /run/ok: && echo \"#1\"' ");
  EXPECT_EQ(check->monitor.interval, std::chrono::seconds{1});
  EXPECT_EQ(c.nodes[0].address.to_string(), "[fd00::11]:5405");
  ASSERT_NE(c.resources.clone("check-chk-clone"), nullptr);
  bool colocated = false;
  for (const auto& col : c.resources.colocations) {
    colocated |=
        col.resource == "VI_1" && col.with == "check-chk-clone" && col.score == limits::kInfinity;
  }
  EXPECT_TRUE(colocated) << r->yaml;
}

// --- golden cases ---------------------------------------------------------------------------

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<fs::path> case_dirs() {
  std::vector<fs::path> out;
  const fs::path root = fs::path(HACTL_SOURCE_DIR) / "tests" / "import" / "keepalived";
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The case's command line: `cmdline` if there is one, else its .conf files in name order.
std::vector<std::string> case_args(const fs::path& dir) {
  std::vector<std::string> args;
  if (fs::exists(dir / "cmdline")) {
    std::istringstream in(slurp(dir / "cmdline"));
    for (std::string w; in >> w;) args.push_back(w);
    return args;
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".conf") args.push_back(e.path().filename().string());
  }
  std::sort(args.begin(), args.end());
  return args;
}

struct CaseOutput {
  std::string yaml;    // "" when the import failed
  std::string report;  // the command line, then the report or the errors
};

CaseOutput run_case(const fs::path& dir) {
  const auto args = case_args(dir);
  const KaDiskReader reader(dir.string());
  KaImportOptions o;
  std::vector<KaSource> sources;
  std::string line = "$ hactl import keepalived";
  for (std::size_t i = 0; i < args.size(); ++i) {
    line += " " + args[i];
    const std::string& a = args[i];
    const std::string v = i + 1 < args.size() ? args[i + 1] : "";
    const std::string name = v.substr(0, v.find('=')), value = v.substr(v.find('=') + 1);
    if (a == "--node" || a == "--address" || a == "--name" || a == "--arbiter" ||
        a == "--witness") {
      line += " " + v;
      ++i;
    }
    if (a == "--node") {
      sources.push_back(KaSource{value, name, reader.read(value, 1 << 20).value_or("")});
    } else if (a == "--address") {
      o.addresses[name] = value;
    } else if (a == "--name") {
      o.cluster_name = v;
    } else if (a == "--arbiter") {
      o.arbiter = v;
    } else if (a == "--witness") {
      o.witness = v;
    } else {
      sources.push_back(KaSource{a, "", reader.read(a, 1 << 20).value_or("")});
    }
  }
  const auto r = import_keepalived(sources, o, reader);
  if (!r) {
    std::string errors = line + "\nexit 1\n";
    for (const auto& e : r.error()) errors += e + "\n";
    return {"", errors};
  }
  return {r->yaml, line + "\n" + r->report()};
}

void check(const fs::path& file, const std::string& got, bool regen) {
  if (regen) {
    if (got.empty()) {
      fs::remove(file);
    } else {
      std::ofstream(file, std::ios::binary) << got;
    }
    return;
  }
  const std::string want = fs::exists(file) ? slurp(file) : "";
  EXPECT_TRUE(got == want) << file.string() << " differs (- expected, + got; HACTL_REGEN=1 "
                           << "rewrites it):\n"
                           << testing::line_diff(want, got);
}

TEST(ImportKeepalivedGolden, EveryCase) {
  const bool regen = std::getenv("HACTL_REGEN") != nullptr;
  const auto cases = case_dirs();
  ASSERT_GE(cases.size(), 7U);
  for (const auto& dir : cases) {
    const CaseOutput out = run_case(dir);
    check(dir / "expected.yaml", out.yaml, regen);
    check(dir / "report.txt", out.report, regen);
  }
}

// The hooks block at the end of a file, uncommented as an operator would.
std::string uncommented_hooks(const std::string& yaml) {
  const auto at = yaml.find("\n# alerts:\n");
  if (at == std::string::npos) return yaml;
  std::string out = yaml.substr(0, at + 1);
  std::istringstream in(yaml.substr(at + 1));
  for (std::string line; std::getline(in, line);) out += line.substr(2) + "\n";
  return out;
}

TEST(ImportKeepalivedGolden, EveryExpectedYamlLoads) {
  std::size_t loaded = 0, with_hooks = 0;
  for (const auto& dir : case_dirs()) {
    if (!fs::exists(dir / "expected.yaml")) continue;
    const std::string yaml = slurp(dir / "expected.yaml");
    for (const std::string& text : {yaml, uncommented_hooks(yaml)}) {
      const auto c = parse_config(text, (dir / "expected.yaml").string());
      std::string errors;
      if (!c) {
        for (const auto& e : c.error()) errors += e.to_string() + "\n";
      }
      EXPECT_TRUE(c.has_value()) << errors;
    }
    ++loaded;
    with_hooks += uncommented_hooks(yaml) != yaml ? 1 : 0;
  }
  EXPECT_GE(loaded, 6U);
  EXPECT_GE(with_hooks, 2U);
}

}  // namespace
}  // namespace hactl
