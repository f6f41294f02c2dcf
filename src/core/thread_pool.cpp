#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>

namespace lipsync {

ThreadPool::ThreadPool(std::size_t threads, std::size_t queue_capacity)
    : tasks_("thread-pool", queue_capacity, FullPolicy::kBlock) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    workers_.emplace_back([this] {
      while (auto task = tasks_.pop()) (*task)();
    });
  }
}

ThreadPool::~ThreadPool() {
  tasks_.close();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  std::atomic<std::size_t> next{0};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto drain = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
      }
    }
  };
  const std::size_t helpers = std::min(workers_.size(), n - 1);
  std::vector<std::future<void>> done;
  done.reserve(helpers);
  for (std::size_t i = 0; i < helpers; ++i) done.push_back(submit(drain));
  drain();
  for (auto& f : done) f.wait();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace lipsync
