// The one mapping from the core error enum to HTTP status codes (style.md rule 2), the HTTP twin
// of server/grpc_status.h. It follows google.rpc.Code's documented HTTP mapping, where a call the
// client cancelled is 499 "Client Closed Request" (the code nginx logs for it): no standard HTTP
// code says "the caller gave up".
#pragma once

#include "core/status.h"

namespace lipsync::http {

inline constexpr int kHttpClientClosedRequest = 499;

int http_status_code(ErrorCode code);

}  // namespace lipsync::http
