// A bounded multi-producer multi-consumer queue with an explicit full-queue policy.
// Every queue in the project is one of these; none grows without limit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "core/log.h"

namespace lipsync {

enum class FullPolicy {
  kReject,      // push fails at once; the caller answers RESOURCE_EXHAUSTED
  kDropOldest,  // the oldest item is discarded to make room (live streams)
  kBlock,       // push waits for room (internal pipelines with back-pressure)
};

enum class PushResult { kAccepted, kRejected, kDroppedOldest, kClosed };

template <typename T>
class BoundedQueue {
 public:
  BoundedQueue(std::string name, std::size_t capacity, FullPolicy policy)
      : name_(std::move(name)), capacity_(capacity == 0 ? 1 : capacity), policy_(policy) {}

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // With kDropOldest, `dropped` (if given) receives the discarded item.
  PushResult push(T item, std::optional<T>* dropped = nullptr) {
    std::unique_lock lock(mutex_);
    if (policy_ == FullPolicy::kBlock) {
      not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    }
    if (closed_) return PushResult::kClosed;
    PushResult result = PushResult::kAccepted;
    if (items_.size() >= capacity_) {
      if (policy_ == FullPolicy::kReject) {
        note_overflow(true);
        return PushResult::kRejected;
      }
      if (dropped != nullptr) *dropped = std::move(items_.front());
      items_.pop_front();
      note_overflow(true);
      result = PushResult::kDroppedOldest;
    } else {
      note_overflow(false);
    }
    items_.push_back(std::move(item));
    lock.unlock();
    not_empty_.notify_one();
    return result;
  }

  // Blocks until an item arrives or the queue is closed and empty.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    return take(lock);
  }

  // Waits at most `timeout`; nullopt on timeout or when closed and empty.
  template <typename Rep, typename Period>
  std::optional<T> pop_for(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mutex_);
    not_empty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
    return take(lock);
  }

  std::optional<T> try_pop() {
    std::unique_lock lock(mutex_);
    return take(lock);
  }

  // After close(), pushes fail with kClosed and pops drain what is left.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  std::size_t capacity() const { return capacity_; }
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  const std::string& name() const { return name_; }

 private:
  std::optional<T> take(std::unique_lock<std::mutex>& lock) {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return item;
  }

  // One log line when the queue starts refusing/dropping, one when it recovers.
  void note_overflow(bool overflowing) {
    if (overflowing == overflowing_) return;
    overflowing_ = overflowing;
    if (overflowing) {
      LOG_WARN("queue", "queue '{}' full (capacity {}): {} items", name_, capacity_,
               policy_ == FullPolicy::kReject ? "rejecting new" : "dropping oldest");
    } else {
      LOG_INFO("queue", "queue '{}' accepting again", name_);
    }
  }

  const std::string name_;
  const std::size_t capacity_;
  const FullPolicy policy_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  bool closed_ = false;
  bool overflowing_ = false;
};

}  // namespace lipsync
