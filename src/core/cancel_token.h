// Cancellation shared between a caller and the work it queued. The caller (e.g. a gRPC handler)
// owns a CancelSource; queued work holds the token and asks cancelled() before it starts, so
// work nobody waits for any more is dropped instead of run.
//
//   CancelSource source(deadline, [&context] { return context.IsCancelled(); });
//   request.cancel = source.token();
//   ... if (request.cancel && request.cancel->cancelled()) drop it;
//   // ~CancelSource: the probe is dropped and the token stays cancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace lipsync {

class CancelToken {
 public:
  using Clock = std::chrono::steady_clock;

  // True once cancel() was called, the deadline passed or the probe said so.
  bool cancelled() const;
  void cancel();

 private:
  friend class CancelSource;

  std::atomic<bool> cancelled_{false};
  std::optional<Clock::time_point> deadline_;  // set before the token is shared
  mutable std::mutex mutex_;                   // guards probe_ against the source's end
  std::function<bool()> probe_;
};

class CancelSource {
 public:
  // `probe` (optional) is asked by cancelled(); it may use state that lives as long as this
  // source (a gRPC ServerContext), and is never called once the source is gone.
  explicit CancelSource(std::optional<CancelToken::Clock::time_point> deadline = std::nullopt,
                        std::function<bool()> probe = {});
  ~CancelSource();  // cancels: whatever the caller left queued is no longer wanted
  CancelSource(const CancelSource&) = delete;
  CancelSource& operator=(const CancelSource&) = delete;

  std::shared_ptr<CancelToken> token() const { return token_; }
  bool cancelled() const { return token_->cancelled(); }
  void cancel() { token_->cancel(); }

 private:
  std::shared_ptr<CancelToken> token_;
};

}  // namespace lipsync
