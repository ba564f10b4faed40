// `hactl init`: writes a pair's commented configuration and a new cluster key, from flags or,
// for what the flags leave out while standard input is a terminal, a short dialogue. Nothing is
// written unless the real loader takes the text, and an existing file is replaced only with
// --force. Then it prints the steps that bring the pair up. The text itself is made by
// init_config.hpp; this is the shell: flags, questions, files, and what to do next.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

#include "cli/init_config.hpp"

namespace hactl {

struct InitVerb {
  CLI::App* cmd = nullptr;
  InitFlags flags;
  std::string output = "/etc/hactl/cluster.yaml";
  bool force = false;
};

// Adds `init` under `app`; `verb` must outlive the parse.
void add_init_verb(CLI::App& app, InitVerb& verb);
// Runs it if it was parsed: its exit code (0 written, 1 refused: a file exists, cannot be
// written, or the text did not load; 2 a bad or missing answer).
std::optional<int> run_init_verb(InitVerb& verb);

// What the dialogue offers when the answer is left empty, from this host.
struct InitDefaults {
  std::string node_name;     // this host's short name, if a valid node name
  std::string node_address;  // its first IPv4 address that is up and not loopback
  // The interface with a subnet holding a vip's address ("" when none).
  std::function<std::string(const std::string& vip)> interface_for;
};

// Asks `out`/`in` for each answer missing from `flags` and, since it asks anyway, for a vip if
// there is none; each answer is checked as it is given and asked again when wrong. False when
// the input ends or an answer is wrong five times (the reason printed).
bool ask_missing_answers(InitFlags& flags, std::istream& in, std::ostream& out,
                         const InitDefaults& defaults);

// The steps after the files are written (pure): copying both to the other nodes with their
// modes, the arbiter's key, starting the agents, checking. `this_host`: this host's short name.
std::string next_steps(const InitAnswers& answers, const std::string& output,
                       const std::string& this_host);

}  // namespace hactl
