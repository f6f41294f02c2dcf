// Typed server configuration, loaded from YAML. Accepts the older Go server's keys
// (compat-api.md "Configuration") plus this project's own. Units are in the names.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/image.h"
#include "core/status.h"

namespace lipsync {

enum class GpuAssignment { kRoundRobin, kLeastLoaded };
enum class EvictionPolicy { kLru, kLfu };
enum class OutputFormat { kJpeg, kRaw };
enum class ExecutionProvider { kCpu, kCuda };

// Ports: 0 = any free port (the bound one is logged), for both servers, here and on the
// command line. HTTP is turned off by http_enabled alone.
struct ServerSection {
  std::string listen_host = "0.0.0.0";  // `server.host`: where both listen unless told apart
  std::string grpc_host;                // the HOST of `server.port` "HOST:PORT"; empty: listen_host
  int grpc_port = 50053;                // `server.port`
  bool http_enabled = true;             // `server.http_enabled`
  std::string http_host;                // the HOST of `server.http_port`; empty: listen_host
  int http_port = 8080;                 // `server.http_port`
  int max_message_size_mb = 100;        // at least 64: a batch of 25 with visual frames is ~61.5 MB
  // Limits of the HTTP/WebSocket port (docs/security.md). An HTTP request (or a keep-alive
  // connection's next one) must arrive within http_request_timeout_ms; a WebSocket's first
  // message within ws_first_message_timeout_ms of the upgrade; a WebSocket with no message
  // either way for ws_idle_timeout_ms is closed.
  int http_request_timeout_ms = 30'000;
  int ws_first_message_timeout_ms = 10'000;
  int ws_idle_timeout_ms = 60'000;
  int max_websocket_connections = 32;   // open at once; more are answered 503
  int max_connections_per_client = 16;  // HTTP + WebSocket per remote address; 0 = no limit
  // SIGTERM: /health/ready answers 503 at once; calls are still accepted for drain ms (a
  // proxy's checks see the 503 and stop sending), then in-flight calls get grace ms to finish,
  // then are cancelled (WebSocket clients get a close frame with the reason).
  int shutdown_drain_ms = 0;
  int shutdown_grace_ms = 5'000;

  const std::string& grpc_bind_host() const { return grpc_host.empty() ? listen_host : grpc_host; }
  const std::string& http_bind_host() const { return http_host.empty() ? listen_host : http_host; }
};

// With onnx.execution_provider cuda, each model load is placed on one of the devices
// 0..count-1 (count 0: onnx.device_id alone). Ignored, with a warning, on the CPU.
struct GpuSection {
  int count = 0;
  GpuAssignment assignment_strategy = GpuAssignment::kRoundRobin;  // or fewest models per device
};

struct CapacitySection {
  int max_models = 8;          // loaded at once; beyond, one is evicted by eviction_policy
  double max_memory_gb = 0.0;  // host memory budget for models + avatar caches; 0 = none
  EvictionPolicy eviction_policy = EvictionPolicy::kLru;  // lfu: fewest acquires, then LRU
  int idle_timeout_minutes = 0;  // unload models idle (and not in use) this long; 0 = never
  // A load over max_memory_gb because evicted models are still in use waits this long for
  // them to be released, then fails with RESOURCE_EXHAUSTED.
  int drain_wait_ms = 5000;
};

struct RuntimeSection {
  ExecutionProvider execution_provider = ExecutionProvider::kCpu;
  int intra_op_threads = 0;                  // `onnx.intra_op_threads`; 0 = ORT default
  int device_id = 0;                         // CUDA device when execution_provider is cuda
  std::filesystem::path cuda_ep_library;     // default: beside libonnxruntime.so
  bool cuda_nhwc = true;                     // `onnx.cuda_nhwc`: NHWC convolutions on CUDA
  bool cuda_graph = false;                   // `onnx.cuda_graph`: UNet runs replay CUDA graphs
  bool cuda_share_sessions = false;          // `onnx.cuda_share_sessions` (docs/gpu.md)
  bool cuda_reserve_run_memory = true;       // `onnx.cuda_reserve_run_memory` (docs/gpu.md)
  std::vector<std::string> cuda_options;     // `onnx.cuda_options`: KEY=VALUE CUDA EP options
  std::filesystem::path audio_encoder_path;  // shared by all avatars
};

// pipeline.max_batch when the configuration does not set it. On the CPU the full UNet's memory
// grows with the batch (peak resident 0.50 GB at batch 1, 1.53 GB at 4, 2.90 GB at 8, ~10 GB at
// 25) while a frame costs about the same from batch 1 up (docs/performance.md); batch 4 keeps it
// within ~2.5 GB.
inline constexpr int kCudaDefaultMaxBatch = 25;
inline constexpr int kCpuDefaultMaxBatch = 4;

struct PipelineSection {
  int max_batch = kCudaDefaultMaxBatch;  // frames per UNet run (unset, CPU: kCpuDefaultMaxBatch)
  int max_queue_delay_ms = 5;            // wait this long to fill a batch from other requests
  int max_queue_depth = 64;              // pending requests per model before RESOURCE_EXHAUSTED
  // CUDA: the batch sizes a device runs (a batch runs at the smallest that holds it), each an
  // ORT session of its own, warmed at load; max_batch is always one. Empty: 1, 2, 4, 8, 16, 25,
  // 32 (pipeline::kCudaBatchSizes).
  std::vector<int> cuda_batch_sizes;
};

struct OutputSection {
  OutputFormat format = OutputFormat::kJpeg;
  int jpeg_quality = 75;
  ChromaSubsampling chroma_subsampling = ChromaSubsampling::k420;
};

// WebRTC output of live sessions (docs/api.md "WebRTC"): ICE servers and the local UDP ports.
struct WebRtcSection {
  bool enabled = true;                    // off: offers are answered with an error
  std::vector<std::string> stun_servers;  // "stun://host:port"; peers use the first that answers
  std::vector<std::string> turn_servers;  // "turn://user:password@host:port", turns://
  int min_port = 0;                       // local UDP ports for ICE; 0: any
  int max_port = 0;                       // 0: 65535
  int max_peers = 16;                     // WebRTC viewers at once (each encodes H.264 on the CPU)
};

// Live sessions (docs/api.md "Live").
struct LiveSection {
  // Frames are submitted for rendering this many frame periods (40 ms) before they are due:
  // the renderer's time per frame, and part of speech-to-mouth (live::LiveOptions::lead_frames).
  int lead_frames = 2;
  // The most a new utterance's first frame waits for audio that came late in the last
  // utterances (live::LiveOptions::max_jitter_buffer); 0: never.
  int max_jitter_buffer_ms = 200;
};

struct ModelConfig {
  std::string model_id;
  std::filesystem::path model_path;       // UNet ONNX
  std::filesystem::path background_dir;   // folder of source frames (may be empty)
  std::filesystem::path source_video;     // decoded when background_dir has no frames
  std::filesystem::path crop_rects_path;  // crop_rects.json, crop_rectangles.json or .lms folder
  int num_frames = 0;                     // only the first N frames (and rects); 0 = all
  // Load a video not at 25 fps, or rects crossing the frame border, as they are (refused
  // otherwise: avatar::AvatarSource).
  bool accept_any_fps = false;
  bool accept_rects_outside_frame = false;
  // Load this model (its backgrounds are part of it) at start, as preload_model does.
  bool preload_backgrounds = false;
  bool preload_model = false;
  std::optional<int> preferred_gpu;  // absent or -1 = automatic (gpus.assignment_strategy)
  // /health/ready answers 503 while a required model has failed to load. When the file does
  // not say: the models loaded at start (preload_model or preload_backgrounds).
  bool required = false;
};

struct Config {
  std::filesystem::path source_file;  // where it was loaded from (empty if built in code)
  std::filesystem::path models_root;
  ServerSection server;
  GpuSection gpus;
  CapacitySection capacity;
  RuntimeSection runtime;
  PipelineSection pipeline;
  OutputSection output;
  WebRtcSection webrtc;
  LiveSection live;
  std::map<std::string, ModelConfig> models;
  std::vector<std::string> warnings;  // unknown keys etc., one line each
};

// Loads and validates; errors name the file, the key and the problem.
Result<Config> load_config(const std::filesystem::path& path);
Result<Config> parse_config(const std::string& yaml_text, const std::filesystem::path& origin);

}  // namespace lipsync
