#include "server/call_cancel.h"

#include <chrono>

namespace lipsync::server {

CancelSource call_cancel_source(const grpc::ServerContext& context) {
  const auto left = context.deadline() - std::chrono::system_clock::now();
  std::optional<CancelToken::Clock::time_point> deadline;
  if (left < std::chrono::hours(24 * 365))  // gRPC's "no deadline" is the far future
    deadline =
        CancelToken::Clock::now() + std::chrono::duration_cast<CancelToken::Clock::duration>(left);
  return CancelSource(deadline, [&context] { return context.IsCancelled(); });
}

Status call_cancelled() {
  return make_error(ErrorCode::kCancelled,
                    "the call was cancelled (its deadline passed or the client gave up)");
}

Result<pipeline::RenderResult> wait_unless_gone(std::future<Result<pipeline::RenderResult>> answer,
                                                const CancelSource& cancel,
                                                pipeline::Scheduler& scheduler,
                                                const std::shared_ptr<pipeline::CancelFlag>& flag) {
  // A probe costs an atomic load and ServerContext::IsCancelled(); 10 ms is a quarter frame.
  constexpr auto kPoll = std::chrono::milliseconds(10);
  while (answer.wait_for(kPoll) != std::future_status::ready) {
    if (cancel.cancelled()) {
      scheduler.cancel(flag);  // answers the queued frames CANCELLED; a running batch finishes
      break;
    }
  }
  Result<pipeline::RenderResult> result = answer.get();
  if (!result.ok() && result.status().code() == ErrorCode::kCancelled) return call_cancelled();
  return result;
}

}  // namespace lipsync::server
