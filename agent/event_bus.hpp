// Where the agent's typed events (common/event.hpp) go: each is logged, as a line for people,
// and, when it is made on the thread that installed the recorder (the agent's loop), handed to
// the recorder as it is: the agent keeps it in its history and counts its metrics, alerts,
// availability and reconcile watch from its typed values. Events made on another thread (the
// event history's own writer, a worker) are only logged.
//
// Usable from any component of the agent (and of the arbiter, which shares the HTTP server):
// without a recorder an event is only logged.
#pragma once

#include <functional>
#include <string>

#include "common/event.hpp"

namespace hactl {

// Logs `e` at its level; records it too on the recorder's thread.
void emit_event(const Event& e);

// The recorder for events made on the calling thread from now on; nullptr removes it. Not
// reentrant with emit_event on another thread: install before the loop runs, remove after.
void install_event_recorder(std::function<void(const Event&)> recorder);

// Text put before every event's line (HACTL_LOG_PREFIX): the lines are for people, and tests
// reword them all this way to show that nothing reads them back. Set once at startup.
void set_event_line_prefix(std::string prefix);
const std::string& event_line_prefix();

}  // namespace hactl
