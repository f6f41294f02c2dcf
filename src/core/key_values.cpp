#include "core/key_values.h"

namespace lipsync {

Result<std::map<std::string, std::string>> parse_key_values(const std::vector<std::string>& items) {
  std::map<std::string, std::string> parsed;
  for (const std::string& item : items) {
    const auto equals = item.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == item.size()) {
      return make_error(ErrorCode::kInvalidArgument, "'{}' is not KEY=VALUE", item);
    }
    parsed[item.substr(0, equals)] = item.substr(equals + 1);
  }
  return parsed;
}

}  // namespace lipsync
