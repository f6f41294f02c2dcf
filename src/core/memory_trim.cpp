#include "core/memory_trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lipsync {
namespace {

void trim_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

MemoryTrimmer::MemoryTrimmer(std::chrono::milliseconds period, std::function<void()> trim)
    : period_(period), trim_(trim ? std::move(trim) : std::function<void()>(trim_heap)) {
  thread_ = std::thread([this] { loop(); });
}

MemoryTrimmer::~MemoryTrimmer() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void MemoryTrimmer::note(std::size_t bytes) {
  if (bytes >= kLargeRequestBytes) due_ = true;
}

bool MemoryTrimmer::trim_if_due() {
  if (!due_.exchange(false)) return false;
  trim_();
  ++trims_;
  return true;
}

void MemoryTrimmer::loop() {
  std::unique_lock lock(mutex_);
  while (!stop_cv_.wait_for(lock, period_, [&] { return stop_; })) {
    lock.unlock();
    trim_if_due();
    lock.lock();
  }
}

}  // namespace lipsync
