// Keeping the agent's loop on time under load (corosync does the same): heartbeats must not
// wait behind a busy machine. The agent's loop thread runs SCHED_RR *without*
// SCHED_RESET_ON_FORK (agent/main.cpp). Threads it starts put themselves back to normal
// priority: the disk writers, and the process spawner's threads (resources/process_runner.hpp),
// so no child runs realtime and the loop never waits for a child's exec. Its memory is locked
// so that a page fault under memory pressure cannot stall it. The guard, which runs its stops
// itself, enters SCHED_RR *with* SCHED_RESET_ON_FORK and locks its memory too
// (resources/resource_guard.cpp).
#pragma once

#include <expected>
#include <string>

namespace hactl {

// hactl-agent's default priority (1..99; corosync uses 99, keepalived 0; low enough that
// kernel threads and anything an administrator set higher still come first).
inline constexpr int kDefaultRealtimePriority = 10;

// The calling thread to SCHED_RR at `priority`. Needs CAP_SYS_NICE (or RLIMIT_RTPRIO) and,
// with cgroup v2 and RT group scheduling, RT runtime in its cgroup. `reset_on_fork`: children
// start at normal priority; without it, what the thread forks or starts inherits SCHED_RR.
std::expected<void, std::string> enter_realtime(int priority, bool reset_on_fork);
// The calling thread back to SCHED_OTHER (threads started by a realtime thread inherit it).
void leave_realtime();
// mlockall: what is mapped now and later, locked as it is touched (MCL_ONFAULT: thread stacks
// are not faulted in whole). Not inherited across fork.
std::expected<void, std::string> lock_memory();

}  // namespace hactl
