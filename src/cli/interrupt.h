// Ctrl-C (SIGINT) or SIGTERM while a command writes under a temporary name (render's
// `OUT.partial-PID`, import's package folder): the temporary output is removed before the
// process ends, instead of staying behind.
//
//   InterruptCleanup interrupt;                  // first, before any thread is started
//   ...
//   interrupt.set([&] { output->abandon(); });   // what to undo, once there is something
//
// While it lives, both signals are blocked in this thread and in every thread started after
// it, and a watcher thread waits for them. On one, it runs the cleanup (at most once), then
// ends the process by that same signal, so the exit status says "interrupted" as usual
// (130 for Ctrl-C in a shell).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <functional>
#include <mutex>
#include <thread>

namespace lipsync::cli {

class InterruptCleanup {
 public:
  InterruptCleanup();
  ~InterruptCleanup();  // stops the watcher and restores this thread's signal mask
  InterruptCleanup(const InterruptCleanup&) = delete;
  InterruptCleanup& operator=(const InterruptCleanup&) = delete;

  // Replaces the cleanup (empty: nothing to undo). Runs on the watcher thread, concurrently
  // with the command's threads: it must be safe against what they are doing.
  void set(std::function<void()> cleanup);

 private:
  void watch();

  sigset_t signals_{};
  sigset_t previous_mask_{};
  std::mutex mutex_;
  std::function<void()> cleanup_;
  bool stopping_ = false;
  std::thread watcher_;
};

}  // namespace lipsync::cli
