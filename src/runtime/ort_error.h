// Internal to module `runtime`: ORT reports failures as Ort::Exception; at the module's API they
// become Status values, here. Not included outside src/runtime (it exposes ORT types).
#pragma once

#include <onnxruntime_cxx_api.h>

#include <functional>

#include "core/status.h"

namespace lipsync::runtime::detail {

// Runs `fn`; an Ort::Exception it throws becomes `code` "<context()>: <what()>". `context` is
// called only on failure (runs are hot). Other exceptions pass: they are bugs, not ORT errors.
template <typename Context, typename Fn>
Status ort_guard(ErrorCode code, Context&& context, Fn&& fn) {
  try {
    std::invoke(fn);
  } catch (const Ort::Exception& e) {
    return make_error(code, "{}: {}", std::invoke(context), e.what());
  }
  return {};
}

}  // namespace lipsync::runtime::detail
