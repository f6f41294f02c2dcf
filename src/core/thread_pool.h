// A fixed-size thread pool with futures, and a parallel_for that uses it.
#pragma once

#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/bounded_queue.h"

namespace lipsync {

class ThreadPool {
 public:
  // `threads` = 0 means one per hardware thread.
  explicit ThreadPool(std::size_t threads = 0, std::size_t queue_capacity = 4096);
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t size() const { return workers_.size(); }

  // Runs `fn` on a worker; blocks while the task queue is full (back-pressure).
  template <typename Fn>
  auto submit(Fn fn) -> std::future<std::invoke_result_t<Fn>> {
    using R = std::invoke_result_t<Fn>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
    std::future<R> future = task->get_future();
    tasks_.push([task] { (*task)(); });
    return future;
  }

  // Calls fn(i) for i in [0, n) across the pool and the calling thread; rethrows the first
  // exception after all chunks finished.
  void parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn);

 private:
  BoundedQueue<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
};

}  // namespace lipsync
