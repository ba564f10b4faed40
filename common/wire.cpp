// Datagram sealing and opening (libsodium XChaCha20-Poly1305), the anti-replay window and key
// files. Every read is bounds-checked through ByteReader; nothing here throws on bad input.
#include "common/wire.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/assert.hpp"
#include "common/byte_io.hpp"
#include "common/limits.hpp"

namespace hactl {
namespace {

static_assert(limits::kMaxNodes <= 32, "a notification's node lists travel as 32-bit masks");

std::uint32_t node_mask(const std::vector<std::uint16_t>& nodes) {
  std::uint32_t mask = 0;
  for (const std::uint16_t n : nodes) {
    if (n < 32) mask |= std::uint32_t{1} << n;
  }
  return mask;
}

std::vector<std::uint16_t> nodes_of_mask(std::uint32_t mask) {
  std::vector<std::uint16_t> out;
  for (std::uint16_t n = 0; n < 32; ++n) {
    if ((mask >> n) & 1U) out.push_back(n);
  }
  return out;
}

constexpr std::uint8_t kMagic0 = 'H';
constexpr std::uint8_t kMagic1 = 'A';
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::string_view kKeyPrefix = "hactl-key-v1:";

static_assert(kNonceBytes == 24 && kTagBytes == 16);
static_assert(kKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);

enum class BodyType : std::uint8_t {
  kHeartbeat = 1,
  kPreVoteRequest = 2,
  kPreVoteResponse = 3,
  kVoteRequest = 4,
  kVoteResponse = 5,
  kResourceReport = 6,
  kActionRequest = 7,
  kActionResult = 8,
  kDocChunk = 9,
  kDocAck = 10,
  kFenceNotice = 11,
  kFenceRequest = 12,
  kFenceResult = 13,
  kVipCheckRequest = 14,
  kVipCheckResult = 15,
  kTimeoutNow = 16,
  kHandoverRequest = 17,
  kCheckChunk = 18,
  kArbiterClaim = 19,
  kArbiterAnswer = 20,
};

std::string_view cut255(const std::string& s) { return std::string_view(s).substr(0, 255); }

void init_sodium() { HACTL_ASSERT(sodium_init() >= 0); }

struct BodyEncoder {
  ByteWriter& w;
  const std::vector<std::string>& names;
  void operator()(const Heartbeat& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kHeartbeat));
    w.u64(m.term.value);
    w.name(m.coordinator ? std::string_view(names.at(m.coordinator->value)) : std::string_view());
    w.u64(m.ping);
    w.u64(m.echo);
    w.u64(static_cast<std::uint64_t>(m.lease_remaining.count()));
    w.boolean(m.reply);
    w.boolean(m.grant);
    HACTL_ASSERT(m.released.size() <= limits::kMaxReleasesPerHeartbeat);
    w.u8(static_cast<std::uint8_t>(m.released.size()));
    for (const NodeId id : m.released) w.name(names.at(id.value));
  }
  void operator()(const ArbiterClaim& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kArbiterClaim));
    w.u64(m.term.value);
    w.boolean(m.leads);
    w.u64(m.ping);
    w.u64(static_cast<std::uint64_t>(m.promise.count()));
    w.boolean(m.probe);
  }
  void operator()(const ArbiterAnswer& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kArbiterAnswer));
    w.u64(m.term.value);
    w.u64(m.echo);
    w.boolean(m.granted);
    w.boolean(m.leads_acked);
    w.name(cut255(m.holder));
    w.u64(static_cast<std::uint64_t>(m.hold_left.count()));
  }
  void operator()(const PreVoteRequest& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kPreVoteRequest));
    w.u64(m.term.value);
    w.doc_version(m.doc);
  }
  void operator()(const PreVoteResponse& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kPreVoteResponse));
    w.u64(m.term.value);
    w.boolean(m.granted);
  }
  void operator()(const VoteRequest& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kVoteRequest));
    w.u64(m.term.value);
    w.u64(m.ping);
    w.doc_version(m.doc);
    w.boolean(m.transfer);
  }
  void operator()(const TimeoutNow& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kTimeoutNow));
    w.u64(m.term.value);
  }
  void operator()(const HandoverRequest& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kHandoverRequest));
    w.u64(m.term.value);
    w.name(m.target ? std::string_view(names.at(m.target->value)) : std::string_view());
  }
  void operator()(const VoteResponse& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kVoteResponse));
    w.u64(m.term.value);
    w.boolean(m.granted);
    w.u64(m.echo);
  }
  void operator()(const ResourceReport& m) const {
    HACTL_ASSERT(m.entries.size() <= kReportPageEntries);
    w.u8(static_cast<std::uint8_t>(BodyType::kResourceReport));
    w.u64(m.term.value);
    w.u64(m.config_id);
    w.u64(m.version);
    w.u32(m.first);
    w.u32(m.total);
    w.u8(static_cast<std::uint8_t>(m.entries.size()));
    for (const ResourceEntry& e : m.entries) {
      w.u8(static_cast<std::uint8_t>(e.role));
      const bool check = e.check != VipCheck::kNone || e.check_ms != 0 || e.announcements != 0;
      w.u8(static_cast<std::uint8_t>((e.probed ? 1 : 0) | (e.failed ? 2 : 0) | (e.busy ? 4 : 0) |
                                     (check ? 8 : 0)));
      w.u32(e.fail_count);
      w.u32(e.failure_age_ms);
      if (check) {  // only for vips held here: a page of them still fits a datagram
        w.u8(static_cast<std::uint8_t>(e.check));
        w.u32(e.check_ms);
        w.u8(e.announcements);
      }
    }
    w.boolean(m.leaving);
  }
  void operator()(const ActionRequest& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kActionRequest));
    w.u64(m.term.value);
    w.u64(m.config_id);
    w.u64(m.id);
    w.u32(m.index);
    w.u8(static_cast<std::uint8_t>(m.kind));
    w.u64(m.echo);
    w.u64(m.incarnation);
    if (m.kind != RequestKind::kNotify) return;
    // Each list as a bit mask of node indexes (kMaxNodes is 32).
    const CloneNotification& n = m.notification.value_or(CloneNotification{});
    w.u8(static_cast<std::uint8_t>(n.type));
    w.u8(static_cast<std::uint8_t>(n.operation));
    for (const auto* list : notify_lists(n)) w.u32(node_mask(*list));
  }
  void operator()(const ActionResult& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kActionResult));
    w.u64(m.term.value);
    w.u64(m.id);
    w.u32(m.index);
    w.u8(static_cast<std::uint8_t>(m.kind));
    w.boolean(m.ok);
    w.u8(m.code);
    w.u64(m.report_version);
  }
  void operator()(const DocChunk& m) const {
    HACTL_ASSERT(m.data.size() <= kDocChunkBytes);
    w.u8(static_cast<std::uint8_t>(BodyType::kDocChunk));
    w.u64(m.term.value);
    w.u8(static_cast<std::uint8_t>(m.kind));
    w.doc_version(m.version);
    w.u64(m.proposal);
    w.u64(m.digest);
    w.u64(m.base_digest);
    w.u32(m.total);
    w.u32(m.offset);
    w.text16(m.data);
  }
  void operator()(const CheckChunk& m) const {
    HACTL_ASSERT(m.data.size() <= kDocChunkBytes);
    w.u8(static_cast<std::uint8_t>(BodyType::kCheckChunk));
    w.u8(static_cast<std::uint8_t>(m.kind));
    w.u64(m.id);
    w.u64(m.digest);
    w.u32(m.total);
    w.u32(m.offset);
    w.text16(m.data);
  }
  void operator()(const DocAck& m) const {
    HACTL_ASSERT(m.error.size() <= kDocErrorBytes);
    w.u8(static_cast<std::uint8_t>(BodyType::kDocAck));
    w.u64(m.term.value);
    w.doc_version(m.version);
    w.u64(m.proposal);
    w.boolean(m.ok);
    w.text16(m.error);
  }
  void operator()(const FenceNotice& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kFenceNotice));
    w.u64(m.term.value);
    w.name(names.at(m.node.value));
    w.u64(m.incarnation);
    w.name(cut255(m.device));
  }
  void operator()(const FenceRequest& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kFenceRequest));
    w.u64(m.term.value);
    w.u64(m.id);
    w.name(names.at(m.target.value));
    w.name(cut255(m.device));
    w.name(cut255(m.action));
  }
  void operator()(const FenceResult& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kFenceResult));
    w.u64(m.term.value);
    w.u64(m.id);
    w.boolean(m.ok);
    w.name(cut255(m.detail));
  }
  void operator()(const VipCheckRequest& m) const {
    w.u8(static_cast<std::uint8_t>(BodyType::kVipCheckRequest));
    w.u64(m.term.value);
    w.u64(m.id);
    w.u32(m.index);
    w.name(cut255(m.address));
    w.name(cut255(m.interface));
    w.bytes(m.mac.data(), m.mac.size());
    w.u32(m.window_ms);
  }
  void operator()(const VipCheckResult& m) const {
    HACTL_ASSERT(m.announced.size() <= kMaxCheckMacs && m.answered.size() <= kMaxCheckMacs);
    w.u8(static_cast<std::uint8_t>(BodyType::kVipCheckResult));
    w.u64(m.term.value);
    w.u64(m.id);
    w.u32(m.index);
    w.boolean(m.probed);
    for (const auto* list : {&m.announced, &m.answered}) {
      w.u8(static_cast<std::uint8_t>(list->size()));
      for (const MacAddress& mac : *list) w.bytes(mac.data(), mac.size());
    }
    w.name(cut255(m.detail));
  }
};

bool read_mac(ByteReader& r, MacAddress& mac) {
  for (auto& b : mac) {
    if (!r.u8(b)) return false;
  }
  return true;
}

bool read_macs(ByteReader& r, std::vector<MacAddress>& list) {
  std::uint8_t n = 0;
  if (!r.u8(n) || n > kMaxCheckMacs) return false;
  list.resize(n);
  for (MacAddress& mac : list) {
    if (!read_mac(r, mac)) return false;
  }
  return true;
}

std::optional<NodeId> find_name(const std::vector<std::string>& names, std::string_view s) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == s) return NodeId{static_cast<std::uint16_t>(i)};
  }
  return std::nullopt;
}

std::optional<Message> decode_heartbeat(ByteReader& r, const std::vector<std::string>& names) {
  Heartbeat m;
  std::string coordinator;
  std::uint64_t lease = 0;
  std::uint8_t released = 0;
  if (!r.u64(m.term.value) || !r.name(coordinator) || !r.u64(m.ping) || !r.u64(m.echo) ||
      !r.u64(lease) || !r.boolean(m.reply) || !r.boolean(m.grant) || !r.u8(released) ||
      released > limits::kMaxReleasesPerHeartbeat) {
    return std::nullopt;
  }
  for (std::uint8_t k = 0; k < released; ++k) {
    std::string name;
    if (!r.name(name)) return std::nullopt;
    const auto id = find_name(names, name);
    if (!id) return std::nullopt;
    m.released.push_back(*id);
  }
  if (lease > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  m.lease_remaining = Duration{static_cast<Duration::rep>(lease)};
  if (!coordinator.empty()) {
    m.coordinator = find_name(names, coordinator);
    if (!m.coordinator) return std::nullopt;
  }
  return m;
}

std::optional<Message> decode_handover(ByteReader& r, const std::vector<std::string>& names) {
  HandoverRequest m;
  std::string target;
  if (!r.u64(m.term.value) || !r.name(target)) return std::nullopt;
  if (!target.empty()) {
    m.target = find_name(names, target);
    if (!m.target) return std::nullopt;
  }
  return m;
}

bool decode_kind(ByteReader& r, RequestKind& kind) {
  std::uint8_t k = 0;
  if (!r.u8(k) || k > static_cast<std::uint8_t>(RequestKind::kNotify)) return false;
  kind = static_cast<RequestKind>(k);
  return true;
}

std::optional<CloneNotification> decode_notification(ByteReader& r) {
  CloneNotification n;
  std::uint8_t type = 0, operation = 0;
  if (!r.u8(type) || !r.u8(operation) || type > static_cast<std::uint8_t>(NotifyType::kPost) ||
      operation > static_cast<std::uint8_t>(NotifyOperation::kDemote)) {
    return std::nullopt;
  }
  n.type = static_cast<NotifyType>(type);
  n.operation = static_cast<NotifyOperation>(operation);
  for (auto* list : notify_lists(n)) {
    std::uint32_t mask = 0;
    if (!r.u32(mask)) return std::nullopt;
    *list = nodes_of_mask(mask);
  }
  return n;
}

std::optional<Message> decode_report(ByteReader& r) {
  ResourceReport m;
  std::uint8_t count = 0;
  if (!r.u64(m.term.value) || !r.u64(m.config_id) || !r.u64(m.version) || !r.u32(m.first) ||
      !r.u32(m.total) || !r.u8(count) || count > kReportPageEntries ||
      m.total > limits::kMaxResources || m.first > m.total || count > m.total - m.first) {
    return std::nullopt;
  }
  m.entries.resize(count);
  for (ResourceEntry& e : m.entries) {
    std::uint8_t role = 0, flags = 0;
    if (!r.u8(role) || role > static_cast<std::uint8_t>(ResourceRole::kPromoted) || !r.u8(flags) ||
        flags > 15 || !r.u32(e.fail_count) || !r.u32(e.failure_age_ms)) {
      return std::nullopt;
    }
    if ((flags & 8) != 0) {
      std::uint8_t check = 0;
      if (!r.u8(check) || check > static_cast<std::uint8_t>(VipCheck::kConflict) ||
          !r.u32(e.check_ms) || !r.u8(e.announcements)) {
        return std::nullopt;
      }
      e.check = static_cast<VipCheck>(check);
    }
    e.role = static_cast<ResourceRole>(role);
    e.probed = (flags & 1) != 0;
    e.failed = (flags & 2) != 0;
    e.busy = (flags & 4) != 0;
  }
  if (!r.boolean(m.leaving)) return std::nullopt;
  return m;
}

std::optional<Message> decode_check_chunk(ByteReader& r) {
  CheckChunk m;
  std::uint8_t kind = 0;
  if (!r.u8(kind) || kind > static_cast<std::uint8_t>(CheckChunkKind::kReport) || !r.u64(m.id) ||
      !r.u64(m.digest) || !r.u32(m.total) || !r.u32(m.offset) ||
      !r.text16(m.data, kDocChunkBytes)) {
    return std::nullopt;
  }
  m.kind = static_cast<CheckChunkKind>(kind);
  const std::size_t most =
      m.kind == CheckChunkKind::kCandidate ? limits::kMaxConfigBytes : limits::kMaxHostReportBytes;
  if (m.total == 0 || m.total > most || m.offset >= m.total || m.data.size() > m.total - m.offset)
    return std::nullopt;
  return m;
}

// A host report's finding: severity, subject, problem and index; when `detailed`, the strings.
void encode_finding(ByteWriter& w, const HostFinding& f, bool detailed) {
  w.u8(static_cast<std::uint8_t>(f.severity));
  w.u8(static_cast<std::uint8_t>(f.subject));
  w.u8(static_cast<std::uint8_t>(f.problem));
  w.u32(f.index);
  if (!detailed) return;
  w.name(cut255(f.field));
  w.name(cut255(f.looked_for));
  w.name(cut255(f.detail));
  const std::size_t known = std::min<std::size_t>(f.known.size(), kMaxKnownInReport);
  w.u8(static_cast<std::uint8_t>(known));
  for (std::size_t i = 0; i < known; ++i) w.name(cut255(f.known[i]));
}

bool decode_finding(ByteReader& r, HostFinding& f, bool detailed) {
  std::uint8_t severity = 0, subject = 0, problem = 0, known = 0;
  if (!r.u8(severity) || !r.u8(subject) || !r.u8(problem) || !r.u32(f.index)) return false;
  if (severity > static_cast<std::uint8_t>(HostSeverity::kWarning) ||
      subject > static_cast<std::uint8_t>(HostSubject::kFenceAgent) ||
      problem > static_cast<std::uint8_t>(HostProblem::kUnreachable)) {
    return false;
  }
  f.severity = static_cast<HostSeverity>(severity);
  f.subject = static_cast<HostSubject>(subject);
  f.problem = static_cast<HostProblem>(problem);
  if (!detailed) return true;
  if (!r.name(f.field) || !r.name(f.looked_for) || !r.name(f.detail) || !r.u8(known) ||
      known > kMaxKnownInReport) {
    return false;
  }
  f.known.resize(known);
  for (auto& k : f.known) {
    if (!r.name(k)) return false;
  }
  return true;
}

// A duration on the wire: microseconds' worth of Duration ticks, at most `max`.
bool read_duration(ByteReader& r, Duration& d, Duration max) {
  std::uint64_t v = 0;
  if (!r.u64(v) || v > static_cast<std::uint64_t>(max.count())) return false;
  d = Duration{static_cast<Duration::rep>(v)};
  return true;
}

std::optional<Message> decode_arbiter_claim(ByteReader& r) {
  ArbiterClaim m;
  if (r.u64(m.term.value) && r.boolean(m.leads) && r.u64(m.ping) &&
      read_duration(r, m.promise, limits::kMaxArbiterPromise) && r.boolean(m.probe)) {
    return m;
  }
  return std::nullopt;
}

std::optional<Message> decode_arbiter_answer(ByteReader& r) {
  ArbiterAnswer m;
  if (r.u64(m.term.value) && r.u64(m.echo) && r.boolean(m.granted) && r.boolean(m.leads_acked) &&
      r.name(m.holder) && read_duration(r, m.hold_left, limits::kMaxArbiterPromise)) {
    return m;
  }
  return std::nullopt;
}

std::optional<Message> decode_body(ByteReader& r, const std::vector<std::string>& names) {
  std::uint8_t type = 0;
  if (!r.u8(type)) return std::nullopt;
  std::optional<Message> out;
  switch (static_cast<BodyType>(type)) {
    case BodyType::kHeartbeat:
      out = decode_heartbeat(r, names);
      break;
    case BodyType::kPreVoteRequest: {
      PreVoteRequest m;
      if (r.u64(m.term.value) && r.doc_version(m.doc)) out = m;
      break;
    }
    case BodyType::kPreVoteResponse: {
      PreVoteResponse m;
      if (r.u64(m.term.value) && r.boolean(m.granted)) out = m;
      break;
    }
    case BodyType::kVoteRequest: {
      VoteRequest m;
      if (r.u64(m.term.value) && r.u64(m.ping) && r.doc_version(m.doc) && r.boolean(m.transfer))
        out = m;
      break;
    }
    case BodyType::kTimeoutNow: {
      TimeoutNow m;
      if (r.u64(m.term.value)) out = m;
      break;
    }
    case BodyType::kHandoverRequest:
      out = decode_handover(r, names);
      break;
    case BodyType::kVoteResponse: {
      VoteResponse m;
      if (r.u64(m.term.value) && r.boolean(m.granted) && r.u64(m.echo)) out = m;
      break;
    }
    case BodyType::kResourceReport:
      out = decode_report(r);
      break;
    case BodyType::kActionRequest: {
      ActionRequest m;
      if (!r.u64(m.term.value) || !r.u64(m.config_id) || !r.u64(m.id) || !r.u32(m.index) ||
          !decode_kind(r, m.kind) || !r.u64(m.echo) || !r.u64(m.incarnation))
        break;
      if (m.kind == RequestKind::kNotify) {
        m.notification = decode_notification(r);
        if (!m.notification) break;
      }
      out = m;
      break;
    }
    case BodyType::kActionResult: {
      ActionResult m;
      if (r.u64(m.term.value) && r.u64(m.id) && r.u32(m.index) && decode_kind(r, m.kind) &&
          r.boolean(m.ok) && r.u8(m.code) && r.u64(m.report_version))
        out = m;
      break;
    }
    case BodyType::kDocChunk: {
      DocChunk m;
      std::uint8_t kind = 0;
      if (r.u64(m.term.value) && r.u8(kind) &&
          kind <= static_cast<std::uint8_t>(DocChunkKind::kPropose) && r.doc_version(m.version) &&
          r.u64(m.proposal) && r.u64(m.digest) && r.u64(m.base_digest) && r.u32(m.total) &&
          r.u32(m.offset) && r.text16(m.data, kDocChunkBytes) && m.total <= limits::kMaxDocBytes &&
          m.offset <= m.total && m.data.size() <= m.total - m.offset) {
        m.kind = static_cast<DocChunkKind>(kind);
        out = m;
      }
      break;
    }
    case BodyType::kCheckChunk:
      out = decode_check_chunk(r);
      break;
    case BodyType::kArbiterClaim:
      out = decode_arbiter_claim(r);
      break;
    case BodyType::kArbiterAnswer:
      out = decode_arbiter_answer(r);
      break;
    case BodyType::kDocAck: {
      DocAck m;
      if (r.u64(m.term.value) && r.doc_version(m.version) && r.u64(m.proposal) && r.boolean(m.ok) &&
          r.text16(m.error, kDocErrorBytes))
        out = m;
      break;
    }
    case BodyType::kFenceNotice: {
      FenceNotice m;
      std::string node;
      if (r.u64(m.term.value) && r.name(node) && r.u64(m.incarnation) && r.name(m.device)) {
        if (const auto id = find_name(names, node)) {
          m.node = *id;
          out = m;
        }
      }
      break;
    }
    case BodyType::kFenceRequest: {
      FenceRequest m;
      std::string target;
      if (r.u64(m.term.value) && r.u64(m.id) && r.name(target) && r.name(m.device) &&
          r.name(m.action)) {
        if (const auto id = find_name(names, target)) {
          m.target = *id;
          out = m;
        }
      }
      break;
    }
    case BodyType::kFenceResult: {
      FenceResult m;
      if (r.u64(m.term.value) && r.u64(m.id) && r.boolean(m.ok) && r.name(m.detail)) out = m;
      break;
    }
    case BodyType::kVipCheckRequest: {
      VipCheckRequest m;
      if (r.u64(m.term.value) && r.u64(m.id) && r.u32(m.index) && r.name(m.address) &&
          r.name(m.interface) && read_mac(r, m.mac) && r.u32(m.window_ms)) {
        out = m;
      }
      break;
    }
    case BodyType::kVipCheckResult: {
      VipCheckResult m;
      if (r.u64(m.term.value) && r.u64(m.id) && r.u32(m.index) && r.boolean(m.probed) &&
          read_macs(r, m.announced) && read_macs(r, m.answered) && r.name(m.detail)) {
        out = m;
      }
      break;
    }
  }
  if (!out || r.left() != 0) return std::nullopt;  // trailing bytes are malformed too
  return out;
}

}  // namespace

std::vector<std::uint8_t> encode_message_body(const Message& message,
                                              const std::vector<std::string>& names) {
  ByteWriter w;
  std::visit(BodyEncoder{w, names}, message);
  return std::move(w.data());
}

std::optional<Message> decode_message_body(std::span<const std::uint8_t> body,
                                           const std::vector<std::string>& names) {
  ByteReader r(body);
  return decode_body(r, names);
}

std::string encode_host_report(const HostReport& report) {
  ByteWriter w;
  w.u8(kHostReportFormat);
  w.boolean(report.checked);
  w.name(cut255(report.detail));
  const std::size_t room = (limits::kMaxHostReportBytes - 512) / kBriefFindingBytes;
  const std::size_t n = std::min(report.findings.size(), room);
  w.u32(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    encode_finding(w, report.findings[i], i < kMaxDetailedFindings);
  }
  const auto& d = w.data();
  HACTL_ASSERT(d.size() <= limits::kMaxHostReportBytes);
  return std::string(d.begin(), d.end());
}

std::optional<HostReport> decode_host_report(std::string_view bytes) {
  ByteReader r(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                             bytes.size()));
  HostReport report;
  std::uint8_t format = 0;
  std::uint32_t n = 0;
  if (!r.u8(format) || format != kHostReportFormat || !r.boolean(report.checked) ||
      !r.name(report.detail) || !r.u32(n) || n > r.left() / kBriefFindingBytes) {
    return std::nullopt;
  }
  report.findings.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!decode_finding(r, report.findings[i], i < kMaxDetailedFindings)) return std::nullopt;
  }
  if (r.left() != 0) return std::nullopt;
  return report;
}

std::string_view to_string(VipCheck c) {
  switch (c) {
    case VipCheck::kNone:
      return "none";
    case VipCheck::kPending:
      return "pending";
    case VipCheck::kVerified:
      return "verified";
    case VipCheck::kUnverified:
      return "unverified";
    case VipCheck::kConflict:
      return "conflict";
  }
  return "none";
}

std::string to_string(const MacAddress& mac) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < mac.size(); ++i) {
    if (i > 0) out += ':';
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

std::string_view to_string(DropReason r) {
  switch (r) {
    case DropReason::kTruncated:
      return "truncated";
    case DropReason::kOversized:
      return "oversized";
    case DropReason::kBadMagic:
      return "bad_magic";
    case DropReason::kBadVersion:
      return "bad_version";
    case DropReason::kUnknownSender:
      return "unknown_sender";
    case DropReason::kAuthFailed:
      return "auth_failed";
    case DropReason::kMalformedBody:
      return "malformed_body";
    case DropReason::kReplayed:
      return "replayed";
    case DropReason::kStaleIncarnation:
      return "stale_incarnation";
    case DropReason::kFromSelf:
      return "from_self";
    case DropReason::kWrongSource:
      return "wrong_source";
    case DropReason::kWrongRecipient:
      return "wrong_recipient";
    case DropReason::kStaleEcho:
      return "stale_echo";
  }
  return "unknown";
}

WireCodec::WireCodec(const ClusterConfig& config, const ClusterKey& key) : key_(key) {
  init_sodium();
  randombytes_buf(nonce_prefix_.data(), nonce_prefix_.size());
  for (const auto& n : config.nodes) names_.push_back(n.name);
}

namespace {

std::vector<std::uint8_t> seal_with_nonce(const std::vector<std::string>& names,
                                          const ClusterKey& key, const Header& h,
                                          std::span<const std::uint8_t> body,
                                          const unsigned char (&nonce)[kNonceBytes]) {
  ByteWriter w;
  w.u8(kMagic0);
  w.u8(kMagic1);
  w.u8(kWireVersion);
  w.u8(0);  // flags
  w.name(names.at(h.sender.value));
  w.name(names.at(h.recipient.value));
  w.u64(h.incarnation);
  w.u64(h.session);
  w.u64(h.echo);
  w.u64(h.seq);
  w.bytes(nonce, sizeof nonce);
  std::vector<std::uint8_t>& out = w.data();
  const std::size_t header_len = out.size();
  out.resize(header_len + body.size() + kTagBytes);
  unsigned long long sealed_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + header_len, &sealed_len, body.data(),
                                             body.size(), out.data(), header_len, nullptr, nonce,
                                             key.data());
  out.resize(header_len + sealed_len);
  return out;
}

}  // namespace

std::uint64_t new_session() {
  init_sodium();
  std::uint64_t s = 0;
  while (s == 0) randombytes_buf(&s, sizeof s);
  return s;
}

std::vector<std::uint8_t> seal_raw_body(const std::vector<std::string>& names,
                                        const ClusterKey& key, const Header& header,
                                        std::span<const std::uint8_t> body) {
  unsigned char nonce[kNonceBytes];
  randombytes_buf(nonce, sizeof nonce);
  return seal_with_nonce(names, key, header, body, nonce);
}

std::vector<std::uint8_t> WireCodec::seal(const Envelope& env) const {
  ByteWriter body;
  std::visit(BodyEncoder{body, names_}, env.message);
  unsigned char nonce[kNonceBytes];
  std::memcpy(nonce, nonce_prefix_.data(), nonce_prefix_.size());
  const std::uint64_t count = sealed_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < 8; ++i) {
    nonce[nonce_prefix_.size() + i] = static_cast<unsigned char>(count >> (8 * i));
  }
  auto out = seal_with_nonce(names_, key_, env, body.data(), nonce);
  HACTL_ASSERT(out.size() <= limits::kMaxDatagramSize);
  return out;
}

std::expected<Envelope, DropReason> WireCodec::open(std::span<const std::uint8_t> datagram) const {
  if (datagram.size() > limits::kMaxDatagramSize) return std::unexpected(DropReason::kOversized);
  ByteReader r(datagram);
  std::uint8_t m0 = 0, m1 = 0, version = 0, flags = 0;
  if (!r.u8(m0) || !r.u8(m1)) return std::unexpected(DropReason::kTruncated);
  if (m0 != kMagic0 || m1 != kMagic1) return std::unexpected(DropReason::kBadMagic);
  if (!r.u8(version) || !r.u8(flags)) return std::unexpected(DropReason::kTruncated);
  if (version != kWireVersion) return std::unexpected(DropReason::kBadVersion);
  Envelope env;
  std::string sender, recipient;
  if (!r.name(sender) || !r.name(recipient) || !r.u64(env.incarnation) || !r.u64(env.session) ||
      !r.u64(env.echo) || !r.u64(env.seq) || !r.skip(kNonceBytes)) {
    return std::unexpected(DropReason::kTruncated);
  }
  const std::size_t header_len = r.pos();
  if (r.left() < kTagBytes) return std::unexpected(DropReason::kTruncated);
  const auto id = find_name(names_, sender);
  if (!id) return std::unexpected(DropReason::kUnknownSender);
  env.sender = *id;
  std::vector<std::uint8_t> body(r.left() - kTagBytes);
  unsigned long long body_len = 0;
  const unsigned char* nonce = datagram.data() + header_len - kNonceBytes;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          body.data(), &body_len, nullptr, datagram.data() + header_len, r.left(), datagram.data(),
          header_len, nonce, key_.data()) != 0) {
    return std::unexpected(DropReason::kAuthFailed);
  }
  if (flags != 0) return std::unexpected(DropReason::kMalformedBody);
  const auto to = find_name(names_, recipient);
  if (!to) return std::unexpected(DropReason::kWrongRecipient);
  env.recipient = *to;
  ByteReader br(std::span<const std::uint8_t>(body.data(), body_len));
  auto message = decode_body(br, names_);
  if (!message) return std::unexpected(DropReason::kMalformedBody);
  env.message = std::move(*message);
  return env;
}

bool SeqWindow::accept(std::uint64_t seq) {
  if (seq == 0) return false;
  if (!started_ || seq > highest_) {
    const std::uint64_t shift = started_ ? seq - highest_ : kWindow;
    bitmap_ = shift >= kWindow ? 1 : (bitmap_ << shift) | 1;
    highest_ = seq;
    started_ = true;
    return true;
  }
  const std::uint64_t age = highest_ - seq;
  if (age >= kWindow) return false;
  const std::uint64_t bit = std::uint64_t{1} << age;
  if ((bitmap_ & bit) != 0) return false;
  bitmap_ |= bit;
  return true;
}

PeerGate::Verdict PeerGate::check(const Header& h) {
  if (known_ && h.incarnation < incarnation_) return Verdict::kStaleIncarnation;
  // Two boots never share an incarnation, so another challenge under the known one is forged
  // or from a peer that lost its state and its clock: nothing to learn from it.
  if (known_ && h.incarnation == incarnation_ && h.session != session_) {
    return Verdict::kStaleIncarnation;
  }
  if (!known_ || h.incarnation > incarnation_) {
    known_ = true;
    incarnation_ = h.incarnation;
    session_ = h.session;
    accepted_ = false;
    window_.reset();
  }
  if (h.echo != own_session_) return Verdict::kStaleEcho;
  if (!window_.accept(h.seq)) return Verdict::kReplayed;
  if (!accepted_) {
    accepted_ = true;
    return Verdict::kAcceptNewIncarnation;
  }
  return Verdict::kAccept;
}

ClusterKey generate_key() {
  init_sodium();
  ClusterKey key;
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  return key;
}

std::string format_key_file(const ClusterKey& key) {
  init_sodium();
  char b64[sodium_base64_ENCODED_LEN(kKeyBytes, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(b64, sizeof b64, key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out = std::string(kKeyPrefix) + b64 + "\n";
  sodium_memzero(b64, sizeof b64);
  return out;
}

std::expected<ClusterKey, std::string> parse_key_file(std::string_view text) {
  init_sodium();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  if (!text.starts_with(kKeyPrefix)) {
    return std::unexpected("not a hactl key file (expected a line starting with '" +
                           std::string(kKeyPrefix) + "'; make one with `hactl keygen PATH`)");
  }
  text.remove_prefix(kKeyPrefix.size());
  ClusterKey key;
  std::size_t len = 0;
  if (sodium_base642bin(key.data(), key.size(), text.data(), text.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != kKeyBytes) {
    return std::unexpected(
        "the key is not 32 bytes of base64; make a new one with `hactl keygen PATH`");
  }
  return key;
}

std::expected<ClusterKey, std::string> load_key_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return std::unexpected("key file " + path +
                             " does not exist: create one with `hactl keygen " + path +
                             "` and copy it to every node (mode 0600)");
    }
    return std::unexpected("cannot open key file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::unexpected("key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return std::unexpected("key file " + path +
                           " is readable or writable by group or others (mode " + mode +
                           "): run chmod 600 " + path);
  }
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return std::unexpected("cannot read key file " + path + ": " + std::strerror(errno));
  auto key = parse_key_file(std::string_view(buf, static_cast<std::size_t>(n)));
  sodium_memzero(buf, sizeof buf);
  if (!key) return std::unexpected("key file " + path + ": " + key.error());
  return key;
}

std::expected<void, std::string> write_new_key_file(const std::string& path) {
  ClusterKey key = generate_key();
  auto written = write_key_file(path, key);
  sodium_memzero(key.data(), key.size());
  return written;
}

std::expected<void, std::string> write_key_file(const std::string& path, const ClusterKey& key) {
  init_sodium();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return std::unexpected(path +
                             " already exists; hactl never overwrites a key (remove it first "
                             "if you really mean to replace the cluster's key)");
    }
    return std::unexpected("cannot create " + path + ": " + std::strerror(errno));
  }
  std::string text = format_key_file(key);
  const bool ok = ::fchmod(fd, 0600) == 0 &&
                  ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const int saved = errno;
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return std::unexpected("cannot write " + path + ": " + std::strerror(saved));
  }
  return {};
}

}  // namespace hactl
