#include "server/native_service.h"

#include <chrono>

#include "audio/audio_decoder.h"
#include "audio/streaming_extractor.h"
#include "core/client_text.h"
#include "core/clock.h"
#include "core/guard.h"
#include "core/log.h"
#include "core/model_id.h"
#include "core/timeline.h"
#include "server/grpc_status.h"
#include "server/native_request.h"
#include "server/response_messages.h"

namespace lipsync::server {
namespace {

using Clock = std::chrono::steady_clock;

// What every message of a clip says: the format, frame size and the clip's length.
void describe(const pipeline::ClipPlan& plan, v1::RenderResponse& response) {
  response.set_format(plan.spec.jpeg ? v1::FRAME_FORMAT_JPEG : v1::FRAME_FORMAT_RAW_BGR);
  response.set_width(plan.model.width);
  response.set_height(plan.model.height);
  response.set_clip_frames(plan.frame_count());
}

// What only the first message says: the audio time and whether this request loaded the model.
void describe_start(const pipeline::ClipPlan& plan, v1::RenderResponse& response) {
  response.mutable_timings()->set_audio_ms(plan.audio_ms);
  response.set_model_loaded(plan.model.loaded_now);
  response.set_model_load_ms(plan.model.load_ms);
}

v1::ModelState model_state(registry::ModelState state) {
  switch (state) {
    case registry::ModelState::kUnloaded:
      return v1::MODEL_STATE_UNLOADED;
    case registry::ModelState::kLoading:
      return v1::MODEL_STATE_LOADING;
    case registry::ModelState::kReady:
      return v1::MODEL_STATE_READY;
    case registry::ModelState::kFailed:
      return v1::MODEL_STATE_FAILED;
  }
  return v1::MODEL_STATE_UNSPECIFIED;
}

void fill_model(const registry::ModelInfo& info, v1::Model& model) {
  model.set_model_id(info.model_id);
  model.set_state(model_state(info.state));
  model.set_failure_reason(redact_paths(info.failure_reason));  // the log has the paths
  v1::ModelStats& stats = *model.mutable_stats();
  stats.set_requests(info.stats.requests);
  stats.set_frames(info.stats.frames);
  stats.set_total_inference_ms(info.stats.total_inference_ms);
  stats.set_mean_inference_ms(info.stats.mean_inference_ms);
  stats.set_last_used_unix_s(info.stats.last_used_unix_s);
  stats.set_memory_bytes(info.stats.memory_bytes);
  stats.set_load_time_ms(info.stats.load_time_ms);
  stats.set_loads(info.stats.loads);
  stats.set_evictions(info.stats.evictions);
}

Status require_model_id(const std::string& model_id) {
  return check_model_id(model_id);
}

}  // namespace

Result<pipeline::ClipPlan> NativeService::plan(const v1::RenderRequest& request) {
  if (context_.stopping->load())
    return make_error(ErrorCode::kUnavailable, "the server is shutting down");
  RETURN_IF_ERROR(require_model_id(request.model_id()));
  RETURN_IF_ERROR(context_.registry->info(request.model_id()).status());
  pipeline::ClipSpec spec{.model_id = request.model_id(), .start_frame = request.start_frame()};
  ASSIGN_OR_RETURN(spec.sequence, sequence_mode(request.sequence_mode()));
  RETURN_IF_ERROR(pipeline::check_start_frame(spec.start_frame));
  ASSIGN_OR_RETURN(spec.jpeg, output_settings(request.output(), context_.config->output));
  ASSIGN_OR_RETURN(std::vector<float> samples, request_samples(request.audio()));
  return pipeline::plan_clip(std::move(spec), samples, *context_.mel, *context_.encoder,
                             *context_.registry);
}

void NativeService::observe(const pipeline::ClipBatch& batch) {
  http::Metrics& metrics = *context_.metrics;
  metrics.observe_stage_ms("queue", batch.result.queue_ms);
  metrics.observe_stage_ms("prepare", batch.result.timings.prepare_ms);
  metrics.observe_stage_ms("inference", batch.result.timings.inference_ms);
  metrics.observe_stage_ms("composite", batch.result.timings.composite_ms);
}

grpc::Status NativeService::Render(grpc::ServerContext* context, const v1::RenderRequest* request,
                                   v1::RenderResponse* response) {
  const CallInFlight call(context_);
  const auto start = Clock::now();
  Status status = guard("Render failed", [&] { return render(*context, *request, *response); });
  note_request_bytes(context_, request->ByteSizeLong() + response->ByteSizeLong());
  if (context->IsCancelled()) return finish_cancelled("Render");
  response->mutable_timings()->set_total_ms(ms_since(start));
  if (status.ok()) context_.metrics->observe_stage_ms("total", ms_since(start));
  return finish("Render", status);
}

Status NativeService::render(grpc::ServerContext& context, const v1::RenderRequest& request,
                             v1::RenderResponse& response) {
  ASSIGN_OR_RETURN(const pipeline::ClipPlan plan, this->plan(request));
  context_.metrics->observe_stage_ms("audio", plan.audio_ms);
  const std::size_t limit = context_.max_message_bytes;
  if (!plan.spec.jpeg) {  // raw frames: the size is known before rendering
    const std::size_t bytes =
        static_cast<std::size_t>(plan.frame_count()) * plan.model.width * plan.model.height * 3;
    if (bytes + kMessageOverheadBytes > limit) return too_large(bytes, limit, "the response");
  }
  describe(plan, response);
  describe_start(plan, response);
  // Batches still queued when the call ends (cancelled, deadline passed, shutdown grace over)
  // are not rendered: the window cancels them when it goes.
  pipeline::BatchWindow window(*context_.scheduler, plan, context_.config->pipeline);
  std::size_t frame_bytes = 0;  // JPEG sizes are known only as batches finish
  while (!window.done()) {
    if (context.IsCancelled()) return cancelled();  // nothing more is submitted
    ASSIGN_OR_RETURN(const pipeline::ClipBatch batch, window.next());
    observe(batch);
    for (std::size_t k = 0; k < batch.count(); ++k) frame_bytes += batch.frame_bytes(k).size();
    if (frame_bytes + kMessageOverheadBytes > limit)
      return too_large(frame_bytes, limit, "the response");
    add_frames(batch, 0, batch.count(), response);
    add_timings(batch, *response.mutable_timings());
  }
  if (response.ByteSizeLong() > limit)
    return too_large(response.ByteSizeLong(), limit, "the response");
  return {};
}

grpc::Status NativeService::RenderStream(grpc::ServerContext* context,
                                         const v1::RenderRequest* request,
                                         grpc::ServerWriter<v1::RenderResponse>* writer) {
  const CallInFlight call(context_);
  Status status =
      guard("RenderStream failed", [&] { return render_stream(*context, *request, *writer); });
  note_request_bytes(context_, request->ByteSizeLong());  // what it wrote is freed as it goes
  if (context->IsCancelled()) return finish_cancelled("RenderStream");
  return finish("RenderStream", status);
}

Status NativeService::render_stream(grpc::ServerContext& context, const v1::RenderRequest& request,
                                    grpc::ServerWriter<v1::RenderResponse>& writer) {
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(const pipeline::ClipPlan plan, this->plan(request));
  context_.metrics->observe_stage_ms("audio", plan.audio_ms);
  pipeline::BatchWindow window(*context_.scheduler, plan, context_.config->pipeline);
  v1::RenderResponse header;
  describe(plan, header);
  describe_start(plan, header);
  while (!window.done()) {
    if (context.IsCancelled()) return cancelled();  // nothing more is submitted
    ASSIGN_OR_RETURN(const pipeline::ClipBatch batch, window.next());
    observe(batch);
    RETURN_IF_ERROR(write_batch(batch, header, writer, start, context_.max_message_bytes));
  }
  context_.metrics->observe_stage_ms("total", ms_since(start));
  return {};
}

Status NativeService::model(const std::string& model_id, v1::Model& response) const {
  RETURN_IF_ERROR(require_model_id(model_id));
  ASSIGN_OR_RETURN(const registry::ModelInfo info, context_.registry->info(model_id));
  fill_model(info, response);
  return {};
}

grpc::Status NativeService::ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                                       v1::ListModelsResponse* response) {
  const CallInFlight call(context_);
  for (const auto& info : context_.registry->list()) fill_model(info, *response->add_models());
  return finish("ListModels", {});
}

grpc::Status NativeService::GetModel(grpc::ServerContext*, const v1::GetModelRequest* request,
                                     v1::Model* response) {
  const CallInFlight call(context_);
  return finish("GetModel", model(request->model_id(), *response));
}

grpc::Status NativeService::LoadModel(grpc::ServerContext*, const v1::LoadModelRequest* request,
                                      v1::Model* response) {
  const CallInFlight call(context_);
  Status status = guard("LoadModel failed", [&]() -> Status {
    const std::string& id = request->model_id();
    RETURN_IF_ERROR(model(id, *response));  // INVALID_ARGUMENT / NOT_FOUND
    if (Status loaded = context_.registry->load(id); !loaded.ok())
      return pipeline::model_load_failure(loaded, id);
    return model(id, *response);
  });
  return finish("LoadModel", status);
}

grpc::Status NativeService::UnloadModel(grpc::ServerContext*, const v1::UnloadModelRequest* request,
                                        v1::Model* response) {
  const CallInFlight call(context_);
  Status status = guard("UnloadModel failed", [&]() -> Status {
    RETURN_IF_ERROR(model(request->model_id(), *response));
    RETURN_IF_ERROR(context_.registry->unload(request->model_id()));
    return model(request->model_id(), *response);
  });
  return finish("UnloadModel", status);
}

grpc::Status NativeService::Health(grpc::ServerContext*, const v1::HealthRequest*,
                                   v1::HealthResponse* response) {
  const CallInFlight call(context_);
  const bool serving = !context_.stopping->load();
  const auto models = context_.registry->list();
  for (const auto& info : models) {
    if (info.state == registry::ModelState::kFailed) response->add_failed_models(info.model_id);
  }
  response->set_serving(serving);
  response->set_healthy(serving && response->failed_models().empty());
  response->set_ready_models(context_.registry->ready_count());
  response->set_configured_models(static_cast<std::int32_t>(models.size()));
  response->set_max_models(context_.config->capacity.max_models);
  return finish("Health", {});
}

grpc::Status NativeService::finish_cancelled(std::string_view rpc) {
  return finish(rpc, cancelled());
}

grpc::Status NativeService::finish(std::string_view rpc, const Status& status) {
  context_.metrics->count_request(fmt::format("native.{}", rpc), to_string(status.code()));
  context_.gauges->refresh();
  if (status.code() == ErrorCode::kCancelled) {
    LOG_INFO("server", "native {}: cancelled by the client", rpc);
  } else if (!status.ok()) {
    LOG_WARN("server", "native {}: {}", rpc, client_text(status.to_string(), 1024));
  }
  return to_grpc_status(status);
}

}  // namespace lipsync::server
