// Wire format: round trips, and every kind of bad datagram dropped with its reason, never
// accepted and never crashing (including a seeded fuzz run over random and mutated input).
#include "common/wire.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "common/limits.hpp"

namespace hactl {
namespace {

ClusterConfig three_nodes() {
  ClusterConfig c;
  c.name = "t";
  for (const char* n : {"n1", "n2", "witness-with-a-long-name"}) {
    c.nodes.push_back(
        NodeConfig{.name = n, .address = {"127.0.0.1", 1}, .witness = false, .capacity = {}});
  }
  return c;
}

std::vector<Message> samples() {
  using std::chrono::microseconds;
  return {
      Heartbeat{Term{7}, NodeId{1}, 42, 41, microseconds{250'000}, false, true, {}},
      Heartbeat{Term{0}, std::nullopt, 1, 0, microseconds{0}, true, false, {NodeId{2}}},
      Heartbeat{Term{UINT64_MAX},
                NodeId{2},
                UINT64_MAX,
                UINT64_MAX,
                microseconds{INT64_MAX},
                true,
                true,
                {NodeId{0}, NodeId{2}}},
      PreVoteRequest{Term{3}, DocVersion{Term{2}, 17}},
      PreVoteResponse{Term{3}, true},
      PreVoteResponse{Term{9}, false},
      VoteRequest{Term{4}, 99, DocVersion{Term{UINT64_MAX}, UINT64_MAX}},
      VoteResponse{Term{4}, true, 99},
      ResourceReport{
          Term{5},
          0xfeedULL,
          12,
          0,
          5,
          {ResourceEntry{ResourceRole::kStarted, true, false, false, 0, UINT32_MAX},
           ResourceEntry{ResourceRole::kPromoted, true, true, true, 7, 1500}, ResourceEntry{},
           ResourceEntry{ResourceRole::kStarted, true, false, false, 0, UINT32_MAX,
                         VipCheck::kVerified, 212, 4},
           ResourceEntry{ResourceRole::kStarted, true, false, false, 0, UINT32_MAX,
                         VipCheck::kConflict, 0, 255}}},
      ResourceReport{Term{5}, 1, 1, 20'000, 20'000, {}, true},
      ActionRequest{Term{6}, 0xfeedULL, 77, 2, RequestKind::kPromote, 0x1234567890ULL,
                    1795752844878007ULL},
      ActionRequest{Term{6}, 0xfeedULL, 78, 0, RequestKind::kCleanup},
      ActionRequest{Term{6}, 0xfeedULL, 80, 1, RequestKind::kNotify, 5, 6,
                    CloneNotification{NotifyType::kPost,
                                      NotifyOperation::kPromote,
                                      {2},
                                      {},
                                      {1},
                                      {0},
                                      {0, 1, 2},
                                      {1},
                                      {0, 1, 2, 31}}},
      ActionResult{Term{6}, 77, 2, RequestKind::kPromote, true, 0, 13},
      ActionResult{Term{6}, 79, 1, RequestKind::kStop, false, 1, 14},
      DocChunk{Term{8}, DocChunkKind::kReplicate, DocVersion{Term{8}, 3}, 0, 0xabcdef, 0, 5000,
               2200, std::string(kDocChunkBytes, 'x')},
      DocChunk{Term{8}, DocChunkKind::kPropose, DocVersion{Term{7}, 2}, 4, 1, 77, 10, 0,
               "0123456789"},
      DocChunk{Term{8}, DocChunkKind::kReplicate, DocVersion{Term{8}, 3}, 0, 1, 0, 10, 0, ""},
      DocAck{Term{8}, DocVersion{Term{8}, 3}, 0, true, ""},
      DocAck{Term{8}, DocVersion{Term{8}, 3}, 9, false, std::string(kDocErrorBytes, 'e')},
      FenceNotice{Term{9}, NodeId{2}, 0xdeadbeefULL, "ipmi-n3"},
      FenceNotice{Term{9}, NodeId{0}, 0, std::string(100, 'd')},
      FenceRequest{Term{9}, 42, NodeId{1}, "ipmi-n2", "reboot"},
      FenceResult{Term{9}, 42, false, "exit 1 (Failed: Timed out waiting to power OFF)"},
      FenceResult{Term{9}, 43, true, ""},
      VipCheckRequest{Term{9}, 5, 3, "10.213.0.100", "eth0", {2, 0, 10, 213, 0, 11}, 2000},
      VipCheckRequest{Term{9}, 6, 0, "fd00:10:213::100", std::string(255, 'i'), {}, 0},
      VipCheckResult{Term{9}, 5, 3, true, {{2, 0, 10, 213, 0, 11}}, {{2, 0, 10, 213, 0, 11}}, ""},
      VipCheckResult{Term{9}, 6, 0, false, {}, {}, "no interface eth1 here"},
      VipCheckResult{Term{9}, 7, 1, true,
                     std::vector<MacAddress>(kMaxCheckMacs, {1, 2, 3, 4, 5, 6}),
                     std::vector<MacAddress>(kMaxCheckMacs), std::string(255, 'd')},
  };
}

class Wire : public ::testing::Test {
 protected:
  ClusterConfig config_ = three_nodes();
  ClusterKey key_ = generate_key();
  WireCodec codec_{config_, key_};

  std::vector<std::uint8_t> sealed(const Message& m, std::uint64_t seq = 5) {
    return codec_.seal(Envelope{{NodeId{1}, NodeId{0}, 1234, 77, 88, seq}, m});
  }
  std::vector<std::uint8_t> raw(std::vector<std::uint8_t> body) {
    std::vector<std::string> names;
    for (const auto& n : config_.nodes) names.push_back(n.name);
    return seal_raw_body(names, key_, Header{NodeId{0}, NodeId{1}, 1, 2, 3, 1}, body);
  }
};

// Every datagram under the cluster key has a nonce of its own: one codec counts them after its
// random prefix, and another codec (another agent, or this one restarted) draws another prefix.
TEST_F(Wire, NoncesNeverRepeat) {
  WireCodec other{config_, key_};
  const std::size_t at =
      4 + 1 + config_.nodes[1].name.size() + 1 + config_.nodes[0].name.size() + 4 * 8;
  std::set<std::vector<std::uint8_t>> nonces;
  auto nonce_of = [at](const std::vector<std::uint8_t>& d) {
    return std::vector<std::uint8_t>(d.begin() + static_cast<std::ptrdiff_t>(at),
                                     d.begin() + static_cast<std::ptrdiff_t>(at + 24));
  };
  for (std::uint64_t seq = 1; seq <= 1000; ++seq) {
    EXPECT_TRUE(nonces.insert(nonce_of(sealed(Heartbeat{}, seq))).second) << seq;
  }
  const auto theirs = other.seal(Envelope{{NodeId{1}, NodeId{0}, 1234, 77, 88, 1}, Heartbeat{}});
  EXPECT_TRUE(nonces.insert(nonce_of(theirs)).second);
  ASSERT_TRUE(other.open(theirs).has_value());  // and it still opens
  ASSERT_TRUE(codec_.open(theirs).has_value());
}

TEST_F(Wire, EveryMessageRoundTrips) {
  for (const Message& m : samples()) {
    const auto bytes = sealed(m);
    // Heartbeats and votes stay small; documents and vip checks (names, MAC lists) may not.
    const bool doc = std::holds_alternative<DocChunk>(m) || std::holds_alternative<DocAck>(m) ||
                     std::holds_alternative<VipCheckRequest>(m) ||
                     std::holds_alternative<VipCheckResult>(m);
    EXPECT_LE(bytes.size(), doc ? limits::kMaxDatagramSize : 220u);
    auto env = codec_.open(bytes);
    ASSERT_TRUE(env) << to_string(env.error());
    EXPECT_EQ(env->sender, NodeId{1});
    EXPECT_EQ(env->recipient, NodeId{0});
    EXPECT_EQ(env->incarnation, 1234u);
    EXPECT_EQ(env->session, 77u);
    EXPECT_EQ(env->echo, 88u);
    EXPECT_EQ(env->seq, 5u);
    EXPECT_EQ(env->message, m);
  }
}

TEST_F(Wire, AnotherKeyIsAnAuthFailure) {
  WireCodec other(config_, generate_key());
  EXPECT_EQ(other.open(sealed(samples()[0])).error(), DropReason::kAuthFailed);
}

TEST_F(Wire, EveryBitFlipIsRejected) {
  const auto good = sealed(samples()[0]);
  for (std::size_t i = 0; i < good.size() * 8; ++i) {
    auto bad = good;
    bad[i / 8] ^= static_cast<std::uint8_t>(1u << (i % 8));
    EXPECT_FALSE(codec_.open(bad)) << "flip of bit " << i << " accepted";
  }
}

TEST_F(Wire, EveryTruncationIsRejected) {
  const auto good = sealed(samples()[0]);
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = codec_.open(std::span(good.data(), n));
    ASSERT_FALSE(r) << n;
    if (n < 30) {
      EXPECT_TRUE(r.error() == DropReason::kTruncated || r.error() == DropReason::kBadMagic) << n;
    }
  }
}

TEST_F(Wire, HeaderProblemsHaveTheirReasons) {
  auto good = sealed(samples()[3]);
  EXPECT_EQ(codec_.open(std::vector<std::uint8_t>(limits::kMaxDatagramSize + 1, 'H')).error(),
            DropReason::kOversized);
  auto magic = good;
  magic[0] = 'X';
  EXPECT_EQ(codec_.open(magic).error(), DropReason::kBadMagic);
  auto version = good;
  version[2] = kWireVersion + 1;
  EXPECT_EQ(codec_.open(version).error(), DropReason::kBadVersion);
  ClusterConfig other = config_;
  other.nodes[1].name = "stranger";
  WireCodec stranger_codec(other, key_);
  EXPECT_EQ(
      codec_.open(stranger_codec.seal(Envelope{{NodeId{1}, NodeId{0}, 1, 2, 3, 1}, samples()[3]}))
          .error(),
      DropReason::kUnknownSender);
  // A recipient no member is called: sealed by a member of another node list under our key.
  EXPECT_EQ(
      codec_.open(stranger_codec.seal(Envelope{{NodeId{0}, NodeId{1}, 1, 2, 3, 1}, samples()[3]}))
          .error(),
      DropReason::kWrongRecipient);
}

TEST_F(Wire, AuthenticBodiesThatDoNotParseAreMalformed) {
  const std::vector<std::vector<std::uint8_t>> bodies = {
      {},                                             // no type
      {0},                                            // unknown type
      {99, 1, 2},                                     // unknown type
      {2, 1, 0, 0, 0, 0, 0, 0},                       // PreVoteRequest, term short
      {2, 1, 0, 0, 0, 0, 0, 0, 0, 0},                 // PreVoteRequest, no document version
      {3, 1, 0, 0, 0, 0, 0, 0, 0, 2},                 // bool that is 2
      {1, 1, 0, 0, 0, 0, 0, 0, 0, 3, 'x', 'y', 'z'},  // heartbeat naming a stranger (and short)
  };
  for (const auto& b : bodies) {
    auto r = codec_.open(raw(b));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), DropReason::kMalformedBody) << "body size " << b.size();
  }
  // A heartbeat whose lease field does not fit a signed duration.
  std::vector<std::uint8_t> hb = {1};
  for (int i = 0; i < 8; ++i) hb.push_back(i == 0 ? 1 : 0);  // term
  hb.push_back(0);                                           // no coordinator
  for (int i = 0; i < 16; ++i) hb.push_back(0);              // ping, echo
  for (int i = 0; i < 8; ++i) hb.push_back(0xff);            // lease: 2^64-1
  hb.push_back(0);                                           // reply
  EXPECT_EQ(codec_.open(raw(hb)).error(), DropReason::kMalformedBody);
  // A notify request: its type and operation must be known ones.
  const auto notify = [](std::uint8_t type, std::uint8_t operation) {
    std::vector<std::uint8_t> b = {7};    // ActionRequest
    b.insert(b.end(), 8 + 8 + 8 + 4, 0);  // term, config, id, index
    b.push_back(static_cast<std::uint8_t>(RequestKind::kNotify));
    b.insert(b.end(), 8 + 8, 0);  // echo, incarnation
    b.push_back(type);
    b.push_back(operation);
    b.insert(b.end(), 7 * 4, 0);  // the lists
    return b;
  };
  EXPECT_TRUE(codec_.open(raw(notify(1, 3))));
  EXPECT_EQ(codec_.open(raw(notify(2, 0))).error(), DropReason::kMalformedBody);
  EXPECT_EQ(codec_.open(raw(notify(0, 4))).error(), DropReason::kMalformedBody);
  auto short_lists = notify(0, 0);
  short_lists.pop_back();
  EXPECT_EQ(codec_.open(raw(short_lists)).error(), DropReason::kMalformedBody);
}

TEST_F(Wire, DocumentChunksThatDoNotFitTheirDocumentAreRefused) {
  const auto sealed = [&](const DocChunk& c) {
    // seal() checks only the chunk size
    return codec_.seal(Envelope{{NodeId{1}, NodeId{0}, 1, 2, 3, 1}, c});
  };
  DocChunk c{Term{1}, DocChunkKind::kReplicate, DocVersion{Term{1}, 1}, 0, 1, 0, 10, 8, "abc"};
  EXPECT_EQ(codec_.open(sealed(c)).error(), DropReason::kMalformedBody);  // past the end
  c.offset = 11;
  c.data = "";
  EXPECT_EQ(codec_.open(sealed(c)).error(), DropReason::kMalformedBody);  // offset past total
  c.total = static_cast<std::uint32_t>(limits::kMaxDocBytes + 1);
  c.offset = 0;
  EXPECT_EQ(codec_.open(sealed(c)).error(), DropReason::kMalformedBody);  // too large a document
  c.total = 10;
  c.data = "0123456789";
  EXPECT_TRUE(codec_.open(sealed(c)));
}

TEST_F(Wire, AFullReportPageFitsADatagramAndBadPagesAreRefused) {
  ResourceReport full{Term{1}, 1, 1, 0, 20'000, {}};
  full.entries.assign(kReportPageEntries, ResourceEntry{ResourceRole::kStarted, true, true, true,
                                                        UINT32_MAX, UINT32_MAX});
  EXPECT_TRUE(codec_.open(sealed(full)));
  // A page of vips, each with its check state, fits too.
  full.entries.assign(kReportPageEntries,
                      ResourceEntry{ResourceRole::kStarted, true, true, true, UINT32_MAX,
                                    UINT32_MAX, VipCheck::kVerified, UINT32_MAX, 255});
  EXPECT_LE(sealed(full).size(), limits::kMaxDatagramSize);
  EXPECT_TRUE(codec_.open(sealed(full)));
  auto body_of = [](const ResourceReport& r, std::uint8_t count) {
    std::vector<std::uint8_t> b = {6};
    for (std::uint64_t v : {r.term.value, r.config_id, r.version})
      for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    for (std::uint32_t v : {r.first, r.total})
      for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    b.push_back(count);
    for (std::uint8_t i = 0; i < count; ++i) {
      b.insert(b.end(), {1, 1, 0, 0, 0, 0, 0, 0, 0, 0});
    }
    b.push_back(0);  // not leaving
    return b;
  };
  EXPECT_TRUE(codec_.open(raw(body_of(ResourceReport{Term{1}, 1, 1, 2, 4, {}}, 2))));
  // Entries past `total`, a page past the end, a total over the limit.
  for (const auto& bad : {body_of(ResourceReport{Term{1}, 1, 1, 3, 4, {}}, 2),
                          body_of(ResourceReport{Term{1}, 1, 1, 5, 4, {}}, 0),
                          body_of(ResourceReport{Term{1}, 1, 1, 0, 20'001, {}}, 0)}) {
    EXPECT_EQ(codec_.open(raw(bad)).error(), DropReason::kMalformedBody);
  }
  auto flags = body_of(ResourceReport{Term{1}, 1, 1, 0, 1, {}}, 1);
  flags[flags.size() - 10] = 16;  // an unknown flag bit
  EXPECT_EQ(codec_.open(raw(flags)).error(), DropReason::kMalformedBody);
  flags[flags.size() - 10] = 8;  // check data announced, missing
  EXPECT_EQ(codec_.open(raw(flags)).error(), DropReason::kMalformedBody);
}

// Seeded fuzzing: random bytes and random mutations of valid datagrams. Nothing may crash, and
// nothing but an unchanged valid datagram may be accepted.
TEST_F(Wire, FuzzRandomAndMutatedDatagrams) {
  const char* env_seed = std::getenv("HACTL_FUZZ_SEED");
  const std::uint64_t seed =
      env_seed != nullptr ? std::strtoull(env_seed, nullptr, 10) : std::random_device{}();
  SCOPED_TRACE("HACTL_FUZZ_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<std::vector<std::uint8_t>> valid;
  for (const Message& m : samples()) valid.push_back(sealed(m));
  std::size_t accepted = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::vector<std::uint8_t> d;
    if (i % 4 == 0) {
      d.resize(rng() % 1500);
      for (auto& b : d) b = static_cast<std::uint8_t>(rng());
      if (d.size() >= 3 && rng() % 2 == 0) d[0] = 'H', d[1] = 'A', d[2] = kWireVersion;
    } else {
      d = valid[rng() % valid.size()];
      const auto original = d;
      switch (rng() % 4) {
        case 0:
          d[rng() % d.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
          break;
        case 1:
          d.resize(rng() % d.size());
          break;
        case 2:
          d.insert(d.begin() + static_cast<long>(rng() % d.size()),
                   static_cast<std::uint8_t>(rng()));
          break;
        default:
          std::swap(d[rng() % d.size()], d[rng() % d.size()]);
          break;
      }
      if (d == original) continue;
    }
    if (codec_.open(d)) ++accepted;
  }
  EXPECT_EQ(accepted, 0u);
}

TEST(SeqWindow, RefusesWhatItSawAndWhatIsTooOld) {
  SeqWindow w;
  EXPECT_FALSE(w.accept(0));  // seq 0 is never valid
  EXPECT_TRUE(w.accept(5));
  EXPECT_FALSE(w.accept(5));
  EXPECT_TRUE(w.accept(7));
  EXPECT_TRUE(w.accept(6));  // reordered, inside the window
  EXPECT_FALSE(w.accept(6));
  EXPECT_TRUE(w.accept(100));
  EXPECT_TRUE(w.accept(37));    // age 63: still inside
  EXPECT_FALSE(w.accept(36));   // age 64: too old
  EXPECT_TRUE(w.accept(1000));  // a jump larger than the window
  EXPECT_TRUE(w.accept(999));
  EXPECT_FALSE(w.accept(100));
  w.reset();
  EXPECT_TRUE(w.accept(100));
}

// The receiver's challenge is 500; the peer boots as incarnation 10 with challenge 41.
TEST(PeerGate, NothingIsAcceptedUntilTheReceiversChallengeIsEchoed) {
  using V = PeerGate::Verdict;
  PeerGate g(500);
  const auto h = [](std::uint64_t inc, std::uint64_t session, std::uint64_t echo,
                    std::uint64_t seq) {
    return Header{NodeId{1}, NodeId{0}, inc, session, echo, seq};
  };
  EXPECT_EQ(g.echo(), 0u);
  EXPECT_EQ(g.check(h(10, 41, 0, 1)), V::kStaleEcho);    // the peer has not heard us yet
  EXPECT_EQ(g.echo(), 41u);                              // but we heard it
  EXPECT_EQ(g.check(h(10, 41, 499, 2)), V::kStaleEcho);  // echoes an earlier boot of ours
  EXPECT_EQ(g.check(h(10, 41, 500, 3)), V::kAcceptNewIncarnation);
  EXPECT_EQ(g.check(h(10, 41, 500, 3)), V::kReplayed);
  EXPECT_EQ(g.check(h(10, 41, 500, 4)), V::kAccept);
  EXPECT_EQ(g.check(h(10, 99, 500, 5)), V::kStaleIncarnation);   // another challenge, same boot
  EXPECT_EQ(g.check(h(9, 7, 500, 1000)), V::kStaleIncarnation);  // an earlier boot
  EXPECT_EQ(g.echo(), 41u);
  // The peer restarts: its new boot is learnt, and accepted once it echoes us.
  EXPECT_EQ(g.check(h(11, 42, 0, 1)), V::kStaleEcho);
  EXPECT_EQ(g.echo(), 42u);
  EXPECT_EQ(g.check(h(10, 41, 500, 6)), V::kStaleIncarnation);  // replay of the old boot
  EXPECT_EQ(g.check(h(11, 42, 500, 2)), V::kAcceptNewIncarnation);
  EXPECT_EQ(g.check(h(11, 42, 500, 1)), V::kAccept);  // reordered, inside the window
}

// A receiver that restarts (a new gate with a new challenge) refuses everything sealed before:
// a replay of the peer's current boot teaches it the peer's challenge and nothing else.
TEST(PeerGate, ARestartedReceiverCannotBeFedThePast) {
  using V = PeerGate::Verdict;
  PeerGate before(500);
  const Header old{NodeId{1}, NodeId{0}, 10, 41, 500, 1};
  ASSERT_EQ(before.check(old), V::kAcceptNewIncarnation);
  PeerGate after(501);
  for (std::uint64_t seq = 1; seq <= 200; ++seq) {
    Header replay = old;
    replay.seq = seq * 1000;
    EXPECT_EQ(after.check(replay), V::kStaleEcho) << seq;
  }
  EXPECT_EQ(after.check(Header{NodeId{1}, NodeId{0}, 9, 40, 501, 1}), V::kStaleIncarnation);
  EXPECT_EQ(after.echo(), 41u);  // the older boot taught nothing
  EXPECT_EQ(after.check(Header{NodeId{1}, NodeId{0}, 10, 41, 501, 7}), V::kAcceptNewIncarnation);
}

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hactl-key-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(KeyFile, WriteLoadAndRefuseOverwrite) {
  const auto p = path("authkey");
  ASSERT_TRUE(write_new_key_file(p));
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(load_key_file(p));
  auto again = write_new_key_file(p);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().find("already exists"), std::string::npos);
}

TEST_F(KeyFile, RefusesWhatOthersCanRead) {
  const auto p = path("authkey");
  ASSERT_TRUE(write_new_key_file(p));
  ASSERT_EQ(::chmod(p.c_str(), 0644), 0);
  auto r = load_key_file(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("(mode 0644): run chmod 600 " + p), std::string::npos) << r.error();
  auto missing = load_key_file(path("none"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("hactl keygen"), std::string::npos);
}

TEST_F(KeyFile, FormatRoundTripAndBadContent) {
  const ClusterKey k = generate_key();
  EXPECT_EQ(parse_key_file(format_key_file(k)).value(), k);
  EXPECT_EQ(parse_key_file(format_key_file(k) + "  \n").value(), k);
  EXPECT_FALSE(parse_key_file("hello"));
  EXPECT_FALSE(parse_key_file("hactl-key-v1:c2hvcnQ="));  // 5 bytes
  EXPECT_FALSE(parse_key_file("hactl-key-v1:!!!"));
  const auto p = path("bad");
  std::ofstream(p) << "not a key\n";
  ASSERT_EQ(::chmod(p.c_str(), 0600), 0);
  auto r = load_key_file(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("not a hactl key file"), std::string::npos);
}

}  // namespace
}  // namespace hactl
