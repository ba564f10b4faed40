// From a parsed Command to the control request it needs (at most one) and from the agent's
// reply to what the Pacemaker tool would print and its exit code. Pure: run.hpp does the asking.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/crm_compat/command.hpp"

namespace hactl::crm {

struct Output {
  std::string out;  // stdout
  std::string err;  // stderr
  int code = 0;
};

struct Request {
  nlohmann::json body;
  int timeout_ms = 5000;  // writes: 10 s, for they are committed to a majority first
};

// nullopt: answered without the agent (pacemakerd -$).
std::optional<Request> request_for(const Command& c);

// The reply has no "error" member (run.hpp handles those).
Output render(const Command& c, const nlohmann::json& reply);

// A value inside double quotes that a shell's eval gives back unchanged: mariadb runs
// `eval $(attrd_updater -Q ...)`, so '"', '\\', '$' and '`' are escaped with a backslash.
std::string shell_quoted(std::string_view value);

}  // namespace hactl::crm
