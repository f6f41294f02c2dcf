#include "server/server.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "core/thread_pool.h"
#include "http/http_server.h"
#include "http/metrics.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/onnx_feature_encoder.h"
#include "runtime/gpu_info.h"
#include "server/compat_service.h"
#include "server/live_hub.h"
#include "server/native_service.h"
#include "server/web_live.h"
#include "server/web_render.h"

namespace lipsync::server {

struct Server::Impl {
  Config config;
  // Freed memory of large requests goes back to the system (core/memory_trim.h).
  MemoryTrimmer trimmer{std::chrono::seconds(2)};
  std::unique_ptr<audio::MelAnalyzer> mel;
  std::unique_ptr<pipeline::OnnxFeatureEncoder> encoder;
  std::unique_ptr<registry::ModelRegistry> registry;
  std::shared_ptr<const runtime::GpuInfo> gpu_info;  // Health's GPU memory (NVML)
  http::Metrics metrics;
  std::unique_ptr<RegistryGauges> gauges;
  std::atomic<bool> ready{false};  // preloads done, gRPC listening
  std::unique_ptr<http::HttpServer> http;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<pipeline::Scheduler> scheduler;
  // Live sessions (/ws/live and the native Live RPC); closed before the scheduler.
  std::unique_ptr<LiveHub> live;
  std::atomic<bool> shutdown_started{false};  // shutdown()'s once-guard
  std::atomic<bool> stopping{false};          // the drain is over: new calls are refused
  CallCounter calls;                          // gRPC handlers running (CallInFlight)
  std::unique_ptr<CompatService> compat;
  std::unique_ptr<NativeService> native;
  std::unique_ptr<grpc::Server> grpc_server;
  int port = 0;
  int http_port = 0;

  std::mutex mutex;
  std::condition_variable stopped_cv;
  bool stopped = false;
};

namespace {

// How often models idle for capacity.idle_timeout_minutes are looked for.
constexpr std::chrono::seconds kIdleSweepPeriod{30};

// "127.0.0.1:50053", "[::1]:50053": gRPC's address form, and what the logs show.
std::string host_port(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

// /health/ready: serving (preloads done, not shutting down) and no required model failed.
bool ready(const Server::Impl& impl) {
  if (!impl.ready.load() || impl.shutdown_started.load()) return false;
  for (const auto& info : impl.registry->list()) {
    if (info.state != registry::ModelState::kFailed) continue;
    const auto model = impl.config.models.find(info.model_id);
    if (model != impl.config.models.end() && model->second.required) return false;
  }
  return true;
}

http::ConnectionLimits connection_limits(const ServerSection& server) {
  using std::chrono::milliseconds;
  return {.request_timeout = milliseconds(server.http_request_timeout_ms),
          .first_message_timeout = milliseconds(server.ws_first_message_timeout_ms),
          .idle_timeout = milliseconds(server.ws_idle_timeout_ms),
          .max_websockets = static_cast<std::size_t>(server.max_websocket_connections),
          .max_per_client = static_cast<std::size_t>(server.max_connections_per_client)};
}

ServiceContext service_context(Server::Impl& impl) {
  return {.config = &impl.config,
          .registry = impl.registry.get(),
          .scheduler = impl.scheduler.get(),
          .mel = impl.mel.get(),
          // Batched across every caller on the executor of the encoder's device.
          .encoder = impl.scheduler->encoder(),
          .pool = impl.pool.get(),
          .stopping = &impl.stopping,
          .calls = &impl.calls,
          .metrics = &impl.metrics,
          .gauges = impl.gauges.get(),
          .gpu_info = impl.gpu_info.get(),
          .max_message_bytes = 0,
          .trimmer = &impl.trimmer};
}

Status start_http(Server::Impl& impl, const ServerOptions& options) {
  const ServerSection& server = impl.config.server;
  if (!options.http_port.has_value() && !server.http_enabled) return {};
  const int port = options.http_port.value_or(server.http_port);
  http::Routes routes = http::standard_routes(impl.metrics, [&impl] { return ready(impl); });
  http::Handler metrics_page = routes.at("/metrics");
  routes["/metrics"] = [&impl, metrics_page](const http::HttpRequest& request) {
    impl.gauges->refresh();
    return metrics_page(request);
  };
  http::WebSocketRoutes websockets;  // the browser page: GET /, /api/models, /ws/render, /ws/live
  add_web_routes(service_context(impl), routes, websockets);
  RETURN_IF_ERROR(add_live_routes(service_context(impl), *impl.live, websockets));
  ASSIGN_OR_RETURN(impl.http,
                   http::HttpServer::start(server.http_bind_host(), port, std::move(routes),
                                           std::move(websockets), connection_limits(server)));
  impl.http_port = impl.http->port();
  LOG_INFO("server",
           "HTTP / (web page), /ws/render, /ws/live, /health/live, /health/ready, /metrics on {}",
           host_port(server.http_bind_host(), impl.http_port));
  return {};
}

Status build_pipeline(Server::Impl& impl, const ServerOptions& options) {
  const Config& config = impl.config;
  if (config.runtime.audio_encoder_path.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: onnx.audio_encoder_path is required to serve",
                      config.source_file.string());
  }
  const auto sessions = runtime::session_options_from(config.runtime);
  ASSIGN_OR_RETURN(impl.mel, audio::MelAnalyzer::create());
  ASSIGN_OR_RETURN(impl.encoder, pipeline::OnnxFeatureEncoder::create(
                                     config.runtime.audio_encoder_path, sessions));
  // The UNets of one architecture share ORT sessions per device; the encoder is one model.
  runtime::SessionOptions unet_sessions = sessions;
  unet_sessions.share_architecture =
      sessions.provider == ExecutionProvider::kCuda && config.runtime.cuda_share_sessions;
  const registry::GpuPlacement placement = registry::gpu_placement_from(config);
  // A model is warmed up on its loading thread, at the executor's batch sizes.
  const std::vector<int> warm_sizes =
      pipeline::executor_options(config.pipeline, !placement.devices.empty()).batch_sizes;
  impl.registry = std::make_unique<registry::ModelRegistry>(
      config.capacity,
      options.loader ? options.loader
                     : pipeline::lipsync_model_loader(
                           {.session = unet_sessions,
                            .avatar = {.background = served_background_store(config.output)},
                            .warm_up_batch_sizes = warm_sizes,
                            .reserve_run_memory = config.runtime.cuda_reserve_run_memory}),
      registry::UnixClock{}, placement);
  RETURN_IF_ERROR(impl.registry->add_models(config));
  impl.registry->start_idle_sweeper(kIdleSweepPeriod);
  impl.gpu_info = options.gpu_info;
  if (impl.gpu_info == nullptr && !impl.registry->gpu_placement().devices.empty())
    impl.gpu_info = runtime::open_nvml_gpu_info();  // a CPU server reports no GPU
  impl.gauges = std::make_unique<RegistryGauges>(*impl.registry, impl.metrics);
  impl.pool = std::make_unique<ThreadPool>();
  http::Metrics& metrics = impl.metrics;
  impl.scheduler = std::make_unique<pipeline::Scheduler>(
      *impl.registry, config.pipeline, impl.pool.get(),
      [&metrics](const std::string& model_id, int frames, int queue_depth) {
        metrics.observe_batch_size(frames);
        metrics.set_queue_depth(model_id, queue_depth);
      },
      impl.encoder.get(), sessions.provider == ExecutionProvider::kCuda ? sessions.device_id : -1);
  impl.live = std::make_unique<LiveHub>(service_context(impl));
  RETURN_IF_ERROR(start_http(impl, options));  // /health/ready says 503 until preloads finish
  if (options.preload) {
    Status preload = impl.registry->preload();
    if (!preload.ok()) LOG_ERROR("server", "preload: {}", preload.to_string());
  }
  return {};
}

Status listen(Server::Impl& impl, const ServerOptions& options) {
  const Config& config = impl.config;
  const int port = options.grpc_port.value_or(config.server.grpc_port);
  const std::string address = host_port(config.server.grpc_bind_host(), port);
  const int max_bytes = std::max(kMinMessageSizeMb, config.server.max_message_size_mb) * (1 << 20);
  ServiceContext context = service_context(impl);
  context.max_message_bytes = static_cast<std::size_t>(max_bytes);
  impl.compat = std::make_unique<CompatService>(context, options.forward_to);
  impl.native = std::make_unique<NativeService>(context, *impl.live);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl.port);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  builder.RegisterService(impl.compat.get());
  builder.RegisterService(impl.native.get());
  impl.grpc_server = builder.BuildAndStart();
  if (impl.grpc_server == nullptr || impl.port == 0) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot listen on {} (gRPC): the port is taken or the host is not an "
                      "address of this machine; check server.port with `lipsync config check`",
                      address);
  }
  LOG_INFO("server",
           "gRPC (monolithic.MonolithicService, lipsync.v1.LipSync) listening on {}, "
           "{} model(s), message limit {} MiB",
           host_port(config.server.grpc_bind_host(), impl.port), config.models.size(),
           max_bytes >> 20);
  return {};
}

}  // namespace

Result<std::unique_ptr<Server>> Server::start(const Config& config, const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  RETURN_IF_ERROR(build_pipeline(*impl, options));
  RETURN_IF_ERROR(listen(*impl, options));
  impl->gauges->refresh();
  impl->ready = true;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  shutdown();
  impl_->live.reset();       // sessions stop submitting frames
  impl_->scheduler.reset();  // finishes queued batches before the registry goes
}

int Server::grpc_port() const {
  return impl_->port;
}
int Server::http_port() const {
  return impl_->http_port;
}

namespace {

// How long the last answers get to leave before gRPC closes the connections: it closes each one
// as soon as its last stream's bytes are written to the socket, and a socket closed with bytes
// from the peer still unread (a proxy's HTTP/2 window updates) is reset, discarding what the
// peer has not read yet: behind HAProxy, an answer's end (its status) was lost that way once in
// a rolling restart (tests/cluster).
constexpr std::chrono::milliseconds kAnswerFlush{500};

// Waits until no gRPC handler runs and the last one returned kAnswerFlush ago, or until
// `deadline`. gRPC's own Shutdown waits for calls too, but closes each connection the moment
// its last answer is written.
void wait_for_calls(const CallCounter& calls, std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  // Polled: this runs once, at shutdown; a condition variable in every handler is not worth it.
  while (calls.running.load() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (calls.running.load() > 0) return;  // the grace is over: gRPC cancels what is left
  const Clock::time_point flushed =
      Clock::time_point(Clock::duration(calls.last_end_ns.load())) + kAnswerFlush;
  const Clock::time_point until = std::min(flushed, deadline);
  if (until > Clock::now()) std::this_thread::sleep_until(until);
}

}  // namespace

void Server::shutdown() {
  if (impl_->shutdown_started.exchange(true)) {
    wait();
    return;
  }
  // Readiness answers 503 from now on. In a cluster, calls keep being served for the drain
  // time so that the proxy, which still routes here until its health checks see the 503, gets
  // answers rather than refusals; a connection closed under a proxy that has not read the last
  // answer yet would lose its end (docs/deployment.md).
  impl_->ready = false;
  const auto drain = std::chrono::milliseconds(impl_->config.server.shutdown_drain_ms);
  if (drain.count() > 0) {
    LOG_INFO("server", "shutting down: not ready; still serving for {} ms", drain.count());
    std::this_thread::sleep_for(drain);
  }
  // Calls and WebSockets in flight get the grace to finish, then gRPC cancels the calls and the
  // WebSockets are closed "going away" with the reason.
  impl_->stopping = true;
  const auto grace = std::chrono::milliseconds(impl_->config.server.shutdown_grace_ms);
  LOG_INFO("server", "shutting down: in-flight calls have {} ms to finish", grace.count());
  std::thread websockets;
  if (impl_->http != nullptr) {
    websockets =
        std::thread([&] { impl_->http->close_websockets(grace, "the server is shutting down"); });
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  wait_for_calls(impl_->calls, deadline);
  const auto left = std::max(deadline - std::chrono::steady_clock::now(),
                             std::chrono::steady_clock::duration::zero());
  impl_->grpc_server->Shutdown(std::chrono::system_clock::now() + left);
  impl_->grpc_server->Wait();
  if (websockets.joinable()) websockets.join();
  if (impl_->http != nullptr) impl_->http->stop();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopped = true;
  }
  impl_->stopped_cv.notify_all();
}

void Server::wait() {
  std::unique_lock lock(impl_->mutex);
  impl_->stopped_cv.wait(lock, [&] { return impl_->stopped; });
}

pipeline::Scheduler& Server::scheduler() {
  return *impl_->scheduler;
}
registry::ModelRegistry& Server::registry() {
  return *impl_->registry;
}
std::size_t Server::live_sessions() const {
  return impl_->live->sessions();
}

}  // namespace lipsync::server
