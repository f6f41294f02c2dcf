#include "core/guard.h"

#include <string>

namespace lipsync {

Status status_from_exception(std::exception_ptr error, std::string_view context) {
  std::string what = "unknown exception";
  try {
    if (error) std::rethrow_exception(error);
    what = "status_from_exception called without an exception";
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  if (context.empty()) return Status(ErrorCode::kInternal, std::move(what));
  return make_error(ErrorCode::kInternal, "{}: {}", context, what);
}

}  // namespace lipsync
