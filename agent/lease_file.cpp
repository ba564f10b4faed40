#include "agent/lease_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <numeric>

namespace hactl {
namespace {

constexpr std::size_t kBytes = LeaseFile::kDigits + 1;

}  // namespace

std::string lease_text(Instant end) {
  char text[32];
  std::snprintf(text, sizeof text, "%020lld\n",
                static_cast<long long>(end.time_since_epoch().count()));
  return std::string(text, kBytes);
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
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (old && next > *old) std::reverse(order.begin(), order.end());
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
  const std::string text = lease_text(end);
  for (const std::size_t i : lease_store_order(on_file_, end)) {
    // Release: the stores reach memory in this order, which is what makes a cut-short write safe.
    std::atomic_ref<char>(map_[i]).store(text[i], std::memory_order_release);
  }
  on_file_ = end;
}

}  // namespace hactl
