// Exceptions -> Status where work crosses a border (style.md rule 2): inside a module exceptions
// are fine, but a worker thread, an RPC or HTTP handler, or a user-supplied callback answers
// with a Status instead of unwinding into a caller that cannot handle it.
//
//   Status status = guard("Render failed", [&] { return render(request); });
//   // an exception thrown by render(): INTERNAL "Render failed: <what()>"
#pragma once

#include <exception>
#include <functional>
#include <string_view>
#include <type_traits>

#include "core/status.h"

namespace lipsync {

// The INTERNAL status an exception stands for: "<context>: <what()>", or what() alone when
// `context` is empty; "unknown exception" for one not derived from std::exception.
Status status_from_exception(std::exception_ptr error, std::string_view context = {});

// Runs `fn` (returning Status or Result<T>) and returns its result; an exception escaping it
// becomes status_from_exception(it, context).
template <typename Fn>
auto guard(std::string_view context, Fn&& fn) -> std::invoke_result_t<Fn&> {
  try {
    return std::invoke(fn);
  } catch (...) {
    return status_from_exception(std::current_exception(), context);
  }
}

}  // namespace lipsync
