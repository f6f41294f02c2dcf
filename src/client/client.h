// A compat-API client (compat-api.md) that sends InferBatchComposite requests the way the older
// clients did, or a native-API client (lipsync.v1) that sends the clip's audio only (Render,
// RenderStream, or Session in chunks), from N concurrent workers, and reports per-stage timings,
// latency percentiles and throughput: the engine of `lipsync client` (an end-to-end test and load
// tool). No gRPC types leak out of this header.
//
//   ASSIGN_OR_RETURN(auto samples, audio::load_audio("speech.wav"));
//   ASSIGN_OR_RETURN(ClientReport report, run_client(samples, {.server = "localhost:50053",
//                                                             .model_id = "demo"}));
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "avatar/avatar.h"
#include "core/status.h"
#include "core/timeline.h"

namespace lipsync::client {

enum class ClientApi {
  kCompat,         // InferBatchComposite, batch_size frames per request
  kNative,         // lipsync.v1 Render: the whole clip per request, audio only
  kNativeStream,   // lipsync.v1 RenderStream: the same, frames streamed back as batches finish
  kNativeSession,  // lipsync.v1 Session: the clip's PCM in chunks, frames back as audio arrives
};

struct ClientOptions {
  ClientApi api = ClientApi::kCompat;
  std::string server;    // host:port
  std::string model_id;  // the server's model id
  int batch_size = 25;   // frames per request (1..32)
  int concurrency = 1;   // workers, each with one request in flight
  int requests = 1;      // in total, over all workers
  int start_frame = 0;   // request r starts at start_frame + r * batch_size
  // When set, requests carry visual_frames built from this avatar (older clients' behaviour).
  std::shared_ptr<const avatar::Avatar> avatar;
  std::filesystem::path save_dir;   // when set, frames go to save_dir/frame_%06d.jpg
  int connect_timeout_ms = 5000;    // waiting for the first connection
  int request_timeout_ms = 120000;  // each request's gRPC deadline
  std::size_t max_errors_kept = 5;  // first error messages kept in the report
  // Native: when set, sent as audio.encoded (the server decodes it, e.g. a WAV file's bytes);
  // else the clip is sent as 16 kHz float PCM. Native requests render the whole clip, ping-pong
  // from start_frame, as JPEG; batch_size is the compat API's only.
  std::string encoded_audio;
  // Session: PCM chunks of chunk_ms; with `realtime`, each chunk is sent when its audio would
  // have been recorded (the clip is paced at 1x, as a live microphone); else all at once.
  int chunk_ms = 40;
  bool realtime = false;
  // A gRPC service config (JSON text, e.g. deploy/grpc/service_config.json's retryPolicy); empty:
  // gRPC's defaults (no retries).
  std::string service_config_json;
};

// Stage times of one successful request, as the server reported them.
struct StageTimes {
  double inference_ms = 0;
  double composite_ms = 0;
  double audio_processing_ms = 0;
  double total_ms = 0;
};

// The server's stage times of a streamed call's first message (the one carrying its first
// frames): where the time to the first frame went. p50 over the successful calls in a report.
struct FirstMessageStages {
  double audio_ms = 0;      // mel and audio encoder of every chunk until then (Session)
  double queue_ms = 0;      // waiting in the executor's queue for a batch
  double prepare_ms = 0;    // the UNet inputs of its batch
  double inference_ms = 0;  // the UNet run of its batch
  double composite_ms = 0;  // pasting and JPEG of its batch
  double total_ms = 0;      // from the call's arrival at the server to the message
};

struct ClientReport {
  int requests = 0;
  int succeeded = 0;
  int failed = 0;
  long long frames = 0;        // frames returned by successful requests
  double wall_s = 0;           // first send to last answer
  double frames_per_s = 0;     // frames / wall_s
  StageTimes mean_stage;       // server-side, mean over successful requests
  double latency_mean_ms = 0;  // client-side, successful requests
  double latency_p50_ms = 0;
  double latency_p95_ms = 0;
  double latency_p99_ms = 0;
  // RenderStream and Session: client-side time to the first frames, over successful requests.
  double first_frame_p50_ms = 0;
  double first_frame_p95_ms = 0;
  FirstMessageStages first_message_p50;  // RenderStream and Session
  // Session with `realtime` (the real-time capacity benchmark): each frame's lateness
  // (frame_lateness_ms), percentiles over every frame of the successful sessions.
  std::int64_t lateness_frames = 0;
  double lateness_p50_ms = 0;
  double lateness_p95_ms = 0;
  double lateness_p99_ms = 0;
  double lateness_max_ms = 0;
  int sessions_kept_pace = 0;  // successful sessions whose own p99 lateness <= kKeptPaceLatenessMs
  std::vector<std::string> errors;  // the first max_errors_kept, "request R (start S): ..."
};

// The model's fixed look-ahead (pipeline.md §3): frame i needs audio up to 7240 samples past its
// start, 452.5 ms at 16 kHz.
inline constexpr double kModelLookaheadMs =
    static_cast<double>(timeline::kLookaheadSamples) * 1000.0 / timeline::kSampleRateHz;
// A paced session keeps pace when the p99 of its frames' lateness is at most this.
inline constexpr double kKeptPaceLatenessMs = 150.0;

// A paced Session frame's lateness: when it `arrived` minus when the message carrying the first
// sample of its own 40 ms of audio was sent, minus the model's look-ahead. `sent_ms[m]` is when
// message m was sent (message 0: the start; message m >= 1 holds samples
// [(m-1)·chunk_samples, m·chunk_samples)), on the clock of `arrived_ms`. A server that answers
// at once gives about -chunk..0 ms.
double frame_lateness_ms(std::int64_t frame, double arrived_ms, std::span<const double> sent_ms,
                         std::size_t chunk_samples);

// Lateness percentiles over every frame of `sessions` (each a session's frames' lateness) and
// how many sessions kept pace (their own p99 <= kKeptPaceLatenessMs), into `report`.
void summarize_lateness(const std::vector<std::vector<double>>& sessions, ClientReport& report);

// Sends options.requests requests and gathers the report. Fails (kUnavailable, naming the
// address) when the server cannot be reached within connect_timeout_ms, on bad options, and when
// every request failed (with the server's first error message, e.g. an unknown model).
Result<ClientReport> run_client(std::span<const float> clip, const ClientOptions& options);

}  // namespace lipsync::client
