#include "core/model_id.h"

#include "core/client_text.h"

namespace lipsync {
namespace {

bool allowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

Status check_model_id(std::string_view model_id, std::string_view field) {
  if (model_id.empty()) return make_error(ErrorCode::kInvalidArgument, "{} is required", field);
  if (model_id.size() > kMaxModelIdBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} is {} bytes long; at most {} are allowed ('{}')", field, model_id.size(),
                      kMaxModelIdBytes, client_text(model_id, 32));
  }
  for (std::size_t i = 0; i < model_id.size(); ++i) {
    if (allowed(model_id[i])) continue;
    return make_error(ErrorCode::kInvalidArgument,
                      "{} '{}' has '{}' at byte {}: only letters, digits, '.', '_' and '-' are "
                      "allowed",
                      field, client_text(model_id), client_text(model_id.substr(i, 1)), i);
  }
  return {};
}

}  // namespace lipsync
