// A getopt_long-like scanner for the Pacemaker tools' command lines: short options bundle
// ("-1X"), a short option's value may be attached ("-lreboot") or the next token, a long
// option's value follows '=' or is the next token, "--" ends the options. An option with an
// optional value takes it only attached ("-pRSC", "--promotion=RSC"): ocf-shellfuncs runs
// `crm_attribute -p -v 100`, where "-v" is not the resource. Pure.
#pragma once

#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hactl::crm {

enum class ArgKind { kNone, kRequired, kOptional };

struct OptionSpec {
  char short_name;             // '\0': long form only
  std::string_view long_name;  // "": short form only
  ArgKind arg;
  std::string_view key;  // what the program's parser switches on; aliases share a key
};

struct ScannedOption {
  std::string_view key;
  std::string spelled;  // as written ("-N", "--node"), for messages
  std::optional<std::string> value;
};

struct ScannedArgs {
  std::vector<ScannedOption> options;  // in command-line order
  std::vector<std::string> operands;
};

// The options in order, or a message naming the offending token ("unknown option '-x'",
// "option '--node' needs a value").
std::expected<ScannedArgs, std::string> scan_options(std::span<const std::string> args,
                                                     std::span<const OptionSpec> specs);

}  // namespace hactl::crm
