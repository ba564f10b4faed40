// Heavy control requests off the event loop: parsing and checking a submitted
// configuration, planning an apply, simulating, explaining. Their cost grows with what a client
// sends, and on the loop a large or hostile request delayed heartbeats until the node's guard
// dropped its VIPs and the peers elected another coordinator.
//
// The loop takes a snapshot of what the work needs, hands it to one worker thread and goes on;
// the answer comes back through an eventfd the loop polls, and is delivered on the loop. Not a
// uv_async: libuv 1.44 (Debian 12) makes the loop spin, with sched_yield, while a sending
// thread is between the two halves of uv_async_send; the SCHED_RR loop woken by the first half
// preempts the normal-priority worker on its CPU, and sched_yield never lets a lower class run,
// so the loop spun until the kernel's RT throttling stopped it (950 ms: every node applying a
// configuration went silent, and its peers elected another coordinator). Each job has a
// deadline: a job not done by then is answered "timed out" (its late result is dropped), and a
// job that waited in the queue past it is never run. The queue is bounded: beyond `capacity`
// jobs waiting or running, a request is refused at once ("busy"), so a client sending them at
// any rate costs the loop a refusal each, nothing more. The worker runs at normal priority
// (the loop thread is SCHED_RR): it never takes a CPU from the loop.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "common/types.hpp"

namespace hactl {

class RequestWorker {
 public:
  using Work = std::function<void()>;     // runs on the worker thread: touches only its captures
  using Done = std::function<void()>;     // runs on the loop once the work is done
  using Expired = std::function<void()>;  // runs on the loop instead, at the deadline

  RequestWorker(uv_loop_t* loop, std::size_t capacity, Duration deadline);
  RequestWorker(const RequestWorker&) = delete;
  RequestWorker& operator=(const RequestWorker&) = delete;
  ~RequestWorker();

  // False (nothing queued) when `capacity` jobs are waiting or running.
  bool submit(Work work, Done done, Expired expired);
  // Stops the thread once its current job is over (queued jobs are dropped unanswered) and
  // closes the loop handles. Call before the loop is closed.
  void close();
  std::size_t pending() const;
  Duration deadline() const { return deadline_; }

 private:
  struct Job {
    Work work;
    Done done;
    Expired expired;
    Instant deadline;
    bool finished = false;  // the worker is through with it (under mu_)
    bool ran = false;       // ... and ran the work (it was not past its deadline; under mu_)
    bool answered = false;  // done or expired was called (loop side)
  };
  void worker_main();
  void on_async();
  void on_timer();
  void answer(Job& job, bool ran);
  void arm_timer();

  uv_loop_t* loop_;
  std::size_t capacity_;
  Duration deadline_;
  // On the heap: their close callbacks may run after this object is gone.
  struct Waker;  // an eventfd and the uv_poll that reads it (request_worker.cpp)
  Waker* waker_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  bool open_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;  // not started yet (worker side)
  std::deque<std::shared_ptr<Job>> jobs_;   // every job not answered yet (loop side)
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hactl
