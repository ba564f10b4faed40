// Little-endian byte writing and bounds-checked reading for the wire formats (common/wire.cpp,
// common/arbiter_wire.cpp). A reader never reads past its span: every read says whether it fit.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/assert.hpp"
#include "common/messages.hpp"

namespace hactl {

class ByteWriter {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void name(std::string_view s) {
    HACTL_ASSERT(s.size() <= 255);
    u8(static_cast<std::uint8_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void bytes(const unsigned char* p, std::size_t n) { out_.insert(out_.end(), p, p + n); }
  void text16(std::string_view s) {
    HACTL_ASSERT(s.size() <= 0xffff);
    u8(static_cast<std::uint8_t>(s.size()));
    u8(static_cast<std::uint8_t>(s.size() >> 8));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void doc_version(const DocVersion& v) {
    u64(v.term.value);
    u64(v.revision);
  }
  std::vector<std::uint8_t>& data() { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> in) : in_(in) {}
  bool u8(std::uint8_t& v) {
    if (left() < 1) return false;
    v = in_[pos_++];
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (left() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(in_[pos_++]) << (8 * i);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (left() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(in_[pos_++]) << (8 * i);
    return true;
  }
  bool boolean(bool& v) {
    std::uint8_t b = 0;
    if (!u8(b) || b > 1) return false;
    v = b == 1;
    return true;
  }
  bool name(std::string& s) {
    std::uint8_t n = 0;
    if (!u8(n) || left() < n) return false;
    s.assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool text16(std::string& s, std::size_t max) {
    std::uint8_t lo = 0, hi = 0;
    if (!u8(lo) || !u8(hi)) return false;
    const std::size_t n = lo | (static_cast<std::size_t>(hi) << 8);
    if (n > max || left() < n) return false;
    s.assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool doc_version(DocVersion& v) { return u64(v.term.value) && u64(v.revision); }
  bool skip(std::size_t n) {
    if (left() < n) return false;
    pos_ += n;
    return true;
  }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return in_.size() - pos_; }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
};

}  // namespace hactl
