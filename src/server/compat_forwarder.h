// Sends a compat InferBatchComposite for an avatar this replica has not loaded back through the
// cluster's proxy, naming the avatar in x-lipsync-model so the proxy's consistent-hash ring
// (bounded load included) picks its owner; the ring stays the one source of truth for ownership
// (docs/deployment.md). The forwarded call carries x-lipsync-forwarded: 1 and is always served
// where it lands: a call is forwarded at most once. Module-internal: used by compat_service.cpp.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "proto/monolithic.grpc.pb.h"

namespace lipsync::server {

inline constexpr const char* kModelHeader = "x-lipsync-model";
inline constexpr const char* kForwardedHeader = "x-lipsync-forwarded";

class CompatForwarder {
 public:
  // `proxy` is HOST:PORT; the channel connects lazily, on the first forwarded call.
  CompatForwarder(const std::string& proxy, int max_message_bytes);

  // True when the incoming call was already forwarded once (it must be served locally).
  static bool forwarded(const grpc::ServerContext& incoming);

  // The owner's answer, or the transport's status (UNAVAILABLE etc.), with the incoming
  // call's deadline and cancellation.
  grpc::Status forward(grpc::ServerContext& incoming,
                       const monolithic::CompositeBatchRequest& request,
                       monolithic::CompositeBatchResponse* response);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<monolithic::MonolithicService::Stub> stub_;
};

}  // namespace lipsync::server
