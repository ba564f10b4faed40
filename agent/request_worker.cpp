#include "agent/request_worker.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "common/assert.hpp"
#include "resources/realtime.hpp"

namespace hactl {
namespace {

Instant mono_now() { return Instant{Duration{static_cast<Duration::rep>(uv_hrtime() / 1000)}}; }

}  // namespace

// On the heap: its close callback (which closes the fd) may run after the worker is gone.
struct RequestWorker::Waker {
  uv_poll_t poll{};
  int fd = -1;
};

RequestWorker::RequestWorker(uv_loop_t* loop, std::size_t capacity, Duration deadline)
    : loop_(loop), capacity_(capacity), deadline_(deadline) {
  HACTL_ASSERT(capacity > 0);
  waker_ = new Waker;
  waker_->fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  HACTL_ASSERT(waker_->fd >= 0);
  HACTL_ASSERT(uv_poll_init(loop_, &waker_->poll, waker_->fd) == 0);
  waker_->poll.data = this;
  uv_poll_start(&waker_->poll, UV_READABLE, [](uv_poll_t* h, int, int) {
    auto* self = static_cast<RequestWorker*>(h->data);
    std::uint64_t count = 0;
    while (::read(self->waker_->fd, &count, sizeof count) > 0) {
    }
    self->on_async();
  });
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  open_ = true;
  thread_ = std::thread([this] { worker_main(); });
}

RequestWorker::~RequestWorker() { close(); }

void RequestWorker::close() {
  if (!open_) return;
  open_ = false;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  jobs_.clear();
  uv_poll_stop(&waker_->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&waker_->poll), [](uv_handle_t* h) {
    auto* w = reinterpret_cast<Waker*>(reinterpret_cast<char*>(h) - offsetof(Waker, poll));
    ::close(w->fd);
    delete w;
  });
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  waker_ = nullptr;
  timer_ = nullptr;
}

std::size_t RequestWorker::pending() const { return jobs_.size(); }

bool RequestWorker::submit(Work work, Done done, Expired expired) {
  if (!open_ || jobs_.size() >= capacity_) return false;
  auto job = std::make_shared<Job>();
  job->work = std::move(work);
  job->done = std::move(done);
  job->expired = std::move(expired);
  job->deadline = mono_now() + deadline_;
  jobs_.push_back(job);
  {
    std::lock_guard lock(mu_);
    queue_.push_back(job);
  }
  cv_.notify_one();
  arm_timer();
  return true;
}

void RequestWorker::worker_main() {
  leave_realtime();  // started by the SCHED_RR loop thread: back to normal priority
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    // Past its deadline already (the loop has answered it, or is about to): not run at all.
    const bool run = mono_now() < job->deadline;
    if (run) {
      try {
        job->work();
      } catch (...) {  // the work answers its own errors; this only keeps the process alive
      }
    }
    job->work = nullptr;  // its captures go here, on the worker
    {
      std::lock_guard lock(mu_);
      job->finished = true;
      job->ran = run;
    }
    // One write(2): the loop wakes on the eventfd and nothing waits on this thread.
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(waker_->fd, &one, sizeof one);
  }
}

// Loop: answers every job the worker is through with, in the order they were submitted.
void RequestWorker::on_async() {
  std::vector<std::pair<std::shared_ptr<Job>, bool>> through;
  {
    std::lock_guard lock(mu_);
    for (const auto& job : jobs_) {
      if (job->finished && !job->answered) through.emplace_back(job, job->ran);
    }
  }
  for (auto& [job, ran] : through) answer(*job, ran);
  std::erase_if(jobs_, [](const auto& job) { return job->answered; });
  arm_timer();
}

// Loop: a job not through by its deadline is answered "expired"; its result, if it comes,
// is dropped.
void RequestWorker::on_timer() {
  const Instant now = mono_now();
  std::vector<std::pair<std::shared_ptr<Job>, bool>> due;
  {
    std::lock_guard lock(mu_);
    for (const auto& job : jobs_) {
      if (!job->answered && now >= job->deadline) due.emplace_back(job, job->finished && job->ran);
    }
  }
  for (auto& [job, ran] : due) answer(*job, ran);
  std::erase_if(jobs_, [](const auto& job) { return job->answered; });
  arm_timer();
}

// The callbacks' captures (a client's reply among them) are released here, on the loop.
void RequestWorker::answer(Job& job, bool ran) {
  if (job.answered) return;
  job.answered = true;
  Done done = std::move(job.done);
  Expired expired = std::move(job.expired);
  job.done = nullptr;
  job.expired = nullptr;
  if (ran) {
    done();
  } else {
    expired();
  }
}

void RequestWorker::arm_timer() {
  if (!open_) return;
  if (jobs_.empty()) {
    uv_timer_stop(timer_);
    return;
  }
  Instant next = Instant::max();
  for (const auto& job : jobs_) next = std::min(next, job->deadline);
  const Duration wait = std::max(Duration::zero(), next - mono_now());
  const auto ms = static_cast<std::uint64_t>((wait.count() + 999) / 1000);
  uv_timer_start(
      timer_, [](uv_timer_t* h) { static_cast<RequestWorker*>(h->data)->on_timer(); }, ms, 0);
}

}  // namespace hactl
