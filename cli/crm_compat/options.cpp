#include "cli/crm_compat/options.hpp"

#include <cassert>

namespace hactl::crm {
namespace {

const OptionSpec* find_short(std::span<const OptionSpec> specs, char c) {
  for (const auto& s : specs) {
    if (s.short_name != '\0' && s.short_name == c) return &s;
  }
  return nullptr;
}

const OptionSpec* find_long(std::span<const OptionSpec> specs, std::string_view name) {
  for (const auto& s : specs) {
    if (!s.long_name.empty() && s.long_name == name) return &s;
  }
  return nullptr;
}

// Quoted for a message: the token may hold anything, so it is shown printable and bounded.
std::string shown(std::string_view token) {
  std::string out = "'";
  for (const char c : token.substr(0, 64)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (token.size() > 64) out += "...";
  return out + "'";
}

struct Cursor {
  std::span<const std::string> args;
  std::size_t i = 0;
};

// "--name", "--name=VALUE" or "--name VALUE".
std::expected<ScannedOption, std::string> scan_long(Cursor& c, std::span<const OptionSpec> specs) {
  const std::string_view token = c.args[c.i];
  const std::string_view body = token.substr(2);
  const auto eq = body.find('=');
  const std::string_view name = body.substr(0, eq);
  const OptionSpec* spec = find_long(specs, name);
  if (spec == nullptr) return std::unexpected("unknown option " + shown(token.substr(0, eq + 2)));
  ScannedOption o{spec->key, "--" + std::string(name), std::nullopt};
  if (eq != std::string_view::npos) {
    if (spec->arg == ArgKind::kNone)
      return std::unexpected("option " + shown(o.spelled) + " takes no value");
    o.value = std::string(body.substr(eq + 1));
  } else if (spec->arg == ArgKind::kRequired) {
    if (c.i + 1 >= c.args.size())
      return std::unexpected("option " + shown(o.spelled) + " needs a value");
    o.value = c.args[++c.i];
  }
  ++c.i;
  return o;
}

// "-abc" (flags bundled), "-lVALUE" or "-l VALUE".
std::expected<std::vector<ScannedOption>, std::string> scan_short(
    Cursor& c, std::span<const OptionSpec> specs) {
  const std::string& token = c.args[c.i];
  std::vector<ScannedOption> out;
  for (std::size_t k = 1; k < token.size(); ++k) {
    const OptionSpec* spec = find_short(specs, token[k]);
    const std::string spelled = std::string("-") + token[k];
    if (spec == nullptr) return std::unexpected("unknown option " + shown(spelled));
    ScannedOption o{spec->key, spelled, std::nullopt};
    const bool rest = k + 1 < token.size();
    if (spec->arg != ArgKind::kNone && rest) {
      o.value = token.substr(k + 1);
      out.push_back(std::move(o));
      break;
    }
    if (spec->arg == ArgKind::kRequired) {
      if (c.i + 1 >= c.args.size())
        return std::unexpected("option " + shown(spelled) + " needs a value");
      o.value = c.args[++c.i];
    }
    out.push_back(std::move(o));
  }
  ++c.i;
  return out;
}

}  // namespace

std::expected<ScannedArgs, std::string> scan_options(std::span<const std::string> args,
                                                     std::span<const OptionSpec> specs) {
  ScannedArgs out;
  Cursor c{args, 0};
  while (c.i < args.size()) {
    const std::string& token = args[c.i];
    const std::size_t before = c.i;
    if (token == "--") {
      out.operands.insert(out.operands.end(), args.begin() + static_cast<std::ptrdiff_t>(c.i) + 1,
                          args.end());
      break;
    }
    if (token.starts_with("--")) {
      auto o = scan_long(c, specs);
      if (!o) return std::unexpected(o.error());
      out.options.push_back(std::move(*o));
    } else if (token.size() > 1 && token[0] == '-') {
      auto os = scan_short(c, specs);
      if (!os) return std::unexpected(os.error());
      for (auto& o : *os) out.options.push_back(std::move(o));
    } else {
      out.operands.push_back(token);
      ++c.i;
    }
    assert(c.i > before);  // every step consumes a token: the loop ends
  }
  return out;
}

}  // namespace hactl::crm
