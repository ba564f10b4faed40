#include "agent/lease_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace hactl {
namespace {

constexpr std::size_t kBytes = LeaseFile::kDigits + 1;

// The k-th byte stored (lease_store_order).
std::size_t store_index(std::optional<Instant> old, Instant next, std::size_t k) {
  return old && next > *old ? kBytes - 1 - k : k;
}

// Written on nearly every heartbeat: digits by hand, not snprintf, and no allocation. A
// negative count (never from a monotonic clock) is written as zero, which reads as no lease.
std::array<char, kBytes> lease_bytes(Instant end) {
  std::array<char, kBytes> text{};
  text[LeaseFile::kDigits] = '\n';
  auto us = static_cast<unsigned long long>(std::max<long long>(0, end.time_since_epoch().count()));
  for (std::size_t i = LeaseFile::kDigits; i-- > 0;) {
    text[i] = static_cast<char>('0' + us % 10);
    us /= 10;
  }
  return text;
}

}  // namespace

std::string lease_text(Instant end) {
  const auto bytes = lease_bytes(end);
  return std::string(bytes.data(), bytes.size());
}

std::optional<Instant> parse_lease_text(std::string_view text) {
  long long us = 0;
  std::size_t digits = 0;
  for (; digits < text.size() && digits < LeaseFile::kDigits; ++digits) {
    const char c = text[digits];
    if (c < '0' || c > '9') break;
    us = us * 10 + (c - '0');
  }
  if (digits == 0 || us <= 0) return std::nullopt;
  return Instant{Duration{us}};
}

std::vector<std::size_t> lease_store_order(std::optional<Instant> old, Instant next) {
  std::vector<std::size_t> order(kBytes);
  for (std::size_t k = 0; k < kBytes; ++k) order[k] = store_index(old, next, k);
  return order;
}

LeaseFile::~LeaseFile() {
  if (map_ != nullptr) ::munmap(map_, kBytes);
}

std::optional<std::string> LeaseFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return path + ": " + std::strerror(errno);
  char text[kBytes] = {};
  const ssize_t n = ::pread(fd, text, sizeof text, 0);
  if (n > 0) previous_ = parse_lease_text(std::string_view(text, static_cast<std::size_t>(n)));
  std::optional<std::string> error;
  void* map = MAP_FAILED;
  if (::ftruncate(fd, static_cast<off_t>(kBytes)) != 0) {
    error = path + ": " + std::strerror(errno);
  } else {
    map = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) error = path + ": " + std::strerror(errno);
  }
  ::close(fd);
  if (error) return error;
  map_ = static_cast<char*>(map);
  // What is on file now: the previous value if it read whole, else unknown (the first write
  // goes most significant digit first, so a cut-short one reads as a small number).
  if (n == static_cast<ssize_t>(kBytes)) on_file_ = previous_;
  return std::nullopt;
}

void LeaseFile::write(Instant end) {
  if (map_ == nullptr || on_file_ == end) return;
  const auto text = lease_bytes(end);
  for (std::size_t k = 0; k < kBytes; ++k) {
    const std::size_t i = store_index(on_file_, end, k);
    // Release: the stores reach memory in this order, which is what makes a cut-short write safe.
    std::atomic_ref<char>(map_[i]).store(text[i], std::memory_order_release);
  }
  on_file_ = end;
}

}  // namespace hactl
