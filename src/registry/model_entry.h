// The registry's per-model record and its release signal: module-internal, shared by the files
// that implement ModelRegistry (model_registry.cpp: loading, handles, info; model_eviction.cpp:
// capacity, eviction, idle unloading).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "registry/model_registry.h"

namespace lipsync::registry {

// An evicted or unloaded instance that handles still use.
struct DrainingInstance {
  std::weak_ptr<LoadedModel> users;
  int64_t memory_bytes = 0;
  int gpu_id = -1;
};

struct ModelEntry {
  ModelConfig config;
  Loader loader;

  // Guarded by the registry's mutex.
  ModelState state = ModelState::kUnloaded;
  ErrorCode failure_code = ErrorCode::kOk;
  std::string failure_reason;
  std::shared_ptr<LoadedModel> object;  // the registry's reference while ready
  std::weak_ptr<LoadedModel> users;     // what handles of `object` share (see make_users)
  std::vector<DrainingInstance> draining;
  uint64_t load_generation = 0;  // counts load attempts; waiters wait for "their" load
  uint64_t last_use_tick = 0;
  int64_t uses = 0;  // acquires (the LFU counter)
  int waiting_for_load = 0;
  bool waiting_for_memory = false;
  int gpu_id = -1;
  int64_t memory_bytes = 0;
  int64_t last_memory_bytes = 0;  // of the last successful load (a reload's expected size)
  double load_time_ms = 0.0;
  int64_t loads = 0;
  int64_t evictions = 0;
  std::condition_variable load_ended;

  // Guarded by stats_mutex: handles record without the registry lock.
  mutable std::mutex stats_mutex;
  int64_t requests = 0;
  int64_t frames = 0;
  double total_inference_ms = 0.0;
  int64_t last_used_unix_s = 0;

  void mark_used(int64_t now_unix_s) {
    std::lock_guard lock(stats_mutex);
    last_used_unix_s = now_unix_s;
  }
  bool in_use() const { return !users.expired(); }
  int64_t draining_bytes() const {
    int64_t total = 0;
    for (const auto& d : draining) total += d.users.expired() ? 0 : d.memory_bytes;
    return total;
  }
  void forget_released() {
    std::erase_if(draining, [](const DrainingInstance& d) { return d.users.expired(); });
  }
};

// Counts releases of last handles; a load waiting for draining memory waits for the next one.
// Shared with the handles' deleters, so it outlives the registry if they do.
struct ModelRegistry::ReleaseSignal {
  std::mutex mutex;
  std::condition_variable released;
  uint64_t count = 0;

  uint64_t seen() {
    std::lock_guard lock(mutex);
    return count;
  }
  void notify() {
    {
      std::lock_guard lock(mutex);
      ++count;
    }
    released.notify_all();
  }
  // True when a release after `seen` happened before `deadline`.
  bool wait(uint64_t seen, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex);
    return released.wait_until(lock, deadline, [&] { return count != seen; });
  }
};

// NOT_FOUND for an id that is not in `entries`, listing the configured ids (a bounded few) so
// that the caller sees what it could have asked for.
Status not_configured(const std::string& model_id,
                      const std::map<std::string, std::shared_ptr<ModelEntry>>& entries);

}  // namespace lipsync::registry
