// Wire format of hactl datagrams: a clear header (authenticated as associated data) and the
// encrypted, authenticated message body (XChaCha20-Poly1305 via libsodium).
//
//   magic "HA" | version u8 | flags u8 | sender name (u8 len + bytes) | recipient name |
//   incarnation u64 | session u64 | echo u64 | seq u64 | nonce[24] | ciphertext (body + tag)
//
// The header names the recipient, so a datagram sealed for one node is refused by another, and
// carries a challenge per boot (session) and the recipient's challenge as last heard (echo):
// a receiver accepts a peer's datagrams only once they echo its own current challenge, so a
// receiver that restarts cannot be fed datagrams captured before it started (PeerGate).
//
// Integers are little-endian. Body: type u8, then the message's fields; a body whose length does
// not match its type exactly is rejected. Decoding never trusts a length it has not checked;
// every failure is a DropReason, counted by the agent, never an exception or a crash.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/host_check.hpp"
#include "common/messages.hpp"

namespace hactl {

// 2: heartbeats carry the quorum lease's grant and releases. 3: recipient, session and echo in
// the header, sequence numbers per recipient. Agents of another version drop each other's
// datagrams (kBadVersion): cross a change as docs/operators.md says ("Upgrading across a wire
// change").
inline constexpr std::uint8_t kWireVersion = 3;
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
  kWrongRecipient,    // authentic, but sealed for another node
  kStaleEcho,         // does not echo this boot's challenge: sealed before the sender heard it
};
std::string_view to_string(DropReason r);
inline constexpr std::size_t kDropReasonCount = 13;

struct Header {
  NodeId sender;
  NodeId recipient;
  std::uint64_t incarnation = 0;  // the sender's boot; a later boot has a larger one
  std::uint64_t session = 0;      // the sender's challenge for this boot: random, never 0
  std::uint64_t echo = 0;         // the recipient's challenge as the sender last heard it; 0: none
  std::uint64_t seq = 0;          // counted per recipient from 1
};

struct Envelope : Header {
  Message message;
};

// A boot's challenge: random, never 0 (0 echoes "none heard yet").
std::uint64_t new_session();

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
                                        const ClusterKey& key, const Header& header,
                                        std::span<const std::uint8_t> body);

// A message's body as WireCodec seals it, and back (common/arbiter_wire.hpp carries the same
// bodies in its own envelope). `names`: the cluster's node list, which some messages refer to by
// position. Decoding refuses a body that does not parse exactly (trailing bytes included).
std::vector<std::uint8_t> encode_message_body(const Message& message,
                                              const std::vector<std::string>& names);
std::optional<Message> decode_message_body(std::span<const std::uint8_t> body,
                                           const std::vector<std::string>& names);

// Sliding window over one peer's sequence numbers (RFC 4303 section 3.4.3).
class SeqWindow {
 public:
  // False for seq 0, a seq seen before, or one older than the window.
  bool accept(std::uint64_t seq);
  void reset() { *this = SeqWindow{}; }

 private:
  static constexpr std::uint64_t kWindow = 64;
  std::uint64_t highest_ = 0;
  std::uint64_t bitmap_ = 0;  // bit i set: seq (highest_ - i) seen
  bool started_ = false;
};

// What a receiver holds of one peer: the newest boot of it heard (incarnation and challenge),
// whether that boot has answered this receiver's challenge, and its sequence window. Nothing is
// accepted from a boot until it echoes `own_session` (which is new at every start of the
// receiver), so a datagram sealed before the receiver started is refused however old or new
// its sequence number; after that the window refuses what was accepted before. The peer's
// challenge is learnt from any authentic datagram addressed to us from a boot not older than
// the one known (a replay carries an older or the same boot: it cannot teach a wrong one for
// longer than until the peer's next real datagram).
class PeerGate {
 public:
  enum class Verdict { kAccept, kAcceptNewIncarnation, kReplayed, kStaleIncarnation, kStaleEcho };
  explicit PeerGate(std::uint64_t own_session) : own_session_(own_session) {}
  Verdict check(const Header& h);
  // The echo to put in what we send this peer: its challenge, 0 before one was heard.
  std::uint64_t echo() const { return session_; }

 private:
  std::uint64_t own_session_;
  std::uint64_t incarnation_ = 0;
  std::uint64_t session_ = 0;
  bool known_ = false;
  bool accepted_ = false;  // a datagram of this boot was accepted
  SeqWindow window_;
};

// A host check's report (common/host_check.hpp) as the bytes a node sends back in CheckChunks:
// the first kMaxDetailedFindings findings whole (strings cut at 255 bytes, at most
// kMaxKnownInReport of `known`), the rest as severity, subject, problem and index; at most
// limits::kMaxHostReportBytes in all (findings beyond are left out: 70,000 of them, more than
// a configuration holds). Node, resource and position are not sent: the asker fills them.
inline constexpr std::uint8_t kHostReportFormat = 1;
inline constexpr std::size_t kMaxKnownInReport = 16;
inline constexpr std::size_t kBriefFindingBytes = 7;
std::string encode_host_report(const HostReport& report);
std::optional<HostReport> decode_host_report(std::string_view bytes);

// Key files: one line "hactl-key-v1:<base64 of 32 bytes>". generate_key uses libsodium's RNG.
ClusterKey generate_key();
std::string format_key_file(const ClusterKey& key);
std::expected<ClusterKey, std::string> parse_key_file(std::string_view text);
// Reads the key, refusing a file that group or others can read (with a sentence saying so).
std::expected<ClusterKey, std::string> load_key_file(const std::string& path);
// Writes a new key with mode 0600 (fails if the file exists).
std::expected<void, std::string> write_new_key_file(const std::string& path);
// Writes `key` the same way (mode 0600, fsynced, never over an existing file).
std::expected<void, std::string> write_key_file(const std::string& path, const ClusterKey& key);

}  // namespace hactl
