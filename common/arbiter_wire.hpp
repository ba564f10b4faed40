// The datagrams between a cluster's nodes and a shared hactl-arbiter (docs/pairs.md). One arbiter
// serves many clusters, each under its own key, so the clear header names the cluster first: the
// arbiter finds the key by that name before it decrypts anything.
//
//   magic "HQ" | version u8 | flags u8 | cluster (u8 len + bytes) | sender name | recipient name |
//   incarnation u64 | session u64 | echo u64 | seq u64 | nonce[24] | ciphertext (body + tag)
//
// Sealed as WireCodec seals (XChaCha20-Poly1305, the whole clear header as associated data, the
// body encoded as common/wire.hpp encodes it), but under the cluster's *arbiter key*, derived
// from the cluster key (derive_arbiter_key): the arbiter's host never holds the cluster key, so
// it cannot forge what nodes send each other. Only the arbiter's six messages travel this way
// (ArbiterClaim and the election's requests from a node, ArbiterAnswer and the election's
// responses back); any other body is kMalformedBody. Replay protection is PeerGate's, fed the
// header's numbers (gate_header).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "common/messages.hpp"
#include "common/wire.hpp"

namespace hactl {

inline constexpr std::uint8_t kArbiterWireVersion = 1;
inline constexpr std::uint16_t kDefaultArbiterPort = 5406;

struct ArbiterHeader {
  std::string cluster;    // 1 to 255 bytes
  std::string sender;     // a node's name, or the arbiter's (as the cluster file names it)
  std::string recipient;  // the other end's name
  std::uint64_t incarnation = 0;
  std::uint64_t session = 0;
  std::uint64_t echo = 0;
  std::uint64_t seq = 0;
};

struct ArbiterEnvelope : ArbiterHeader {
  Message message;
};

// True for the six messages this format carries.
bool travels_to_arbiter(const Message& message);

// The cluster the datagram names, read before any key is known (nothing is authenticated yet:
// use it only to choose the key). kOversized, kTruncated, kBadMagic, kBadVersion.
std::expected<std::string, DropReason> peek_arbiter_cluster(std::span<const std::uint8_t> datagram);

// Authenticates and decodes a datagram under the cluster's arbiter key: the drops of
// peek_arbiter_cluster, then kAuthFailed (another key, another cluster, any byte changed),
// kMalformedBody (flags set, empty names, a body that does not parse or is not one of the six).
std::expected<ArbiterEnvelope, DropReason> open_arbiter(std::span<const std::uint8_t> datagram,
                                                        const ClusterKey& arbiter_key);

// PeerGate's view of the header (names play no part in it: a gate is kept per sender name).
Header gate_header(const ArbiterHeader& header);

// Seals datagrams under one cluster's arbiter key. Nonces as WireCodec's: 16 random bytes drawn
// once per sealer, then a count of datagrams sealed.
class ArbiterSealer {
 public:
  explicit ArbiterSealer(const ClusterKey& arbiter_key);
  ArbiterSealer(const ArbiterSealer&) = delete;
  ArbiterSealer& operator=(const ArbiterSealer&) = delete;
  ~ArbiterSealer();
  // The message must travel_to_arbiter and the names fit (asserted: a caller's bug).
  std::vector<std::uint8_t> seal(const ArbiterEnvelope& envelope) const;
  // Seals any body under a valid header (seal uses it; tests and the fuzzer use it to build
  // datagrams that authenticate but do not parse), of any size.
  std::vector<std::uint8_t> seal_body(const ArbiterHeader& header,
                                      std::span<const std::uint8_t> body) const;

 private:
  ClusterKey key_;
  std::array<unsigned char, 16> nonce_prefix_{};
  mutable std::atomic<std::uint64_t> sealed_{0};
};

// The key a cluster's nodes and its arbiter share: libsodium's crypto_kdf_derive_from_key of the
// cluster key (context "hactlarb", subkey 1). One-way: the arbiter key does not give the cluster
// key back. `hactl arbiter key` writes it for the arbiter's host.
ClusterKey derive_arbiter_key(const ClusterKey& cluster_key);

}  // namespace hactl
