// Keeping the agent's loop on time under load (corosync does the same): heartbeats must not
// wait behind a busy machine. The agent's loop thread runs SCHED_RR *without*
// SCHED_RESET_ON_FORK (agent/main.cpp): what it forks inherits SCHED_RR for the moment between
// fork and exec, and the process runner execs every child (resource agents, hooks, fence
// agents) through `chrt --other 0`, so no child runs realtime and the loop, which waits for the
// exec, is not held up by a child waiting for a CPU. Threads it starts for disk work put
// themselves back to normal priority, and its memory is locked so that a page fault under
// memory pressure cannot stall it. The guard, which runs its stops itself, enters SCHED_RR
// *with* SCHED_RESET_ON_FORK and locks its memory too (resources/resource_guard.cpp).
#pragma once

#include <expected>
#include <string>

namespace hactl {

// hactl-agent's default priority (1..99; corosync uses 99, keepalived 0; low enough that
// kernel threads and anything an administrator set higher still come first).
inline constexpr int kDefaultRealtimePriority = 10;
// What a realtime agent execs its children through (util-linux, an essential package).
inline constexpr const char* kChrtPath = "/usr/bin/chrt";

// The calling thread to SCHED_RR at `priority`. Needs CAP_SYS_NICE (or RLIMIT_RTPRIO) and,
// with cgroup v2 and RT group scheduling, RT runtime in its cgroup. `reset_on_fork`: children
// start at normal priority; without it they inherit SCHED_RR, and must drop it themselves
// (the process runner execs them through chrt, so that the loop, which waits for the exec, is
// not held up by a child waiting for a CPU).
std::expected<void, std::string> enter_realtime(int priority, bool reset_on_fork);
// The calling thread back to SCHED_OTHER (threads started by a realtime thread inherit it).
void leave_realtime();
// mlockall: what is mapped now and later, locked as it is touched (MCL_ONFAULT: thread stacks
// are not faulted in whole). Not inherited across fork.
std::expected<void, std::string> lock_memory();
// Maps a file read-only and locks its pages in memory for the life of the process, so that
// exec'ing it never waits for the disk: the loop waits for each child's first exec (uv_spawn),
// and under heavy disk load an evicted /usr/bin/chrt held the loop for 165 ms
// (tests/integration/test_load.py).
std::expected<void, std::string> keep_resident(const std::string& path);

}  // namespace hactl
