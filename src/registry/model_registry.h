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
// retries. Eviction (LRU) by capacity.max_models and capacity.max_memory_gb drops only the
// registry's reference: a handle keeps its model alive until the last user releases it.
// Loading runs on the acquiring thread without the registry lock, so one model's load never
// blocks requests for other models; concurrent acquirers of a loading model wait for that load.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
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

using Loader = std::function<Result<std::shared_ptr<LoadedModel>>(const ModelConfig& config)>;
using UnixClock = std::function<int64_t()>;  // seconds since the epoch (injectable for tests)

struct ModelStats {
  int64_t requests = 0;  // record_inference calls
  int64_t frames = 0;    // frames over those calls
  double total_inference_ms = 0.0;
  double mean_inference_ms = 0.0;  // per request
  int64_t last_used_unix_s = 0;    // last acquire or record_inference; 0 = never
  int64_t memory_bytes = 0;        // of the resident object; 0 when not loaded
  double load_time_ms = 0.0;       // of the last successful load
  int64_t loads = 0;               // successful loads
  int64_t evictions = 0;           // LRU evictions (explicit unloads not counted)
};

struct ModelInfo {
  std::string model_id;
  ModelState state = ModelState::kUnloaded;
  std::string failure_reason;  // set in kFailed
  int waiting_for_load = 0;    // acquirers waiting for the load in progress
  ModelStats stats;
};

struct ModelEntry;  // registry-internal

// A reference to a loaded model. Copyable; the model lives while any handle does.
class ModelHandle {
 public:
  ModelHandle(std::shared_ptr<LoadedModel> object, std::shared_ptr<ModelEntry> entry,
              UnixClock clock);

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
};

class ModelRegistry {
 public:
  // `default_loader` loads entries added without their own loader.
  ModelRegistry(const CapacitySection& capacity, Loader default_loader, UnixClock clock = {});
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  Status add_model(const ModelConfig& config, Loader loader = {});
  Status add_models(const Config& config);  // every entry of config.models

  // Ready: returns at once. Loading: waits for that load. Unloaded or failed: loads now.
  Result<ModelHandle> acquire(const std::string& model_id);
  Status load(const std::string& model_id);
  // Drops the registry's reference (in-use models live on in their handles). Waits for a
  // load in progress first. Unloading an unloaded or failed model is a no-op.
  Status unload(const std::string& model_id);
  // Loads every model configured with preload_model; the error lists those that failed.
  Status preload();
  // Unloads ready models idle for capacity.idle_timeout_minutes (0: never); returns how many.
  int unload_idle();

  std::vector<ModelInfo> list() const;  // every configured model, by id
  Result<ModelInfo> info(const std::string& model_id) const;
  int64_t resident_memory_bytes() const;  // models the registry holds (not evicted ones in use)
  int ready_count() const;

 private:
  std::shared_ptr<ModelEntry> find(const std::string& model_id) const;
  Result<ModelHandle> load_locked(const std::shared_ptr<ModelEntry>& entry,
                                  std::unique_lock<std::mutex>& lock);
  Status make_room_locked(const std::shared_ptr<ModelEntry>& keep,
                          std::vector<std::shared_ptr<LoadedModel>>& released);
  ModelInfo info_locked(const ModelEntry& entry) const;
  int64_t now() const { return clock_(); }

  CapacitySection capacity_;
  Loader default_loader_;
  UnixClock clock_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<ModelEntry>> entries_;
  uint64_t use_tick_ = 0;  // LRU order: larger = more recently used
};

}  // namespace lipsync::registry
