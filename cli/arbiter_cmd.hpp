// `hactl arbiter ...`: the operator's view of a hactl-arbiter (status, from the daemon's
// GET /status) and the one step that gives it a cluster (key: the cluster's arbiter key, derived
// from the cluster key, for the arbiter's host). Holds no logic beyond asking and printing.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace hactl {

struct ArbiterVerbs {
  CLI::App* status = nullptr;
  CLI::App* key = nullptr;
  std::string address = "127.0.0.1:9406";
  bool as_json = false;
  std::string config = "/etc/hactl/cluster.yaml";
  std::string output;
};

// Adds `arbiter` with its verbs under `app`; `verbs` must outlive the parse.
void add_arbiter_verbs(CLI::App& app, ArbiterVerbs& verbs);
// Runs the verb that was parsed, if one was: its exit code (0 done, 1 refused or failed,
// 2 no arbiter to ask).
std::optional<int> run_arbiter_verb(const ArbiterVerbs& verbs);

// The text `hactl arbiter status` prints for the daemon's status (pure, for tests).
std::string format_arbiter_status(const nlohmann::json& status);

}  // namespace hactl
