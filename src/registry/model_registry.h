// A model server's model repository, generic over what a "model" is: entries come from the
// configuration (core/config.h ModelConfig) and a loader callback turns one into a loaded object
// that reports its memory. The avatar/pipeline layer plugs its own loader in.
//
//   ModelRegistry registry(config.capacity, load_avatar);
//   RETURN_IF_ERROR(registry.add_models(config));
//   ASSIGN_OR_RETURN(auto handle, registry.acquire("alice"));   // lazy load, waits if loading
//   auto& avatar = handle.get<Avatar>();
//   handle.record_inference(25, 17.3);
//
// States: unloaded -> loading -> ready | failed(reason); a later acquire/load of a failed model
// retries. Eviction (capacity.eviction_policy: LRU, or LFU by a per-model use counter) by
// capacity.max_models and capacity.max_memory_gb drops only the registry's reference: a handle
// keeps its model alive until the last user releases it. Such an evicted or unloaded model still
// in use is "draining": its memory counts against max_memory_gb until it is freed, so a load that
// does not fit evicts more (idle models first), then waits up to capacity.drain_wait_ms for
// draining models to be released, then fails with RESOURCE_EXHAUSTED. A reload makes room for
// its last known size before the loader runs; a first load is checked once its size is known,
// so it is briefly in memory next to the models evicted for it.
// Loading runs on the acquiring thread without the registry lock, so one model's load never
// blocks requests for other models; concurrent acquirers of a loading model wait for that load.
// Each load is placed on a CUDA device (GpuPlacement: preferred_gpu, else round-robin or
// least-loaded) that the loader receives in LoadTarget; on the CPU the device is -1.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace lipsync::registry {

enum class ModelState { kUnloaded, kLoading, kReady, kFailed };
std::string_view to_string(ModelState state);

// What a loader returns. Subclass it; memory_bytes() is charged against capacity.max_memory_gb.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;
  virtual int64_t memory_bytes() const = 0;
};

// Where one load runs: the CUDA device the registry chose for it, -1 on the CPU.
struct LoadTarget {
  int gpu_id = -1;
};

// Turns a model's configuration into a loaded model on `target`. Built from a callable taking
// (const ModelConfig&, const LoadTarget&), or (const ModelConfig&) for loaders that ignore the
// device (CPU-only models, tests).
class Loader {
 public:
  using Function =
      std::function<Result<std::shared_ptr<LoadedModel>>(const ModelConfig&, const LoadTarget&)>;

  Loader() = default;
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, Loader> &&
           std::is_invocable_v<const F&, const ModelConfig&, const LoadTarget&>) Loader(F function)
      : function_(std::move(function)) {}  // NOLINT: implicit by design
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, Loader> &&
           !std::is_invocable_v<const F&, const ModelConfig&, const LoadTarget&> &&
           std::is_invocable_v<const F&, const ModelConfig&>)
      Loader(F function)  // NOLINT: implicit by design
      : function_([function = std::move(function)](const ModelConfig& config, const LoadTarget&) {
          return function(config);
        }) {}

  explicit operator bool() const { return static_cast<bool>(function_); }
  Result<std::shared_ptr<LoadedModel>> operator()(const ModelConfig& config,
                                                  const LoadTarget& target = {}) const {
    return function_(config, target);
  }

 private:
  Function function_;
};

// The CUDA devices models are placed on (gpus.count, gpus.assignment_strategy).
struct GpuPlacement {
  std::vector<int> devices;  // empty: models run on the CPU and report gpu_id -1
  GpuAssignment strategy = GpuAssignment::kRoundRobin;
};

// CPU: no devices. CUDA: devices 0..gpus.count-1, or onnx.device_id alone when gpus.count is 0.
GpuPlacement gpu_placement_from(const Config& config);

using UnixClock = std::function<int64_t()>;  // seconds since the epoch (injectable for tests)

struct ModelStats {
  int64_t requests = 0;  // record_inference calls
  int64_t frames = 0;    // frames over those calls
  double total_inference_ms = 0.0;
  double mean_inference_ms = 0.0;  // per request
  int64_t last_used_unix_s = 0;    // last acquire or record_inference; 0 = never
  int64_t memory_bytes = 0;        // of the resident object; 0 when not loaded
  // Of evicted or unloaded instances that handles still use (freed with their last handle).
  int64_t draining_bytes = 0;
  int64_t uses = 0;           // acquires since the model was configured (the LFU counter)
  double load_time_ms = 0.0;  // of the last successful load
  int64_t loads = 0;          // successful loads
  int64_t evictions = 0;      // LRU evictions (explicit unloads not counted)
};

struct ModelInfo {
  std::string model_id;
  ModelState state = ModelState::kUnloaded;
  std::string failure_reason;       // set in kFailed
  int waiting_for_load = 0;         // acquirers waiting for the load in progress
  bool waiting_for_memory = false;  // its load waits for draining models to be released
  int gpu_id = -1;  // device of the resident model or of the load in progress; -1: none or CPU
  ModelStats stats;
};

struct ModelEntry;  // registry-internal

// A reference to a loaded model. Copyable; the model lives while any handle (or shared())
// does, and counts as in use for eviction and draining.
class ModelHandle {
 public:
  ModelHandle(std::shared_ptr<LoadedModel> object, std::shared_ptr<ModelEntry> entry,
              UnixClock clock, int gpu_id = -1);

  int gpu_id() const { return gpu_id_; }  // the device this instance was loaded on; -1: CPU

  const std::string& model_id() const;
  LoadedModel& model() const { return *object_; }
  template <typename T>
  T& get() const {
    return static_cast<T&>(*object_);
  }
  const std::shared_ptr<LoadedModel>& shared() const { return object_; }

  // Adds one request of `frames` frames that took `inference_ms` to the model's statistics.
  void record_inference(int64_t frames, double inference_ms) const;

 private:
  std::shared_ptr<LoadedModel> object_;
  std::shared_ptr<ModelEntry> entry_;
  UnixClock clock_;
  int gpu_id_;
};

class ModelRegistry {
 public:
  // `default_loader` loads entries added without their own loader.
  ModelRegistry(const CapacitySection& capacity, Loader default_loader, UnixClock clock = {},
                GpuPlacement gpus = {});
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  Status add_model(const ModelConfig& config, Loader loader = {});
  Status add_models(const Config& config);  // every entry of config.models

  // Ready: returns at once. Loading: waits for that load. Unloaded or failed: loads now.
  Result<ModelHandle> acquire(const std::string& model_id);
  // A handle when the model is ready, else none (NOT_FOUND for an unknown model); never waits
  // nor loads, so that a caller can hand a load to another thread.
  Result<std::optional<ModelHandle>> try_acquire(const std::string& model_id);
  // As acquire() without keeping a handle. `preferred_gpu` places this load (when the model is
  // not loaded yet) on that device instead of the automatic choice; it must be one of
  // GpuPlacement::devices (INVALID_ARGUMENT otherwise) and is ignored on the CPU.
  Status load(const std::string& model_id, std::optional<int> preferred_gpu = {});
  // Drops the registry's reference (in-use models live on in their handles). Waits for a
  // load in progress first. Unloading an unloaded or failed model is a no-op.
  Status unload(const std::string& model_id);
  // Loads every model configured with preload_model; the error lists those that failed.
  Status preload();
  // Unloads ready models idle for capacity.idle_timeout_minutes (0: never) and not in use;
  // returns how many.
  int unload_idle();
  // Runs unload_idle() every `period` on a background thread until destruction (no-op when
  // idle_timeout_minutes is 0 or a sweeper already runs).
  void start_idle_sweeper(std::chrono::milliseconds period);

  std::vector<ModelInfo> list() const;  // every configured model, by id
  Result<ModelInfo> info(const std::string& model_id) const;
  int64_t resident_memory_bytes() const;  // models the registry holds (not evicted ones in use)
  int64_t draining_memory_bytes() const;  // evicted or unloaded models still in use
  int ready_count() const;
  const GpuPlacement& gpu_placement() const { return gpus_; }

 private:
  std::shared_ptr<ModelEntry> find(const std::string& model_id) const;
  Result<ModelHandle> acquire_or_load(const std::string& model_id,
                                      std::optional<int> preferred_gpu);
  Result<ModelHandle> load_locked(const std::shared_ptr<ModelEntry>& entry,
                                  std::unique_lock<std::mutex>& lock, int gpu_id);
  ModelHandle handle_locked(const std::shared_ptr<ModelEntry>& entry);
  Result<int> choose_gpu_locked(const ModelEntry& entry, std::optional<int> preferred);
  int least_loaded_gpu_locked() const;
  Status make_room_locked(const std::shared_ptr<ModelEntry>& keep,
                          std::unique_lock<std::mutex>& lock,
                          std::vector<std::shared_ptr<LoadedModel>>& released);
  Status make_room_for_reload_locked(const std::shared_ptr<ModelEntry>& entry,
                                     std::unique_lock<std::mutex>& lock,
                                     std::vector<std::shared_ptr<LoadedModel>>& released);
  ModelEntry* pick_victim_locked(const ModelEntry& keep) const;
  void evict_locked(ModelEntry& victim, std::vector<std::shared_ptr<LoadedModel>>& released);
  Status wait_for_release(ModelEntry& entry, std::unique_lock<std::mutex>& lock,
                          uint64_t releases_seen, std::chrono::steady_clock::time_point deadline);
  ModelInfo info_locked(const ModelEntry& entry) const;
  int64_t now() const { return clock_(); }
  void sweep_idle(std::chrono::milliseconds period);

  struct ReleaseSignal;  // last-handle releases, for loads waiting on draining memory

  CapacitySection capacity_;
  Loader default_loader_;
  UnixClock clock_;
  GpuPlacement gpus_;
  std::shared_ptr<ReleaseSignal> releases_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<ModelEntry>> entries_;
  uint64_t use_tick_ = 0;     // LRU order: larger = more recently used
  uint64_t next_device_ = 0;  // round-robin position

  std::mutex sweeper_mutex_;
  std::condition_variable sweeper_wake_;
  bool sweeper_stop_ = false;
  std::thread sweeper_;
};

}  // namespace lipsync::registry
