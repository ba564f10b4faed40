#include "resources/systemd_unit.hpp"

#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>

namespace hactl {
namespace {

constexpr const char* kService = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";

std::uint64_t ms(Duration d) {
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(d).count()));
}

}  // namespace

struct SystemdClient::Pending {
  std::string unit;
  Done done;
  uv_timer_t* timer = nullptr;
  bool finished = false;

  void finish(OcfCode code, std::string message) {
    if (finished) return;
    finished = true;
    if (timer != nullptr) {
      delete static_cast<std::weak_ptr<Pending>*>(timer->data);
      timer->data = nullptr;
      uv_timer_stop(timer);
      uv_close(reinterpret_cast<uv_handle_t*>(timer),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer = nullptr;
    }
    done(code, std::move(message));
  }
};

SystemdClient::SystemdClient(uv_loop_t* loop) : loop_(loop) {}

SystemdClient::~SystemdClient() {
  for (auto* h : {reinterpret_cast<uv_handle_t*>(poll_), reinterpret_cast<uv_handle_t*>(timer_)}) {
    if (h == nullptr) continue;
    uv_close(h, [](uv_handle_t* handle) {
      if (handle->type == UV_POLL)
        delete reinterpret_cast<uv_poll_t*>(handle);
      else
        delete reinterpret_cast<uv_timer_t*>(handle);
    });
  }
  for (auto& [path, p] : jobs_) p->finish(OcfCode::kErrGeneric, "agent shutting down");
}

std::expected<std::unique_ptr<SystemdClient>, std::string> SystemdClient::connect(uv_loop_t* loop) {
  std::unique_ptr<SystemdClient> c(new SystemdClient(loop));
  if (auto r = c->init(); !r) return std::unexpected(r.error());
  return c;
}

std::expected<void, std::string> SystemdClient::init() {
  try {
    bus_ = sdbus::createSystemBusConnection();
    manager_ = sdbus::createProxy(*bus_, kService, kManagerPath);
    manager_->uponSignal("JobRemoved")
        .onInterface(kManager)
        .call([this](std::uint32_t, const sdbus::ObjectPath& job, const std::string&,
                     const std::string& result) { job_finished(job, result); });
    manager_->finishRegistration();
    // Without Subscribe systemd sends no job signals. Once, at start: a short blocking call.
    manager_->callMethod("Subscribe").onInterface(kManager);
  } catch (const sdbus::Error& e) {
    return std::unexpected("cannot talk to systemd over D-Bus: " + e.getName() + ": " +
                           e.getMessage());
  }
  const auto pd = bus_->getEventLoopPollData();
  poll_ = new uv_poll_t;
  uv_poll_init(loop_, poll_, pd.fd);
  poll_->data = this;
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  pump();
  return {};
}

void SystemdClient::pump() {
  try {
    while (bus_->processPendingRequest()) {
    }
  } catch (const sdbus::Error&) {
    // A malformed message from the bus is dropped; the calls waiting on it time out.
  }
  const auto pd = bus_->getEventLoopPollData();
  int events = 0;
  if ((pd.events & POLLIN) != 0) events |= UV_READABLE;
  if ((pd.events & POLLOUT) != 0) events |= UV_WRITABLE;
  uv_poll_start(poll_, events | UV_READABLE,
                [](uv_poll_t* h, int, int) { static_cast<SystemdClient*>(h->data)->pump(); });
  if (pd.timeout_usec != UINT64_MAX) {
    const std::uint64_t now = uv_hrtime() / 1000;
    const std::uint64_t wait_ms = pd.timeout_usec > now ? (pd.timeout_usec - now + 999) / 1000 : 0;
    uv_timer_start(
        timer_, [](uv_timer_t* t) { static_cast<SystemdClient*>(t->data)->pump(); }, wait_ms, 0);
  }
}

void SystemdClient::job(const std::string& method, const std::string& unit, Duration timeout,
                        Done done) {
  auto pending = std::make_shared<Pending>();
  pending->unit = unit;
  pending->done = std::move(done);
  pending->timer = new uv_timer_t;
  uv_timer_init(loop_, pending->timer);
  pending->timer->data = new std::weak_ptr<Pending>(pending);
  uv_timer_start(
      pending->timer,
      [](uv_timer_t* t) {
        auto* weak = static_cast<std::weak_ptr<Pending>*>(t->data);
        t->data = nullptr;
        if (auto p = weak->lock())
          p->finish(OcfCode::kErrGeneric, "systemd job did not finish in time");
        delete weak;
      },
      ms(timeout), 0);
  try {
    manager_->callMethodAsync(method)
        .onInterface(kManager)
        .withArguments(unit, std::string("replace"))
        .uponReplyInvoke(
            [this, pending, method](const sdbus::Error* error, sdbus::ObjectPath job_path) {
              if (error != nullptr) {
                // Stopping a unit systemd does not know is stopping something that is not running.
                const bool unknown = error->getName() == "org.freedesktop.systemd1.NoSuchUnit";
                if (method == "StopUnit" && unknown) return pending->finish(OcfCode::kSuccess, "");
                return pending->finish(unknown ? OcfCode::kErrInstalled : OcfCode::kErrGeneric,
                                       error->getName() + ": " + error->getMessage());
              }
              if (auto it = early_results_.find(job_path); it != early_results_.end()) {
                const std::string result = it->second;
                early_results_.erase(it);
                jobs_[job_path] = pending;
                return job_finished(job_path, result);
              }
              jobs_[job_path] = pending;
            });
  } catch (const sdbus::Error& e) {
    pending->finish(OcfCode::kErrGeneric, e.getName() + ": " + e.getMessage());
  }
  pump();
}

void SystemdClient::job_finished(const std::string& job_path, const std::string& result) {
  const auto it = jobs_.find(job_path);
  if (it == jobs_.end()) {
    if (early_results_.size() < 1024) early_results_[job_path] = result;
    return;
  }
  auto pending = it->second;
  jobs_.erase(it);
  if (result == "done") return pending->finish(OcfCode::kSuccess, "");
  pending->finish(OcfCode::kErrGeneric, "systemd job for " + pending->unit + " ended: " + result);
}

void SystemdClient::start(const std::string& unit, Duration timeout, Done done) {
  job("StartUnit", unit, timeout, std::move(done));
}

void SystemdClient::stop(const std::string& unit, Duration timeout, Done done) {
  job("StopUnit", unit, timeout, std::move(done));
}

void SystemdClient::monitor(const std::string& unit, Done done) {
  try {
    manager_->callMethodAsync("GetUnit").onInterface(kManager).withArguments(unit).uponReplyInvoke(
        [this, unit, done](const sdbus::Error* error, sdbus::ObjectPath path) {
          if (error != nullptr) return done(OcfCode::kNotRunning, unit + " is not loaded");
          auto proxy = std::shared_ptr<sdbus::IProxy>(sdbus::createProxy(*bus_, kService, path));
          proxy->finishRegistration();
          proxy->callMethodAsync("Get")
              .onInterface("org.freedesktop.DBus.Properties")
              .withArguments(std::string("org.freedesktop.systemd1.Unit"),
                             std::string("ActiveState"))
              .uponReplyInvoke([proxy, unit, done](const sdbus::Error* e, sdbus::Variant v) {
                if (e != nullptr) return done(OcfCode::kErrGeneric, e->getMessage());
                const auto state = v.get<std::string>();
                if (state == "active" || state == "reloading")
                  return done(OcfCode::kSuccess, state);
                if (state == "inactive" || state == "failed")
                  return done(OcfCode::kNotRunning, unit + " is " + state);
                done(OcfCode::kErrGeneric, unit + " is " + state);
              });
          pump();
        });
  } catch (const sdbus::Error& e) {
    done(OcfCode::kErrGeneric, e.getName() + ": " + e.getMessage());
  }
  pump();
}

std::expected<std::unique_ptr<SystemdUnitQuery>, std::string> SystemdUnitQuery::connect(
    Duration timeout) {
  std::unique_ptr<SystemdUnitQuery> q(new SystemdUnitQuery(timeout));
  try {
    q->bus_ = sdbus::createSystemBusConnection();
    q->manager_ = sdbus::createProxy(*q->bus_, kService, kManagerPath);
    q->manager_->finishRegistration();
  } catch (const sdbus::Error& e) {
    return std::unexpected(e.getName() + ": " + e.getMessage());
  }
  return q;
}

SystemdUnitQuery::SystemdUnitQuery(Duration timeout) : timeout_(timeout) {}
SystemdUnitQuery::~SystemdUnitQuery() = default;

std::expected<std::string, std::string> SystemdUnitQuery::load_state(const std::string& unit) {
  try {
    sdbus::ObjectPath path;
    // LoadUnit, not GetUnit: a unit nothing has started yet is not loaded, but it exists.
    manager_->callMethod("LoadUnit")
        .onInterface(kManager)
        .withTimeout(timeout_)
        .withArguments(unit)
        .storeResultsTo(path);
    auto proxy = sdbus::createProxy(*bus_, kService, path);
    proxy->finishRegistration();
    sdbus::Variant state;
    proxy->callMethod("Get")
        .onInterface("org.freedesktop.DBus.Properties")
        .withTimeout(timeout_)
        .withArguments(std::string("org.freedesktop.systemd1.Unit"), std::string("LoadState"))
        .storeResultsTo(state);
    return state.get<std::string>();
  } catch (const sdbus::Error& e) {
    return std::unexpected(e.getName() + ": " + e.getMessage());
  }
}

}  // namespace hactl
