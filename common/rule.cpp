#include "common/rule.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <set>

#include "common/assert.hpp"
#include "common/cluster_doc.hpp"
#include "common/limits.hpp"

namespace hactl {
namespace {

// An and / or step joins at least two earlier steps, so a rule of N conditions has fewer
// than 2N steps.
constexpr std::size_t kMaxSteps = 2 * limits::kMaxRuleConditions;

struct Token {
  enum class Kind : std::uint8_t { kWord, kQuoted, kOpen, kClose, kEnd };
  Kind kind = Kind::kEnd;
  std::string_view text;  // kQuoted: between the quotes
  std::size_t at = 0;     // 1-based character
  bool is(std::string_view word) const { return kind == Kind::kWord && text == word; }
};

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string shortened(std::string_view s) {
  constexpr std::size_t kShown = 40;
  return s.size() <= kShown ? std::string(s) : std::string(s.substr(0, kShown)) + "...";
}

// A token as an error message names it.
std::string shown(const Token& t) {
  switch (t.kind) {
    case Token::Kind::kEnd:
      return "the end of the rule";
    case Token::Kind::kQuoted:
      return "\"" + shortened(t.text) + "\"";
    default:
      return "'" + shortened(t.text) + "'";
  }
}

// Words, quoted values ("..." or '...', no escapes), and parentheses; positions are 1-based.
std::expected<std::vector<Token>, RuleError> tokenize(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && !blank(s[i])) || c == 0x7f)
      return std::unexpected(RuleError{i + 1, "a control character is not allowed in a rule"});
  }
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (blank(c)) {
      ++i;
    } else if (c == '(' || c == ')') {
      out.push_back({c == '(' ? Token::Kind::kOpen : Token::Kind::kClose, s.substr(i, 1), i + 1});
      ++i;
    } else if (c == '"' || c == '\'') {
      const auto end = s.find(c, i + 1);
      if (end == std::string_view::npos) {
        return std::unexpected(
            RuleError{i + 1, std::string("the quote ") + c + " opened here is not closed"});
      }
      out.push_back({Token::Kind::kQuoted, s.substr(i + 1, end - i - 1), i + 1});
      i = end + 1;
    } else {
      std::size_t end = i;
      while (end < s.size() && !blank(s[end]) && s[end] != '(' && s[end] != ')') ++end;
      out.push_back({Token::Kind::kWord, s.substr(i, end - i), i + 1});
      i = end;
    }
  }
  out.push_back({Token::Kind::kEnd, {}, s.size() + 1});
  return out;
}

// lt, gt, lte, gte, eq, ne, or crm shell's TYPE:OP (string:eq, number:lt, version:gte).
std::optional<std::pair<RuleOp, RuleType>> parse_operation(std::string_view w) {
  RuleType type = RuleType::kDefault;
  if (const auto colon = w.find(':'); colon != std::string_view::npos) {
    static constexpr std::array<std::pair<std::string_view, RuleType>, 4> kTypes = {
        {{"string", RuleType::kString},
         {"integer", RuleType::kInteger},
         {"number", RuleType::kNumber},
         {"version", RuleType::kVersion}}};
    const auto name = w.substr(0, colon);
    const auto* it =
        std::find_if(kTypes.begin(), kTypes.end(), [&](const auto& t) { return t.first == name; });
    if (it == kTypes.end()) return std::nullopt;
    type = it->second;
    w = w.substr(colon + 1);
  }
  static constexpr std::array<std::pair<std::string_view, RuleOp>, 6> kOps = {
      {{"lt", RuleOp::kLt},
       {"gt", RuleOp::kGt},
       {"lte", RuleOp::kLte},
       {"gte", RuleOp::kGte},
       {"eq", RuleOp::kEq},
       {"ne", RuleOp::kNe}}};
  for (const auto& [name, op] : kOps) {
    if (name == w) return std::make_pair(op, type);
  }
  return std::nullopt;
}

std::optional<RuleType> parse_type(std::string_view w) {
  if (w == "string") return RuleType::kString;
  if (w == "integer") return RuleType::kInteger;
  if (w == "number") return RuleType::kNumber;
  if (w == "version") return RuleType::kVersion;
  return std::nullopt;
}

std::optional<double> as_number(std::string_view s) {
  if (s.size() > 1 && s[0] == '+' && s[1] != '-') s.remove_prefix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

// Pacemaker's integer type truncates a value with a fraction: "3.9" is 3.
std::optional<long long> as_integer(std::string_view s) {
  if (s.size() > 1 && s[0] == '+' && s[1] != '-') s.remove_prefix(1);
  long long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!s.empty() && ec == std::errc{} && end == s.data() + s.size()) return v;
  const auto d = as_number(s);
  if (!d || std::fabs(*d) >= 9.2e18) return std::nullopt;
  return static_cast<long long>(*d);
}

// Dot-separated whole numbers ("2.1.7"), each of at most 18 digits.
bool version_like(std::string_view s) {
  std::size_t digits = 0;
  for (const char c : s) {
    if (c == '.') {
      if (digits == 0) return false;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      if (++digits > 18) return false;
    } else {
      return false;
    }
  }
  return digits > 0;
}

// The next part of a version (0 once there is none), and the rest after it.
unsigned long long next_part(std::string_view& rest) {
  const auto dot = rest.find('.');
  const auto part = rest.substr(0, dot);
  rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  unsigned long long v = 0;
  std::from_chars(part.data(), part.data() + part.size(), v);
  return v;
}

template <typename T>
int three_way(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Part by part; a missing part counts as 0, so 2.1 and 2.1.0 are equal.
std::optional<int> compare_versions(std::string_view a, std::string_view b) {
  if (!version_like(a) || !version_like(b)) return std::nullopt;
  while (!a.empty() || !b.empty()) {
    const auto x = next_part(a), y = next_part(b);
    if (x != y) return three_way(x, y);
  }
  return 0;
}

// Without regard to ASCII case, as Pacemaker compares strings in rules.
int compare_strings(std::string_view a, std::string_view b) {
  const auto lower = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return static_cast<unsigned char>(u >= 'A' && u <= 'Z' ? u + ('a' - 'A') : u);
  };
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return three_way(lower(a[i]), lower(b[i]));
  }
  return three_way(a.size(), b.size());
}

int compare(std::string_view a, std::string_view b, RuleType type) {
  switch (type) {
    case RuleType::kInteger:
      if (const auto x = as_integer(a), y = as_integer(b); x && y) return three_way(*x, *y);
      break;
    case RuleType::kNumber:
      if (const auto x = as_number(a), y = as_number(b); x && y) return three_way(*x, *y);
      break;
    case RuleType::kVersion:
      if (const auto c = compare_versions(a, b)) return *c;
      break;
    case RuleType::kDefault:
    case RuleType::kString:
      break;
  }
  return compare_strings(a, b);
}

RuleType type_for(const RuleCondition& c, std::string_view actual) {
  if (c.type != RuleType::kDefault) return c.type;
  if (c.op == RuleOp::kEq || c.op == RuleOp::kNe) return RuleType::kString;
  const bool decimal =
      actual.find('.') != std::string_view::npos || c.value.find('.') != std::string::npos;
  return decimal ? RuleType::kNumber : RuleType::kInteger;
}

// An explicit type's literal must read as that type (Pacemaker would compare a literal that
// does not as a string, which is never what `cpus gt integer four` meant).
std::optional<std::string> literal_problem(const RuleCondition& c) {
  const std::string v = "'" + shortened(c.value) + "'";
  switch (c.type) {
    case RuleType::kInteger:
      if (!as_integer(c.value)) return v + " is not an integer (type integer)";
      break;
    case RuleType::kNumber:
      if (!as_number(c.value)) return v + " is not a number (type number)";
      break;
    case RuleType::kVersion:
      if (!version_like(c.value))
        return v + " is not a version: whole numbers separated by dots (type version)";
      break;
    case RuleType::kDefault:
    case RuleType::kString:
      break;
  }
  return std::nullopt;
}

// What may start a condition; the hints are for text written for crm shell or pcs.
std::optional<RuleError> condition_start(const Token& t) {
  if (t.kind == Token::Kind::kEnd) {
    return RuleError{t.at, "the rule ends where a condition should be"};
  }
  if (t.kind != Token::Kind::kWord) {
    return RuleError{t.at,
                     "expected a condition (NAME OP VALUE, defined NAME or not_defined "
                     "NAME) or '(', got " +
                         shown(t)};
  }
  const std::string_view w = t.text;
  if (w == "and" || w == "or") {
    return RuleError{t.at, "expected a condition before " + shown(t)};
  }
  if (w.ends_with(':') || w.starts_with("$role=") || w.starts_with("$id=")) {
    return RuleError{t.at, shown(t) +
                               " is crm shell's syntax around a rule: the score goes in 'score', "
                               "the role in 'role', and only the condition in 'rule'"};
  }
  if (w == "date" || w == "date-spec") {
    return RuleError{t.at,
                     "date expressions are not supported: hactl's rules test node "
                     "attributes"};
  }
  return std::nullopt;
}

// A value: a word that is not `and` or `or`, or a quoted string.
bool is_value(const Token& t) {
  return t.kind == Token::Kind::kQuoted ||
         (t.kind == Token::Kind::kWord && !t.is("and") && !t.is("or"));
}

// Reads the tokens into steps, with an explicit stack of the parentheses open (no recursion).
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}
  std::expected<std::vector<Rule::Step>, RuleError> run();

 private:
  // The conditions and groups of one level of parentheses (the whole rule at the bottom).
  struct Group {
    std::vector<std::uint16_t> operands;
    const Token* joined_by = nullptr;  // its first `and` or `or`
    std::size_t open_at = 0;           // its '(' (0: the whole rule)
  };
  std::optional<RuleError> condition(Group& g);
  std::optional<RuleError> operation(RuleCondition& c);
  std::optional<RuleError> join(Group& g, const Token& op) const;
  RuleError after_operand(const Token& t, const std::vector<Group>& open) const;
  std::uint16_t close(Group& g);
  std::uint16_t add(Rule::Step s) {
    HACTL_ASSERT(steps_.size() < kMaxSteps);
    steps_.push_back(std::move(s));
    return static_cast<std::uint16_t>(steps_.size() - 1);
  }

  std::vector<Token> t_;  // ends with a kEnd token
  std::size_t pos_ = 0;
  std::vector<Rule::Step> steps_;
  std::size_t conditions_ = 0;
};

std::expected<std::vector<Rule::Step>, RuleError> Parser::run() {
  std::vector<Group> open(1);
  bool operand = true;  // a condition or '(' comes next
  for (;;) {
    const Token& t = t_[pos_];
    if (operand && t.kind == Token::Kind::kOpen) {
      if (open.size() > limits::kMaxRuleDepth) {
        return std::unexpected(RuleError{
            t.at, "parentheses nest deeper than " + std::to_string(limits::kMaxRuleDepth)});
      }
      open.push_back(Group{{}, nullptr, t.at});
      ++pos_;
    } else if (operand) {
      if (auto e = condition(open.back())) return std::unexpected(std::move(*e));
      operand = false;
    } else if (t.is("and") || t.is("or")) {
      if (auto e = join(open.back(), t)) return std::unexpected(std::move(*e));
      ++pos_;
      operand = true;
    } else if (t.kind == Token::Kind::kClose && open.size() > 1) {
      const std::uint16_t group = close(open.back());
      open.pop_back();
      open.back().operands.push_back(group);
      ++pos_;
    } else if (t.kind == Token::Kind::kEnd && open.size() == 1) {
      close(open.back());
      return std::move(steps_);
    } else {
      return std::unexpected(after_operand(t, open));
    }
  }
}

RuleError Parser::after_operand(const Token& t, const std::vector<Group>& open) const {
  if (t.kind == Token::Kind::kEnd) {
    return RuleError{
        open.back().open_at,
        "the '(' at character " + std::to_string(open.back().open_at) + " is not closed"};
  }
  if (t.kind == Token::Kind::kClose) return RuleError{t.at, "this ')' closes no '('"};
  return RuleError{
      t.at, "expected and, or, ')' or the end of the rule after a condition, got " + shown(t)};
}

// One boolean-op per level, as a Pacemaker rule has (its nested rules are the parentheses).
std::optional<RuleError> Parser::join(Group& g, const Token& op) const {
  if (g.joined_by == nullptr) {
    g.joined_by = &op;
    return std::nullopt;
  }
  if (g.joined_by->text == op.text) return std::nullopt;
  return RuleError{op.at, shown(op) + " follows '" + std::string(g.joined_by->text) +
                              "' (character " + std::to_string(g.joined_by->at) +
                              ") without parentheses: a Pacemaker rule joins its conditions "
                              "with one boolean-op, so say which goes first, as in "
                              "'(A and B) or C'"};
}

std::uint16_t Parser::close(Group& g) {
  HACTL_ASSERT(!g.operands.empty());
  if (g.operands.size() == 1) return g.operands.front();
  const bool all = g.joined_by != nullptr && g.joined_by->text == "and";
  return add(
      Rule::Step{all ? Rule::Step::Kind::kAnd : Rule::Step::Kind::kOr, {}, std::move(g.operands)});
}

std::optional<RuleError> Parser::condition(Group& g) {
  const Token& first = t_[pos_];
  if (auto e = condition_start(first)) return e;
  if (++conditions_ > limits::kMaxRuleConditions) {
    return RuleError{first.at, "more than " + std::to_string(limits::kMaxRuleConditions) +
                                   " conditions in one rule"};
  }
  RuleCondition c;
  if (first.is("defined") || first.is("not_defined")) {
    c.op = first.text == "defined" ? RuleOp::kDefined : RuleOp::kNotDefined;
    const Token& name = t_[++pos_];
    if (name.kind != Token::Kind::kWord || name.is("and") || name.is("or")) {
      return RuleError{name.at,
                       "expected an attribute name after " + shown(first) + ", got " + shown(name)};
    }
    if (auto why = attribute_name_problem(name.text)) return RuleError{name.at, *why};
    c.attribute = name.text;
    ++pos_;
  } else {
    if (auto why = attribute_name_problem(first.text)) return RuleError{first.at, *why};
    c.attribute = first.text;
    if (auto e = operation(c)) return e;
  }
  g.operands.push_back(add(Rule::Step{Rule::Step::Kind::kCondition, std::move(c), {}}));
  return std::nullopt;
}

// After the attribute: OP [TYPE] VALUE (pcs), or TYPE:OP VALUE (crm shell).
std::optional<RuleError> Parser::operation(RuleCondition& c) {
  const Token& op = t_[++pos_];
  const auto parsed = op.kind == Token::Kind::kWord ? parse_operation(op.text) : std::nullopt;
  if (!parsed) {
    std::string hint;
    if (c.attribute == "not") hint = " (there is no 'not': use not_defined NAME, or ne)";
    return RuleError{op.at, "expected lt, gt, lte, gte, eq or ne after '" + shortened(c.attribute) +
                                "', got " + shown(op) + hint};
  }
  c.op = parsed->first;
  c.type = parsed->second;
  const Token* value = &t_[++pos_];
  if (c.type == RuleType::kDefault && value->kind == Token::Kind::kWord) {
    // A type word is the type when a value follows it; else it is the value.
    if (const auto type = parse_type(value->text); type && is_value(t_[pos_ + 1])) {
      c.type = *type;
      value = &t_[++pos_];
    }
  }
  if (!is_value(*value)) {
    return RuleError{value->at, "expected a value to compare " + shortened(c.attribute) +
                                    " with after " + shown(op) + ", got " + shown(*value)};
  }
  c.value = value->text;
  ++pos_;
  if (auto why = literal_problem(c)) return RuleError{value->at, *why};
  return std::nullopt;
}

}  // namespace

std::string_view to_string(RuleOp op) {
  switch (op) {
    case RuleOp::kLt:
      return "lt";
    case RuleOp::kGt:
      return "gt";
    case RuleOp::kLte:
      return "lte";
    case RuleOp::kGte:
      return "gte";
    case RuleOp::kEq:
      return "eq";
    case RuleOp::kNe:
      return "ne";
    case RuleOp::kDefined:
      return "defined";
    case RuleOp::kNotDefined:
      return "not_defined";
  }
  return "?";
}

std::string_view to_string(RuleType type) {
  switch (type) {
    case RuleType::kDefault:
      return "default";
    case RuleType::kString:
      return "string";
    case RuleType::kInteger:
      return "integer";
    case RuleType::kNumber:
      return "number";
    case RuleType::kVersion:
      return "version";
  }
  return "?";
}

std::string RuleError::to_string() const {
  return "at character " + std::to_string(at) + ": " + message;
}

bool is_builtin_attribute(std::string_view name) {
  return name == "#uname" || name == "#id" || name == "#kind" || name == "#cluster-name" ||
         name == "#site-name";
}

std::optional<std::string> attribute_name_problem(std::string_view name) {
  if (name.starts_with('#')) {
    if (is_builtin_attribute(name)) return std::nullopt;
    if (name == "#is_dc") {
      return "#is_dc is not supported: where a resource runs must not depend on which node "
             "coordinates";
    }
    if (name == "#role") return "#role is not supported: give the constraint a 'role' instead";
    return "'" + shortened(name) +
           "' is not a built-in attribute (hactl has #uname, #id, #kind, #cluster-name and "
           "#site-name)";
  }
  if (valid_attribute_name(name)) return std::nullopt;
  return "'" + shortened(name) + "' is not a node attribute name (1 to " +
         std::to_string(limits::kMaxAttributeNameLength) +
         " letters, digits and - _ . :, or a built-in such as #uname)";
}

std::expected<Rule, RuleError> parse_rule(std::string_view text) {
  if (text.size() > limits::kMaxRuleLength) {
    return std::unexpected(RuleError{
        limits::kMaxRuleLength + 1, "a rule has at most " + std::to_string(limits::kMaxRuleLength) +
                                        " characters; this one has " +
                                        std::to_string(text.size())});
  }
  auto tokens = tokenize(text);
  if (!tokens) return std::unexpected(tokens.error());
  if (tokens->size() == 1) {
    return std::unexpected(
        RuleError{1, "the rule is empty: write a condition, such as 'pingd lte 0'"});
  }
  auto steps = Parser(std::move(*tokens)).run();
  if (!steps) return std::unexpected(steps.error());
  std::size_t begin = 0, end = text.size();
  while (begin < end && blank(text[begin])) ++begin;
  while (end > begin && blank(text[end - 1])) --end;
  return Rule{std::string(text.substr(begin, end - begin)), std::move(*steps)};
}

std::optional<std::string_view> RuleInput::get(std::string_view attribute) const {
  const auto plain = [&](std::string_view key) -> std::optional<std::string_view> {
    if (attributes == nullptr) return std::nullopt;
    const auto it = attributes->find(std::string(key));
    if (it == attributes->end()) return std::nullopt;
    return std::string_view(it->second);
  };
  if (!attribute.starts_with('#')) return plain(attribute);
  if (attribute == "#uname") return name;
  if (attribute == "#id") return std::string_view(id);
  if (attribute == "#kind") return "cluster";
  const auto cluster = cluster_name.empty() ? std::nullopt : std::optional(cluster_name);
  if (attribute == "#cluster-name") return cluster;
  if (attribute == "#site-name") {
    const auto site = plain("site-name");
    return site ? site : cluster;
  }
  return std::nullopt;
}

bool holds(const RuleCondition& c, std::optional<std::string_view> actual) {
  if (c.op == RuleOp::kDefined) return actual.has_value();
  if (c.op == RuleOp::kNotDefined) return !actual.has_value();
  // No value is equal to nothing, and neither below nor above it.
  if (!actual) return c.op == RuleOp::kNe;
  const int cmp = compare(*actual, c.value, type_for(c, *actual));
  switch (c.op) {
    case RuleOp::kLt:
      return cmp < 0;
    case RuleOp::kGt:
      return cmp > 0;
    case RuleOp::kLte:
      return cmp <= 0;
    case RuleOp::kGte:
      return cmp >= 0;
    case RuleOp::kEq:
      return cmp == 0;
    case RuleOp::kNe:
      return cmp != 0;
    case RuleOp::kDefined:
    case RuleOp::kNotDefined:
      break;
  }
  return false;
}

bool evaluate(const Rule& rule, const RuleInput& node) {
  HACTL_ASSERT(!rule.steps.empty() && rule.steps.size() <= kMaxSteps);
  std::array<bool, kMaxSteps> result{};
  for (std::size_t i = 0; i < rule.steps.size(); ++i) {
    const Rule::Step& s = rule.steps[i];
    if (s.kind == Rule::Step::Kind::kCondition) {
      result[i] = holds(s.condition, node.get(s.condition.attribute));
      continue;
    }
    const bool all = s.kind == Rule::Step::Kind::kAnd;
    bool r = all;
    for (const std::uint16_t k : s.operands) {
      HACTL_ASSERT(k < i);
      r = all ? r && result[k] : r || result[k];
    }
    result[i] = r;
  }
  return result[rule.steps.size() - 1];
}

std::string rule_inputs_text(const Rule& rule, const RuleInput& node) {
  std::set<std::string_view> seen;
  std::string out;
  for (const Rule::Step& s : rule.steps) {
    if (s.kind != Rule::Step::Kind::kCondition) continue;
    const std::string_view a = s.condition.attribute;
    if (!seen.insert(a).second) continue;
    const auto v = node.get(a);
    out += (out.empty() ? "" : ", ") + std::string(a) +
           (v ? " is " + shortened(*v) : std::string(" is not set"));
  }
  return out;
}

}  // namespace hactl
