#include "registry/model_registry.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>

#include "core/log.h"

namespace lipsync::registry {

struct ModelEntry {
  ModelConfig config;
  Loader loader;

  // Guarded by the registry's mutex.
  ModelState state = ModelState::kUnloaded;
  std::string failure_reason;
  std::shared_ptr<LoadedModel> object;
  uint64_t load_generation = 0;  // counts load attempts; waiters wait for "their" load
  uint64_t last_use_tick = 0;
  int waiting_for_load = 0;
  int64_t memory_bytes = 0;
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
};

namespace {

constexpr double kBytesPerGb = 1024.0 * 1024.0 * 1024.0;

int64_t system_unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::shared_ptr<LoadedModel>> call_loader(const Loader& loader, const ModelConfig& config) {
  try {
    ASSIGN_OR_RETURN(auto object, loader(config));
    if (object == nullptr) return make_error(ErrorCode::kInternal, "the loader returned no model");
    return object;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, "the loader threw: {}", e.what());
  }
}

}  // namespace

std::string_view to_string(ModelState state) {
  switch (state) {
    case ModelState::kUnloaded:
      return "unloaded";
    case ModelState::kLoading:
      return "loading";
    case ModelState::kReady:
      return "ready";
    case ModelState::kFailed:
      return "failed";
  }
  return "unknown";
}

ModelHandle::ModelHandle(std::shared_ptr<LoadedModel> object, std::shared_ptr<ModelEntry> entry,
                         UnixClock clock)
    : object_(std::move(object)), entry_(std::move(entry)), clock_(std::move(clock)) {}

const std::string& ModelHandle::model_id() const {
  return entry_->config.model_id;
}

void ModelHandle::record_inference(int64_t frames, double inference_ms) const {
  const int64_t now = clock_();
  std::lock_guard lock(entry_->stats_mutex);
  entry_->requests += 1;
  entry_->frames += frames;
  entry_->total_inference_ms += inference_ms;
  entry_->last_used_unix_s = now;
}

ModelRegistry::ModelRegistry(const CapacitySection& capacity, Loader default_loader,
                             UnixClock clock)
    : capacity_(capacity),
      default_loader_(std::move(default_loader)),
      clock_(clock ? std::move(clock) : UnixClock(system_unix_seconds)) {}

ModelRegistry::~ModelRegistry() = default;

Status ModelRegistry::add_model(const ModelConfig& config, Loader loader) {
  if (config.model_id.empty())
    return make_error(ErrorCode::kInvalidArgument, "a model needs a model_id");
  if (!loader && !default_loader_) {
    return make_error(ErrorCode::kInvalidArgument, "model '{}' has no loader", config.model_id);
  }
  auto entry = std::make_shared<ModelEntry>();
  entry->config = config;
  entry->loader = loader ? std::move(loader) : default_loader_;
  std::lock_guard lock(mutex_);
  if (!entries_.emplace(config.model_id, std::move(entry)).second) {
    return make_error(ErrorCode::kAlreadyExists, "model '{}' is already configured",
                      config.model_id);
  }
  return {};
}

Status ModelRegistry::add_models(const Config& config) {
  for (const auto& [id, model] : config.models) RETURN_IF_ERROR(add_model(model));
  return {};
}

std::shared_ptr<ModelEntry> ModelRegistry::find(const std::string& model_id) const {
  auto it = entries_.find(model_id);
  return it == entries_.end() ? nullptr : it->second;
}

Result<ModelHandle> ModelRegistry::acquire(const std::string& model_id) {
  std::unique_lock lock(mutex_);
  auto entry = find(model_id);
  if (entry == nullptr)
    return make_error(ErrorCode::kNotFound, "model '{}' is not configured", model_id);
  for (;;) {
    switch (entry->state) {
      case ModelState::kReady:
        entry->last_use_tick = ++use_tick_;
        entry->mark_used(now());
        return ModelHandle(entry->object, entry, clock_);
      case ModelState::kLoading: {
        const uint64_t generation = entry->load_generation;
        ++entry->waiting_for_load;
        entry->load_ended.wait(lock, [&] {
          return entry->state != ModelState::kLoading || entry->load_generation != generation;
        });
        --entry->waiting_for_load;
        if (entry->state == ModelState::kFailed && entry->load_generation == generation) {
          return make_error(ErrorCode::kFailedPrecondition, "model '{}' failed to load: {}",
                            model_id, entry->failure_reason);
        }
        break;  // ready now, or unloaded again: look once more
      }
      case ModelState::kUnloaded:
      case ModelState::kFailed:
        return load_locked(entry, lock);
    }
  }
}

// Runs the loader without the lock; `lock` is held on entry and released on return.
Result<ModelHandle> ModelRegistry::load_locked(const std::shared_ptr<ModelEntry>& entry,
                                               std::unique_lock<std::mutex>& lock) {
  std::vector<std::shared_ptr<LoadedModel>> released;  // freed after the lock is dropped
  entry->state = ModelState::kLoading;
  entry->failure_reason.clear();
  ++entry->load_generation;
  const Loader loader = entry->loader;
  const ModelConfig config = entry->config;
  lock.unlock();
  LOG_INFO("registry", "loading model '{}'", config.model_id);
  const auto start = std::chrono::steady_clock::now();
  auto loaded = call_loader(loader, config);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  lock.lock();

  Status status = loaded.status();
  if (status.ok()) {
    entry->object = std::move(loaded).value();
    entry->memory_bytes = entry->object->memory_bytes();
    status = make_room_locked(entry, released);
    if (!status.ok()) released.push_back(std::move(entry->object));
  }
  if (!status.ok()) {
    entry->state = ModelState::kFailed;
    entry->failure_reason = status.message();
    entry->memory_bytes = 0;
    entry->load_ended.notify_all();
    lock.unlock();
    LOG_WARN("registry", "model '{}' failed to load: {}", config.model_id, status.message());
    return Status(status.code(),
                  fmt::format("model '{}' failed to load: {}", config.model_id, status.message()));
  }
  entry->state = ModelState::kReady;
  entry->load_time_ms = load_ms;
  entry->loads += 1;
  entry->last_use_tick = ++use_tick_;
  entry->mark_used(now());
  ModelHandle handle(entry->object, entry, clock_);
  entry->load_ended.notify_all();
  lock.unlock();
  LOG_INFO("registry", "model '{}' ready in {:.1f} ms ({} bytes)", config.model_id, load_ms,
           entry->memory_bytes);
  return handle;
}

// Evicts least recently used ready models (never `keep`) until count and memory fit.
// The evicted objects stay alive in the handles of their users.
Status ModelRegistry::make_room_locked(const std::shared_ptr<ModelEntry>& keep,
                                       std::vector<std::shared_ptr<LoadedModel>>& released) {
  const auto budget = static_cast<int64_t>(capacity_.max_memory_gb * kBytesPerGb);
  if (budget > 0 && keep->memory_bytes > budget) {
    return make_error(ErrorCode::kResourceExhausted,
                      "it needs {} bytes, more than capacity.max_memory_gb ({} GB)",
                      keep->memory_bytes, capacity_.max_memory_gb);
  }
  for (;;) {
    int ready = 1;  // `keep`
    int64_t memory = keep->memory_bytes;
    ModelEntry* victim = nullptr;
    for (const auto& [id, entry] : entries_) {
      if (entry == keep || entry->state != ModelState::kReady) continue;
      ++ready;
      memory += entry->memory_bytes;
      if (victim == nullptr || entry->last_use_tick < victim->last_use_tick) victim = entry.get();
    }
    const bool too_many = capacity_.max_models > 0 && ready > capacity_.max_models;
    const bool too_big = budget > 0 && memory > budget;
    if ((!too_many && !too_big) || victim == nullptr) return {};
    LOG_INFO("registry", "evicting model '{}' (least recently used; {} loaded, {} bytes)",
             victim->config.model_id, ready, memory);
    released.push_back(std::move(victim->object));  // a user's handle keeps it alive until released
    victim->state = ModelState::kUnloaded;
    victim->memory_bytes = 0;
    victim->evictions += 1;
  }
}

Status ModelRegistry::load(const std::string& model_id) {
  return acquire(model_id).status();
}

Status ModelRegistry::unload(const std::string& model_id) {
  std::shared_ptr<LoadedModel> released;  // freed after the lock is dropped
  std::unique_lock lock(mutex_);
  auto entry = find(model_id);
  if (entry == nullptr)
    return make_error(ErrorCode::kNotFound, "model '{}' is not configured", model_id);
  entry->load_ended.wait(lock, [&] { return entry->state != ModelState::kLoading; });
  if (entry->state != ModelState::kReady) return {};
  released = std::move(entry->object);
  entry->state = ModelState::kUnloaded;
  entry->memory_bytes = 0;
  lock.unlock();
  LOG_INFO("registry", "unloaded model '{}'", model_id);
  return {};
}

Status ModelRegistry::preload() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : entries_) {
      if (entry->config.preload_model) ids.push_back(id);
    }
  }
  std::vector<std::string> failures;
  for (const auto& id : ids) {
    const Status status = load(id);
    if (!status.ok()) failures.push_back(status.message());
  }
  if (failures.empty()) return {};
  return make_error(ErrorCode::kUnavailable, "preload failed for {} model(s): {}", failures.size(),
                    fmt::join(failures, "; "));
}

int ModelRegistry::unload_idle() {
  if (capacity_.idle_timeout_minutes <= 0) return 0;
  const int64_t cutoff = now() - int64_t{capacity_.idle_timeout_minutes} * 60;
  std::vector<std::shared_ptr<LoadedModel>> released;
  std::lock_guard lock(mutex_);
  for (auto& [id, entry] : entries_) {
    if (entry->state != ModelState::kReady) continue;
    int64_t last_used = 0;
    {
      std::lock_guard stats_lock(entry->stats_mutex);
      last_used = entry->last_used_unix_s;
    }
    if (last_used > cutoff) continue;
    LOG_INFO("registry", "unloading model '{}': idle for over {} minute(s)", id,
             capacity_.idle_timeout_minutes);
    released.push_back(std::move(entry->object));
    entry->state = ModelState::kUnloaded;
    entry->memory_bytes = 0;
  }
  return static_cast<int>(released.size());
}

ModelInfo ModelRegistry::info_locked(const ModelEntry& entry) const {
  ModelInfo info;
  info.model_id = entry.config.model_id;
  info.state = entry.state;
  info.failure_reason = entry.failure_reason;
  info.waiting_for_load = entry.waiting_for_load;
  info.stats.memory_bytes = entry.memory_bytes;
  info.stats.load_time_ms = entry.load_time_ms;
  info.stats.loads = entry.loads;
  info.stats.evictions = entry.evictions;
  std::lock_guard lock(entry.stats_mutex);
  info.stats.requests = entry.requests;
  info.stats.frames = entry.frames;
  info.stats.total_inference_ms = entry.total_inference_ms;
  info.stats.mean_inference_ms =
      entry.requests > 0 ? entry.total_inference_ms / entry.requests : 0.0;
  info.stats.last_used_unix_s = entry.last_used_unix_s;
  return info;
}

std::vector<ModelInfo> ModelRegistry::list() const {
  std::lock_guard lock(mutex_);
  std::vector<ModelInfo> infos;
  for (const auto& [id, entry] : entries_) infos.push_back(info_locked(*entry));
  return infos;
}

Result<ModelInfo> ModelRegistry::info(const std::string& model_id) const {
  std::lock_guard lock(mutex_);
  auto entry = find(model_id);
  if (entry == nullptr)
    return make_error(ErrorCode::kNotFound, "model '{}' is not configured", model_id);
  return info_locked(*entry);
}

int64_t ModelRegistry::resident_memory_bytes() const {
  std::lock_guard lock(mutex_);
  int64_t total = 0;
  for (const auto& [id, entry] : entries_)
    total += entry->state == ModelState::kReady ? entry->memory_bytes : 0;
  return total;
}

int ModelRegistry::ready_count() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(std::count_if(entries_.begin(), entries_.end(), [](const auto& e) {
    return e.second->state == ModelState::kReady;
  }));
}

}  // namespace lipsync::registry
