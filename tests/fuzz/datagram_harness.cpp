// The datagram decoders: WireCodec::open on raw bytes, and on arbitrary bodies under a valid
// header; the same for the arbiter's format (common/arbiter_wire.hpp, open_arbiter). Whatever
// opens must seal again and open to the same envelope. The first byte chooses: bit 0 clear and
// bit 1 clear, raw node datagram; bit 0 set, a body under a node header; bit 0 clear and bit 1
// set, the arbiter's format (bit 2: raw or a body under an arbiter header).
#include <chrono>

#include "common/arbiter_wire.hpp"
#include "common/limits.hpp"
#include "common/wire.hpp"
#include "tests/fuzz/harness.hpp"

namespace hactl::fuzz {
namespace {

// All this harness knows of the wire API is in this block: when the header changes, adapt
// these functions and regenerate the seeds (build/bin/hactl_fuzz_seeds tests/fuzz/datagram).
const ClusterConfig& cluster() {
  static const ClusterConfig c = [] {
    ClusterConfig out;
    out.name = "fuzz";
    for (const char* n : {"n1", "n2", "a-witness-with-a-longer-name"}) {
      out.nodes.push_back(
          NodeConfig{.name = n, .address = {"10.0.0.1", 5405}, .witness = false, .capacity = {}});
    }
    return out;
  }();
  return c;
}
std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& n : cluster().nodes) out.push_back(n.name);
  return out;
}
ClusterKey key() {
  ClusterKey k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(0xa5 ^ i);
  return k;
}
const WireCodec& codec() {
  static const WireCodec c(cluster(), key());
  return c;
}
constexpr std::uint64_t kIncarnation = 7;
constexpr std::uint64_t kSession = 0x5e55;
constexpr std::uint64_t kEcho = 0xec40;
constexpr std::uint64_t kSeq = 42;
Header header(NodeId sender, std::uint64_t seq) {
  const NodeId to{static_cast<std::uint16_t>((sender.value + 1) % cluster().nodes.size())};
  return Header{sender, to, kIncarnation, kSession, kEcho, seq};
}
// An envelope with the header the harness seals bodies under.
Envelope envelope(NodeId sender, std::uint64_t seq, Message message) {
  return Envelope{header(sender, seq), std::move(message)};
}
std::vector<std::uint8_t> seal_body(NodeId sender, Input body) {
  return seal_raw_body(names(), key(), header(sender, kSeq), body);
}
std::vector<std::uint8_t> seal(const Envelope& e) { return codec().seal(e); }
std::expected<Envelope, DropReason> open(Input datagram) { return codec().open(datagram); }
bool same_header(const Envelope& a, const Envelope& b) {
  return a.sender == b.sender && a.recipient == b.recipient && a.incarnation == b.incarnation &&
         a.session == b.session && a.echo == b.echo && a.seq == b.seq;
}
const ClusterKey& arbiter_key() {
  static const ClusterKey k = derive_arbiter_key(key());
  return k;
}
const ArbiterSealer& arbiter_sealer() {
  static const ArbiterSealer s(arbiter_key());
  return s;
}
ArbiterHeader arbiter_header(std::uint64_t seq) {
  return ArbiterHeader{"fuzz", "n1", "arbiter", kIncarnation, kSession, kEcho, seq};
}
bool same_arbiter(const ArbiterEnvelope& a, const ArbiterEnvelope& b) {
  return a.cluster == b.cluster && a.sender == b.sender && a.recipient == b.recipient &&
         a.incarnation == b.incarnation && a.session == b.session && a.echo == b.echo &&
         a.seq == b.seq && a.message == b.message;
}
// (end of the wire API's use)

bool same(const Envelope& a, const Envelope& b) {
  return same_header(a, b) && a.message == b.message;
}

// A whole host report in one chunk (common/wire.hpp, encode_host_report): what decodes must
// encode to the same bytes.
std::string host_report(const Envelope& e) {
  const auto* c = std::get_if<CheckChunk>(&e.message);
  if (c == nullptr || c->kind != CheckChunkKind::kReport || c->offset != 0) return {};
  const auto r = decode_host_report(c->data);
  if (!r) return {};
  if (encode_host_report(*r) != c->data) return "a host report decoded to other values than sent";
  return {};
}

// What opened must seal (within the size limit: seal asserts it) and open to the same envelope.
std::string reseal(const Envelope& e) {
  if (auto why = host_report(e); !why.empty()) return why;
  const auto again = open(seal(e));
  if (!again)
    return "an opened datagram, sealed again, is dropped: " + std::string(to_string(again.error()));
  if (!same(*again, e)) return "an opened datagram, sealed again, opens to another envelope";
  return {};
}

std::string raw(Input datagram) {
  const auto env = open(datagram);
  if (!env) {
    if (to_string(env.error()) == "unknown") return "a drop reason without a name";
    return {};
  }
  if (env->sender.value >= cluster().nodes.size()) return "opened with a sender out of range";
  return reseal(*env);
}

std::string body(NodeId sender, Input body) {
  const auto datagram = seal_body(sender, body);
  const auto env = open(datagram);
  if (datagram.size() > limits::kMaxDatagramSize) {
    if (env || env.error() != DropReason::kOversized) return "an oversized datagram not refused";
    return {};
  }
  if (!env) {
    if (env.error() != DropReason::kMalformedBody) {
      return "a valid header refused for " + std::string(to_string(env.error()));
    }
    return {};
  }
  if (!same_header(*env, envelope(sender, kSeq, {}))) {
    return "the header opened to other values than were sealed";
  }
  return reseal(*env);
}

std::string arbiter_reseal(const ArbiterEnvelope& e) {
  const auto again = open_arbiter(arbiter_sealer().seal(e), arbiter_key());
  if (!again) {
    return "an opened arbiter datagram, sealed again, is dropped: " +
           std::string(to_string(again.error()));
  }
  if (!same_arbiter(*again, e)) return "an opened arbiter datagram opens to another envelope";
  return {};
}

std::string arbiter_raw(Input datagram) {
  const auto cluster = peek_arbiter_cluster(datagram);
  const auto env = open_arbiter(datagram, arbiter_key());
  if (!env) {
    if (to_string(env.error()) == "unknown") return "a drop reason without a name";
    return {};
  }
  if (!cluster || *cluster != env->cluster) return "peek_arbiter_cluster disagrees with open";
  if (!travels_to_arbiter(env->message)) return "a message the arbiter does not take opened";
  return arbiter_reseal(*env);
}

std::string arbiter_body(Input body) {
  const auto datagram = arbiter_sealer().seal_body(arbiter_header(kSeq), body);
  const auto env = open_arbiter(datagram, arbiter_key());
  if (datagram.size() > limits::kMaxDatagramSize) {
    if (env || env.error() != DropReason::kOversized) return "an oversized datagram not refused";
    return {};
  }
  if (!env) {
    if (env.error() != DropReason::kMalformedBody) {
      return "a valid arbiter header refused for " + std::string(to_string(env.error()));
    }
    return {};
  }
  return arbiter_reseal(*env);
}

// The arbiter's format: its six messages (the election's four and its own two).
void add_arbiter_seeds(std::vector<std::vector<std::uint8_t>>& out,
                       const std::vector<Message>& messages) {
  using std::chrono::milliseconds;
  std::vector<Message> arbiter = {messages[1],
                                  messages[2],
                                  messages[3],
                                  messages[4],
                                  ArbiterClaim{Term{3}, true, 42, milliseconds{3000}, false},
                                  ArbiterAnswer{Term{3}, 42, true, true, "n1", milliseconds{2500}}};
  for (std::size_t i = 0; i < arbiter.size(); ++i) {
    ArbiterEnvelope e;
    static_cast<ArbiterHeader&>(e) = arbiter_header(kSeq + i);
    e.message = arbiter[i];
    std::vector<std::uint8_t> seed{2};
    const auto d = arbiter_sealer().seal(e);
    seed.insert(seed.end(), d.begin(), d.end());
    out.push_back(std::move(seed));
  }
}

}  // namespace

std::string datagram(Input input) {
  if (input.empty()) return raw(input);
  if ((input[0] & 3) == 2) {
    return (input[0] & 4) != 0 ? arbiter_body(input.subspan(1)) : arbiter_raw(input.subspan(1));
  }
  if ((input[0] & 1) == 0) return raw(input.subspan(1));
  if (input.size() < 2) return {};
  const auto sender = NodeId{static_cast<std::uint16_t>(input[1] % cluster().nodes.size())};
  return body(sender, input.subspan(2));
}

std::vector<std::vector<std::uint8_t>> datagram_seeds() {
  using std::chrono::milliseconds;
  std::vector<Message> messages = {
      Heartbeat{Term{7}, NodeId{1}, 42, 41, milliseconds{250}, false, true, {NodeId{2}}},
      PreVoteRequest{Term{3}, DocVersion{Term{2}, 17}},
      PreVoteResponse{Term{3}, true},
      VoteRequest{Term{4}, 99, DocVersion{Term{3}, 5}, true},
      VoteResponse{Term{4}, true, 99},
      ResourceReport{Term{5},
                     0xfeed,
                     12,
                     0,
                     3,
                     {ResourceEntry{ResourceRole::kStarted, true, false, false, 0, UINT32_MAX},
                      ResourceEntry{ResourceRole::kPromoted, true, true, true, 7, 1500},
                      ResourceEntry{ResourceRole::kStarted, true, false, false, 0, UINT32_MAX,
                                    VipCheck::kVerified, 212, 4}},
                     false},
      ActionRequest{Term{6}, 0xfeed, 77, 2, RequestKind::kPromote, 0x1234, 99},
      ActionResult{Term{6}, 77, 2, RequestKind::kPromote, true, 0, 13},
      DocChunk{Term{8}, DocChunkKind::kPropose, DocVersion{Term{7}, 2}, 4, 1, 77, 10, 0,
               "{\"a\":1}"},
      DocAck{Term{8}, DocVersion{Term{8}, 3}, 9, false, "refused"},
      FenceNotice{Term{9}, NodeId{2}, 0xdeadbeef, "ipmi-n3"},
      FenceRequest{Term{9}, 42, NodeId{1}, "ipmi-n2", "reboot"},
      FenceResult{Term{9}, 42, false, "exit 1"},
      VipCheckRequest{Term{9}, 5, 3, "10.213.0.100", "eth0", {2, 0, 10, 213, 0, 11}, 2000},
      VipCheckResult{Term{9}, 5, 3, true, {{2, 0, 10, 213, 0, 11}}, {{2, 0, 10, 213, 0, 12}}, ""},
      TimeoutNow{Term{10}},
      HandoverRequest{Term{10}, NodeId{0}},
      CheckChunk{CheckChunkKind::kCandidate, 11, 0x1234, 20, 0, "resources: []\nnodes:"},
      CheckChunk{CheckChunkKind::kReport, 11, 0x5678, 0, 0, ""},
  };
  // The report chunk carries a whole report.
  HostFinding f;
  f.index = 3;
  f.field = "resources[3].params.interface";
  f.looked_for = "eth9";
  f.known = {"eth0", "lo"};
  auto& report = std::get<CheckChunk>(messages.back());
  report.data = encode_host_report(HostReport{true, "", {f, f}});
  report.total = static_cast<std::uint32_t>(report.data.size());
  std::vector<std::vector<std::uint8_t>> out;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    std::vector<std::uint8_t> seed{0};
    const auto d = seal(envelope(NodeId{static_cast<std::uint16_t>(i % 3)}, kSeq + i, messages[i]));
    seed.insert(seed.end(), d.begin(), d.end());
    out.push_back(std::move(seed));
  }
  add_arbiter_seeds(out, messages);
  return out;
}

}  // namespace hactl::fuzz
