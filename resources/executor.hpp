// The agent's local executor (Pacemaker's LRM): runs resource actions of every class on the
// libuv loop, one at a time per resource (the OCF API forbids concurrent actions on one
// instance), any number of resources at once, and recurring monitors whose results are
// reported when they change. It decides nothing: results go to the caller, who reports them
// to the coordinator.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/resource_config.hpp"
#include "resources/ocf_agent.hpp"
#include "resources/process_runner.hpp"
#include "resources/resource_guard.hpp"
#include "resources/systemd_unit.hpp"
#include "resources/vip.hpp"

namespace hactl {

struct OpRequest {
  std::uint64_t call_id = 0;
  std::string resource;  // a primitive id
  std::string action;    // start, stop, monitor, promote, demote, notify, meta-data, validate-all
  Duration timeout{0};   // 0: the primitive's configured timeout for the action
  // A notify call's lists (OCF agents only: ocf_notify_env).
  std::optional<CloneNotification> notification{};
};

struct OpResult {
  std::uint64_t call_id = 0;  // 0 for a recurring monitor
  std::string resource;
  std::string action;
  ProcessResult::Ended ended = ProcessResult::Ended::kExited;
  OcfCode code = OcfCode::kErrGeneric;
  std::string output;  // the agent's output tail, or why it could not run
  Duration took{0};
};

class Executor {
 public:
  using OnResult = std::function<void(const OpResult&)>;
  // Agents and monitors are started through `spawner`, on its loop.
  Executor(Spawner& spawner, const ResourceConfig& resources, OnResult on_result,
           OcfContext context = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // VIPs this executor adds (or finds at a probe) are held by `guard`, removed when it lets go;
  // the other resources that may run here are told to it too (see ResourceGuard).
  void set_guard(ResourceGuard* guard) { guard_ = guard; }
  void submit(OpRequest request);
  // Runs `monitor` every interval (the configured one when zero); reports the first result
  // and then only changes of code.
  void start_monitor(const std::string& resource, Duration interval = Duration{0});
  void stop_monitor(const std::string& resource);
  // Resources with an action running or queued: kept as a count (the agent asks after every
  // turn of its loop; counting 20,000 lanes each time took 5 to 8 % of the loop in perf).
  std::size_t busy() const { return busy_; }
  void close();  // stops the monitors; running actions still finish

 private:
  struct Lane;
  void pump(Lane& lane);
  void recount(Lane& lane);  // after a change of its queue or running action
  void run(Lane& lane, const OpRequest& request);
  Duration timeout_for(const PrimitiveConfig& p, const std::string& action) const;
  ProcessSpec ocf_request_spec(const PrimitiveConfig& p, const OpRequest& request,
                               Duration interval) const;
  void finished(Lane& lane, const OpRequest& request, OpResult result);
  void guard(Lane& lane, bool may_run);
  // Runs fn on the loop after `delay` (a later turn of the loop even for 0).
  void after(Duration delay, std::function<void()> fn);
  // An IPv6 vip added with duplicate address detection: done once it is usable (announced),
  // failed DAD, or is still tentative after `timeout`.
  void wait_for_dad(const VipSpec& spec, Duration timeout,
                    std::function<void(const ProcessResult&, OcfCode)> done);
  void run_systemd(const PrimitiveConfig& p, const OpRequest& request,
                   std::function<void(OcfCode, std::string)> done);

  uv_loop_t* loop_;
  const ResourceConfig& resources_;
  OnResult on_result_;
  OcfContext context_;
  std::map<std::string, std::unique_ptr<Lane>> lanes_;
  std::size_t busy_ = 0;  // lanes with `counted` set
  ResourceGuard* guard_ = nullptr;
  Spawner& spawner_;
  std::unique_ptr<SystemdClient> systemd_;  // connected on the first systemd action
  std::shared_ptr<bool> alive_;             // callbacks that outlive the executor see false
};

}  // namespace hactl
