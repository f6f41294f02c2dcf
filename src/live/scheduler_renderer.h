// The server's LiveRenderer: one model of the registry, rendered through the Scheduler (so live
// frames share UNet batches with every other request and session of the model), as JPEGs.
// It holds a handle of the model for its whole life: a model with live sessions is not evicted.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "live/live_renderer.h"
#include "media/jpeg_codec.h"
#include "pipeline/scheduler.h"
#include "registry/model_registry.h"

namespace lipsync::live {

class SchedulerRenderer final : public LiveRenderer {
 public:
  // Acquires (loading if needed) `model_id`. Both must outlive the renderer.
  static Result<std::shared_ptr<SchedulerRenderer>> create(pipeline::Scheduler& scheduler,
                                                           registry::ModelRegistry& registry,
                                                           std::string model_id,
                                                           media::JpegSettings jpeg);
  ~SchedulerRenderer() override;

  std::int64_t frame_count() const override { return frame_count_; }
  int width() const override { return width_; }
  int height() const override { return height_; }
  std::future<Result<Jpeg>> render(std::int64_t source, std::vector<float> features,
                                   TimePoint deadline,
                                   std::shared_ptr<pipeline::CancelFlag> cancel) override;
  Result<Jpeg> source_frame(std::int64_t source) override;
  void cancel(const std::shared_ptr<pipeline::CancelFlag>& flag) override;

  const std::string& model_id() const { return model_id_; }
  const media::JpegSettings& jpeg() const { return jpeg_; }

 private:
  using Pending =
      std::pair<std::future<Result<pipeline::RenderResult>>, std::promise<Result<Jpeg>>>;

  SchedulerRenderer(pipeline::Scheduler& scheduler, registry::ModelHandle handle,
                    std::string model_id, media::JpegSettings jpeg);
  void relay();

  pipeline::Scheduler& scheduler_;
  const registry::ModelHandle handle_;
  const std::string model_id_;
  const media::JpegSettings jpeg_;
  std::int64_t frame_count_ = 0;
  int width_ = 0;
  int height_ = 0;

  // The scheduler answers with std::futures; one relay thread turns them into this interface's
  // answers in submission order (roughly deadline order), so waiters can poll readiness.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  std::thread relay_;
};

}  // namespace lipsync::live
