// The one mapping from the core error enum to gRPC status codes (style.md rule 2).
// Module-internal: used by the gRPC services.
#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>
#include <string>

#include "core/status.h"

namespace lipsync::server {

// An error message a client may see is cut at this many bytes: gRPC sends it in a trailer,
// and clients refuse trailers over 8 KiB (an error would arrive as RESOURCE_EXHAUSTED).
inline constexpr std::size_t kMaxClientMessageBytes = 2048;

grpc::StatusCode to_grpc_code(ErrorCode code);

// A status's message as a client sees it (every API: gRPC, compat's in-band error, the web
// page): server file paths reduced to their names (core/client_text.h redact_paths), and cut
// at kMaxClientMessageBytes. The server's log keeps the full message.
std::string client_message(const Status& status);
// client_message() with the code's name in front: "NOT_FOUND: model 'x' is not configured".
std::string client_error(const Status& status);

// OK, or the mapped code with client_message().
grpc::Status to_grpc_status(const Status& status);

}  // namespace lipsync::server
