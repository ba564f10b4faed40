// Typed, located reading of a parsed YAML document for the config loaders: every accessor
// checks the node's kind and records a ConfigError (file, line, column, field path, sentence)
// instead of throwing, so one pass reports every problem in a file.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace hactl {

class YamlReader {
 public:
  explicit YamlReader(std::string_view file) : file_(file) {}

  void error(const YAML::Node& at, const std::string& path, const std::string& message);
  void add_error(int line, int column, const std::string& path, const std::string& message);
  void warn(const std::string& path, const std::string& message);

  // A map holding only `known` keys; unknown ones are errors suggesting the closest key.
  bool expect_map(const YAML::Node& n, const std::string& path,
                  const std::vector<std::string_view>& known);
  bool expect_scalar(const YAML::Node& n, const std::string& path, std::string_view what);
  // map[key] as a string / bool / duration / score; nullopt when absent or wrong (then an
  // error is recorded, or for a missing required key too).
  std::optional<std::string> string_field(const YAML::Node& map, const std::string& path,
                                          const char* key, bool required = false);
  std::optional<bool> bool_field(const YAML::Node& map, const std::string& path, const char* key);
  std::optional<Duration> duration_field(const YAML::Node& map, const std::string& path,
                                         const char* key);
  // An integer score, or inf / +inf / -inf (= +-1,000,000, Pacemaker's INFINITY).
  std::optional<int> score_field(const YAML::Node& map, const std::string& path, const char* key,
                                 bool required = false);
  std::optional<int> int_field(const YAML::Node& map, const std::string& path, const char* key,
                               int min, int max);
  // A scalar node's whole number in [min, max], or an error naming `path`.
  std::optional<int> int_value(const YAML::Node& n, const std::string& path, int min, int max);
  // A map of names to amounts (node capacity, resource utilization): each name 1 to 63 of
  // A-Z a-z 0-9 _ . -, each amount a whole number from 0 to 1,000,000,000.
  std::optional<std::map<std::string, int>> amounts_field(const YAML::Node& map,
                                                          const std::string& path, const char* key);
  std::optional<std::vector<std::string>> string_list(const YAML::Node& map,
                                                      const std::string& path, const char* key,
                                                      bool required = false);

  const std::vector<ConfigError>& errors() const { return errors_; }
  const std::vector<ConfigWarning>& warnings() const { return warnings_; }

 private:
  std::string_view file_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigWarning> warnings_;
};

std::string path_join(const std::string& path, std::string_view key);
std::string_view kind_name(const YAML::Node& n);  // "a map", "a list", ...
bool valid_name(std::string_view s, std::size_t max);
std::optional<bool> parse_bool(std::string_view s);
std::optional<int> parse_score(std::string_view s);

}  // namespace hactl
