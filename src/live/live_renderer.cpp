#include "live/live_renderer.h"

#include "pipeline/render_request.h"

namespace lipsync::live {

void LiveRenderer::cancel(const std::shared_ptr<pipeline::CancelFlag>& flag) {
  if (flag) flag->set();
}

}  // namespace lipsync::live
