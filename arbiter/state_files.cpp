// The arbiter's durable state (see state_files.hpp). JSON, one object per file.
#include "arbiter/state_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/limits.hpp"
#include "common/names.hpp"

namespace hactl {
namespace {

using nlohmann::json;
constexpr int kStateFormat = 1;
constexpr std::size_t kMaxStateBytes = 4096;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::expected<void, std::string> fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_text("cannot open " + dir));
  const bool ok = ::fsync(fd) == 0;
  const auto why = errno_text("cannot fsync " + dir);
  ::close(fd);
  if (!ok) return std::unexpected(why);
  return {};
}

std::optional<std::string> read_small(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::string text(kMaxStateBytes + 1, '\0');
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(f.gcount()));
  return text;
}

}  // namespace

std::string format_arbiter_state(const ArbiterHardState& s) {
  json j = {{"format", kStateFormat},
            {"term", s.term.value},
            {"voted_for", s.voted_for},
            {"promise_us", s.promise.count()}};
  return j.dump() + "\n";
}

std::expected<ArbiterHardState, std::string> parse_arbiter_state(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected("not a JSON object");
  if (j.value("format", 0) != kStateFormat) return std::unexpected("unknown format");
  if (!j.contains("term") || !j["term"].is_number_unsigned() || !j.contains("voted_for") ||
      !j["voted_for"].is_string() || !j.contains("promise_us") ||
      !j["promise_us"].is_number_integer()) {
    return std::unexpected("term, voted_for or promise_us missing or of the wrong type");
  }
  ArbiterHardState s;
  s.term = Term{j["term"].get<std::uint64_t>()};
  s.voted_for = j["voted_for"].get<std::string>();
  const auto promise = j["promise_us"].get<std::int64_t>();
  if (promise < 0 || Duration{promise} > limits::kMaxArbiterPromise) {
    return std::unexpected("promise_us out of range");
  }
  s.promise = Duration{promise};
  return s;
}

std::expected<void, std::string> write_file_durably(const std::string& dir, const std::string& name,
                                                    std::string_view text) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(errno_text("cannot create " + tmp));
  const bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  const auto why = errno_text("cannot write " + tmp);
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return std::unexpected(why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto rename_why = errno_text("cannot rename " + tmp);
    ::unlink(tmp.c_str());
    return std::unexpected(rename_why);
  }
  return fsync_dir(dir);
}

std::expected<void, std::string> write_arbiter_state(const std::string& dir,
                                                     const std::string& cluster,
                                                     const ArbiterHardState& state) {
  return write_file_durably(dir, cluster + ".state", format_arbiter_state(state));
}

LoadedStates load_arbiter_states(const std::string& dir, std::size_t max) {
  namespace fs = std::filesystem;
  LoadedStates out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".state") continue;
    const std::string cluster = it->path().stem().string();
    if (path_component_problem(cluster)) continue;  // not a file this daemon wrote
    if (out.states.size() >= max) {
      // Never serve a cluster from an empty state while its file exists: refused, not ignored.
      out.unreadable.push_back(cluster);
      out.problems.push_back("state file " + it->path().string() + " not read: already " +
                             std::to_string(max) + " clusters, the most one arbiter serves");
      continue;
    }
    const auto text = read_small(it->path().string());
    auto state = text ? parse_arbiter_state(*text) : std::unexpected(std::string("unreadable"));
    if (!state) {
      out.unreadable.push_back(cluster);
      out.problems.push_back("state file " + it->path().string() + ": " + state.error() +
                             "; the cluster is not served until it is repaired or removed");
      continue;
    }
    out.states.emplace(cluster, *state);
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    out.problems.push_back("cannot read state directory " + dir + ": " + ec.message());
  }
  return out;
}

std::expected<std::uint64_t, std::string> next_arbiter_boot(const std::string& dir,
                                                            std::uint64_t realtime_us) {
  std::uint64_t last = 0;
  if (const auto text = read_small(dir + "/boot")) {
    std::istringstream in(*text);
    if (!(in >> last)) return std::unexpected(dir + "/boot does not hold a number");
  }
  const std::uint64_t next = std::max(last + 1, realtime_us);
  if (auto w = write_file_durably(dir, "boot", std::to_string(next) + "\n"); !w) {
    return std::unexpected(w.error());
  }
  return next;
}

}  // namespace hactl
