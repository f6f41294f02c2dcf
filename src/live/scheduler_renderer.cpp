#include "live/scheduler_renderer.h"

#include "pipeline/lipsync_model.h"

namespace lipsync::live {

Result<std::shared_ptr<SchedulerRenderer>> SchedulerRenderer::create(
    pipeline::Scheduler& scheduler, registry::ModelRegistry& registry, std::string model_id,
    media::JpegSettings jpeg) {
  ASSIGN_OR_RETURN(registry::ModelHandle handle, registry.acquire(model_id));
  auto renderer = std::shared_ptr<SchedulerRenderer>(
      new SchedulerRenderer(scheduler, std::move(handle), std::move(model_id), jpeg));
  if (renderer->frame_count_ < 1) {
    return make_error(ErrorCode::kFailedPrecondition, "model '{}' has no frames",
                      renderer->model_id_);
  }
  return renderer;
}

SchedulerRenderer::SchedulerRenderer(pipeline::Scheduler& scheduler, registry::ModelHandle handle,
                                     std::string model_id, media::JpegSettings jpeg)
    : scheduler_(scheduler),
      handle_(std::move(handle)),
      model_id_(std::move(model_id)),
      jpeg_(jpeg) {
  const auto& avatar = handle_.get<pipeline::LipSyncModel>().avatar();
  frame_count_ = static_cast<std::int64_t>(avatar.frame_count());
  width_ = avatar.info().width;
  height_ = avatar.info().height;
  relay_ = std::thread([this] { relay(); });
}

SchedulerRenderer::~SchedulerRenderer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_one();
  relay_.join();
}

std::future<Result<Jpeg>> SchedulerRenderer::render(std::int64_t source,
                                                    std::vector<float> features, TimePoint deadline,
                                                    std::shared_ptr<pipeline::CancelFlag> cancel) {
  pipeline::RenderRequest request{.model_id = model_id_,
                                  .source_frames = {source},
                                  .audio = std::move(features),
                                  .jpeg = jpeg_,
                                  .deadlines = {deadline},
                                  .cancel = std::move(cancel)};
  std::promise<Result<Jpeg>> answer;
  std::future<Result<Jpeg>> future = answer.get_future();
  auto rendered = scheduler_.submit(std::move(request));
  {
    std::lock_guard lock(mutex_);
    pending_.emplace_back(std::move(rendered), std::move(answer));
  }
  changed_.notify_one();
  return future;
}

void SchedulerRenderer::relay() {
  while (true) {
    Pending next;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, nothing left
      next = std::move(pending_.front());
      pending_.pop_front();
    }
    Result<pipeline::RenderResult> result = next.first.get();
    if (!result.ok()) {
      next.second.set_value(result.status());
    } else if (result->jpegs.size() != 1) {
      next.second.set_value(make_error(ErrorCode::kInternal,
                                       "the scheduler answered {} JPEGs for one live frame",
                                       result->jpegs.size()));
    } else {
      next.second.set_value(
          std::make_shared<const std::vector<std::uint8_t>>(std::move(result->jpegs.front())));
    }
  }
}

void SchedulerRenderer::cancel(const std::shared_ptr<pipeline::CancelFlag>& flag) {
  if (flag) scheduler_.cancel(flag);
}

Result<Jpeg> SchedulerRenderer::source_frame(std::int64_t source) {
  const auto& avatar = handle_.get<pipeline::LipSyncModel>().avatar();
  if (source < 0 || source >= frame_count_) {
    return make_error(ErrorCode::kInvalidArgument, "source frame {} is outside 0..{}", source,
                      frame_count_ - 1);
  }
  ASSIGN_OR_RETURN(Image frame, avatar.backgrounds().frame(static_cast<std::size_t>(source)));
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> jpeg, media::encode_jpeg(frame.view(), jpeg_));
  return std::make_shared<const std::vector<std::uint8_t>>(std::move(jpeg));
}

}  // namespace lipsync::live
