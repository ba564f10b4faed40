// A line diff for golden tests (the status screens, the operator intents): what a person reads
// when a golden file and the output differ, trailing blanks made visible.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace hactl::testing {

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(text.substr(start) + "\\ (no newline at end)");
      break;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

inline std::string visible(std::string line) {
  std::size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  for (std::size_t i = end; i < line.size(); ++i) line[i] = '~';
  return line;
}

// A line diff (longest common subsequence; the files are small): " " both, "-" only in
// `want`, "+" only in `got`.
inline std::string line_diff(const std::string& want, const std::string& got) {
  const auto a = lines_of(want), b = lines_of(got);
  std::vector<std::vector<std::size_t>> lcs(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += "  " + visible(a[i++]) + "\n";
      ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out += "- " + visible(a[i++]) + "\n";
    } else {
      out += "+ " + visible(b[j++]) + "\n";
    }
  }
  return out;
}

}  // namespace hactl::testing
