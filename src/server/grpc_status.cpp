#include "server/grpc_status.h"

#include <fmt/format.h>

#include "core/client_text.h"

namespace lipsync::server {

grpc::StatusCode to_grpc_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return grpc::StatusCode::OK;
    case ErrorCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case ErrorCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case ErrorCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case ErrorCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case ErrorCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case ErrorCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case ErrorCode::kInternal:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;
}

std::string client_message(const Status& status) {
  std::string message = redact_paths(status.message());
  if (message.size() > kMaxClientMessageBytes) {
    const std::size_t cut = message.size() - kMaxClientMessageBytes;
    message.resize(kMaxClientMessageBytes);
    message += fmt::format("...({} more bytes)", cut);
  }
  return message;
}

std::string client_error(const Status& status) {
  if (status.ok()) return "OK";
  return fmt::format("{}: {}", to_string(status.code()), client_message(status));
}

grpc::Status to_grpc_status(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return {to_grpc_code(status.code()), client_message(status)};
}

}  // namespace lipsync::server
