// The metadata that names a native call's avatar: x-lipsync-model. A cluster's proxy hashes it
// onto the replica that holds the avatar (docs/deployment.md); a single server ignores it. Every
// lipsync.v1 call of the clients (client.cpp, live_client.cpp) names its avatar here, so that no
// call type is left out of the routing. Module-internal (a gRPC type).
#pragma once

#include <grpcpp/client_context.h>

#include <string>

namespace lipsync::client {

inline constexpr const char* kModelHeader = "x-lipsync-model";

inline void name_model(grpc::ClientContext& context, const std::string& model_id) {
  context.AddMetadata(kModelHeader, model_id);
}

}  // namespace lipsync::client
