// keepalived.conf(5) syntax, read into a tree of statements for `hactl import keepalived`
// (cli/import_keepalived.hpp): a keyword, its arguments, and its `{ ... }` block if it has one.
// Comments start with '#' or '!' anywhere outside quotes; "..." and '...' are removed from a word
// with the text between them kept whole, backslash escapes decoded; '{' and '}' are words of
// their own. `include` (and includer, includem, includew, includeb, includea) splices the files
// its pattern names in place, relative to the including file's directory, as keepalived does.
// A line starting with `@ID` or `@^ID` (conditional configuration) is kept when ID is (or is not)
// the host's config-id. Parameter definitions ($NAME=...) and ~SEQ / ~LST lines are refused: the
// importer does not expand them.
//
// Hand-written and bounded: one pass over each file, at most kMaxFileBytes per file,
// kMaxTotalBytes and kMaxFiles in all, includes kMaxIncludeDepth deep and blocks kMaxNesting
// deep. Every error names the file and line. Reading files is the caller's (KaFileReader), so the
// parser itself is pure.
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <utility>
#include <vector>

namespace hactl {

struct KaStatement {
  std::string keyword;
  std::vector<std::string> args;
  std::string file;  // as named on the command line or by the include that brought it in
  int line = 0;
  bool has_block = false;
  std::vector<KaStatement> block = {};
  std::string where() const { return file + ":" + std::to_string(line); }
};

// What an include may read. `pattern` is already joined to the including file's directory.
class KaFileReader {
 public:
  virtual ~KaFileReader() = default;
  // The files the glob pattern matches, sorted (none: an empty list).
  virtual std::expected<std::vector<std::string>, std::string> glob(
      const std::string& pattern) const = 0;
  // The file's text, refused when it is larger than `max_bytes`.
  virtual std::expected<std::string, std::string> read(const std::string& path,
                                                       std::size_t max_bytes) const = 0;
};

// Files as they are (a glob with glob(3), no brace expansion), for the command line and tests.
// Relative paths are taken from `root` ("" : the current directory).
class KaDiskReader : public KaFileReader {
 public:
  explicit KaDiskReader(std::string root = "") : root_(std::move(root)) {}
  std::expected<std::vector<std::string>, std::string> glob(
      const std::string& pattern) const override;
  std::expected<std::string, std::string> read(const std::string& path,
                                               std::size_t max_bytes) const override;

 private:
  std::string on_disk(const std::string& path) const;
  std::string root_;
};

struct KaParseLimits {
  static constexpr std::size_t kMaxFileBytes = 1024 * 1024;
  static constexpr std::size_t kMaxTotalBytes = 8 * 1024 * 1024;
  static constexpr std::size_t kMaxFiles = 64;
  static constexpr int kMaxIncludeDepth = 8;
  static constexpr int kMaxNesting = 16;
};

// An include whose pattern matched no file (keepalived's plain `include` and `includer` allow
// that; the other variants are errors).
struct KaUnmatchedInclude {
  std::string where;  // file:line
  std::string pattern;
};

struct KaParsed {
  std::vector<KaStatement> statements;
  std::vector<KaUnmatchedInclude> unmatched = {};
};

// Parses `text`, the contents of `file`. `config_id` decides conditional lines ("" : a
// conditional line is an error, since the host is not known). Errors: "file:line: message".
std::expected<KaParsed, std::vector<std::string>> parse_keepalived(const std::string& file,
                                                                   const std::string& text,
                                                                   const std::string& config_id,
                                                                   const KaFileReader& reader);

}  // namespace hactl
