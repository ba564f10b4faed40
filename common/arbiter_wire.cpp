// The arbiter's datagrams (see arbiter_wire.hpp). Every read is bounds-checked; nothing here
// throws on bad input.
#include "common/arbiter_wire.hpp"

#include <sodium.h>

#include <cstring>

#include "common/assert.hpp"
#include "common/byte_io.hpp"
#include "common/limits.hpp"

namespace hactl {
namespace {

constexpr std::uint8_t kMagic0 = 'H';
constexpr std::uint8_t kMagic1 = 'Q';
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "hactlarb";
constexpr std::uint64_t kArbiterSubkey = 1;
static_assert(kNonceBytes == 24 && kTagBytes == 16);
static_assert(crypto_kdf_KEYBYTES == kKeyBytes &&
              sizeof kKdfContext == crypto_kdf_CONTEXTBYTES + 1);

// The messages name no node, so their bodies need no node list.
const std::vector<std::string> kNoNames;

// Magic, version and flags; the cluster's name after them.
std::expected<std::uint8_t, DropReason> read_preamble(ByteReader& r, std::size_t size) {
  if (size > limits::kMaxDatagramSize) return std::unexpected(DropReason::kOversized);
  std::uint8_t m0 = 0, m1 = 0, version = 0, flags = 0;
  if (!r.u8(m0) || !r.u8(m1)) return std::unexpected(DropReason::kTruncated);
  if (m0 != kMagic0 || m1 != kMagic1) return std::unexpected(DropReason::kBadMagic);
  if (!r.u8(version) || !r.u8(flags)) return std::unexpected(DropReason::kTruncated);
  if (version != kArbiterWireVersion) return std::unexpected(DropReason::kBadVersion);
  return flags;
}

// The clear header after the preamble, up to and including the nonce.
bool read_header(ByteReader& r, ArbiterHeader& h) {
  return r.name(h.cluster) && r.name(h.sender) && r.name(h.recipient) && r.u64(h.incarnation) &&
         r.u64(h.session) && r.u64(h.echo) && r.u64(h.seq) && r.skip(kNonceBytes);
}

}  // namespace

bool travels_to_arbiter(const Message& message) {
  return std::holds_alternative<ArbiterClaim>(message) ||
         std::holds_alternative<ArbiterAnswer>(message) ||
         std::holds_alternative<PreVoteRequest>(message) ||
         std::holds_alternative<PreVoteResponse>(message) ||
         std::holds_alternative<VoteRequest>(message) ||
         std::holds_alternative<VoteResponse>(message);
}

std::expected<std::string, DropReason> peek_arbiter_cluster(
    std::span<const std::uint8_t> datagram) {
  ByteReader r(datagram);
  if (auto flags = read_preamble(r, datagram.size()); !flags) return std::unexpected(flags.error());
  std::string cluster;
  if (!r.name(cluster)) return std::unexpected(DropReason::kTruncated);
  return cluster;
}

std::expected<ArbiterEnvelope, DropReason> open_arbiter(std::span<const std::uint8_t> datagram,
                                                        const ClusterKey& arbiter_key) {
  ByteReader r(datagram);
  const auto flags = read_preamble(r, datagram.size());
  if (!flags) return std::unexpected(flags.error());
  ArbiterEnvelope env;
  if (!read_header(r, env)) return std::unexpected(DropReason::kTruncated);
  const std::size_t header_len = r.pos();
  if (r.left() < kTagBytes) return std::unexpected(DropReason::kTruncated);
  std::vector<std::uint8_t> body(r.left() - kTagBytes);
  unsigned long long body_len = 0;
  const unsigned char* nonce = datagram.data() + header_len - kNonceBytes;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          body.data(), &body_len, nullptr, datagram.data() + header_len, r.left(), datagram.data(),
          header_len, nonce, arbiter_key.data()) != 0) {
    return std::unexpected(DropReason::kAuthFailed);
  }
  if (*flags != 0 || env.cluster.empty() || env.sender.empty() || env.recipient.empty()) {
    return std::unexpected(DropReason::kMalformedBody);
  }
  auto message = decode_message_body(std::span(body.data(), body_len), kNoNames);
  if (!message || !travels_to_arbiter(*message)) return std::unexpected(DropReason::kMalformedBody);
  env.message = std::move(*message);
  return env;
}

Header gate_header(const ArbiterHeader& h) {
  return Header{NodeId{0}, NodeId{0}, h.incarnation, h.session, h.echo, h.seq};
}

ArbiterSealer::ArbiterSealer(const ClusterKey& arbiter_key) : key_(arbiter_key) {
  HACTL_ASSERT(sodium_init() >= 0);
  randombytes_buf(nonce_prefix_.data(), nonce_prefix_.size());
}

ArbiterSealer::~ArbiterSealer() { sodium_memzero(key_.data(), key_.size()); }

std::vector<std::uint8_t> ArbiterSealer::seal(const ArbiterEnvelope& env) const {
  HACTL_ASSERT(travels_to_arbiter(env.message));
  auto out = seal_body(env, encode_message_body(env.message, kNoNames));
  // The largest of the six (an answer naming a 255-byte holder, three 255-byte names) is
  // about 1,130 bytes.
  HACTL_ASSERT(out.size() <= limits::kMaxDatagramSize);
  return out;
}

std::vector<std::uint8_t> ArbiterSealer::seal_body(const ArbiterHeader& env,
                                                   std::span<const std::uint8_t> body) const {
  HACTL_ASSERT(!env.cluster.empty() && !env.sender.empty() && !env.recipient.empty());
  ByteWriter w;
  for (const std::uint8_t b : {kMagic0, kMagic1, kArbiterWireVersion, std::uint8_t{0}}) w.u8(b);
  w.name(env.cluster);
  w.name(env.sender);
  w.name(env.recipient);
  for (const std::uint64_t v : {env.incarnation, env.session, env.echo, env.seq}) w.u64(v);
  unsigned char nonce[kNonceBytes];
  std::memcpy(nonce, nonce_prefix_.data(), nonce_prefix_.size());
  const std::uint64_t count = sealed_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < 8; ++i) {
    nonce[nonce_prefix_.size() + i] = static_cast<unsigned char>(count >> (8 * i));
  }
  w.bytes(nonce, kNonceBytes);
  std::vector<std::uint8_t> out = std::move(w.data());
  const std::size_t header_len = out.size();
  out.resize(header_len + body.size() + kTagBytes);
  unsigned long long sealed_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + header_len, &sealed_len, body.data(),
                                             body.size(), out.data(), header_len, nullptr, nonce,
                                             key_.data());
  out.resize(header_len + sealed_len);
  return out;
}

ClusterKey derive_arbiter_key(const ClusterKey& cluster_key) {
  HACTL_ASSERT(sodium_init() >= 0);
  ClusterKey out;
  HACTL_ASSERT(crypto_kdf_derive_from_key(out.data(), out.size(), kArbiterSubkey, kKdfContext,
                                          cluster_key.data()) == 0);
  return out;
}

}  // namespace hactl
