// The older server's gRPC service, package `monolithic` (compat-api.md), on this project's
// pipeline. Every failure is answered in-band (success=false, error) as older clients expect.
// Module-internal: included by server.cpp only.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "core/cancel_token.h"
#include "core/config.h"
#include "core/thread_pool.h"
#include "http/metrics.h"
#include "imaging/model_geometry.h"
#include "media/jpeg_codec.h"
#include "pipeline/scheduler.h"
#include "proto/monolithic.grpc.pb.h"
#include "registry/model_registry.h"
#include "runtime/gpu_info.h"
#include "server/compat_forwarder.h"
#include "server/service_context.h"

namespace lipsync::server {

// Float32 [6, 320, 320] per frame of visual_frames (pipeline.md §5).
inline constexpr std::size_t kVisualFrameBytes =
    imaging::kSyncTalk328.input_tensor_elements() * sizeof(float);
inline constexpr int kMaxCompatBatch = 32;

// A compat request's inputs, checked without the server's state: the model id's rule,
// batch_size 1..kMaxCompatBatch, visual_frames' length, and finite float32 values in raw_audio,
// audio_features and visual_frames (each may be empty). INVALID_ARGUMENT names the field.
struct CompatInputs {
  std::vector<float> raw_audio;
  std::vector<float> legacy_features;
  std::vector<float> visual_frames;
};
Result<CompatInputs> read_compat_request(const monolithic::CompositeBatchRequest& request);

// The JPEG settings of served frames (config `output`).
media::JpegSettings output_jpeg_settings(const OutputSection& output);

// How served avatars store their backgrounds: for JPEG output, the splicing store with the
// output's settings (only the face's MCUs are encoded per frame); else whole-frame JPEG.
avatar::BackgroundStoreOptions served_background_store(const OutputSection& output);

// Health's gpu_ids and gpu_memory_used_gb (GiB): the devices models are placed on (none on the
// CPU) and, when `info` can read every one of them, their memory in use; else no memory.
struct GpuReport {
  std::vector<std::int32_t> ids;
  std::vector<float> used_gb;
};
GpuReport gpu_report(std::span<const int> devices, const runtime::GpuInfo* info);

class CompatService final : public monolithic::MonolithicService::Service {
 public:
  // forward_to: see ServerOptions::forward_to.
  CompatService(ServiceContext context, const std::string& forward_to);

  grpc::Status InferBatchComposite(grpc::ServerContext* context,
                                   const monolithic::CompositeBatchRequest* request,
                                   monolithic::CompositeBatchResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context,
                          const monolithic::ListModelsRequest* request,
                          monolithic::ListModelsResponse* response) override;
  grpc::Status LoadModel(grpc::ServerContext* context, const monolithic::LoadModelRequest* request,
                         monolithic::LoadModelResponse* response) override;
  grpc::Status UnloadModel(grpc::ServerContext* context,
                           const monolithic::UnloadModelRequest* request,
                           monolithic::UnloadModelResponse* response) override;
  grpc::Status GetModelStats(grpc::ServerContext* context,
                             const monolithic::GetModelStatsRequest* request,
                             monolithic::GetModelStatsResponse* response) override;
  grpc::Status Health(grpc::ServerContext* context, const monolithic::HealthRequest* request,
                      monolithic::HealthResponse* response) override;

 private:
  Status infer(const monolithic::CompositeBatchRequest& request, const CancelSource& cancel,
               monolithic::CompositeBatchResponse& response);
  Status encode_frames(const std::vector<Image>& frames,
                       monolithic::CompositeBatchResponse& response);
  // The device model `model_id` is loaded on; -1 when it is not loaded or runs on the CPU.
  int gpu_id(const std::string& model_id) const;
  // Counts the call under lipsync_requests_total{api="compat.<rpc>", code} and refreshes gauges.
  void count(std::string_view rpc, ErrorCode code);
  // In a cluster (cluster.forward_to), a call for an avatar not loaded here that was not
  // forwarded already goes to the proxy; true when `response` holds the owner's answer.
  bool forwarded_to_owner(grpc::ServerContext& context,
                          const monolithic::CompositeBatchRequest& request,
                          monolithic::CompositeBatchResponse& response);

  ServiceContext context_;
  std::string forward_to_;
  std::unique_ptr<CompatForwarder> forwarder_;  // null outside a cluster
};

}  // namespace lipsync::server
