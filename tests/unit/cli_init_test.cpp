// `hactl init`'s generator (cli/init_config.hpp) and its dialogue and next steps
// (cli/init_cmd.hpp): every variant's text loads through the real loader and says what was
// asked; bad answers are refused naming their flag.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/init_cmd.hpp"
#include "cli/init_config.hpp"

namespace hactl {
namespace {

InitFlags pair_flags() {
  InitFlags f;
  f.name = "web";
  f.nodes = {"alpha=10.0.0.11", "beta=10.0.0.12:5500"};
  f.key = "/etc/hactl/authkey";
  return f;
}

InitFlags with_vote(InitFlags f, ThirdVote vote) {
  if (vote == ThirdVote::kArbiter) f.arbiter = "203.0.113.7";
  if (vote == ThirdVote::kWitness) f.witness = "w=10.0.0.13";
  if (vote == ThirdVote::kFencing) f.fencing = true;
  return f;
}

std::string text_of(const InitFlags& f) {
  const auto a = answers_from_flags(f);
  EXPECT_TRUE(a.has_value()) << (a ? "" : a.error().front().to_string());
  return a ? render_pair_config(*a) : "";
}

// The variant's text through the real loader, which must take it (and loader_errors agree).
std::optional<LoadedConfig> load(const InitFlags& f) {
  const std::string text = text_of(f);
  auto loaded = parse_config(text, "<init>");
  std::string errors;
  if (!loaded)
    for (const auto& e : loaded.error()) errors += e.to_string() + "\n";
  EXPECT_TRUE(loaded.has_value()) << errors << "\n" << text;
  EXPECT_TRUE(loader_errors(text, "<init>").empty());
  return loaded ? std::optional(std::move(*loaded)) : std::nullopt;
}

class EveryVariant : public ::testing::TestWithParam<ThirdVote> {};

TEST_P(EveryVariant, LoadsWithoutWarnings) {
  const ThirdVote vote = GetParam();
  const auto loaded = load(with_vote(pair_flags(), vote));
  ASSERT_TRUE(loaded);
  const ClusterConfig& c = loaded->config;
  EXPECT_EQ(c.name, "web");
  EXPECT_EQ(c.auth_key_file, "/etc/hactl/authkey");
  ASSERT_GE(c.nodes.size(), 2U);
  EXPECT_EQ(c.nodes[0].name, "alpha");
  EXPECT_EQ(c.nodes[0].address.to_string(), "10.0.0.11:5405");
  EXPECT_EQ(c.nodes[1].address.to_string(), "10.0.0.12:5500");
  EXPECT_TRUE(c.resources.primitives.empty());
  std::string warnings;
  for (const auto& w : loaded->warnings) warnings += w.path + ": " + w.message + "\n";
  EXPECT_EQ(warnings, "");
  if (vote == ThirdVote::kArbiter) {
    ASSERT_TRUE(c.arbiter());
    EXPECT_EQ(c.node(*c.arbiter()).address.to_string(), "203.0.113.7:5406");
  } else if (vote == ThirdVote::kWitness) {
    ASSERT_EQ(c.nodes.size(), 3U);
    EXPECT_EQ(c.nodes[2].name, "w");
    EXPECT_TRUE(c.nodes[2].witness);
  } else {
    EXPECT_EQ(c.nodes.size(), 2U);
    EXPECT_TRUE(c.two_node);
    EXPECT_TRUE(c.wait_for_all);
    EXPECT_EQ(c.no_quorum_policy, NoQuorumPolicy::kFreeze);
    ASSERT_EQ(c.fencing.devices.size(), 2U);
    // The first node's device waits: that node wins a fence race.
    EXPECT_EQ(c.fencing.device("fence-alpha")->delay, std::chrono::seconds{10});
    EXPECT_EQ(c.fencing.device("fence-beta")->delay, Duration{0});
    EXPECT_EQ(c.fencing.levels_for("alpha"),
              (std::vector<std::vector<std::string>>{{"fence-alpha"}}));
    EXPECT_EQ(c.fencing.levels_for("beta"),
              (std::vector<std::vector<std::string>>{{"fence-beta"}}));
  }
}

TEST_P(EveryVariant, WithAVipLoads) {
  const ThirdVote vote = GetParam();
  InitFlags f = with_vote(pair_flags(), vote);
  f.vip = "10.0.0.100/24";
  f.interface = "eth0";
  const auto loaded = load(f);
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->config.resources.primitives.size(), 1U);
  const auto& p = loaded->config.resources.primitives[0];
  EXPECT_EQ(p.params.at("address"), "10.0.0.100/24");
  EXPECT_EQ(p.params.at("interface"), "eth0");
}

TEST_P(EveryVariant, Ipv6Loads) {
  const ThirdVote vote = GetParam();
  InitFlags f = with_vote(pair_flags(), vote);
  f.nodes = {"alpha=fd00::11", "beta=[fd00::12]:5405"};
  if (vote == ThirdVote::kArbiter) f.arbiter = "[2001:db8::7]:7000";
  if (vote == ThirdVote::kWitness) f.witness = "w=fd00::13";
  f.vip = "fd00::100/64";
  f.interface = "eth1";
  const auto loaded = load(f);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->config.nodes[1].address.to_string(), "[fd00::12]:5405");
  if (vote == ThirdVote::kArbiter) {
    EXPECT_EQ(loaded->config.node(*loaded->config.arbiter()).address.to_string(),
              "[2001:db8::7]:7000");
  }
}

INSTANTIATE_TEST_SUITE_P(Init, EveryVariant,
                         ::testing::Values(ThirdVote::kArbiter, ThirdVote::kWitness,
                                           ThirdVote::kFencing),
                         [](const auto& param_info) {
                           const ThirdVote v = param_info.param;
                           return v == ThirdVote::kArbiter   ? std::string("Arbiter")
                                  : v == ThirdVote::kWitness ? std::string("Witness")
                                                             : std::string("Fencing");
                         });

TEST(Init, TheTextIsCommentedAndSaysWhatWasAsked) {
  const std::string arbiter = text_of(with_vote(pair_flags(), ThirdVote::kArbiter));
  EXPECT_NE(arbiter.find("arbiter:\n  address: 203.0.113.7:5406\n"), std::string::npos);
  EXPECT_NE(arbiter.find("/etc/hactl-arbiter/clusters/web.key"), std::string::npos);
  EXPECT_EQ(arbiter.find("two_node"), std::string::npos);
  std::size_t comments = 0;
  std::istringstream lines(arbiter);
  for (std::string line; std::getline(lines, line);) comments += line.find('#') != line.npos;
  EXPECT_GE(comments, 15U);

  const std::string fencing = text_of(with_vote(pair_flags(), ThirdVote::kFencing));
  EXPECT_NE(fencing.find("  two_node: true\n"), std::string::npos);
  EXPECT_EQ(fencing.find("no_quorum_policy: stop"), std::string::npos);
  EXPECT_NE(fencing.find("agent: fence_ipmilan"), std::string::npos);
  // The delay is on the first node's device only: alpha wins a fence race.
  const auto delay = fencing.find("delay: 10s");
  ASSERT_NE(delay, std::string::npos);
  EXPECT_EQ(fencing.find("delay:", delay + 1), std::string::npos);
  EXPECT_LT(fencing.find("id: fence-alpha"), delay);
  EXPECT_GT(fencing.find("id: fence-beta"), delay);
  EXPECT_EQ(fencing.find("arbiter:"), std::string::npos);

  const std::string witness = text_of(with_vote(pair_flags(), ThirdVote::kWitness));
  EXPECT_NE(witness.find("  - name: w\n    address: 10.0.0.13:5405\n    witness: true"),
            std::string::npos);
  // Same answers, same bytes.
  EXPECT_EQ(witness, text_of(with_vote(pair_flags(), ThirdVote::kWitness)));
}

TEST(Init, AddressesAndNodeSpecs) {
  EXPECT_EQ(parse_init_address("10.0.0.1", 5405)->to_string(), "10.0.0.1:5405");
  EXPECT_EQ(parse_init_address("10.0.0.1:99", 5405)->to_string(), "10.0.0.1:99");
  EXPECT_EQ(parse_init_address("fd00::1", 5406)->to_string(), "[fd00::1]:5406");
  EXPECT_EQ(parse_init_address("[fd00::1]", 5406)->to_string(), "[fd00::1]:5406");
  EXPECT_EQ(parse_init_address("[fd00::1]:7", 5406)->to_string(), "[fd00::1]:7");
  for (const char* bad : {"", "arbiter.example.com", "host:5406", "10.0.0.1:", "10.0.0.1:0",
                          "10.0.0.1:65536", "10.0.0.1:x", "[fd00::1", "[fd00::1]x", "10.0.0"}) {
    EXPECT_FALSE(parse_init_address(bad, 5405)) << bad;
  }
  EXPECT_NE(parse_init_address("db.example.com", 1).error().find("not a numeric IP address"),
            std::string::npos);
  const auto n = parse_node_spec("alpha=10.0.0.1", 5405);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->name, "alpha");
  EXPECT_FALSE(parse_node_spec("10.0.0.1", 5405));
  EXPECT_FALSE(parse_node_spec("=10.0.0.1", 5405));
  EXPECT_FALSE(parse_node_spec("al pha=10.0.0.1", 5405));
  EXPECT_FALSE(parse_node_spec("alpha/1=10.0.0.1", 5405));
}

// The one error for `f`, as "--flag: message".
std::vector<std::string> errors_of(const InitFlags& f) {
  std::vector<std::string> out;
  const auto a = answers_from_flags(f);
  if (!a) {
    for (const auto& e : a.error()) out.push_back(e.to_string());
    return out;
  }
  for (const auto& e : loader_errors(render_pair_config(*a), "<init>"))
    out.push_back(e.to_string());
  return out;
}

void expect_refused(const InitFlags& f, const std::string& flag, const std::string& words) {
  const auto errors = errors_of(f);
  ASSERT_FALSE(errors.empty()) << flag << " " << words;
  bool found = false;
  std::string all;
  for (const auto& e : errors) {
    all += e + "\n";
    found = found || (e.starts_with(flag + ": ") && e.find(words) != std::string::npos);
  }
  EXPECT_TRUE(found) << "want " << flag << ": ..." << words << "...; got\n" << all;
}

TEST(Init, BadFlagsAreRefusedNamingTheFlag) {
  const InitFlags ok = with_vote(pair_flags(), ThirdVote::kArbiter);
  EXPECT_TRUE(errors_of(ok).empty());
  auto f = ok;
  f.nodes[1] = "beta=db.example.com";
  expect_refused(f, "--node", "not a numeric IP address");
  f = ok;
  f.nodes[1] = "alpha=10.0.0.12";
  expect_refused(f, "--node", "'alpha' is given twice");
  f = ok;
  f.nodes[1] = "beta=10.0.0.11:5405";
  expect_refused(f, "--node", "10.0.0.11:5405 is given twice");
  f = ok;
  f.nodes[0] = "al$pha=10.0.0.11";
  expect_refused(f, "--node", "is not a node name");
  f = ok;
  f.nodes[0] = "alpha=10.0.0.11:99999";
  expect_refused(f, "--node", "not a number from 1 to 65535");
  f = ok;
  f.nodes.push_back("gamma=10.0.0.13");
  expect_refused(f, "--node", "given 3 times");
  f = ok;
  f.nodes.pop_back();
  expect_refused(f, "--node", "given once: a pair needs both nodes");
  f = with_vote(ok, ThirdVote::kFencing);
  expect_refused(f, "--arbiter and --fencing", "a pair takes one third vote");
  f = with_vote(with_vote(pair_flags(), ThirdVote::kWitness), ThirdVote::kFencing);
  expect_refused(f, "--witness and --fencing", "give only one of --arbiter, --witness or");
  f = pair_flags();
  expect_refused(f, "--arbiter, --witness or --fencing", "third vote is missing");
  f = ok;
  f.name = "";
  expect_refused(f, "--name", "missing");
  f.name = "my cluster";
  expect_refused(f, "--name", "not a cluster name");
  f = ok;
  f.arbiter = "10.0.0.11:5405";
  expect_refused(f, "--arbiter", "is also node alpha's address");
  f.arbiter = "arbiter.example.com";
  expect_refused(f, "--arbiter", "not a numeric IP address");
  f = ok;
  f.nodes[0] = "arbiter=10.0.0.11";
  expect_refused(f, "--node", "'arbiter' is the name the arbiter goes by");
  f = with_vote(pair_flags(), ThirdVote::kWitness);
  f.witness = "beta=10.0.0.13";
  expect_refused(f, "--witness", "'beta' is given twice");
}

TEST(Init, BadVipsAreRefusedNamingTheFlag) {
  InitFlags f = with_vote(pair_flags(), ThirdVote::kArbiter);
  f.vip = "10.0.0.100/24";
  expect_refused(f, "--interface", "the vip needs the interface");
  f.interface = "eth0:1";
  expect_refused(f, "--interface", "");
  f.interface = "eth0";
  f.vip = "10.0.0.100";
  expect_refused(f, "--vip", "not an address/prefix");
  f.vip = "10.0.0.11/24";
  expect_refused(f, "--vip", "alpha's own address");
  f.vip = "";
  expect_refused(f, "--interface", "give --vip too");
}

TEST(Init, TheLoadersRefusalsAreMappedToFlags) {
  InitFlags f = with_vote(pair_flags(), ThirdVote::kArbiter);
  f.nodes[1] = "beta=127.0.0.1";
  expect_refused(f, "--node", "nodes[1].address: 127.0.0.1 is a loopback address");
  f = with_vote(pair_flags(), ThirdVote::kWitness);
  f.witness = "w=224.0.0.1";
  expect_refused(f, "--witness", "multicast");
  f = with_vote(pair_flags(), ThirdVote::kArbiter);
  f.arbiter = "0.0.0.0";
  expect_refused(f, "--arbiter", "unspecified");
  f = with_vote(pair_flags(), ThirdVote::kArbiter);
  f.key = "relative/authkey";
  expect_refused(f, "--key", "not the absolute path");
  // A text that does not load at all names no flag, with the loader's error.
  const auto e = loader_errors("cluster: [", "<init>");
  ASSERT_FALSE(e.empty());
  EXPECT_EQ(e[0].flag, "");
  EXPECT_NE(e[0].message.find("<init>:"), std::string::npos);
}

InitDefaults fake_defaults() {
  return {"alpha", "10.0.0.11", [](const std::string&) { return std::string("eth0"); }};
}

TEST(InitDialogue, AsksForWhatIsMissingWithDefaults) {
  InitFlags f;
  std::istringstream in(
      "web\n"
      "\n\n"  // alpha, 10.0.0.11: the defaults
      "beta\n10.0.0.12\n"
      "\n"  // arbiter
      "203.0.113.7\n"
      "10.0.0.100/24\n"
      "\n");  // eth0
  std::ostringstream out;
  ASSERT_TRUE(ask_missing_answers(f, in, out, fake_defaults())) << out.str();
  EXPECT_EQ(f.name, "web");
  EXPECT_EQ(f.nodes, (std::vector<std::string>{"alpha=10.0.0.11", "beta=10.0.0.12"}));
  EXPECT_EQ(f.arbiter, "203.0.113.7");
  EXPECT_EQ(f.vip, "10.0.0.100/24");
  EXPECT_EQ(f.interface, "eth0");
  EXPECT_NE(out.str().find("First node: name [alpha]: "), std::string::npos) << out.str();
  EXPECT_TRUE(answers_from_flags(f).has_value());
}

TEST(InitDialogue, AsksAgainAfterAWrongAnswerAndOnlyForWhatIsMissing) {
  InitFlags f = pair_flags();
  std::istringstream in(
      "quorum\n"  // not a third vote
      "witness\n"
      "beta\n"  // taken
      "w\n"
      "10.0.0.12:5500\n"  // beta's
      "10.0.0.13\n"
      "\n");  // no vip
  std::ostringstream out;
  ASSERT_TRUE(ask_missing_answers(f, in, out, fake_defaults())) << out.str();
  EXPECT_EQ(f.witness, "w=10.0.0.13");
  EXPECT_EQ(f.vip, "");
  EXPECT_EQ(out.str().find("Cluster name"), std::string::npos);
  EXPECT_NE(out.str().find("answer arbiter, witness or fencing"), std::string::npos);
  EXPECT_NE(out.str().find("'beta' is taken already"), std::string::npos);
  EXPECT_NE(out.str().find("10.0.0.12:5500 is beta's"), std::string::npos);
}

TEST(InitDialogue, EndOfInputGivesUp) {
  InitFlags f;
  std::istringstream in("web\n");
  std::ostringstream out;
  EXPECT_FALSE(ask_missing_answers(f, in, out, fake_defaults()));
  std::istringstream wrong("a b\na b\na b\na b\na b\nweb\n");
  EXPECT_FALSE(ask_missing_answers(f, wrong, out, fake_defaults()));
}

TEST(InitNextSteps, CopiesToThePeerAndGivesTheArbiterItsKey) {
  InitFlags f = with_vote(pair_flags(), ThirdVote::kArbiter);
  const auto a = answers_from_flags(f);
  ASSERT_TRUE(a);
  const std::string s = next_steps(*a, "/etc/hactl/cluster.yaml", "alpha");
  EXPECT_NE(s.find("scp /etc/hactl/authkey root@10.0.0.12:/root/hactl-init.key"), s.npos) << s;
  EXPECT_NE(s.find("install -D -m 0600 /root/hactl-init.key /etc/hactl/authkey"), s.npos) << s;
  EXPECT_NE(s.find("install -D -m 0644 /root/hactl-init.yaml /etc/hactl/cluster.yaml"), s.npos);
  EXPECT_EQ(s.find("root@10.0.0.11"), s.npos) << "alpha is this host: " << s;
  EXPECT_NE(s.find("hactl arbiter key --config /etc/hactl/cluster.yaml --output "
                   "/root/web.arbiter.key"),
            s.npos);
  EXPECT_NE(s.find("root@203.0.113.7:/etc/hactl-arbiter/clusters/web.key"), s.npos) << s;
  EXPECT_NE(s.find("systemctl enable --now hactl-agent"), s.npos);
  EXPECT_NE(s.find("hactl status"), s.npos);
  EXPECT_LT(s.find("scp"), s.find("hactl arbiter key"));
  EXPECT_LT(s.find("hactl arbiter key"), s.find("systemctl enable --now hactl-agent"));
}

TEST(InitNextSteps, EveryOtherNodeWithItsAddressAndTheFileOwnMode) {
  InitFlags f = with_vote(pair_flags(), ThirdVote::kWitness);
  f.nodes = {"alpha=fd00::11", "beta=fd00::12"};
  f.witness = "w=10.0.0.13";
  auto a = answers_from_flags(f);
  ASSERT_TRUE(a);
  std::string s = next_steps(*a, "/srv/c.yaml", "elsewhere");
  EXPECT_NE(s.find("this host is none of the nodes"), s.npos) << s;
  EXPECT_NE(s.find("scp /srv/c.yaml root@[fd00::11]:/root/hactl-init.yaml"), s.npos) << s;
  EXPECT_NE(s.find("ssh root@fd00::12 'install"), s.npos) << s;
  EXPECT_NE(s.find("root@10.0.0.13"), s.npos);
  EXPECT_NE(s.find("--config /srv/c.yaml"), s.npos) << "not the agent's default file: " << s;
  EXPECT_EQ(s.find("arbiter key"), s.npos);
  f = with_vote(pair_flags(), ThirdVote::kFencing);
  a = answers_from_flags(f);
  ASSERT_TRUE(a);
  s = next_steps(*a, "/etc/hactl/cluster.yaml", "beta");
  EXPECT_NE(s.find("install -D -m 0600 /root/hactl-init.yaml"), s.npos) << s;
  EXPECT_NE(s.find("placeholders"), s.npos);
  EXPECT_LT(s.find("placeholders"), s.find("scp"));
  EXPECT_NE(s.find("root@10.0.0.11"), s.npos);
}

}  // namespace
}  // namespace hactl
