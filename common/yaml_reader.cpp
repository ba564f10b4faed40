#include "common/yaml_reader.hpp"

#include <algorithm>
#include <charconv>

#include "common/limits.hpp"

namespace hactl {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggestion(std::string_view key, const std::vector<std::string_view>& known) {
  std::string_view best;
  std::size_t best_distance = 3;  // only close matches are worth suggesting
  for (auto k : known) {
    const std::size_t d = edit_distance(key, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  return best.empty() ? "" : " (did you mean '" + std::string(best) + "'?)";
}

std::string join(const std::vector<std::string_view>& v) {
  std::string out;
  for (auto s : v) out += (out.empty() ? "" : ", ") + std::string(s);
  return out;
}

}  // namespace

std::string_view kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "an undefined value";
  }
}

std::string path_join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

bool valid_name(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  });
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  return std::nullopt;
}

std::optional<int> parse_score(std::string_view s) {
  if (s == "inf" || s == "+inf" || s == "INFINITY" || s == "+INFINITY") return limits::kInfinity;
  if (s == "-inf" || s == "-INFINITY") return -limits::kInfinity;
  long v = 0;
  const char* begin = s.data() + (s.starts_with('+') ? 1 : 0);
  const auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return static_cast<int>(std::clamp<long>(v, -limits::kInfinity, limits::kInfinity));
}

void YamlReader::error(const YAML::Node& at, const std::string& path, const std::string& message) {
  const YAML::Mark m = at.Mark();
  add_error(m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, path, message);
}

void YamlReader::add_error(int line, int column, const std::string& path,
                           const std::string& message) {
  errors_.push_back(ConfigError{std::string(file_), line, column, path, message});
}

void YamlReader::warn(const std::string& path, const std::string& message) {
  warnings_.push_back(ConfigWarning{path, message});
}

bool YamlReader::expect_map(const YAML::Node& n, const std::string& path,
                            const std::vector<std::string_view>& known) {
  if (!n.IsMap()) {
    error(n, path, "expected a map, got " + std::string(kind_name(n)));
    return false;
  }
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    error(kv.first, path_join(path, key),
          "unknown key '" + key + "'" + suggestion(key, known) + "; known keys: " + join(known));
  }
  return true;
}

bool YamlReader::expect_scalar(const YAML::Node& n, const std::string& path,
                               std::string_view what) {
  if (n.IsScalar()) return true;
  error(n, path, "expected " + std::string(what) + ", got " + std::string(kind_name(n)));
  return false;
}

std::optional<std::string> YamlReader::string_field(const YAML::Node& map, const std::string& path,
                                                    const char* key, bool required) {
  const YAML::Node v = map[key];
  const std::string p = path_join(path, key);
  if (!v) {
    if (required) error(map, p, "required key '" + std::string(key) + "' is missing");
    return std::nullopt;
  }
  if (!expect_scalar(v, p, "a string")) return std::nullopt;
  return v.Scalar();
}

std::optional<bool> YamlReader::bool_field(const YAML::Node& map, const std::string& path,
                                           const char* key) {
  const auto s = string_field(map, path, key);
  if (!s) return std::nullopt;
  const auto b = parse_bool(*s);
  if (!b) error(map[key], path_join(path, key), "expected true or false, got '" + *s + "'");
  return b;
}

std::optional<Duration> YamlReader::duration_field(const YAML::Node& map, const std::string& path,
                                                   const char* key) {
  const auto s = string_field(map, path, key);
  if (!s) return std::nullopt;
  auto d = parse_duration(*s);
  if (!d) {
    error(map[key], path_join(path, key), d.error());
    return std::nullopt;
  }
  return *d;
}

std::optional<int> YamlReader::score_field(const YAML::Node& map, const std::string& path,
                                           const char* key, bool required) {
  const auto s = string_field(map, path, key, required);
  if (!s) return std::nullopt;
  const auto v = parse_score(*s);
  if (!v) {
    error(map[key], path_join(path, key),
          "expected a score (an integer, inf or -inf), got '" + *s + "'");
  }
  return v;
}

std::optional<int> YamlReader::int_field(const YAML::Node& map, const std::string& path,
                                         const char* key, int min, int max) {
  const YAML::Node v = map[key];
  if (!v) return std::nullopt;
  return int_value(v, path_join(path, key), min, max);
}

std::optional<int> YamlReader::int_value(const YAML::Node& n, const std::string& path, int min,
                                         int max) {
  if (!expect_scalar(n, path, "a string")) return std::nullopt;
  const std::string& s = n.Scalar();
  int v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v < min || v > max) {
    error(n, path,
          "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
              ", got '" + s + "'");
    return std::nullopt;
  }
  return v;
}

std::optional<std::map<std::string, int>> YamlReader::amounts_field(const YAML::Node& map,
                                                                    const std::string& path,
                                                                    const char* key) {
  const YAML::Node v = map[key];
  if (!v) return std::nullopt;
  const std::string p = path_join(path, key);
  if (!v.IsMap()) {
    error(v, p, "expected a map of names to amounts, got " + std::string(kind_name(v)));
    return std::nullopt;
  }
  std::map<std::string, int> out;
  bool ok = true;
  for (const auto& kv : v) {
    const std::string name = kv.first.Scalar();
    if (!valid_name(name, 63)) {
      error(kv.first, p, "'" + name + "' is not a name (1 to 63 of A-Z a-z 0-9 _ . -)");
      ok = false;
      continue;
    }
    // The entry's own value: looking it up by name in the map again (yaml-cpp searches a map
    // from the start) made this quadratic, 21 s for 28,000 names.
    if (auto amount = int_value(kv.second, path_join(p, name), 0, 1'000'000'000)) {
      out[name] = *amount;
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::vector<std::string>> YamlReader::string_list(const YAML::Node& map,
                                                                const std::string& path,
                                                                const char* key, bool required) {
  const YAML::Node v = map[key];
  const std::string p = path_join(path, key);
  if (!v) {
    if (required) error(map, p, "required key '" + std::string(key) + "' is missing");
    return std::nullopt;
  }
  if (!v.IsSequence()) {
    error(v, p, "expected a list, got " + std::string(kind_name(v)));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!expect_scalar(v[i], p + "[" + std::to_string(i) + "]", "a name")) return std::nullopt;
    out.push_back(v[i].Scalar());
  }
  return out;
}

}  // namespace hactl
