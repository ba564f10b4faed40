// What one invocation of a Pacemaker tool asks, as a typed value: hactl-crm parses its command
// line (argv[0]'s basename picks the tool) into a Command or a Refusal, then turns the Command
// into at most one control request (request.hpp) and renders the reply (render.hpp). Pure: the
// environment the parse reads (OCF_RESOURCE_INSTANCE) comes in as Env.
#pragma once

#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace hactl::crm {

enum class Program {
  kCrmAttribute,
  kCrmMaster,
  kAttrdUpdater,
  kCrmNode,
  kCrmMon,
  kCibadmin,
  kCrmResource,
  kPacemakerd,
};

// The tool a basename names ("crm_attribute", ...), or nullopt.
std::optional<Program> program_named(std::string_view basename);
std::string_view program_name(Program p);

// Pacemaker's two places for a node attribute: the status section (gone when the node leaves
// the cluster: "reboot", -t status) and the node's configuration ("forever", -t nodes).
enum class Lifetime { kReboot, kForever };
std::string_view lifetime_name(Lifetime l);  // "reboot", "forever": the wire's words

struct AttributeCommand {
  enum class Action { kQuery, kUpdate, kDelete };
  Program program = Program::kCrmAttribute;  // crm_attribute, crm_master or attrd_updater
  Action action = Action::kQuery;
  std::optional<std::string> node;  // nullopt: the local node
  std::string name;
  std::string value;  // kUpdate
  Lifetime lifetime = Lifetime::kForever;
  bool quiet = false;
  std::optional<std::string> default_value;  // crm_attribute -G -d VALUE
  bool all_nodes = false;                    // attrd_updater -Q -A
  bool cluster = false;  // crm_attribute -t crm_config: a cluster property, of no node
};

struct NodeCommand {
  enum class Action { kName, kList, kPartition, kQuorum, kId, kNameForId };
  Action action = Action::kName;
  std::string id;  // kNameForId
};

struct MonCommand {
  bool xml = false;
  std::string request_line;  // the command line, for <pacemaker-result request=...>
};

struct CibCommand {
  std::optional<std::string> scope;  // -o SECTION
};

struct ResourceCommand {
  enum class Action { kBan, kLocate, kGetParameter };
  Action action = Action::kLocate;
  std::string resource;
  std::string node;       // kBan
  std::string parameter;  // kGetParameter
  bool meta = false;
  bool quiet = false;
};

struct VersionCommand {};

using Command = std::variant<AttributeCommand, NodeCommand, MonCommand, CibCommand, ResourceCommand,
                             VersionCommand>;

// Why nothing is asked: a usage error, or an option hactl knows but does not do.
struct Refusal {
  std::string message;
  int exit_code = 0;
};

struct Env {
  std::string resource_instance;  // $OCF_RESOURCE_INSTANCE, "" when unset
};

std::expected<Command, Refusal> parse_command(Program program, std::span<const std::string> args,
                                              const Env& env);

}  // namespace hactl::crm
