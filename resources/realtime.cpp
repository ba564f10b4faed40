#include "resources/realtime.hpp"

#include <sched.h>
#include <sys/mman.h>

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

}  // namespace hactl
