#include "agent/state_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace hactl {
namespace {

std::string errno_text() { return std::strerror(errno); }

std::expected<void, std::string> write_all(const std::string& path, const std::string& data,
                                           bool sync) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected("cannot create " + path + ": " + errno_text());
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string e = errno_text();
      ::close(fd);
      return std::unexpected("cannot write " + path + ": " + e);
    }
    done += static_cast<std::size_t>(n);
  }
  if (sync && ::fsync(fd) != 0) {
    const std::string e = errno_text();
    ::close(fd);
    return std::unexpected("cannot fsync " + path + ": " + e);
  }
  ::close(fd);
  return {};
}

}  // namespace

std::expected<void, std::string> replace_file_atomically(const std::string& dir,
                                                         const std::string& path,
                                                         const std::string& data) {
  const std::string tmp = path + ".tmp";
  if (auto r = write_all(tmp, data, true); !r) return r;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return std::unexpected("cannot rename " + tmp + " to " + path + ": " + errno_text());
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return std::unexpected("cannot open " + dir + ": " + errno_text());
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return std::unexpected("cannot fsync " + dir + ": " + errno_text());
  return {};
}

std::expected<void, std::string> replace_file_for_readers(const std::string& path,
                                                          const std::string& data) {
  const std::string tmp = path + ".tmp";
  if (auto r = write_all(tmp, data, false); !r) return r;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return std::unexpected("cannot rename " + tmp + " to " + path + ": " + errno_text());
  }
  return {};
}

StateStore::StateStore(const ClusterConfig& config, std::string dir, const std::string& node_name)
    : config_(config), dir_(std::move(dir)), path_(dir_ + "/hactl-" + node_name + ".state") {}

std::expected<void, std::string> StateStore::prepare() const {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return std::unexpected("cannot create state directory " + dir_ + ": " + errno_text());
  }
  return {};
}

std::expected<PersistentState, std::string> StateStore::load() const {
  std::ifstream in(path_);
  if (!in) {
    if (errno == ENOENT) return PersistentState{};
    return std::unexpected("cannot read state file " + path_ + ": " + errno_text());
  }
  std::stringstream text;
  text << in.rdbuf();
  const auto j = nlohmann::json::parse(text.str(), nullptr, false);
  const auto corrupt = [this](const std::string& why) {
    return std::unexpected("state file " + path_ + " is corrupt (" + why +
                           "); refusing to start rather than forget a vote. Move it away only "
                           "if this node's votes may safely be forgotten (e.g. every node is "
                           "stopped)");
  };
  if (j.is_discarded() || !j.is_object()) return corrupt("not a JSON object");
  if (!j.contains("term") || !j["term"].is_number_unsigned()) return corrupt("no term");
  if (!j.contains("incarnation") || !j["incarnation"].is_number_unsigned()) {
    return corrupt("no incarnation");
  }
  PersistentState s;
  s.hard.term = Term{j["term"].get<std::uint64_t>()};
  s.incarnation = j["incarnation"].get<std::uint64_t>();
  if (j.contains("voted_for") && !j["voted_for"].is_null()) {
    if (!j["voted_for"].is_string()) return corrupt("voted_for is not a name");
    const auto id = config_.find_node(j["voted_for"].get<std::string>());
    if (!id) return corrupt("voted_for names a node not in the configuration");
    s.hard.voted_for = id;
  }
  return s;
}

std::expected<void, std::string> StateStore::save(const PersistentState& s) const {
  nlohmann::json j;
  j["term"] = s.hard.term.value;
  j["voted_for"] = s.hard.voted_for ? nlohmann::json(config_.node(*s.hard.voted_for).name)
                                    : nlohmann::json(nullptr);
  j["incarnation"] = s.incarnation;
  return replace_file_atomically(dir_, path_, j.dump() + "\n");
}

std::uint64_t next_incarnation(std::uint64_t last, std::uint64_t realtime_us) {
  return realtime_us > last ? realtime_us : last + 1;
}

}  // namespace hactl
