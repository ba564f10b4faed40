#include "agent/doc_store.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/state_store.hpp"
#include "common/limits.hpp"

namespace hactl {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::optional<ConfigVersionInfo> parse_info(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    return ConfigVersionInfo{j.at("version").get<std::uint64_t>(),
                             j.at("applied").get<std::int64_t>(), j.at("by").get<std::string>(),
                             j.at("text").get<std::string>()};
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// The versions in the history directory, newest first, from the files' names alone.
std::vector<std::uint64_t> kept_versions(const std::string& dir) {
  std::vector<std::uint64_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name.size() < 7 || name[0] != 'v' || !name.ends_with(".json")) continue;
    const char* first = name.data() + 1;
    const char* last = name.data() + name.size() - 5;
    std::uint64_t v = 0;
    const auto [end, error] = std::from_chars(first, last, v);
    if (error == std::errc{} && end == last) out.push_back(v);
  }
  std::sort(out.begin(), out.end(), std::greater<>());
  return out;
}

}  // namespace

DocStore::DocStore(std::string dir, const std::string& node_name)
    : dir_(std::move(dir)),
      path_(dir_ + "/hactl-" + node_name + ".doc"),
      history_dir_(dir_ + "/config-history-" + node_name) {}

std::expected<std::optional<StoredDoc>, std::string> DocStore::load() const {
  const auto text = read_file(path_);
  if (!text) {
    if (errno == ENOENT || !std::filesystem::exists(path_)) return std::optional<StoredDoc>{};
    return std::unexpected("cannot read " + path_ + ": " + std::strerror(errno));
  }
  const auto j = nlohmann::json::parse(*text, nullptr, false);
  try {
    if (j.is_discarded()) throw std::runtime_error("not JSON");
    StoredDoc d;
    d.version.term.value = j.at("term").get<std::uint64_t>();
    d.version.revision = j.at("revision").get<std::uint64_t>();
    d.bytes = j.at("document").get<std::string>();
    if (auto parsed = doc_from_bytes(d.bytes); !parsed) throw std::runtime_error(parsed.error());
    return std::optional<StoredDoc>{std::move(d)};
  } catch (const std::exception& e) {
    return std::unexpected(path_ + " is corrupt (" + e.what() +
                           "); move it away and the node takes the cluster's copy when it joins");
  }
}

std::expected<void, std::string> DocStore::save(const StoredDoc& doc,
                                                const ClusterDoc& parsed) const {
  const nlohmann::json j = {{"term", doc.version.term.value},
                            {"revision", doc.version.revision},
                            {"document", doc.bytes}};
  if (auto r = replace_file_atomically(dir_, path_, j.dump() + "\n"); !r) return r;
  // The history is for people; a failure to keep it is not a failure to store the document.
  const std::string file = history_dir_ + "/v" + std::to_string(parsed.config_version) + ".json";
  if (parsed.config_version == 0 || std::filesystem::exists(file)) return {};
  if (::mkdir(history_dir_.c_str(), 0700) != 0 && errno != EEXIST) return {};
  const nlohmann::json h = {{"version", parsed.config_version},
                            {"applied", parsed.config_applied},
                            {"by", parsed.config_by},
                            {"text", parsed.config_text}};
  if (!replace_file_atomically(history_dir_, file, h.dump() + "\n")) return {};
  // By name: reading every kept file back (up to 20 of 2 MiB, parsed) cost more than the write.
  const auto kept = kept_versions(history_dir_);
  for (std::size_t i = limits::kConfigHistory; i < kept.size(); ++i) {
    std::error_code ec;
    std::filesystem::remove(history_dir_ + "/v" + std::to_string(kept[i]) + ".json", ec);
  }
  return {};
}

std::vector<ConfigVersionInfo> DocStore::history() const {
  std::vector<ConfigVersionInfo> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(history_dir_, ec)) {
    const auto name = e.path().filename().string();
    if (name.size() < 7 || name[0] != 'v' || !name.ends_with(".json")) continue;
    if (const auto text = read_file(e.path().string())) {
      if (auto info = parse_info(*text)) out.push_back(std::move(*info));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.version > b.version; });
  return out;
}

std::optional<ConfigVersionInfo> DocStore::config_version(std::uint64_t version) const {
  const auto text = read_file(history_dir_ + "/v" + std::to_string(version) + ".json");
  if (!text) return std::nullopt;
  return parse_info(*text);
}

}  // namespace hactl
