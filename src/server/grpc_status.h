// The one mapping from the core error enum to gRPC status codes (style.md rule 2).
// Module-internal: used by the gRPC services.
#pragma once

#include <grpcpp/support/status.h>

#include "core/status.h"

namespace lipsync::server {

grpc::StatusCode to_grpc_code(ErrorCode code);

// OK, or the mapped code with the status's message.
grpc::Status to_grpc_status(const Status& status);

}  // namespace lipsync::server
