// hactl-arbiter's libuv shell (see daemon.hpp).
#include "arbiter/daemon.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

#include "arbiter/state_files.hpp"
#include "common/assert.hpp"
#include "common/limits.hpp"
#include "version.hpp"

namespace hactl {
namespace {

constexpr std::uint64_t kHousekeepingMs = 1000;
constexpr int kDropLogEvery = 10;  // housekeeping turns between two logs of the drops

std::uint64_t realtime_us() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

std::expected<sockaddr_storage, std::string> parse_udp_address(const std::string& text) {
  sockaddr_storage ss{};
  const bool v6 = !text.empty() && text.front() == '[';
  const auto sep = v6 ? text.find("]:") : text.rfind(':');
  if (sep == std::string::npos) return std::unexpected("expected IPv4:PORT or [IPv6]:PORT");
  const std::string host = v6 ? text.substr(1, sep - 1) : text.substr(0, sep);
  const std::string port_text = text.substr(sep + (v6 ? 2 : 1));
  int port = 0;
  try {
    port = std::stoi(port_text);
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535 || std::to_string(port) != port_text) {
    return std::unexpected("port '" + port_text + "' is not a number from 0 to 65535");
  }
  const int rc = v6 ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss))
                    : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss));
  if (rc != 0) return std::unexpected("'" + host + "' is not a numeric IP address");
  return ss;
}

}  // namespace

struct ArbiterDaemon::WriteJob {
  uv_work_t req{};
  ArbiterDaemon* self = nullptr;
  std::string dir;
  std::string cluster;
  StateWrite write;
  std::expected<void, std::string> result;
};

struct ArbiterDaemon::ReloadJob {
  uv_work_t req{};
  ArbiterDaemon* self = nullptr;
  std::string dir;
  KeyDir loaded;
};

ArbiterDaemon::ArbiterDaemon(uv_loop_t* loop, ArbiterOptions options)
    : loop_(loop), options_(std::move(options)) {}

ArbiterDaemon::~ArbiterDaemon() { HACTL_ASSERT(!open_ || stopping_); }

Instant ArbiterDaemon::now() const {
  // uv_hrtime is CLOCK_MONOTONIC: holds and promises must not move with the wall clock.
  return Instant{Duration{static_cast<Duration::rep>(uv_hrtime() / 1000)}};
}

std::expected<void, std::string> ArbiterDaemon::start() {
  started_ = now();
  auto boot = next_arbiter_boot(options_.state_dir, realtime_us());
  if (!boot) return std::unexpected("state directory: " + boot.error());
  incarnation_ = *boot;
  if (auto r = load_states(); !r) return r;
  KeyDir keys = load_key_dir(options_.keys_dir, limits::kMaxArbiterClusters);
  if (!keys.readable) return std::unexpected(keys.problems.front());
  apply_keys(std::move(keys), true);
  if (auto r = bind_udp(); !r) return r;
  HttpServer::Routes routes;
  routes["/metrics"] = {"text/plain; version=0.0.4; charset=utf-8",
                        [this] { return metrics_text(); }};
  routes["/status"] = {"application/json", [this] { return status_json(); }};
  http_ = std::make_unique<HttpServer>(loop_, options_.http, "hactl-arbiter", std::move(routes));
  if (auto r = http_->start(); !r) {
    stop();
    return r;
  }
  uv_timer_init(loop_, &housekeeping_);
  housekeeping_.data = this;
  uv_timer_start(
      &housekeeping_,
      [](uv_timer_t* t) { static_cast<ArbiterDaemon*>(t->data)->on_housekeeping(); },
      kHousekeepingMs, kHousekeepingMs);
  spdlog::info(
      "event=arbiter_started version={} listen={} port={} http={} keys={} clusters={} "
      "incarnation={} state_dir={}",
      kVersion, options_.listen, udp_port(), options_.http, keys_.size(), clusters_.size(),
      incarnation_, options_.state_dir);
  return {};
}

// Every state file, each cluster's voter made from it with boot = now: a restarted arbiter backs
// nobody for a promise (the voter's rule), since it forgot the holds it gave.
std::expected<void, std::string> ArbiterDaemon::load_states() {
  auto loaded = load_arbiter_states(options_.state_dir, limits::kMaxArbiterClusters);
  for (const auto& p : loaded.problems)
    spdlog::error("event=arbiter_state_unreadable error=\"{}\"", p);
  unreadable_.insert(loaded.unreadable.begin(), loaded.unreadable.end());
  for (auto& [cluster, state] : loaded.states) {
    spdlog::debug("event=arbiter_state_loaded cluster={} term={} voted_for={} promise_ms={}",
                  cluster, state.term.value, state.voted_for.empty() ? "-" : state.voted_for,
                  std::chrono::duration_cast<std::chrono::milliseconds>(state.promise).count());
    persisted_.emplace(cluster, state);
  }
  spdlog::info("event=arbiter_states_loaded dir={} clusters={} unreadable={}", options_.state_dir,
               persisted_.size(), unreadable_.size());
  return {};
}

std::expected<void, std::string> ArbiterDaemon::bind_udp() {
  const auto addr = parse_udp_address(options_.listen);
  if (!addr) return std::unexpected("--listen " + options_.listen + ": " + addr.error());
  uv_udp_init_ex(loop_, &udp_, addr->ss_family);
  udp_.data = this;
  open_ = true;
  int rc = uv_udp_bind(&udp_, reinterpret_cast<const sockaddr*>(&*addr), 0);
  if (rc == 0) rc = uv_udp_recv_start(&udp_, &ArbiterDaemon::on_alloc, &ArbiterDaemon::on_recv);
  if (rc != 0) {
    stop();
    return std::unexpected("cannot listen on " + options_.listen + ": " + uv_strerror(rc));
  }
  return {};
}

int ArbiterDaemon::udp_port() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (!open_ || uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
}

void ArbiterDaemon::apply_keys(KeyDir loaded, bool at_start) {
  for (const auto& p : loaded.problems) spdlog::warn("event=arbiter_key_refused error=\"{}\"", p);
  if (!loaded.readable) {
    spdlog::error("event=arbiter_keys_kept reason=\"the directory could not be read\" keys={}",
                  keys_.size());
    return;
  }
  std::size_t added = 0, removed = 0, changed = 0;
  for (const auto& [name, key] : loaded.keys) {
    const auto old = keys_.find(name);
    if (old == keys_.end()) {
      ++added;
    } else if (old->second != key) {
      ++changed;
      if (auto c = clusters_.find(name); c != clusters_.end()) c->second->set_key(key);
    }
  }
  for (const auto& [name, key] : keys_) removed += loaded.keys.contains(name) ? 0 : 1;
  keys_ = std::move(loaded.keys);
  if (!at_start) ++counters_.key_reloads;
  spdlog::info("event=arbiter_keys_loaded dir={} keys={} added={} removed={} changed={} refused={}",
               options_.keys_dir, keys_.size(), added, removed, changed, loaded.problems.size());
  if (!at_start) return;
  for (const auto& [name, state] : persisted_) cluster_for(name);
}

void ArbiterDaemon::reload_keys() {
  if (reloading_ || stopping_) return;
  reloading_ = true;
  auto* job = new ReloadJob{};
  job->self = this;
  job->dir = options_.keys_dir;
  job->req.data = job;
  const int rc = uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* req) {
        auto* j = static_cast<ReloadJob*>(req->data);
        j->loaded = load_key_dir(j->dir, limits::kMaxArbiterClusters);
      },
      [](uv_work_t* req, int) {
        std::unique_ptr<ReloadJob> j(static_cast<ReloadJob*>(req->data));
        j->self->reloading_ = false;
        j->self->apply_keys(std::move(j->loaded), false);
      });
  if (rc != 0) {
    reloading_ = false;
    delete job;
    spdlog::error("event=arbiter_reload_failed error=\"{}\"", uv_strerror(rc));
  }
}

void ArbiterDaemon::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (open_) {
    uv_udp_recv_stop(&udp_);
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
  }
  if (housekeeping_.loop != nullptr) {  // initialised
    uv_close(reinterpret_cast<uv_handle_t*>(&housekeeping_), nullptr);
  }
  if (http_) http_->close();
  spdlog::info("event=arbiter_stopping writes_in_flight={}", writes_in_flight_);
}

void ArbiterDaemon::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<ArbiterDaemon*>(handle->data);
  *buf = uv_buf_init(self->recv_buf_.data(), static_cast<unsigned>(self->recv_buf_.size()));
}

void ArbiterDaemon::on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                            const sockaddr* addr, unsigned flags) {
  auto* self = static_cast<ArbiterDaemon*>(handle->data);
  if (nread <= 0 || addr == nullptr || self->stopping_) return;
  if ((flags & UV_UDP_PARTIAL) != 0) {
    ++self->counters_.received;
    self->drop(to_string(DropReason::kOversized), nullptr);
    return;
  }
  self->on_datagram(
      std::span(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)),
      addr);
}

void ArbiterDaemon::on_datagram(std::span<const std::uint8_t> bytes, const sockaddr* from) {
  ++counters_.received;
  const auto cluster = peek_arbiter_cluster(bytes);
  if (!cluster) return drop(to_string(cluster.error()), nullptr);
  const auto key = keys_.find(*cluster);
  if (key == keys_.end()) return drop("no_key", nullptr, *cluster);
  if (unreadable_.contains(*cluster)) return drop("state_unreadable", nullptr, *cluster);
  const auto env = open_arbiter(bytes, key->second);
  if (!env) {
    const auto known = clusters_.find(*cluster);
    return drop(to_string(env.error()), known == clusters_.end() ? nullptr : known->second.get(),
                *cluster);
  }
  ServedCluster* c = cluster_for(*cluster);
  if (c == nullptr) return drop("too_many_clusters", nullptr, *cluster);
  sockaddr_storage source{};
  std::memcpy(&source, from,
              from->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  const auto r = c->receive(*env, source, now());
  if (r.new_holder) {
    spdlog::info("event=arbiter_hold cluster={} node={} term={} from={}", c->name(), *r.new_holder,
                 c->voter().hard_state().term.value, address_text(source));
  }
  if (!r.dropped.empty()) drop(r.dropped, c, r.sender);
  pump(*c);
}

// The cluster's entry, made on first use (from its state file, or empty) while under the limit.
ServedCluster* ArbiterDaemon::cluster_for(const std::string& name) {
  if (auto it = clusters_.find(name); it != clusters_.end()) return it->second.get();
  const auto key = keys_.find(name);
  if (key == keys_.end() || clusters_.size() >= limits::kMaxArbiterClusters) return nullptr;
  // A cluster without a state file was never granted anything (a grant needs the promise a
  // claim brings, which is written first), so the daemon's start is its boot too.
  const auto persisted = persisted_.find(name);
  const ArbiterHardState state =
      persisted == persisted_.end() ? ArbiterHardState{} : persisted->second;
  auto c = std::make_unique<ServedCluster>(name, key->second, state, started_, incarnation_);
  return clusters_.emplace(name, std::move(c)).first->second.get();
}

void ArbiterDaemon::pump(ServedCluster& c) {
  for (const auto& o : c.take_sendable()) send(o);
  if (stopping_) return;
  if (auto w = c.next_write(now())) start_write(c, std::move(*w));
}

void ArbiterDaemon::start_write(ServedCluster& c, StateWrite w) {
  auto* job = new WriteJob{};
  job->self = this;
  job->dir = options_.state_dir;
  job->cluster = c.name();
  job->write = std::move(w);
  job->req.data = job;
  ++writes_in_flight_;
  const int rc = uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* req) {
        auto* j = static_cast<WriteJob*>(req->data);
        j->result = write_arbiter_state(j->dir, j->cluster, j->write.state);
      },
      [](uv_work_t* req, int) {
        std::unique_ptr<WriteJob> j(static_cast<WriteJob*>(req->data));
        j->self->on_written(j->cluster, j->write.generation, j->result);
      });
  if (rc != 0) {
    job->result = std::unexpected(std::string("cannot queue the write: ") + uv_strerror(rc));
    std::unique_ptr<WriteJob> j(job);
    on_written(j->cluster, j->write.generation, j->result);
  }
}

void ArbiterDaemon::on_written(const std::string& cluster, std::uint64_t generation,
                               const std::expected<void, std::string>& result) {
  --writes_in_flight_;
  const auto it = clusters_.find(cluster);
  HACTL_ASSERT(it != clusters_.end());
  if (!result) {
    spdlog::error(
        "event=arbiter_state_write_failed cluster={} error=\"{}\" effect=\"its answers "
        "wait; retried in 1s\"",
        cluster, result.error());
  }
  it->second->written(generation, result.has_value(), now());
  pump(*it->second);
}

void ArbiterDaemon::send(const SealedAnswer& o) {
  if (!open_ || stopping_) return;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(o.bytes.data())),
                             static_cast<unsigned>(o.bytes.size()));
  const int rc = uv_udp_try_send(&udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&o.to));
  if (rc < 0) {
    ++counters_.send_failed;
    return;
  }
  ++counters_.sent;
}

void ArbiterDaemon::drop(std::string_view reason, ServedCluster* c, std::string_view detail) {
  auto count = [&](auto& map) {
    auto it = map.find(reason);
    if (it == map.end()) it = map.emplace(std::string(reason), 0).first;
    ++it->second;
  };
  count(counters_.dropped);
  count(unlogged_drops_);
  if (c != nullptr) c->count_drop(reason);
  if (!detail.empty()) last_drop_detail_[std::string(reason)] = std::string(detail.substr(0, 64));
}

// Once a second: retries of failed writes; every kDropLogEvery seconds, one line per drop reason.
void ArbiterDaemon::on_housekeeping() {
  for (auto& [name, c] : clusters_) {
    if (c->pending() > 0) pump(*c);
  }
  if (++housekeeping_turns_ % kDropLogEvery != 0) return;
  for (const auto& [reason, n] : unlogged_drops_) {
    const auto detail = last_drop_detail_.find(reason);
    spdlog::warn("event=arbiter_dropped reason={} count={} last=\"{}\" interval_s={}", reason, n,
                 detail == last_drop_detail_.end() ? "" : detail->second, kDropLogEvery);
  }
  unlogged_drops_.clear();
  last_drop_detail_.clear();
}

DaemonSnapshot ArbiterDaemon::snapshot() const {
  const Instant t = now();
  return DaemonSnapshot{.counters = counters_,
                        .clusters = clusters_,
                        .keys = keys_.size(),
                        .now = t,
                        .uptime = t - started_,
                        .incarnation = incarnation_,
                        .listen = options_.listen,
                        .unreadable = {unreadable_.begin(), unreadable_.end()}};
}

std::string ArbiterDaemon::metrics_text() const { return render_metrics(snapshot()); }
std::string ArbiterDaemon::status_json() const { return render_status(snapshot()); }

}  // namespace hactl
