// Shared by parse.cpp (the attribute tools, crm_node) and parse_tools.cpp (crm_mon, cibadmin,
// crm_resource, pacemakerd): the refusals every parser gives, and each tool's parser.
#pragma once

#include <expected>
#include <optional>
#include <span>
#include <string>

#include "cli/crm_compat/command.hpp"
#include "cli/crm_compat/options.hpp"

namespace hactl::crm::detail {

using Result = std::expected<Command, Refusal>;

inline constexpr OptionSpec kHelp{'?', "help", ArgKind::kNone, "help"};
inline constexpr OptionSpec kHelpH{'h', "", ArgKind::kNone, "help"};
inline constexpr OptionSpec kVerbose{'V', "verbose", ArgKind::kNone, "ignore"};

Refusal usage(Program p, const std::string& what);  // exit 64
Refusal unsupported(const std::string& what);       // exit 3
Refusal help(Program p);                            // exit 0, printed on stdout
std::optional<Refusal> no_operands(Program p, const ScannedArgs& s);

Result parse_crm_attribute(const ScannedArgs& s, const Env& env);
Result parse_crm_master(const ScannedArgs& s, const Env& env);
Result parse_attrd_updater(const ScannedArgs& s);
Result parse_crm_node(const ScannedArgs& s);
Result parse_crm_mon(const ScannedArgs& s, std::span<const std::string> args);
Result parse_cibadmin(const ScannedArgs& s);
Result parse_crm_resource(const ScannedArgs& s);
Result parse_pacemakerd(const ScannedArgs& s);

std::span<const OptionSpec> attribute_specs();
std::span<const OptionSpec> master_specs();
std::span<const OptionSpec> attrd_specs();
std::span<const OptionSpec> node_specs();
std::span<const OptionSpec> mon_specs();
std::span<const OptionSpec> cibadmin_specs();
std::span<const OptionSpec> resource_specs();
std::span<const OptionSpec> pacemakerd_specs();
std::span<const OptionSpec> specs_of(Program p);

}  // namespace hactl::crm::detail
