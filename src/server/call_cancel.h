// The cancellation of a gRPC call as the pipeline sees it: a CancelSource that says the call is
// gone once the client's deadline passes, the client cancels or disconnects, the server's
// shutdown grace ends (gRPC cancels the call) or the handler returns; and a wait for a
// submitted request that cancels its queued frames (Scheduler::cancel) when the call is gone.
// Module-internal.
//
//   const CancelSource cancel = call_cancel_source(*context);
//   request.cancel = std::make_shared<pipeline::CancelFlag>();
//   const auto flag = request.cancel;
//   auto result = wait_unless_gone(scheduler.submit(std::move(request)), cancel, scheduler, flag);
#pragma once

#include <grpcpp/server_context.h>

#include <future>
#include <memory>

#include "core/cancel_token.h"
#include "core/status.h"
#include "pipeline/render_request.h"
#include "pipeline/scheduler.h"

namespace lipsync::server {

CancelSource call_cancel_source(const grpc::ServerContext& context);

// What a request dropped because its caller gave up is answered with.
Status call_cancelled();

// The request's answer. Until it comes, `cancel` is asked every few milliseconds; once it says
// the call is gone, scheduler.cancel(flag) drops the request's queued frames (they never run) and
// the answer is CANCELLED, unless its batch was already running.
Result<pipeline::RenderResult> wait_unless_gone(std::future<Result<pipeline::RenderResult>> answer,
                                                const CancelSource& cancel,
                                                pipeline::Scheduler& scheduler,
                                                const std::shared_ptr<pipeline::CancelFlag>& flag);

}  // namespace lipsync::server
