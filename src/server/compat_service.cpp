#include "server/compat_service.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include "core/client_text.h"
#include "core/clock.h"
#include "core/guard.h"
#include "core/log.h"
#include "core/model_id.h"
#include "media/jpeg_codec.h"
#include "pipeline/compat_audio.h"
#include "server/call_cancel.h"
#include "server/grpc_status.h"

namespace lipsync::server {
namespace {

using Clock = std::chrono::steady_clock;

// Little-endian float32 bytes -> finite floats (this project builds for little-endian hosts
// only). NaN or infinity would render a black face and answer success: refused.
Result<std::vector<float>> floats_from_bytes(const std::string& bytes, const char* field) {
  if (bytes.size() % sizeof(float) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} has {} bytes, not a whole number of float32 values", field, bytes.size());
  }
  std::vector<float> values(bytes.size() / sizeof(float));
  if (values.empty()) return values;  // memcpy from an empty string's data() is undefined
  std::memcpy(values.data(), bytes.data(), bytes.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{} holds {} at float {}: every value must be finite", field, values[i], i);
    }
  }
  return values;
}

void answer(const Status& status, monolithic::CompositeBatchResponse& response) {
  response.set_success(status.ok());
  if (!status.ok()) {
    response.clear_composited_frames();
    response.set_error(client_error(status));
  }
}

// The id as logs show it: escaped and short, whatever the client sent.
std::string logged_id(const std::string& model_id) {
  return client_text(model_id, kMaxModelIdBytes);
}

std::int64_t memory_mb(std::int64_t bytes) {
  return (bytes + (1 << 20) - 1) >> 20;
}

}  // namespace

Result<CompatInputs> read_compat_request(const monolithic::CompositeBatchRequest& request) {
  RETURN_IF_ERROR(check_model_id(request.model_id()));
  if (request.batch_size() < 1 || request.batch_size() > kMaxCompatBatch) {
    return make_error(ErrorCode::kInvalidArgument, "batch_size {} outside 1..{}",
                      request.batch_size(), kMaxCompatBatch);
  }
  const std::size_t expected = static_cast<std::size_t>(request.batch_size()) * kVisualFrameBytes;
  if (!request.visual_frames().empty() && request.visual_frames().size() != expected) {
    const imaging::ModelGeometry& g = imaging::kSyncTalk328;
    return make_error(ErrorCode::kInvalidArgument,
                      "visual_frames has {} bytes, expected {} (batch_size {} x {}x{}x{} float32)",
                      request.visual_frames().size(), expected, request.batch_size(),
                      g.input_channels, g.roi_size_px, g.roi_size_px);
  }
  CompatInputs inputs;
  ASSIGN_OR_RETURN(inputs.raw_audio, floats_from_bytes(request.raw_audio(), "raw_audio"));
  ASSIGN_OR_RETURN(inputs.legacy_features,
                   floats_from_bytes(request.audio_features(), "audio_features"));
  ASSIGN_OR_RETURN(inputs.visual_frames,
                   floats_from_bytes(request.visual_frames(), "visual_frames"));
  return inputs;
}

media::JpegSettings output_jpeg_settings(const OutputSection& output) {
  return {output.jpeg_quality, output.chroma_subsampling};
}

avatar::BackgroundStoreOptions served_background_store(const OutputSection& output) {
  // Raw output is the composite itself: the background stays the source's pixels.
  if (output.format != OutputFormat::kJpeg) return {.kind = avatar::BackgroundStoreKind::kRaw};
  const media::JpegSettings settings = output_jpeg_settings(output);
  return {.kind = avatar::BackgroundStoreKind::kJpegSplice,
          .jpeg_quality = settings.quality,
          .jpeg_subsampling = settings.subsampling};
}

CompatService::CompatService(ServiceContext context, const std::string& forward_to)
    : context_(context), forward_to_(forward_to) {
  if (!forward_to.empty()) {
    forwarder_ =
        std::make_unique<CompatForwarder>(forward_to, static_cast<int>(context_.max_message_bytes));
  }
}

bool CompatService::forwarded_to_owner(grpc::ServerContext& context,
                                       const monolithic::CompositeBatchRequest& request,
                                       monolithic::CompositeBatchResponse& response) {
  // A call that came through another replica is served here, whatever the ring says now: a call
  // is forwarded at most once, so two replicas that disagree about ownership cannot loop.
  if (!forwarder_ || CompatForwarder::forwarded(context)) return false;
  // The id is client text: one that breaks the id rule is answered here with the usual error and
  // never becomes a header (metadata values must be printable ASCII).
  if (!check_model_id(request.model_id()).ok()) return false;
  // Loaded or loading here: this replica is (or is becoming) an owner. Unknown ids are
  // answered here too, with the usual error.
  const auto info = context_.registry->info(request.model_id());
  if (!info.ok() || info->state == registry::ModelState::kReady ||
      info->state == registry::ModelState::kLoading)
    return false;
  const grpc::Status status = forwarder_->forward(context, request, &response);
  if (status.ok()) {
    context_.metrics->count_request("compat.InferBatchComposite.forwarded", "OK");
    return true;
  }
  context_.metrics->count_request("compat.InferBatchComposite.forwarded", "FAILED");
  response.Clear();
  // Forwarding only keeps avatars on their owners; when the proxy or the owner cannot take the
  // call (none reachable, the owner died mid-call), this replica serves it, loading the avatar,
  // rather than failing it. A caller that is gone or out of time is not served twice: the local
  // path answers it CANCELLED / DEADLINE_EXCEEDED at once.
  LOG_WARN("server", "forwarding model '{}' to {} failed ({}): serving it here",
           logged_id(request.model_id()), forward_to_, client_text(status.error_message(), 256));
  return false;
}

grpc::Status CompatService::InferBatchComposite(grpc::ServerContext* context,
                                                const monolithic::CompositeBatchRequest* request,
                                                monolithic::CompositeBatchResponse* response) {
  const CallInFlight call(context_);
  if (forwarded_to_owner(*context, *request, *response)) return grpc::Status::OK;
  const auto start = Clock::now();
  const Status status = guard("InferBatchComposite failed", [&] {
    const CancelSource cancel = call_cancel_source(*context);
    return infer(*request, cancel, *response);
  });
  answer(status, *response);
  note_request_bytes(context_, request->ByteSizeLong() + response->ByteSizeLong());
  response->set_total_time_ms(static_cast<float>(ms_since(start)));
  count("InferBatchComposite", status.code());
  if (status.ok()) context_.metrics->observe_stage_ms("total", response->total_time_ms());
  response->set_gpu_id(gpu_id(request->model_id()));
  if (status.code() == ErrorCode::kCancelled) {  // the client is gone: nothing went wrong here
    LOG_INFO("server", "InferBatchComposite model '{}': {}", logged_id(request->model_id()),
             status.message());
    // A gRPC status, not success=false in the body: the server's deadline timer can fire a
    // moment before the client's, and a body would then reach a caller that expects its own
    // deadline to have ended the call.
    const bool out_of_time = std::chrono::system_clock::now() >= context->deadline();
    return grpc::Status(
        out_of_time ? grpc::StatusCode::DEADLINE_EXCEEDED : grpc::StatusCode::CANCELLED,
        status.message());
  }
  if (!status.ok()) {
    LOG_WARN("server", "InferBatchComposite model '{}': {}", logged_id(request->model_id()),
             client_text(status.to_string(), 1024));
  }
  return grpc::Status::OK;
}

Status CompatService::infer(const monolithic::CompositeBatchRequest& request,
                            const CancelSource& cancel,
                            monolithic::CompositeBatchResponse& response) {
  if (context_.stopping->load())
    return make_error(ErrorCode::kUnavailable, "the server is shutting down");
  RETURN_IF_ERROR(check_model_id(request.model_id()));  // before it is looked up
  RETURN_IF_ERROR(context_.registry->info(request.model_id()).status());
  ASSIGN_OR_RETURN(CompatInputs inputs, read_compat_request(request));
  if (cancel.cancelled()) return call_cancelled();
  const auto batch = static_cast<std::size_t>(request.batch_size());

  auto audio_start = Clock::now();
  pipeline::CompatAudio audio{.raw_audio = inputs.raw_audio,
                              .sample_rate_hz = request.sample_rate(),
                              .legacy_features = inputs.legacy_features,
                              .start_frame = request.start_frame_idx(),
                              .frame_count = batch};
  if (request.has_audio_start_frame()) audio.audio_start_frame = request.audio_start_frame();
  // Dropped from the queue once the call is gone (deadline, client, shutdown): wait_unless_gone.
  const auto flag = std::make_shared<pipeline::CancelFlag>();
  pipeline::RenderRequest render{
      .model_id = request.model_id(), .wrap_source_frames = true, .cancel = flag};
  const OutputSection& output = context_.config->output;
  // JPEG output is encoded by the renderer: spliced into the stored background when it can.
  if (output.format == OutputFormat::kJpeg) render.jpeg = output_jpeg_settings(output);
  ASSIGN_OR_RETURN(render.audio,
                   pipeline::compat_frame_tensors(audio, *context_.mel, *context_.encoder));
  response.set_audio_processing_ms(static_cast<float>(ms_since(audio_start)));
  context_.metrics->observe_stage_ms("audio", response.audio_processing_ms());

  for (std::size_t i = 0; i < batch; ++i)
    render.source_frames.push_back(request.start_frame_idx() + static_cast<std::int64_t>(i));
  render.image_tensors = std::move(inputs.visual_frames);
  ASSIGN_OR_RETURN(pipeline::RenderResult result,
                   wait_unless_gone(context_.scheduler->submit(std::move(render)), cancel,
                                    *context_.scheduler, flag));
  response.set_inference_time_ms(static_cast<float>(result.timings.inference_ms));
  response.set_model_loaded(result.model_loaded);
  response.set_model_load_time_ms(static_cast<float>(result.model_load_ms));

  context_.metrics->observe_stage_ms("queue", result.queue_ms);
  context_.metrics->observe_stage_ms("prepare", result.timings.prepare_ms);
  context_.metrics->observe_stage_ms("inference", result.timings.inference_ms);
  context_.metrics->observe_stage_ms("composite", result.timings.composite_ms);
  const auto encode_start = Clock::now();
  for (auto& jpeg : result.jpegs)
    response.add_composited_frames(reinterpret_cast<const char*>(jpeg.data()), jpeg.size());
  RETURN_IF_ERROR(encode_frames(result.frames, response));
  context_.metrics->observe_stage_ms("encode", ms_since(encode_start));
  response.set_composite_time_ms(
      static_cast<float>(result.timings.composite_ms + ms_since(encode_start)));
  return {};
}

Status CompatService::encode_frames(const std::vector<Image>& frames,
                                    monolithic::CompositeBatchResponse& response) {
  const OutputSection& output = context_.config->output;
  std::vector<std::string> encoded(frames.size());
  std::vector<Status> statuses(frames.size());
  auto encode_one = [&](std::size_t i) {
    const ImageView view = frames[i].view();
    if (output.format == OutputFormat::kRaw) {  // tightly packed BGR rows
      std::string& bytes = encoded[i];
      const std::size_t row = static_cast<std::size_t>(view.width) * 3;
      for (int y = 0; y < view.height; ++y)
        bytes.append(reinterpret_cast<const char*>(view.row(y)), row);
      return;
    }
    auto jpeg = media::encode_jpeg(view, output_jpeg_settings(output));
    if (!jpeg.ok()) {
      statuses[i] = jpeg.status();
      return;
    }
    encoded[i].assign(reinterpret_cast<const char*>(jpeg->data()), jpeg->size());
  };
  if (context_.pool != nullptr) {
    context_.pool->parallel_for(frames.size(), encode_one);
  } else {
    for (std::size_t i = 0; i < frames.size(); ++i) encode_one(i);
  }
  for (const auto& status : statuses) RETURN_IF_ERROR(status);
  for (auto& bytes : encoded) response.add_composited_frames(std::move(bytes));
  return {};
}

// The fields ModelInfo (ListModels) and ModelStats (GetModelStats) share.
template <typename Message>
void fill_model_fields(Message& model, const registry::ModelInfo& info) {
  model.set_model_id(info.model_id);
  model.set_loaded(info.state == registry::ModelState::kReady);
  model.set_gpu_id(info.state == registry::ModelState::kReady ? info.gpu_id : -1);
  model.set_memory_mb(memory_mb(info.stats.memory_bytes));
  model.set_request_count(static_cast<std::int32_t>(info.stats.requests));
  model.set_avg_inference_ms(static_cast<float>(info.stats.mean_inference_ms));
}

grpc::Status CompatService::ListModels(grpc::ServerContext*, const monolithic::ListModelsRequest*,
                                       monolithic::ListModelsResponse* response) {
  const CallInFlight call(context_);
  for (const auto& info : context_.registry->list()) {
    fill_model_fields(*response->add_models(), info);
  }
  count("ListModels", ErrorCode::kOk);
  return grpc::Status::OK;
}

grpc::Status CompatService::GetModelStats(grpc::ServerContext*,
                                          const monolithic::GetModelStatsRequest*,
                                          monolithic::GetModelStatsResponse* response) {
  const CallInFlight call(context_);
  for (const auto& info : context_.registry->list()) {
    auto* model = response->add_models();
    fill_model_fields(*model, info);
    model->set_total_inference_ms(std::llround(info.stats.total_inference_ms));
    model->set_last_used_timestamp(info.stats.last_used_unix_s);
  }
  count("GetModelStats", ErrorCode::kOk);
  return grpc::Status::OK;
}

grpc::Status CompatService::LoadModel(grpc::ServerContext*,
                                      const monolithic::LoadModelRequest* request,
                                      monolithic::LoadModelResponse* response) {
  const CallInFlight call(context_);
  const auto start = Clock::now();
  if (Status valid = check_model_id(request->model_id()); !valid.ok()) {
    response->set_error(client_error(valid));
    count("LoadModel", valid.code());
    return grpc::Status::OK;
  }
  const auto before = context_.registry->info(request->model_id());
  // An absent preferred_gpu is automatic (the older server read it as GPU 0); so is -1.
  std::optional<int> preferred;
  if (request->has_preferred_gpu() && request->preferred_gpu() >= 0)
    preferred = request->preferred_gpu();
  Status status =
      before.ok() ? context_.registry->load(request->model_id(), preferred) : before.status();
  const bool already = before.ok() && before->state == registry::ModelState::kReady;
  response->set_success(status.ok());
  if (!status.ok()) response->set_error(client_error(status));
  response->set_gpu_id(gpu_id(request->model_id()));
  response->set_load_time_ms(status.ok() && !already ? static_cast<float>(ms_since(start)) : 0.0f);
  count("LoadModel", status.code());
  return grpc::Status::OK;
}

grpc::Status CompatService::UnloadModel(grpc::ServerContext*,
                                        const monolithic::UnloadModelRequest* request,
                                        monolithic::UnloadModelResponse* response) {
  const CallInFlight call(context_);
  Status status = check_model_id(request->model_id());
  if (status.ok()) status = context_.registry->unload(request->model_id());
  response->set_success(status.ok());
  if (!status.ok()) response->set_error(client_error(status));
  count("UnloadModel", status.code());
  return grpc::Status::OK;
}

grpc::Status CompatService::Health(grpc::ServerContext*, const monolithic::HealthRequest*,
                                   monolithic::HealthResponse* response) {
  const CallInFlight call(context_);
  // Healthy: serving, and no configured model stuck in a failed load.
  bool healthy = !context_.stopping->load();
  for (const auto& info : context_.registry->list()) {
    if (info.state == registry::ModelState::kFailed) healthy = false;
  }
  response->set_healthy(healthy);
  response->set_loaded_models(context_.registry->ready_count());
  response->set_max_models(context_.config->capacity.max_models);
  const GpuReport gpus = gpu_report(context_.registry->gpu_placement().devices, context_.gpu_info);
  for (std::int32_t id : gpus.ids) response->add_gpu_ids(id);
  for (float gb : gpus.used_gb) response->add_gpu_memory_used_gb(gb);
  count("Health", ErrorCode::kOk);
  return grpc::Status::OK;
}

void CompatService::count(std::string_view rpc, ErrorCode code) {
  context_.metrics->count_request(fmt::format("compat.{}", rpc), to_string(code));
  context_.gauges->refresh();
}

GpuReport gpu_report(std::span<const int> devices, const runtime::GpuInfo* info) {
  GpuReport report;
  report.ids.assign(devices.begin(), devices.end());
  if (info == nullptr) return report;
  const std::vector<runtime::GpuMemory> memory = info->memory(devices);
  if (memory.size() != devices.size()) return report;  // partial lists would not line up
  constexpr double kBytesPerGb = 1024.0 * 1024.0 * 1024.0;
  for (const auto& m : memory)
    report.used_gb.push_back(static_cast<float>(m.used_bytes / kBytesPerGb));
  return report;
}

int CompatService::gpu_id(const std::string& model_id) const {
  if (!check_model_id(model_id).ok()) return -1;  // not looked up: the id may be megabytes
  const auto info = context_.registry->info(model_id);
  return info.ok() && info->state == registry::ModelState::kReady ? info->gpu_id : -1;
}

}  // namespace lipsync::server
