// The command lines of the Pacemaker tools hactl-crm stands in for, as Pacemaker 2.1 spells
// them (its tools' --help), narrowed to what the resource agents shipped in Debian run.
#include <array>
#include <cctype>

#include "cli/crm_compat/command.hpp"
#include "cli/crm_compat/crm_exit.hpp"
#include "cli/crm_compat/options.hpp"
#include "cli/crm_compat/parse_internal.hpp"

namespace hactl::crm {
namespace detail {
using K = ArgKind;

std::optional<Refusal> no_operands(Program p, const ScannedArgs& s) {
  if (s.operands.empty()) return std::nullopt;
  return usage(p, "unexpected argument '" + s.operands.front().substr(0, 64) + "'");
}

Refusal usage(Program p, const std::string& what) {
  return {std::string(what) + " (try " + std::string(program_name(p)) + " --help)", kExitUsage};
}

Refusal unsupported(const std::string& what) {
  return {what + ": not supported by hactl's stand-in (docs/pacemaker-tools.md)",
          kExitUnimplemented};
}

// The usage line --help prints (on stdout: exit code 0).
Refusal help(Program p) {
  return {"usage: " + std::string(program_name(p)) +
              " [options]: hactl's stand-in for Pacemaker's tool, answered by the local "
              "hactl-agent; see docs/pacemaker-tools.md",
          kExitOk};
}

namespace {

// Pacemaker names a clone's instance RSC:N; the promotion score belongs to RSC.
std::string strip_clone_suffix(std::string id) {
  const auto colon = id.rfind(':');
  if (colon == std::string::npos || colon + 1 == id.size()) return id;
  for (std::size_t i = colon + 1; i < id.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(id[i])) == 0) return id;
  }
  id.resize(colon);
  return id;
}

std::expected<Lifetime, Refusal> lifetime_of(Program p, const ScannedOption& o) {
  const std::string& v = *o.value;
  if (o.key == "lifetime") {
    if (v == "reboot") return Lifetime::kReboot;
    if (v == "forever") return Lifetime::kForever;
    return std::unexpected(usage(p, o.spelled + " must be reboot or forever, not '" + v + "'"));
  }
  if (v == "status") return Lifetime::kReboot;
  if (v == "nodes") return Lifetime::kForever;
  if (v == "rsc_defaults" || v == "op_defaults" || v == "tickets") {
    return std::unexpected(unsupported(
        o.spelled + " " + v + " (hactl keeps node attributes and cluster properties only)"));
  }
  return std::unexpected(
      usage(p, o.spelled + " must be status, nodes or crm_config, not '" + v + "'"));
}

constexpr std::array kAttributeSpecs{
    OptionSpec{'N', "node", K::kRequired, "node"},
    OptionSpec{'U', "uname", K::kRequired, "node"},
    OptionSpec{'n', "name", K::kRequired, "name"},
    OptionSpec{'v', "update", K::kRequired, "update"},
    OptionSpec{'\0', "attr-value", K::kRequired, "update"},
    OptionSpec{'G', "query", K::kNone, "query"},
    OptionSpec{'\0', "get-value", K::kNone, "query"},
    OptionSpec{'D', "delete", K::kNone, "delete"},
    OptionSpec{'\0', "delete-attr", K::kNone, "delete"},
    OptionSpec{'q', "quiet", K::kNone, "quiet"},
    OptionSpec{'Q', "", K::kNone, "quiet"},
    OptionSpec{'l', "lifetime", K::kRequired, "lifetime"},
    OptionSpec{'t', "type", K::kRequired, "type"},
    OptionSpec{'d', "default", K::kRequired, "default"},
    OptionSpec{'p', "promotion", K::kOptional, "promotion"},
    OptionSpec{'s', "set-name", K::kRequired, "ignore"},
    OptionSpec{'i', "id", K::kRequired, "ignore"},
    OptionSpec{'z', "utilization", K::kNone, "utilization"},
    kVerbose,
    kHelp,
    kHelpH,
};

// One option of crm_attribute's onto `c`; `explicit_lifetime` notes -l/-t.
std::optional<Refusal> apply_attribute_option(const ScannedOption& o, AttributeCommand& c,
                                              bool& explicit_lifetime,
                                              std::optional<std::string>& promotion) {
  using A = AttributeCommand::Action;
  const Program p = c.program;
  if (o.key == "help") return help(p);
  if (o.key == "utilization") return unsupported(o.spelled);
  if (o.key == "node") c.node = *o.value;
  if (o.key == "name") c.name = *o.value;
  if (o.key == "update") {
    c.action = A::kUpdate;
    c.value = *o.value;
  }
  if (o.key == "query") c.action = A::kQuery;
  if (o.key == "delete") c.action = A::kDelete;
  if (o.key == "quiet") c.quiet = true;
  if (o.key == "default") c.default_value = *o.value;
  if (o.key == "promotion") promotion = o.value.value_or("");
  if (o.key == "type" && *o.value == "crm_config") {
    c.cluster = true;
    return std::nullopt;
  }
  if (o.key == "lifetime" || o.key == "type") {
    auto l = lifetime_of(p, o);
    if (!l) return l.error();
    c.lifetime = *l;
    explicit_lifetime = true;
  }
  return std::nullopt;
}

// -p[RESOURCE]: the promotion score master-RESOURCE of the local node (or -N), reboot.
std::optional<Refusal> apply_promotion(const std::string& given, const Env& env,
                                       bool explicit_lifetime, AttributeCommand& c) {
  const std::string rsc = given.empty() ? env.resource_instance : given;
  if (rsc.empty()) {
    return usage(c.program,
                 "-p/--promotion needs a resource: -pRESOURCE, --promotion=RESOURCE or "
                 "$OCF_RESOURCE_INSTANCE");
  }
  c.name = "master-" + strip_clone_suffix(rsc);
  if (!explicit_lifetime) c.lifetime = Lifetime::kReboot;
  return std::nullopt;
}

}  // namespace

Result parse_crm_attribute(const ScannedArgs& s, const Env& env) {
  AttributeCommand c;
  c.program = Program::kCrmAttribute;
  bool explicit_lifetime = false;
  std::optional<std::string> promotion;
  for (const auto& o : s.options) {
    if (auto r = apply_attribute_option(o, c, explicit_lifetime, promotion))
      return std::unexpected(*r);
  }
  if (auto r = no_operands(c.program, s)) return std::unexpected(*r);
  if (promotion) {
    if (auto r = apply_promotion(*promotion, env, explicit_lifetime, c)) return std::unexpected(*r);
  }
  if (c.name.empty()) return std::unexpected(usage(c.program, "-n/--name NAME is required"));
  if (c.cluster && (c.node || promotion || c.lifetime == Lifetime::kReboot)) {
    return std::unexpected(usage(c.program,
                                 "-t crm_config is a cluster property: no -N/--node, "
                                 "-p/--promotion or -l reboot with it"));
  }
  return c;
}

constexpr std::array kMasterSpecs{
    OptionSpec{'N', "node", K::kRequired, "node"},
    OptionSpec{'U', "uname", K::kRequired, "node"},
    OptionSpec{'v', "update", K::kRequired, "update"},
    OptionSpec{'\0', "attr-value", K::kRequired, "update"},
    OptionSpec{'G', "query", K::kNone, "query"},
    OptionSpec{'\0', "get-value", K::kNone, "query"},
    OptionSpec{'D', "delete", K::kNone, "delete"},
    OptionSpec{'\0', "delete-attr", K::kNone, "delete"},
    OptionSpec{'q', "quiet", K::kNone, "quiet"},
    OptionSpec{'Q', "", K::kNone, "quiet"},
    OptionSpec{'l', "lifetime", K::kRequired, "lifetime"},
    OptionSpec{'r', "resource", K::kRequired, "resource"},
    OptionSpec{'i', "id", K::kRequired, "ignore"},
    kVerbose,
    kHelp,
    kHelpH,
};

// crm_master: crm_attribute's promotion mode under its old name (lifetime reboot unless -l).
Result parse_crm_master(const ScannedArgs& s, const Env& env) {
  AttributeCommand c;
  c.program = Program::kCrmMaster;
  bool explicit_lifetime = false;
  std::optional<std::string> unused;
  std::string resource;
  for (const auto& o : s.options) {
    if (o.key == "resource") {
      resource = *o.value;
      continue;
    }
    if (auto r = apply_attribute_option(o, c, explicit_lifetime, unused))
      return std::unexpected(*r);
  }
  if (auto r = no_operands(c.program, s)) return std::unexpected(*r);
  if (resource.empty() && env.resource_instance.empty()) {
    return std::unexpected(usage(c.program,
                                 "OCF_RESOURCE_INSTANCE is not set: crm_master is run "
                                 "by a resource agent (or give -r RESOURCE)"));
  }
  if (auto r = apply_promotion(resource, env, explicit_lifetime, c)) return std::unexpected(*r);
  return c;
}

constexpr std::array kAttrdSpecs{
    OptionSpec{'n', "name", K::kRequired, "name"},
    OptionSpec{'U', "update", K::kRequired, "update"},
    OptionSpec{'v', "value", K::kRequired, "update"},
    OptionSpec{'B', "update-both", K::kRequired, "update"},
    OptionSpec{'Q', "query", K::kNone, "query"},
    OptionSpec{'D', "delete", K::kNone, "delete"},
    OptionSpec{'N', "node", K::kRequired, "node"},
    OptionSpec{'A', "all", K::kNone, "all"},
    OptionSpec{'d', "delay", K::kRequired, "ignore"},
    OptionSpec{'p', "private", K::kNone, "ignore"},
    OptionSpec{'s', "set", K::kRequired, "ignore"},
    OptionSpec{'S', "section", K::kRequired, "ignore"},
    OptionSpec{'W', "wait", K::kRequired, "ignore"},
    OptionSpec{'q', "quiet", K::kNone, "quiet"},
    OptionSpec{'Y', "update-delay", K::kNone, "unsupported"},
    OptionSpec{'R', "refresh", K::kNone, "unsupported"},
    kVerbose,
    kHelp,
};

// attrd_updater: transient (reboot) attributes only; -d, -p, -s, -S, -W change nothing here.
Result parse_attrd_updater(const ScannedArgs& s) {
  using A = AttributeCommand::Action;
  AttributeCommand c;
  c.program = Program::kAttrdUpdater;
  c.lifetime = Lifetime::kReboot;
  bool have_action = false;
  for (const auto& o : s.options) {
    if (o.key == "help") return std::unexpected(help(c.program));
    if (o.key == "unsupported") return std::unexpected(unsupported(o.spelled));
    if (o.key == "name") c.name = *o.value;
    if (o.key == "node") c.node = *o.value;
    if (o.key == "all") c.all_nodes = true;
    if (o.key == "quiet") c.quiet = true;
    if (o.key == "update") c.value = *o.value;
    if (o.key == "update" || o.key == "query" || o.key == "delete") {
      c.action = o.key == "update" ? A::kUpdate : o.key == "query" ? A::kQuery : A::kDelete;
      have_action = true;
    }
  }
  if (auto r = no_operands(c.program, s)) return std::unexpected(*r);
  if (!have_action) return std::unexpected(usage(c.program, "give one of -U VALUE, -Q or -D"));
  if (c.name.empty()) return std::unexpected(usage(c.program, "-n/--name NAME is required"));
  if (c.all_nodes && c.action != A::kQuery) c.all_nodes = false;  // -A means something to -Q only
  return c;
}

constexpr std::array kNodeSpecs{
    OptionSpec{'n', "name", K::kNone, "name"},
    OptionSpec{'l', "list", K::kNone, "list"},
    OptionSpec{'p', "partition", K::kNone, "partition"},
    OptionSpec{'q', "quorum", K::kNone, "quorum"},
    OptionSpec{'i', "cluster-id", K::kNone, "id"},
    OptionSpec{'N', "name-for-id", K::kRequired, "name-for-id"},
    OptionSpec{'f', "force", K::kNone, "ignore"},
    OptionSpec{'R', "remove", K::kRequired, "unsupported"},
    kVerbose,
    kHelp,
};

Result parse_crm_node(const ScannedArgs& s) {
  using A = NodeCommand::Action;
  NodeCommand c;
  bool have_action = false;
  for (const auto& o : s.options) {
    if (o.key == "help") return std::unexpected(help(Program::kCrmNode));
    if (o.key == "unsupported")
      return std::unexpected(unsupported(o.spelled + " (nodes are in cluster.yaml)"));
    if (o.key == "ignore") continue;
    have_action = true;
    if (o.key == "name") c.action = A::kName;
    if (o.key == "list") c.action = A::kList;
    if (o.key == "partition") c.action = A::kPartition;
    if (o.key == "quorum") c.action = A::kQuorum;
    if (o.key == "id") c.action = A::kId;
    if (o.key == "name-for-id") {
      c.action = A::kNameForId;
      c.id = *o.value;
    }
  }
  if (auto r = no_operands(Program::kCrmNode, s)) return std::unexpected(*r);
  if (!have_action)
    return std::unexpected(usage(Program::kCrmNode, "give one of -n, -l, -p, -q, -i, -N ID"));
  return c;
}

std::span<const OptionSpec> attribute_specs() { return kAttributeSpecs; }
std::span<const OptionSpec> master_specs() { return kMasterSpecs; }
std::span<const OptionSpec> attrd_specs() { return kAttrdSpecs; }
std::span<const OptionSpec> node_specs() { return kNodeSpecs; }

}  // namespace detail
}  // namespace hactl::crm
