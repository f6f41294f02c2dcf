// KEY=VALUE items (a CUDA execution provider's options, from the configuration's
// `onnx.cuda_options` or a command's `--cuda-option` flags) as a map.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync {

// The items as key -> value (a later key wins); INVALID_ARGUMENT naming the first item that is
// not KEY=VALUE with both sides non-empty.
Result<std::map<std::string, std::string>> parse_key_values(const std::vector<std::string>& items);

}  // namespace lipsync
