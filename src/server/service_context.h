// What the server's services (compat, native, web) share: the configuration, the registry, the
// scheduler, the audio front end and the metrics. Module-internal: included by src/server only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "core/config.h"
#include "core/memory_trim.h"
#include "core/thread_pool.h"
#include "http/metrics.h"
#include "pipeline/scheduler.h"
#include "registry/model_registry.h"
#include "runtime/gpu_info.h"

namespace lipsync::server {

// Keeps the registry gauges of the metrics current: models loaded, resident and draining memory,
// evictions.
class RegistryGauges {
 public:
  RegistryGauges(const registry::ModelRegistry& registry, http::Metrics& metrics)
      : registry_(registry), metrics_(metrics) {}
  void refresh();

 private:
  const registry::ModelRegistry& registry_;
  http::Metrics& metrics_;
  std::mutex mutex_;
  std::int64_t evictions_seen_ = 0;
};

// The gRPC handlers running now, and when the last one returned (steady clock ticks).
struct CallCounter {
  std::atomic<int> running{0};
  std::atomic<std::int64_t> last_end_ns{0};
};

// Pointers into the server; they outlive every service.
struct ServiceContext {
  const Config* config = nullptr;
  registry::ModelRegistry* registry = nullptr;
  pipeline::Scheduler* scheduler = nullptr;
  const audio::MelAnalyzer* mel = nullptr;
  audio::FeatureEncoder* encoder = nullptr;
  ThreadPool* pool = nullptr;  // JPEG encoding in parallel
  const std::atomic<bool>* stopping = nullptr;
  CallCounter* calls = nullptr;  // gRPC handlers running (may be null)
  http::Metrics* metrics = nullptr;
  RegistryGauges* gauges = nullptr;
  const runtime::GpuInfo* gpu_info = nullptr;  // Health's GPU memory (may be null)
  std::size_t max_message_bytes = 0;           // the server's gRPC message limit
  MemoryTrimmer* trimmer = nullptr;            // told of each finished request's size (may be null)
};

// Tells `context`'s trimmer that a request moving `bytes` finished.
inline void note_request_bytes(const ServiceContext& context, std::size_t bytes) {
  if (context.trimmer != nullptr) context.trimmer->note(bytes);
}

// Counts a gRPC handler as running while it lives (CallCounter): the server's shutdown waits
// for the calls and for their answers to leave before gRPC closes the connections
// (Server::shutdown).
class CallInFlight {
 public:
  explicit CallInFlight(const ServiceContext& context) : calls_(context.calls) {
    if (calls_ != nullptr) calls_->running.fetch_add(1);
  }
  ~CallInFlight() {
    if (calls_ == nullptr) return;
    calls_->last_end_ns.store(std::chrono::steady_clock::now().time_since_epoch().count());
    calls_->running.fetch_sub(1);
  }
  CallInFlight(const CallInFlight&) = delete;
  CallInFlight& operator=(const CallInFlight&) = delete;

 private:
  CallCounter* calls_;
};

}  // namespace lipsync::server
