// The rule for model identifiers, checked before an id is used (registry look-up, logs,
// answers): 1..128 bytes of [A-Za-z0-9._-]. Configured ids (the keys of `models:`) follow the
// same rule, so every configured model can be addressed by every API.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/status.h"

namespace lipsync {

inline constexpr std::size_t kMaxModelIdBytes = 128;

// OK, or INVALID_ARGUMENT naming the rule the id breaks (its text escaped and cut short).
Status check_model_id(std::string_view model_id, std::string_view field = "model_id");

}  // namespace lipsync
