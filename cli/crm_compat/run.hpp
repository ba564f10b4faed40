// One invocation of hactl-crm from start to end, with the control socket behind `ask` so that
// tests run every step but the socket: parse the command line, build the request, ask, render.
#pragma once

#include <expected>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "cli/crm_compat/command.hpp"
#include "cli/crm_compat/render.hpp"

namespace hactl::crm {

// One request to the local agent: its reply, or why there is none (not reachable, timed out).
using Ask = std::function<std::expected<nlohmann::json, std::string>(const nlohmann::json& request,
                                                                     int timeout_ms)>;

Output run(Program program, std::span<const std::string> args, const Env& env, const Ask& ask);

// Runs as the tool argv0's basename names; an unknown name is a usage error.
Output run_as(std::string_view argv0, std::span<const std::string> args, const Env& env,
              const Ask& ask);

}  // namespace hactl::crm
