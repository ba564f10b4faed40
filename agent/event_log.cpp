#include "agent/event_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>

#include "agent/event_bus.hpp"
#include "resources/realtime.hpp"

namespace hactl {
namespace {

std::string errno_text() { return std::strerror(errno); }

constexpr std::string_view kTruncatedKey = "_truncated";

// Members of the line that are not fields.
bool is_header_key(std::string_view k) {
  return k == "seq" || k == "time" || k == "time_us" || k == "kind";
}

// Length of the valid UTF-8 sequence (RFC 3629: no overlongs, surrogates or > U+10FFFF) at
// s[i], or 0 if there is none.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return len;
}

// The valid UTF-8 of `in` (each invalid byte replaced by U+FFFD), at most `cap` bytes, never
// cut inside a character. Sets *cut if anything was left out or replaced.
std::string clean_utf8(std::string_view in, std::size_t cap, bool* cut) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(in.size(), cap));
  std::size_t i = 0;
  while (i < in.size()) {
    const std::size_t len = utf8_sequence_length(in, i);
    const std::string_view piece = len ? in.substr(i, len) : kReplacement;
    if (out.size() + piece.size() > cap) break;
    if (!len && cut) *cut = true;
    out += piece;
    i += len ? len : 1;
  }
  if (i < in.size() && cut) *cut = true;
  return out;
}

template <typename Json>
void event_to_json(Json& j, const LoggedEvent& e) {
  j = Json::object();
  j["seq"] = e.seq;
  j["time"] = format_time_us(e.time_us);
  j["time_us"] = e.time_us;
  j["kind"] = e.kind;
  for (const auto& [k, v] : e.fields) {
    if (!is_header_key(k)) j[k] = v;
  }
}

std::optional<LoggedEvent> event_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  const auto seq = j.find("seq");
  const auto time_us = j.find("time_us");
  const auto kind = j.find("kind");
  if (seq == j.end() || !seq->is_number_unsigned()) return std::nullopt;
  if (time_us == j.end() || !time_us->is_number_integer()) return std::nullopt;
  if (time_us->is_number_unsigned() &&
      time_us->get<std::uint64_t>() >
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  if (kind == j.end() || !kind->is_string()) return std::nullopt;
  LoggedEvent e;
  e.seq = seq->get<std::uint64_t>();
  e.time_us = time_us->get<std::int64_t>();
  e.kind = kind->get<std::string>();
  for (const auto& [k, v] : j.items()) {
    if (is_header_key(k)) continue;
    e.fields.emplace(k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return e;
}

// Reads at most the last `cap` bytes of a file, starting at a line boundary. A missing file is
// empty.
std::expected<std::string, std::string> read_tail(const std::string& path, std::size_t cap) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::string();
    return std::unexpected("cannot read " + path + ": " + errno_text());
  }
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
  const std::size_t start = size > cap ? size - cap : 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string text(size - start, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(std::max<std::streamsize>(0, in.gcount())));
  if (start > 0) {  // the first line is probably partial
    const auto nl = text.find('\n');
    text.erase(0, nl == std::string::npos ? text.size() : nl + 1);
  }
  return text;
}

// mkdir -p, each created directory with mode 0750.
std::expected<void, std::string> make_dirs(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return {};
  const std::filesystem::path p(dir);
  if (p.has_parent_path() && p.parent_path() != p) {
    if (auto r = make_dirs(p.parent_path().string()); !r) return r;
  }
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return std::unexpected("cannot create event directory " + dir + ": " + errno_text());
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return std::unexpected("event directory " + dir + " is not a directory");
  }
  return {};
}

bool write_all(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

EventLogLimits effective(EventLogLimits l) {
  l.memory_events = std::max<std::size_t>(l.memory_events, 1);
  l.queue_lines = std::max<std::size_t>(l.queue_lines, 1);
  l.max_key_bytes = std::max<std::size_t>(l.max_key_bytes, 1);
  // Room for the header, the longest kind (escaped) and the truncation mark.
  l.max_line_bytes = std::max(l.max_line_bytes, 256 + 6 * l.max_key_bytes);
  return l;
}

}  // namespace

void to_json(nlohmann::json& j, const LoggedEvent& e) { event_to_json(j, e); }
void to_json(nlohmann::ordered_json& j, const LoggedEvent& e) { event_to_json(j, e); }

void from_json(const nlohmann::json& j, LoggedEvent& e) {
  auto parsed = event_from_json(j);
  if (!parsed) {
    throw nlohmann::json::type_error::create(
        302, "an event needs an unsigned seq, an integer time_us and a string kind", &j);
  }
  e = std::move(*parsed);
}

std::string to_json_line(const LoggedEvent& e) {
  nlohmann::ordered_json j;
  to_json(j, e);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::optional<LoggedEvent> parse_event_line(std::string_view line) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return event_from_json(j);
}

std::string format_time_us(std::int64_t time_us) {
  std::int64_t secs = time_us / 1'000'000;
  std::int64_t frac = time_us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    secs -= 1;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (!::gmtime_r(&t, &tm)) return "invalid";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

std::int64_t wall_clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

EventLog::EventLog(std::string dir, EventLogLimits limits)
    : dir_(std::move(dir)),
      current_path_(dir_ + "/" + kCurrentFile),
      previous_path_(dir_ + "/" + kPreviousFile),
      limits_(effective(limits)) {}

EventLog::~EventLog() { close(); }

std::expected<void, std::string> EventLog::open() {
  if (opened_) return std::unexpected("event log " + dir_ + " is already open");
  opened_ = true;
  if (auto r = make_dirs(dir_); !r) return r;
  // A file we wrote is at most max_file_bytes plus one line; read no more than twice that
  // whatever the file holds.
  const std::size_t cap = 2 * (limits_.max_file_bytes + limits_.max_line_bytes);
  for (const auto* path : {&previous_path_, &current_path_}) {
    auto text = read_tail(*path, cap);
    if (!text) return std::unexpected(text.error());
    std::string_view rest = *text;
    while (!rest.empty()) {
      const auto nl = rest.find('\n');
      const std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      if (line.empty()) continue;
      auto e = parse_event_line(line);
      // Seqs only go up; anything else is not ours (or is damaged).
      if (!e || e->seq <= last_seq_) {
        ++skipped_lines_;
        continue;
      }
      last_seq_ = e->seq;
      memory_.push_back(std::move(*e));
      if (memory_.size() > limits_.memory_events) memory_.pop_front();
    }
  }
  if (!open_current()) return std::unexpected(last_write_error());
  {
    std::lock_guard lock(mu_);
    running_ = true;
  }
  writer_ = std::thread([this] { writer_main(); });
  return {};
}

void EventLog::close() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(mu_);
    running_ = false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::uint64_t EventLog::append(std::string_view kind, std::map<std::string, std::string> fields,
                               std::int64_t time_us) {
  LoggedEvent e;
  e.seq = ++last_seq_;
  e.time_us = time_us;
  bool cut = false;
  e.kind = clean_utf8(kind, limits_.max_key_bytes, &cut);
  for (auto& [k, v] : fields) {
    if (e.fields.size() >= limits_.max_fields) {
      cut = true;
      break;
    }
    std::string key = clean_utf8(k, limits_.max_key_bytes, &cut);
    if (key.empty()) {
      cut = true;
      continue;
    }
    if (is_header_key(key) || key == kTruncatedKey) key.insert(0, "_");
    e.fields.try_emplace(std::move(key), clean_utf8(v, limits_.max_value_bytes, &cut));
  }
  if (cut) e.fields[std::string(kTruncatedKey)] = "true";

  std::string line = to_json_line(e);
  if (line.size() > limits_.max_line_bytes) {
    e.fields[std::string(kTruncatedKey)] = "true";
    for (;;) {
      line = to_json_line(e);
      if (line.size() <= limits_.max_line_bytes) break;
      const std::size_t excess = line.size() - limits_.max_line_bytes;
      auto longest = e.fields.end();
      for (auto it = e.fields.begin(); it != e.fields.end(); ++it) {
        if (it->first == kTruncatedKey) continue;
        if (longest == e.fields.end() || it->second.size() > longest->second.size()) longest = it;
      }
      if (longest == e.fields.end()) break;  // cannot happen: max_line_bytes fits the header
      if (longest->second.empty()) {
        e.fields.erase(longest);  // many long keys with empty values
        continue;
      }
      const std::size_t keep =
          longest->second.size() > excess ? longest->second.size() - excess : 0;
      longest->second = clean_utf8(longest->second, keep, nullptr);
    }
  }

  memory_.push_back(std::move(e));
  if (memory_.size() > limits_.memory_events) memory_.pop_front();

  bool queued = false;
  {
    std::lock_guard lock(mu_);
    if (running_ && !stopping_ && queue_.size() < limits_.queue_lines) {
      queue_.push_back(std::move(line));
      queued = true;
    }
  }
  if (queued) {
    cv_.notify_one();
  } else {
    ++dropped_writes_;
  }
  if (listener_) {
    const LoggedEvent copy = memory_.back();  // the listener may append
    listener_(copy);
  }
  return last_seq_;
}

std::vector<LoggedEvent> EventLog::recent(std::size_t n) const {
  n = std::min(n, memory_.size());
  return {memory_.end() - static_cast<std::ptrdiff_t>(n), memory_.end()};
}

std::vector<LoggedEvent> EventLog::since(std::uint64_t seq) const {
  const auto first = std::ranges::upper_bound(memory_, seq, {}, &LoggedEvent::seq);
  return {first, memory_.end()};
}

void EventLog::set_listener(std::function<void(const LoggedEvent&)> listener) {
  listener_ = std::move(listener);
}

std::string EventLog::last_write_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void EventLog::pause_writer_for_tests(bool paused) {
  {
    std::lock_guard lock(mu_);
    paused_ = paused;
  }
  cv_.notify_all();
}

void EventLog::set_error(std::string error) {
  if (!failing_) {
    emit_event(Event(EventKind::kEventLogWriteFailed, EventLevel::kWarn).text("error", error));
  }
  failing_ = true;
  std::lock_guard lock(mu_);
  last_error_ = std::move(error);
}

bool EventLog::open_current() {
  fd_ = ::open(current_path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
  if (fd_ < 0) {
    set_error("cannot open " + current_path_ + ": " + errno_text());
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    set_error(current_path_ + " is not a regular file");
    return false;
  }
  file_size_ = static_cast<std::size_t>(st.st_size);
  // After a crash or a failed write the file may end inside a line: end that line, so the
  // next one is not glued to it (the torn one is skipped when read).
  char last = '\n';
  if (file_size_ > 0 && ::pread(fd_, &last, 1, static_cast<off_t>(file_size_ - 1)) == 1 &&
      last != '\n') {
    if (!write_all(fd_, "\n")) {
      set_error("cannot write " + current_path_ + ": " + errno_text());
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    ++file_size_;
  }
  return true;
}

void EventLog::writer_main() {
  leave_realtime();  // disk work: never ahead of anything (resources/realtime.hpp)
  std::vector<std::string> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || (!paused_ && !queue_.empty()); });
      if (queue_.empty()) return;  // stopping, and everything is written
      batch.swap(queue_);
    }
    write_batch(batch);
    batch.clear();
  }
}

bool EventLog::write_batch(std::vector<std::string>& lines) {
  std::string buf;
  std::size_t buffered = 0;  // lines in buf
  const auto fail = [&](std::size_t lost) {
    failed_writes_ += lost;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;  // reopened (and its torn line ended) on the next batch
    return false;
  };
  const auto flush = [&] {
    if (buf.empty()) return true;
    if (!write_all(fd_, buf)) {
      set_error("cannot write " + current_path_ + ": " + errno_text());
      return false;
    }
    file_size_ += buf.size();
    buf.clear();
    buffered = 0;
    return true;
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (fd_ < 0 && !open_current()) return fail(lines.size() - i);
    const std::size_t n = lines[i].size() + 1;
    const std::size_t size = file_size_ + buf.size();
    if (size > 0 && size + n > limits_.max_file_bytes) {
      if (!flush()) return fail(lines.size() - i + buffered);
      ::close(fd_);
      fd_ = -1;
      if (::rename(current_path_.c_str(), previous_path_.c_str()) != 0) {
        // Dropping beats growing past the bound.
        set_error("cannot rename " + current_path_ + " to " + previous_path_ + ": " + errno_text());
        return fail(lines.size() - i);
      }
      if (!open_current()) return fail(lines.size() - i);
    }
    buf += lines[i];
    buf += '\n';
    ++buffered;
  }
  if (!flush()) return fail(buffered);
  if (failing_) {
    emit_event(Event(EventKind::kEventLogWriteRecovered).add("path", current_path_));
    failing_ = false;
  }
  return true;
}

std::optional<Event> from_history(const LoggedEvent& e) {
  const auto kind = event_kind_named(e.kind);
  if (!kind) return std::nullopt;
  const auto level = e.fields.find("level");
  Event out(*kind, level != e.fields.end() && level->second == "warning" ? EventLevel::kWarn
                                                                         : EventLevel::kInfo);
  for (const auto& [key, value] : e.fields) out.add(key, value);
  return out;
}

}  // namespace hactl
