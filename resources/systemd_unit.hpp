// The `systemd:UNIT` resource class: start, stop and monitor a unit through systemd's D-Bus API
// (org.freedesktop.systemd1.Manager: StartUnit/StopUnit, the JobRemoved signal for the job's
// result, and the unit's ActiveState), with sdbus-c++ driven by the agent's libuv loop (no
// thread of its own). The bus is the system bus; DBUS_SYSTEM_BUS_ADDRESS points it elsewhere,
// as the tests do for a systemd running in a private namespace.
#pragma once

#include <uv.h>

#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "resources/ocf_agent.hpp"

namespace sdbus {
class IConnection;
class IProxy;
}  // namespace sdbus

namespace hactl {

class SystemdClient {
 public:
  using Done = std::function<void(OcfCode, std::string)>;

  static std::expected<std::unique_ptr<SystemdClient>, std::string> connect(uv_loop_t* loop);
  ~SystemdClient();
  SystemdClient(const SystemdClient&) = delete;
  SystemdClient& operator=(const SystemdClient&) = delete;

  // start/stop finish when systemd's job does (or after `timeout`); monitor maps ActiveState:
  // active or reloading -> success, inactive or failed or unknown unit -> not running,
  // activating or deactivating -> generic error (in transition is not "running").
  void start(const std::string& unit, Duration timeout, Done done);
  void stop(const std::string& unit, Duration timeout, Done done);
  void monitor(const std::string& unit, Done done);

 private:
  struct Pending;
  explicit SystemdClient(uv_loop_t* loop);
  std::expected<void, std::string> init();
  void job(const std::string& method, const std::string& unit, Duration timeout, Done done);
  void job_finished(const std::string& job_path, const std::string& result);
  void pump();  // process what the bus has for us, then re-arm the poll for what it wants next

  uv_loop_t* loop_;
  std::unique_ptr<sdbus::IConnection> bus_;
  std::unique_ptr<sdbus::IProxy> manager_;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  std::map<std::string, std::shared_ptr<Pending>> jobs_;  // job object path -> waiting call
  std::map<std::string, std::string> early_results_;      // JobRemoved seen before the reply
};

// A blocking question to systemd, for a thread that may wait (the host check runs on the
// request worker or in a command, never on the agent's loop): a unit's LoadState, over a
// connection of its own, each call bounded by `timeout`.
class SystemdUnitQuery {
 public:
  static std::expected<std::unique_ptr<SystemdUnitQuery>, std::string> connect(Duration timeout);
  ~SystemdUnitQuery();
  SystemdUnitQuery(const SystemdUnitQuery&) = delete;
  SystemdUnitQuery& operator=(const SystemdUnitQuery&) = delete;

  // "loaded", "not-found", "masked", "bad-setting", "error" (systemd.unit(5)); unexpected:
  // systemd gave no answer in time, or none at all.
  std::expected<std::string, std::string> load_state(const std::string& unit);

 private:
  explicit SystemdUnitQuery(Duration timeout);
  Duration timeout_;
  std::unique_ptr<sdbus::IConnection> bus_;
  std::unique_ptr<sdbus::IProxy> manager_;
};

}  // namespace hactl
