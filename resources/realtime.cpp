#include "resources/realtime.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hactl {

std::expected<void, std::string> enter_realtime(int priority, bool reset_on_fork) {
  sched_param p{};
  p.sched_priority = priority;
  // Linux: pid 0 is the calling thread, not the whole process.
  if (::sched_setscheduler(0, SCHED_RR | (reset_on_fork ? SCHED_RESET_ON_FORK : 0), &p) != 0) {
    return std::unexpected(std::string("sched_setscheduler(SCHED_RR, ") + std::to_string(priority) +
                           "): " + std::strerror(errno));
  }
  return {};
}

void leave_realtime() {
  sched_param p{};
  p.sched_priority = 0;
  ::sched_setscheduler(0, SCHED_OTHER, &p);
}

std::expected<void, std::string> lock_memory() {
#ifdef MCL_ONFAULT
  const int flags = MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT;
#else
  const int flags = MCL_CURRENT | MCL_FUTURE;
#endif
  if (::mlockall(flags) != 0)
    return std::unexpected(std::string("mlockall: ") + std::strerror(errno));
  return {};
}

std::expected<void, std::string> keep_resident(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(path + ": " + std::strerror(errno));
  struct stat st {};
  const bool stated = ::fstat(fd, &st) == 0;
  if (!stated || st.st_size <= 0) {
    const std::string why = stated ? "empty" : std::strerror(errno);
    ::close(fd);
    return std::unexpected(path + ": " + why);
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) return std::unexpected(path + ": mmap: " + std::strerror(mmap_errno));
  // mlock (not the ONFAULT of lock_memory): every page read in and locked now. Never unmapped.
  if (::mlock(map, size) != 0) {
    const std::string why = std::strerror(errno);
    ::munmap(map, size);
    return std::unexpected(path + ": mlock: " + why);
  }
  return {};
}

}  // namespace hactl
