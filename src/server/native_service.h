// The native gRPC service, package `lipsync.v1` (proto/lipsync_v1.proto): clients send audio
// only (float32 PCM at any rate, or an encoded file) and get the clip's frames, rendered from the
// server's avatar exactly as the offline pipeline renders them, or stream live audio into a
// Session and get frames as soon as their audio has arrived, or watch and talk to a live avatar
// (Live: the LiveHub's sessions, as /ws/live; native_live.cpp); plus model management and health.
// Errors are gRPC status codes, mapped once from the core ErrorCode (grpc_status.h).
// Module-internal: included by server.cpp only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "audio/audio_decoder.h"
#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "audio/streaming_extractor.h"
#include "core/config.h"
#include "http/metrics.h"
#include "pipeline/batch_window.h"
#include "pipeline/clip_plan.h"
#include "pipeline/scheduler.h"
#include "proto/lipsync_v1.grpc.pb.h"
#include "registry/model_registry.h"
#include "server/compat_service.h"
#include "server/live_hub.h"
#include "server/native_request.h"

namespace lipsync::server {

class SessionInbox;  // native_session.cpp

// A live session (Session RPC): what it renders and its audio front-end.
struct LiveSession {
  pipeline::ClipSpec spec;
  pipeline::ClipModel model;
  std::optional<audio::PcmStreamConverter> converter;  // unset: 16 kHz mono, used as is
  std::unique_ptr<audio::StreamingFeatureExtractor> extractor;
  std::vector<audio::FrameTensor> ready;  // emitted by the extractor, not yet rendered
  double audio_ms = 0;                    // spent on audio since the last message written
  // When the oldest audio the worker took was read: its frames are due one frame period later.
  pipeline::TimePoint audio_arrived;
};

class NativeService final : public lipsync::v1::LipSync::Service {
 public:
  NativeService(ServiceContext context, LiveHub& live) : context_(context), live_(live) {}

  grpc::Status Render(grpc::ServerContext* context, const v1::RenderRequest* request,
                      v1::RenderResponse* response) override;
  grpc::Status RenderStream(grpc::ServerContext* context, const v1::RenderRequest* request,
                            grpc::ServerWriter<v1::RenderResponse>* writer) override;
  grpc::Status Session(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::RenderResponse, v1::SessionRequest>* stream) override;
  grpc::Status Live(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::LiveEvent, v1::LiveRequest>* stream) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status GetModel(grpc::ServerContext* context, const v1::GetModelRequest* request,
                        v1::Model* response) override;
  grpc::Status LoadModel(grpc::ServerContext* context, const v1::LoadModelRequest* request,
                         v1::Model* response) override;
  grpc::Status UnloadModel(grpc::ServerContext* context, const v1::UnloadModelRequest* request,
                           v1::Model* response) override;
  grpc::Status Health(grpc::ServerContext* context, const v1::HealthRequest* request,
                      v1::HealthResponse* response) override;

 private:
  Result<pipeline::ClipPlan> plan(const v1::RenderRequest& request);
  Status render(grpc::ServerContext& context, const v1::RenderRequest& request,
                v1::RenderResponse& response);
  Status render_stream(grpc::ServerContext& context, const v1::RenderRequest& request,
                       grpc::ServerWriter<v1::RenderResponse>& writer);
  // The Session RPC (native_session.cpp): the call's thread reads, a worker renders.
  Status session(grpc::ServerContext& context,
                 grpc::ServerReaderWriter<v1::RenderResponse, v1::SessionRequest>& stream);
  Result<LiveSession> start_session(const v1::SessionRequest& first);
  Status read_session(LiveSession& live, v1::SessionRequest& message, SessionInbox& inbox,
                      grpc::ServerReaderWriter<v1::RenderResponse, v1::SessionRequest>& stream);
  Status render_session(grpc::ServerContext& context, LiveSession& live, SessionInbox& inbox,
                        grpc::ServerReaderWriter<v1::RenderResponse, v1::SessionRequest>& stream,
                        std::chrono::steady_clock::time_point start);
  Status render_ready(grpc::ServerContext& context, LiveSession& live, v1::RenderResponse& header,
                      grpc::ServerReaderWriter<v1::RenderResponse, v1::SessionRequest>& stream,
                      std::chrono::steady_clock::time_point start);
  Status live(grpc::ServerContext& context,
              grpc::ServerReaderWriter<v1::LiveEvent, v1::LiveRequest>& stream);
  Status model(const std::string& model_id, v1::Model& response) const;
  void observe(const pipeline::ClipBatch& batch);
  // Counts the call under lipsync_requests_total{api="native.<rpc>", code}; returns its status.
  grpc::Status finish(std::string_view rpc, const Status& status);
  grpc::Status finish_cancelled(std::string_view rpc);

  ServiceContext context_;
  LiveHub& live_;
};

}  // namespace lipsync::server
