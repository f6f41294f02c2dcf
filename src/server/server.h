// The lip-sync server: model registry + scheduler + the compat gRPC service (compat-api.md),
// built from a Config, plus HTTP /health/live, /health/ready (after the preloads, while no
// required model has failed) and /metrics on server.http_port (unless server.http_enabled is
// false). Each listens on its configured host (ServerSection::grpc_bind_host / http_bind_host).
// No gRPC types leak out of this header.
//
//   ASSIGN_OR_RETURN(auto server, Server::start(config, {.grpc_port = 0}));
//   LOG_INFO("server", "listening on {}", server->grpc_port());
//   server->wait();  // until shutdown() from another thread
#pragma once

#include <cstddef>
#include <memory>
#include <optional>

#include "core/config.h"
#include "core/status.h"
#include "pipeline/scheduler.h"
#include "registry/model_registry.h"
#include "runtime/gpu_info.h"

namespace lipsync::server {

// A batch of 25 with visual frames is ~61.5 MB (compat-api.md "Transport").
inline constexpr int kMinMessageSizeMb = 64;

struct ServerOptions {
  std::optional<int> grpc_port;  // overrides config.server.grpc_port; 0 = any free port
  // Overrides config.server.http_port and turns HTTP on; 0 = any free port.
  std::optional<int> http_port;
  bool preload = true;  // load models marked preload_model before serving
  // Replaces the LipSyncModel loader (tests wrap it to hold a load); empty: the default.
  registry::Loader loader;
  // Where Health reads GPU memory; empty: NVML (runtime::open_nvml_gpu_info) when models are
  // placed on GPUs.
  std::shared_ptr<const runtime::GpuInfo> gpu_info;
  // In a cluster: the proxy's gRPC address (HOST:PORT) that compat calls for avatars not loaded
  // here are forwarded through (docs/deployment.md); empty: every call is served here.
  std::string forward_to;
};

class Server {
 public:
  // Loads the audio encoder (onnx.audio_encoder_path), registers every configured model,
  // preloads, and listens. A preload failure is logged; the server serves the other models.
  static Result<std::unique_ptr<Server>> start(const Config& config,
                                               const ServerOptions& options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int grpc_port() const;  // the bound port (the chosen one when asked for 0)
  int http_port() const;  // the bound HTTP port; 0 when HTTP is off
  // /health/ready turns 503 at once; new calls are still served for
  // config.server.shutdown_drain_ms, then refused; in-flight calls and WebSockets then
  // get config.server.shutdown_grace_ms to finish, then are cancelled (WebSocket clients get
  // an error message and a close frame with the reason). Returns within the grace plus the
  // batch each cancelled call may still be running, after the drain. Idempotent; callable from
  // any thread.
  void shutdown();
  void wait();  // blocks until shutdown() has finished

  pipeline::Scheduler& scheduler();
  registry::ModelRegistry& registry();
  std::size_t live_sessions() const;  // open live sessions (/ws/live and the Live RPC)

  struct Impl;  // server.cpp

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lipsync::server
