// crm_mon, cibadmin, crm_resource and pacemakerd's command lines (parse.cpp has the attribute
// tools and crm_node), and the dispatch by program.
#include <array>

#include "cli/crm_compat/command.hpp"
#include "cli/crm_compat/crm_exit.hpp"
#include "cli/crm_compat/parse_internal.hpp"

namespace hactl::crm {

namespace {

using K = ArgKind;
using detail::kHelp;
using detail::kHelpH;
using detail::kVerbose;

constexpr std::array<std::string_view, 8> kProgramNames = {
    "crm_attribute", "crm_master", "attrd_updater", "crm_node",
    "crm_mon",       "cibadmin",   "crm_resource",  "pacemakerd",
};

}  // namespace

std::optional<Program> program_named(std::string_view basename) {
  for (std::size_t i = 0; i < kProgramNames.size(); ++i) {
    if (kProgramNames[i] == basename) return static_cast<Program>(i);
  }
  return std::nullopt;
}

std::string_view program_name(Program p) { return kProgramNames.at(static_cast<std::size_t>(p)); }

std::string_view lifetime_name(Lifetime l) { return l == Lifetime::kReboot ? "reboot" : "forever"; }

namespace detail {
namespace {

constexpr std::array kMonSpecs{
    OptionSpec{'1', "one-shot", K::kNone, "ignore"},
    OptionSpec{'X', "as-xml", K::kNone, "xml"},
    OptionSpec{'\0', "output-as", K::kRequired, "output-as"},
    OptionSpec{'r', "inactive", K::kNone, "ignore"},
    OptionSpec{'f', "failcounts", K::kNone, "ignore"},
    OptionSpec{'A', "show-node-attributes", K::kNone, "ignore"},
    OptionSpec{'n', "group-by-node", K::kNone, "ignore"},
    OptionSpec{'o', "operations", K::kNone, "ignore"},
    OptionSpec{'t', "timing-details", K::kNone, "ignore"},
    OptionSpec{'R', "show-detail", K::kNone, "ignore"},
    OptionSpec{'j', "pending", K::kNone, "ignore"},
    OptionSpec{'\0', "output-to", K::kRequired, "unsupported"},
    OptionSpec{'\0', "include", K::kRequired, "unsupported"},
    OptionSpec{'\0', "exclude", K::kRequired, "unsupported"},
    kVerbose,
    kHelp,
};

constexpr std::array kCibadminSpecs{
    OptionSpec{'Q', "query", K::kNone, "query"},
    OptionSpec{'l', "local", K::kNone, "ignore"},
    OptionSpec{'o', "scope", K::kRequired, "scope"},
    OptionSpec{'s', "sync-call", K::kNone, "ignore"},
    OptionSpec{'t', "timeout", K::kRequired, "ignore"},
    OptionSpec{'C', "create", K::kNone, "write"},
    OptionSpec{'M', "modify", K::kNone, "write"},
    OptionSpec{'R', "replace", K::kNone, "write"},
    OptionSpec{'D', "delete", K::kNone, "write"},
    OptionSpec{'E', "erase", K::kNone, "write"},
    OptionSpec{'B', "bump", K::kNone, "write"},
    OptionSpec{'P', "patch", K::kNone, "write"},
    OptionSpec{'d', "delete-all", K::kNone, "write"},
    OptionSpec{'u', "upgrade", K::kNone, "write"},
    OptionSpec{'X', "xml-text", K::kRequired, "write"},
    OptionSpec{'x', "xml-file", K::kRequired, "write"},
    OptionSpec{'p', "xml-pipe", K::kNone, "write"},
    OptionSpec{'A', "xpath", K::kRequired, "unsupported"},
    OptionSpec{'5', "md5-sum", K::kNone, "unsupported"},
    kVerbose,
    kHelp,
};

constexpr std::array kResourceSpecs{
    OptionSpec{'r', "resource", K::kRequired, "resource"},
    OptionSpec{'N', "node", K::kRequired, "node"},
    OptionSpec{'B', "ban", K::kNone, "ban"},
    OptionSpec{'W', "locate", K::kNone, "locate"},
    OptionSpec{'g', "get-parameter", K::kRequired, "get-parameter"},
    OptionSpec{'m', "meta", K::kNone, "meta"},
    OptionSpec{'Q', "quiet", K::kNone, "quiet"},
    OptionSpec{'f', "force", K::kNone, "ignore"},
    OptionSpec{'z', "utilization", K::kNone, "unsupported"},
    OptionSpec{'u', "lifetime", K::kRequired, "unsupported"},
    OptionSpec{'\0', "promoted", K::kNone, "unsupported"},
    OptionSpec{'\0', "master", K::kNone, "unsupported"},
    OptionSpec{'p', "set-parameter", K::kRequired, "unsupported"},
    OptionSpec{'d', "delete-parameter", K::kRequired, "unsupported"},
    OptionSpec{'v', "parameter-value", K::kRequired, "unsupported"},
    OptionSpec{'M', "move", K::kNone, "unsupported"},
    OptionSpec{'U', "clear", K::kNone, "unsupported"},
    OptionSpec{'C', "cleanup", K::kNone, "unsupported"},
    OptionSpec{'R', "refresh", K::kNone, "unsupported"},
    OptionSpec{'l', "list", K::kNone, "unsupported"},
    OptionSpec{'\0', "list-operations", K::kNone, "unsupported"},
    kVerbose,
    kHelp,
};

constexpr std::array kPacemakerdSpecs{
    OptionSpec{'$', "version", K::kNone, "version"},
    OptionSpec{'f', "foreground", K::kNone, "daemon"},
    OptionSpec{'S', "shutdown", K::kNone, "daemon"},
    OptionSpec{'s', "standby", K::kNone, "daemon"},
    OptionSpec{'F', "features", K::kNone, "daemon"},
    kVerbose,
    kHelp,
};

// The command line, joined, for crm_mon's request="..." (escaped when rendered).
std::string joined(std::span<const std::string> args) {
  std::string line = "crm_mon";
  for (const auto& a : args) line += " " + a.substr(0, 256);
  return line.substr(0, 1024);
}

}  // namespace

std::span<const OptionSpec> mon_specs() { return kMonSpecs; }
std::span<const OptionSpec> cibadmin_specs() { return kCibadminSpecs; }
std::span<const OptionSpec> resource_specs() { return kResourceSpecs; }
std::span<const OptionSpec> pacemakerd_specs() { return kPacemakerdSpecs; }

// Always one shot: hactl-crm has no interactive or daemon mode (`-1` is accepted, not needed).
Result parse_crm_mon(const ScannedArgs& s, std::span<const std::string> args) {
  MonCommand c;
  c.request_line = joined(args);
  for (const auto& o : s.options) {
    if (o.key == "help") return std::unexpected(help(Program::kCrmMon));
    if (o.key == "unsupported") return std::unexpected(unsupported(o.spelled));
    if (o.key == "xml") c.xml = true;
    if (o.key == "output-as") {
      if (*o.value != "xml" && *o.value != "text") {
        return std::unexpected(usage(Program::kCrmMon, "--output-as must be xml or text"));
      }
      c.xml = *o.value == "xml";
    }
  }
  if (auto r = no_operands(Program::kCrmMon, s)) return std::unexpected(*r);
  return c;
}

Result parse_cibadmin(const ScannedArgs& s) {
  CibCommand c;
  bool query = false;
  for (const auto& o : s.options) {
    if (o.key == "help") return std::unexpected(help(Program::kCibadmin));
    if (o.key == "write") {
      return std::unexpected(Refusal{
          o.spelled + ": hactl's CIB is read-only; change cluster.yaml and run hactl config apply",
          kExitUnimplemented});
    }
    if (o.key == "unsupported") return std::unexpected(unsupported(o.spelled));
    if (o.key == "query") query = true;
    if (o.key == "scope") c.scope = *o.value;
  }
  if (auto r = no_operands(Program::kCibadmin, s)) return std::unexpected(*r);
  if (!query) return std::unexpected(usage(Program::kCibadmin, "only -Q/--query is answered"));
  return c;
}

Result crm_resource_checked(ResourceCommand c, bool have_action) {
  using A = ResourceCommand::Action;
  const Program p = Program::kCrmResource;
  if (!have_action)
    return std::unexpected(usage(p, "give one of --ban, --locate, --get-parameter"));
  if (c.resource.empty()) return std::unexpected(usage(p, "-r/--resource RESOURCE is required"));
  if (c.action == A::kBan && c.node.empty()) {
    return std::unexpected(usage(p, "--ban needs -N/--node NODE"));
  }
  return c;
}

Result parse_crm_resource(const ScannedArgs& s) {
  using A = ResourceCommand::Action;
  ResourceCommand c;
  bool have_action = false;
  for (const auto& o : s.options) {
    if (o.key == "help") return std::unexpected(help(Program::kCrmResource));
    if (o.key == "unsupported") {
      return std::unexpected(
          unsupported(o.spelled + " (hactl answers --ban, --locate and --get-parameter)"));
    }
    if (o.key == "resource") c.resource = *o.value;
    if (o.key == "node") c.node = *o.value;
    if (o.key == "meta") c.meta = true;
    if (o.key == "quiet") c.quiet = true;
    if (o.key == "ban" || o.key == "locate" || o.key == "get-parameter") {
      c.action = o.key == "ban" ? A::kBan : o.key == "locate" ? A::kLocate : A::kGetParameter;
      have_action = true;
    }
    if (o.key == "get-parameter") c.parameter = *o.value;
  }
  if (auto r = no_operands(Program::kCrmResource, s)) return std::unexpected(*r);
  return crm_resource_checked(std::move(c), have_action);
}

Result parse_pacemakerd(const ScannedArgs& s) {
  const Refusal no_daemon{"hactl does not run Pacemaker: this pacemakerd only answers -$/--version",
                          kExitUnimplemented};
  bool version = false;
  for (const auto& o : s.options) {
    if (o.key == "help") return std::unexpected(help(Program::kPacemakerd));
    if (o.key == "daemon") return std::unexpected(no_daemon);
    if (o.key == "version") version = true;
  }
  if (!version || !s.operands.empty()) return std::unexpected(no_daemon);
  return VersionCommand{};
}

std::span<const OptionSpec> specs_of(Program p) {
  switch (p) {
    case Program::kCrmAttribute:
      return attribute_specs();
    case Program::kCrmMaster:
      return master_specs();
    case Program::kAttrdUpdater:
      return attrd_specs();
    case Program::kCrmNode:
      return node_specs();
    case Program::kCrmMon:
      return mon_specs();
    case Program::kCibadmin:
      return cibadmin_specs();
    case Program::kCrmResource:
      return resource_specs();
    case Program::kPacemakerd:
      return pacemakerd_specs();
  }
  return {};
}

}  // namespace detail

std::expected<Command, Refusal> parse_command(Program program, std::span<const std::string> args,
                                              const Env& env) {
  using namespace detail;
  auto scanned = scan_options(args, specs_of(program));
  if (!scanned) return std::unexpected(usage(program, scanned.error()));
  switch (program) {
    case Program::kCrmAttribute:
      return parse_crm_attribute(*scanned, env);
    case Program::kCrmMaster:
      return parse_crm_master(*scanned, env);
    case Program::kAttrdUpdater:
      return parse_attrd_updater(*scanned);
    case Program::kCrmNode:
      return parse_crm_node(*scanned);
    case Program::kCrmMon:
      return parse_crm_mon(*scanned, args);
    case Program::kCibadmin:
      return parse_cibadmin(*scanned);
    case Program::kCrmResource:
      return parse_crm_resource(*scanned);
    case Program::kPacemakerd:
      return parse_pacemakerd(*scanned);
  }
  return std::unexpected(Refusal{"unknown program", kExitUsage});
}

}  // namespace hactl::crm
