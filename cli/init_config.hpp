// `hactl init`'s pure half: the answers (from flags or the dialogue) checked one by one, each
// error naming the flag it comes from, and the commented pair configuration they make. The text
// is only ever handed out after the real loader (common/config.hpp) took it: an answer the
// loader refuses comes back as an error naming its flag, with the loader's own sentence.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace hactl {

inline constexpr std::uint16_t kDefaultNodePort = 5405;
inline constexpr std::uint16_t kDefaultArbiterPort = 5406;

// The flags as typed (the dialogue fills in the same strings).
struct InitFlags {
  std::string name;                        // --name
  std::vector<std::string> nodes;          // --node NAME=ADDR[:PORT], twice
  std::string vip;                         // --vip ADDRESS/PREFIX, "" for none
  std::string interface;                   // --interface, with --vip
  std::string arbiter;                     // --arbiter HOST[:PORT]
  std::string witness;                     // --witness NAME=ADDR[:PORT]
  bool fencing = false;                    // --fencing
  std::string key = "/etc/hactl/authkey";  // --key, absolute (the caller makes it so)
};

enum class ThirdVote { kArbiter, kWitness, kFencing };

struct InitNode {
  std::string name;
  NodeAddress address;
};

// What the file says, checked.
struct InitAnswers {
  std::string name;
  std::vector<InitNode> nodes;  // the pair
  std::string vip;              // "" for none
  std::string interface;
  ThirdVote vote = ThirdVote::kArbiter;
  NodeAddress arbiter;  // kArbiter
  InitNode witness;     // kWitness
  std::string key;
};

// One bad or missing answer: the flag it belongs to ("" when none does) and why.
struct InitError {
  std::string flag;
  std::string message;
  std::string to_string() const;  // "--node: ..." or the message alone
};

// "10.0.0.1", "10.0.0.1:5405", "fd00::1", "[fd00::1]:5405": a numeric address (host names are
// not resolved: the file holds addresses), `default_port` when none is given.
std::expected<NodeAddress, std::string> parse_init_address(std::string_view text,
                                                           std::uint16_t default_port);
// "alpha=10.0.0.1[:PORT]" (--node, --witness).
std::expected<InitNode, std::string> parse_node_spec(std::string_view text,
                                                     std::uint16_t default_port);

// Each checker returns the sentence saying what is wrong with one answer (nullopt: fine), for
// the dialogue to ask again and for answers_from_flags.
std::optional<std::string> cluster_name_problem(std::string_view name);
std::optional<std::string> vip_problem(std::string_view vip);
std::optional<std::string> init_interface_problem(std::string_view interface);
std::optional<std::string> init_path_problem(std::string_view absolute_path);

// The answers still missing for a file (no --name, fewer than two --node, no third vote, a
// --vip without --interface), each naming its flag.
std::vector<InitError> missing_answers(const InitFlags& flags);
// Every flag checked: syntax, names, duplicates, one third vote. All errors at once.
std::expected<InitAnswers, std::vector<InitError>> answers_from_flags(const InitFlags& flags);

// The commented configuration of the pair (pure: the same answers give the same bytes).
std::string render_pair_config(const InitAnswers& answers);

// The config file's mode: 0600 when it holds fence devices' credentials, else 0644.
unsigned config_file_mode(const InitAnswers& answers);

// `text` through the real loader (parse_config, as `file`): its errors, each mapped to the flag
// whose answer is at the path it names ("nodes[1].address": the second --node), with the
// loader's own "file:line:column: path: message" as the message.
std::vector<InitError> loader_errors(std::string_view text, std::string_view file);

}  // namespace hactl
