// keepalived.conf(5) syntax (see keepalived_parser.hpp): files become one stream of tokens (words,
// '{', '}', ends of lines), includes spliced in where they stand, then one pass builds the tree.
#include "cli/keepalived_parser.hpp"

#include <glob.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>

namespace hactl {
namespace {

enum class TokKind { kWord, kOpen, kClose, kEnd };

struct Token {
  TokKind kind = TokKind::kWord;
  std::string text;
  std::size_t file = 0;  // index into Lexer::files
  int line = 0;
};

// One line split into words and braces.
struct Piece {
  TokKind kind = TokKind::kWord;
  std::string text;
  bool quoted = false;  // some of it was between quotes: never a keyword of the syntax
};

struct Lexer {
  const KaFileReader& reader;
  const std::string& config_id;
  std::vector<Token> tokens = {};
  std::vector<std::string> files = {};
  std::vector<std::string> errors = {};
  std::vector<KaUnmatchedInclude> unmatched = {};
  std::size_t total_bytes = 0;
};

constexpr std::array<std::string_view, 6> kIncludes = {"include",  "includer", "includem",
                                                       "includew", "includeb", "includea"};

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The character a backslash escape inside quotes stands for (keepalived.conf(5), "Quoted
// strings": \a \b \E \f \n \r \t \v, \nnn octal, \xXX hex, \cC control, \C itself); `i` is on
// the character after the backslash and is left on the escape's last character.
char unescape(std::string_view s, std::size_t& i) {
  static constexpr std::string_view kFrom = "abEfnrtv";
  static constexpr std::string_view kTo = "\a\b\x1b\f\n\r\t\v";
  const char c = s[i];
  if (const auto at = kFrom.find(c); at != std::string_view::npos) return kTo[at];
  if (c >= '0' && c <= '7') {
    int v = 0;
    for (int n = 0; n < 3 && i < s.size() && s[i] >= '0' && s[i] <= '7'; ++n, ++i) {
      v = v * 8 + (s[i] - '0');
    }
    --i;
    return static_cast<char>(v & 0xff);
  }
  if (c == 'x' && i + 1 < s.size() && hex_digit(s[i + 1]) >= 0) {
    int v = hex_digit(s[++i]);
    if (i + 1 < s.size() && hex_digit(s[i + 1]) >= 0) v = v * 16 + hex_digit(s[++i]);
    return static_cast<char>(v);
  }
  if (c == 'c' && i + 1 < s.size()) return static_cast<char>(s[++i] & 0x1f);
  return c;
}

// Appends the quoted text that starts at s[i] (the quote) to `out`; `i` ends on the closing
// quote. False when the line ends first.
bool read_quoted(std::string_view s, std::size_t& i, std::string& out) {
  const char quote = s[i];
  for (++i; i < s.size(); ++i) {
    if (s[i] == quote) return true;
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;
      out += unescape(s, i);
    } else {
      out += s[i];
    }
  }
  return false;
}

// A line's words and braces (braces are ordinary characters when `braces` is false: an include's
// pattern may hold csh-style {a,b}). Error: why the line cannot be read.
std::expected<std::vector<Piece>, std::string> split_line(std::string_view s, bool braces) {
  std::vector<Piece> out;
  Piece cur;
  bool in_word = false;
  auto flush = [&] {
    if (in_word) out.push_back(std::move(cur));
    cur = Piece{};
    in_word = false;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\0') return std::unexpected(std::string("a NUL byte in the line"));
    if (blank(c)) {
      flush();
    } else if (c == '#' || c == '!') {
      break;
    } else if (c == '"' || c == '\'') {
      if (!read_quoted(s, i, cur.text)) {
        return std::unexpected(std::string("the quote (") + c + ") is not closed on this line");
      }
      cur.quoted = true;
      in_word = true;
    } else if (braces && (c == '{' || c == '}')) {
      flush();
      out.push_back(Piece{c == '{' ? TokKind::kOpen : TokKind::kClose, std::string(1, c), false});
    } else {
      cur.text += c;
      in_word = true;
    }
  }
  flush();
  return out;
}

std::string where(const Lexer& lx, std::size_t file, int line) {
  return lx.files[file] + ":" + std::to_string(line);
}

void lex_text(Lexer& lx, const std::string& name, const std::string& text, int depth);

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// `include PATTERN` on line `line` of file `file`: the files it names, lexed in place.
void include(Lexer& lx, const std::vector<Piece>& pieces, std::size_t file, int line, int depth) {
  const std::string at = where(lx, file, line) + ": " + pieces[0].text;
  if (pieces.size() != 2) {
    lx.errors.push_back(at + ": takes one file name or pattern");
    return;
  }
  if (depth + 1 > KaParseLimits::kMaxIncludeDepth) {
    lx.errors.push_back(at + ": includes nest deeper than " +
                        std::to_string(KaParseLimits::kMaxIncludeDepth) +
                        " files (does a file include itself?)");
    return;
  }
  const std::string& name = pieces[1].text;
  const std::string pattern = name.starts_with('/') ? name : directory_of(lx.files[file]) + name;
  const auto paths = lx.reader.glob(pattern);
  if (!paths) {
    lx.errors.push_back(at + " " + name + ": " + paths.error());
    return;
  }
  if (paths->empty()) {
    // keepalived's include and includer let a pattern match nothing; the others do not.
    if (pieces[0].text == "include" || pieces[0].text == "includer") {
      lx.unmatched.push_back({where(lx, file, line), name});
    } else {
      lx.errors.push_back(at + " " + name + ": matches no file");
    }
    return;
  }
  for (const auto& path : *paths) {
    if (lx.files.size() >= KaParseLimits::kMaxFiles) {
      lx.errors.push_back(at + " " + name + ": more than " +
                          std::to_string(KaParseLimits::kMaxFiles) + " files in all");
      return;
    }
    const auto text = lx.reader.read(path, KaParseLimits::kMaxFileBytes);
    if (!text) {
      lx.errors.push_back(at + " " + path + ": " + text.error());
      return;
    }
    lex_text(lx, path, *text, depth + 1);
    if (!lx.errors.empty()) return;
  }
}

// A conditional line ("@ID ..." or "@^ID ..."): whether it is kept for this host. Error when the
// host's config-id is not known.
std::expected<bool, std::string> keep_conditional(const Lexer& lx, const std::string& word) {
  const bool negated = word.starts_with("@^");
  const std::string id = word.substr(negated ? 2 : 1);
  if (lx.config_id.empty()) {
    return std::unexpected(
        "'" + word +
        "': a conditional line needs the host's config-id: give the file as --node NAME=FILE, "
        "NAME being the config-id keepalived ran with (its -i option, else its host name)");
  }
  return (id == lx.config_id) != negated;
}

// Why keepalived's advanced syntax on this line cannot be imported, if it is there.
std::optional<std::string> unsupported(const Piece& first) {
  if (first.quoted) return std::nullopt;
  if (first.text.starts_with('$') && first.text.find('=') != std::string::npos) {
    return "parameter substitution ('" + first.text.substr(0, first.text.find('=') + 1) +
           "...') is not imported: expand the parameters first (one file per host, as keepalived "
           "reads it)";
  }
  if (first.text.starts_with("~SEQ") || first.text.starts_with("~LST")) {
    return "'" + first.text.substr(0, 4) +
           "' blocks are not imported: expand them first (one file per host, as keepalived "
           "reads it)";
  }
  return std::nullopt;
}

// One line: its pieces become tokens, or an include is followed.
void lex_line(Lexer& lx, std::string_view text, std::size_t file, int line, int depth) {
  auto pieces = split_line(text, true);
  if (pieces && !pieces->empty() && !(*pieces)[0].quoted &&
      std::find(kIncludes.begin(), kIncludes.end(), (*pieces)[0].text) != kIncludes.end()) {
    pieces = split_line(text, false);
    if (pieces) include(lx, *pieces, file, line, depth);
    return;
  }
  if (!pieces) {
    lx.errors.push_back(where(lx, file, line) + ": " + pieces.error());
    return;
  }
  std::size_t first = 0;
  if (!pieces->empty() && !(*pieces)[0].quoted && (*pieces)[0].text.starts_with('@')) {
    const auto keep = keep_conditional(lx, (*pieces)[0].text);
    if (!keep) lx.errors.push_back(where(lx, file, line) + ": " + keep.error());
    if (!keep || !*keep) return;
    first = 1;
  }
  if (first < pieces->size()) {
    if (const auto why = unsupported((*pieces)[first])) {
      lx.errors.push_back(where(lx, file, line) + ": " + *why);
      return;
    }
  }
  for (std::size_t i = first; i < pieces->size(); ++i) {
    auto& p = (*pieces)[i];
    lx.tokens.push_back(Token{p.kind, std::move(p.text), file, line});
  }
  lx.tokens.push_back(Token{TokKind::kEnd, "", file, line});
}

void lex_text(Lexer& lx, const std::string& name, const std::string& text, int depth) {
  lx.files.push_back(name);
  const std::size_t file = lx.files.size() - 1;
  if (text.size() > KaParseLimits::kMaxFileBytes) {
    lx.errors.push_back(name + ": larger than " +
                        std::to_string(KaParseLimits::kMaxFileBytes / 1024) + " KiB");
    return;
  }
  lx.total_bytes += text.size();
  if (lx.total_bytes > KaParseLimits::kMaxTotalBytes) {
    lx.errors.push_back(name + ": the files come to more than " +
                        std::to_string(KaParseLimits::kMaxTotalBytes / (1024 * 1024)) +
                        " MiB in all");
    return;
  }
  int line = 0;
  for (std::size_t start = 0; start < text.size() && lx.errors.empty();) {
    ++line;
    const std::size_t nl = std::min(text.find('\n', start), text.size());
    lex_line(lx, std::string_view(text).substr(start, nl - start), file, line, depth);
    start = nl + 1;
  }
}

struct OpenBlock {
  std::vector<KaStatement>* list = nullptr;
  std::string keyword;
  std::string where;
};

// '{' opens the block of the statement on its line, or of the one just before it (a brace on a
// line of its own). Error: why it cannot.
std::optional<std::string> open_block(std::vector<OpenBlock>& stack, KaStatement& cur,
                                      bool& have_cur) {
  std::vector<KaStatement>& list = *stack.back().list;
  if (have_cur) {
    cur.has_block = true;
    list.push_back(std::move(cur));
    cur = KaStatement{};
    have_cur = false;
  } else if (list.empty() || list.back().has_block) {
    return std::string("'{' with no keyword before it");
  } else {
    list.back().has_block = true;
  }
  if (stack.size() > static_cast<std::size_t>(KaParseLimits::kMaxNesting)) {
    return "blocks nest deeper than " + std::to_string(KaParseLimits::kMaxNesting);
  }
  stack.push_back({&list.back().block, list.back().keyword, list.back().where()});
  return std::nullopt;
}

std::expected<std::vector<KaStatement>, std::string> build_tree(const Lexer& lx) {
  std::vector<KaStatement> root;
  std::vector<OpenBlock> stack{{&root, "", ""}};
  KaStatement cur;
  bool have_cur = false;
  auto finish = [&] {
    if (have_cur) stack.back().list->push_back(std::move(cur));
    cur = KaStatement{};
    have_cur = false;
  };
  for (const Token& t : lx.tokens) {
    if (t.kind == TokKind::kWord && !have_cur) {
      cur.keyword = t.text;
      cur.file = lx.files[t.file];
      cur.line = t.line;
      have_cur = true;
    } else if (t.kind == TokKind::kWord) {
      cur.args.push_back(t.text);
    } else if (t.kind == TokKind::kEnd) {
      finish();
    } else if (t.kind == TokKind::kOpen) {
      if (auto why = open_block(stack, cur, have_cur)) {
        return std::unexpected(where(lx, t.file, t.line) + ": " + *why);
      }
    } else {
      finish();
      if (stack.size() == 1) {
        return std::unexpected(where(lx, t.file, t.line) + ": '}' with no '{' open");
      }
      stack.pop_back();
    }
  }
  finish();
  if (stack.size() > 1) {
    return std::unexpected(stack.back().where + ": the block of '" + stack.back().keyword +
                           "' is not closed: a '}' is missing");
  }
  return root;
}

}  // namespace

std::string KaDiskReader::on_disk(const std::string& path) const {
  return root_.empty() || path.starts_with('/') ? path : root_ + "/" + path;
}

std::expected<std::vector<std::string>, std::string> KaDiskReader::glob(
    const std::string& pattern) const {
  glob_t g{};
  const int rc = ::glob(on_disk(pattern).c_str(), GLOB_BRACE, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0) {
    const std::string prefix = root_.empty() || pattern.starts_with('/') ? "" : root_ + "/";
    for (std::size_t i = 0; i < g.gl_pathc && i <= KaParseLimits::kMaxFiles; ++i) {
      std::string p = g.gl_pathv[i];
      out.push_back(p.starts_with(prefix) ? p.substr(prefix.size()) : p);
    }
  }
  globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH) return std::unexpected(std::string("cannot list the files"));
  return out;
}

std::expected<std::string, std::string> KaDiskReader::read(const std::string& path,
                                                           std::size_t max_bytes) const {
  std::ifstream in(on_disk(path), std::ios::binary);
  if (!in) return std::unexpected("cannot read the file: " + std::string(std::strerror(errno)));
  // Never more than the limit and a byte: a huge file is refused without being read whole.
  std::string text(max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_bytes) {
    return std::unexpected("larger than " + std::to_string(max_bytes / 1024) + " KiB");
  }
  return text;
}

std::expected<KaParsed, std::vector<std::string>> parse_keepalived(const std::string& file,
                                                                   const std::string& text,
                                                                   const std::string& config_id,
                                                                   const KaFileReader& reader) {
  Lexer lx{reader, config_id};
  lex_text(lx, file, text, 0);
  if (!lx.errors.empty()) return std::unexpected(std::move(lx.errors));
  auto tree = build_tree(lx);
  if (!tree) return std::unexpected(std::vector<std::string>{tree.error()});
  return KaParsed{std::move(*tree), std::move(lx.unmatched)};
}

}  // namespace hactl
