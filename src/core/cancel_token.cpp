#include "core/cancel_token.h"

namespace lipsync {

bool CancelToken::cancelled() const {
  if (cancelled_.load()) return true;
  if (deadline_ && Clock::now() >= *deadline_) return true;
  std::lock_guard lock(mutex_);
  return probe_ && probe_();
}

void CancelToken::cancel() {
  cancelled_ = true;
}

CancelSource::CancelSource(std::optional<CancelToken::Clock::time_point> deadline,
                           std::function<bool()> probe)
    : token_(std::make_shared<CancelToken>()) {
  token_->deadline_ = deadline;
  token_->probe_ = std::move(probe);
}

CancelSource::~CancelSource() {
  token_->cancel();
  std::lock_guard lock(token_->mutex_);
  token_->probe_ = nullptr;
}

}  // namespace lipsync
