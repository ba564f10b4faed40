// Location rules on node attributes, Pacemaker's `rule` (Pacemaker Explained 2.1, "Rules":
// node attribute expressions joined by a boolean-op, nested rules), written as text the way pcs
// and crm shell write them:
//   not_defined pgsql-data-status or pgsql-data-status ne LATEST
//   pingd lte 0        cpus gt integer 4        (#uname eq n1 or #uname eq n2) and defined ssd
// parse_rule() turns the text into typed steps, bounded by limits::kMaxRuleLength,
// kMaxRuleConditions and kMaxRuleDepth, without recursion; evaluate() says whether a rule holds
// on one node from that node's attributes in force and its built-ins, in one pass over the
// steps. Pure: no clock, no I/O, no allocation beyond the attribute lookups.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hactl {

// Pacemaker's `operation` of an expression.
enum class RuleOp : std::uint8_t { kLt, kGt, kLte, kGte, kEq, kNe, kDefined, kNotDefined };
// Pacemaker's `type`: how the two values compare. kDefault is Pacemaker's default: for lt, gt,
// lte and gte `number` when either value has a '.', else `integer`; for eq and ne `string`.
// Whatever the type, two values that do not both read as it compare as strings (Pacemaker's
// rule too).
enum class RuleType : std::uint8_t { kDefault, kString, kInteger, kNumber, kVersion };
std::string_view to_string(RuleOp op);
std::string_view to_string(RuleType type);

// One node attribute expression: `defined NAME`, `not_defined NAME`, `NAME OP [TYPE] VALUE`.
struct RuleCondition {
  std::string attribute;  // a node attribute, or a built-in: #uname #id #kind #cluster-name ...
  RuleOp op = RuleOp::kEq;
  RuleType type = RuleType::kDefault;
  std::string value;  // what it is compared with; empty for defined and not_defined
  bool operator==(const RuleCondition&) const = default;
};

struct Rule {
  // A condition, or the and / or of earlier steps (a group of conditions in parentheses, or
  // the whole rule): operands come before the step that joins them, the whole rule is last.
  struct Step {
    enum class Kind : std::uint8_t { kCondition, kAnd, kOr };
    Kind kind = Kind::kCondition;
    RuleCondition condition;              // kCondition
    std::vector<std::uint16_t> operands;  // kAnd, kOr: indexes of earlier steps
    bool operator==(const Step&) const = default;
  };
  std::string text;  // as written, without leading or trailing blanks (hactl explain shows it)
  std::vector<Step> steps;
  bool operator==(const Rule&) const = default;
};

struct RuleError {
  std::size_t at = 0;  // 1-based character of the rule's text where it went wrong
  std::string message;
  std::string to_string() const;  // "at character 12: ..."
};

// The built-in node attributes a rule may read (Pacemaker Explained 2.1, "Built-in Node
// Attributes"): #uname, #id (the node's 1-based position in the configuration, as crm_node
// -i says), #kind (always "cluster"), #cluster-name, #site-name (the node attribute
// site-name, else the cluster name). #is_dc is refused: placement would depend on which node
// coordinates.
bool is_builtin_attribute(std::string_view name);

// Why `name` cannot be an attribute a rule reads (nullopt: it can): node attribute names are 1
// to limits::kMaxAttributeNameLength letters, digits and - _ . :, or a built-in above.
std::optional<std::string> attribute_name_problem(std::string_view name);

// Errors name the character and the word where the text stops making sense. `and` and `or`
// at one level of parentheses must agree, as a Pacemaker rule has one boolean-op: mixing them
// is refused rather than given a precedence Pacemaker does not define.
std::expected<Rule, RuleError> parse_rule(std::string_view text);

// What a rule reads on one node.
struct RuleInput {
  std::string_view name;          // #uname
  std::string id;                 // #id
  std::string_view cluster_name;  // #cluster-name; #site-name without a site-name attribute
  const std::map<std::string, std::string>* attributes = nullptr;  // in force there; may be null
  // The value of `attribute` (a node attribute or a built-in) there; nullopt when not set.
  std::optional<std::string_view> get(std::string_view attribute) const;
};

// Whether the condition holds for the value its attribute has (nullopt: not set). An attribute
// that is not set satisfies not_defined and ne only.
bool holds(const RuleCondition& c, std::optional<std::string_view> actual);
bool evaluate(const Rule& rule, const RuleInput& node);
// What the rule read on that node, for a person: "pgsql-data-status is DISCONNECT, pingd is
// not set" (each attribute once, in the order the rule names them).
std::string rule_inputs_text(const Rule& rule, const RuleInput& node);

}  // namespace hactl
