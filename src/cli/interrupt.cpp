#include "cli/interrupt.h"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

namespace lipsync::cli {

InterruptCleanup::InterruptCleanup() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_mask_);
  watcher_ = std::thread([this] { watch(); });
}

InterruptCleanup::~InterruptCleanup() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  // Wakes the watcher alone (the signal is blocked everywhere, so it stays with that thread).
  pthread_kill(watcher_.native_handle(), SIGTERM);
  watcher_.join();
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

void InterruptCleanup::set(std::function<void()> cleanup) {
  std::lock_guard lock(mutex_);
  cleanup_ = std::move(cleanup);
}

void InterruptCleanup::watch() {
  int signal = 0;
  while (sigwait(&signals_, &signal) != 0) {
  }
  std::lock_guard lock(mutex_);  // held to the end: the cleanup runs once, set() waits
  if (stopping_) return;
  fmt::print(stderr, "\n{}: stopping, removing the unfinished output\n", strsignal(signal));
  if (cleanup_) cleanup_();
  // End by the same signal: its default action, delivered to this thread.
  std::signal(signal, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signal);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  raise(signal);
  std::_Exit(128 + signal);  // not reached
}

}  // namespace lipsync::cli
