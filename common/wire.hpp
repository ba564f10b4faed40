// Wire format of hactl datagrams: a clear header (authenticated as associated data) and the
// encrypted, authenticated message body (XChaCha20-Poly1305 via libsodium).
//
//   magic "HA" | version u8 | flags u8 | sender name (u8 len + bytes) | incarnation u64 |
//   seq u64 | nonce[24] | ciphertext (body + 16-byte tag)
//
// Integers are little-endian. Body: type u8, then the message's fields; a body whose length does
// not match its type exactly is rejected. Decoding never trusts a length it has not checked;
// every failure is a DropReason, counted by the agent, never an exception or a crash.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/messages.hpp"

namespace hactl {

// 2: heartbeats carry the quorum lease's grant and releases. Agents of another version drop
// each other's datagrams (kBadVersion): upgrade every node of a cluster together.
inline constexpr std::uint8_t kWireVersion = 2;
inline constexpr std::size_t kKeyBytes = 32;

using ClusterKey = std::array<unsigned char, kKeyBytes>;

enum class DropReason {
  kTruncated,         // shorter than a header, or a field runs past the end
  kOversized,         // larger than limits::kMaxDatagramSize
  kBadMagic,          // not a hactl datagram
  kBadVersion,        // a protocol version this agent does not speak
  kUnknownSender,     // sender name not in the node list
  kAuthFailed,        // forged, corrupted, or sealed with another key
  kMalformedBody,     // authenticated but the body does not parse
  kReplayed,          // seq already seen, or older than the replay window
  kStaleIncarnation,  // from an earlier boot of the sender
  kFromSelf,          // carries our own name
  kWrongSource,       // authentic, but not from its sender's configured address and port
};
std::string_view to_string(DropReason r);
inline constexpr std::size_t kDropReasonCount = 11;

struct Envelope {
  NodeId sender;
  std::uint64_t incarnation = 0;
  std::uint64_t seq = 0;
  Message message;
};

// Seals and opens datagrams for one cluster (node list + key).
class WireCodec {
 public:
  WireCodec(const ClusterConfig& config, const ClusterKey& key);
  WireCodec(const WireCodec&) = delete;
  WireCodec& operator=(const WireCodec&) = delete;
  std::vector<std::uint8_t> seal(const Envelope& env) const;
  std::expected<Envelope, DropReason> open(std::span<const std::uint8_t> datagram) const;

 private:
  std::vector<std::string> names_;
  ClusterKey key_;
  // Nonces: 16 random bytes drawn once per codec, then a count of datagrams sealed. Unique
  // under the cluster key as random 24-byte ones are (two codecs share a prefix with
  // probability 2^-128), without a getrandom call per datagram.
  std::array<unsigned char, 16> nonce_prefix_{};
  mutable std::atomic<std::uint64_t> sealed_{0};
};

// Seals an arbitrary body under a valid header; WireCodec::seal uses it, and tests use it to
// build datagrams that authenticate but do not parse.
std::vector<std::uint8_t> seal_raw_body(const std::vector<std::string>& names,
                                        const ClusterKey& key, NodeId sender,
                                        std::uint64_t incarnation, std::uint64_t seq,
                                        std::span<const std::uint8_t> body);

// Per-sender anti-replay state (RFC 4303 section 3.4.3 style sliding window over seq, plus the
// sender's boot incarnation, which must never go backwards).
class ReplayFilter {
 public:
  enum class Verdict { kAccept, kAcceptNewIncarnation, kReplayed, kStaleIncarnation };
  Verdict check_and_update(std::uint64_t incarnation, std::uint64_t seq);

 private:
  static constexpr std::uint64_t kWindow = 64;
  std::uint64_t incarnation_ = 0;
  std::uint64_t highest_ = 0;
  std::uint64_t bitmap_ = 0;  // bit i set: seq (highest_ - i) seen
  bool started_ = false;
};

// Key files: one line "hactl-key-v1:<base64 of 32 bytes>". generate_key uses libsodium's RNG.
ClusterKey generate_key();
std::string format_key_file(const ClusterKey& key);
std::expected<ClusterKey, std::string> parse_key_file(std::string_view text);
// Reads the key, refusing a file that group or others can read (with a sentence saying so).
std::expected<ClusterKey, std::string> load_key_file(const std::string& path);
// Writes a new key with mode 0600 (fails if the file exists).
std::expected<void, std::string> write_new_key_file(const std::string& path);

}  // namespace hactl
