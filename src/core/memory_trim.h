// Gives freed heap memory back to the system after large transient requests. glibc keeps what a
// request freed in its per-thread arenas (issue #19: 2.56 GB resident after 48 min of tests, most
// of it free); malloc_trim(0) returns those pages. Trimming walks every arena, so it runs on a
// thread of its own, at most once per period, and only after a large request was noted.
//
//   MemoryTrimmer trimmer(std::chrono::seconds(2));
//   trimmer.note(request_bytes + response_bytes);  // after each request
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace lipsync {

// Requests moving at least this many bytes (in and out) make the next trim due: a compat batch
// with visual frames is ~60 MB, a 30 s clip of raw frames hundreds; small calls free little.
inline constexpr std::size_t kLargeRequestBytes = std::size_t{8} << 20;

class MemoryTrimmer {
 public:
  // `trim` defaults to malloc_trim(0) (a no-op where the C library has none).
  explicit MemoryTrimmer(std::chrono::milliseconds period, std::function<void()> trim = {});
  ~MemoryTrimmer();  // stops the thread
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  // Any thread: a request that moved `bytes` has finished.
  void note(std::size_t bytes);
  // Trims now if a large request was noted since the last trim; true if it trimmed. The
  // thread calls this once per period; tests call it directly.
  bool trim_if_due();
  std::int64_t trims() const { return trims_.load(); }

 private:
  void loop();

  const std::chrono::milliseconds period_;
  const std::function<void()> trim_;
  std::atomic<bool> due_{false};
  std::atomic<std::int64_t> trims_{0};
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace lipsync
