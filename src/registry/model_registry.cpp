#include "registry/model_registry.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>

#include "core/clock.h"
#include "core/guard.h"
#include "core/log.h"
#include "registry/model_entry.h"

namespace lipsync::registry {

namespace {

int64_t system_unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::shared_ptr<LoadedModel>> call_loader(const Loader& loader, const ModelConfig& config,
                                                 const LoadTarget& target) {
  return guard("the loader threw", [&]() -> Result<std::shared_ptr<LoadedModel>> {
    ASSIGN_OR_RETURN(auto object, loader(config, target));
    if (object == nullptr) return make_error(ErrorCode::kInternal, "the loader returned no model");
    return object;
  });
}

// What handles share: a pointer to `object` whose deleter, run when the last handle goes, drops
// its own reference to the object (freeing it if the registry evicted it meanwhile) and then
// signals the release. The reference is dropped inside the call because weak_ptrs (draining
// lists) keep the deleter itself alive.
template <typename Signal>
std::shared_ptr<LoadedModel> make_users(const std::shared_ptr<LoadedModel>& object,
                                        std::shared_ptr<Signal> signal) {
  return std::shared_ptr<LoadedModel>(
      object.get(), [keep = object, signal = std::move(signal)](LoadedModel*) mutable {
        keep.reset();
        signal->notify();
      });
}

// A configured model's failed load as clients see it. The loader's own code would mislead
// (a missing file is NOT_FOUND, a bad ONNX INVALID_ARGUMENT, as if the request were wrong), so
// it is FAILED_PRECONDITION unless it is about capacity or shutting down.
Status load_failure(const std::string& model_id, ErrorCode code, std::string reason) {
  // Libraries end their messages with a full stop; ours go on after a colon.
  while (!reason.empty() && (reason.back() == '.' || reason.back() == ' ')) reason.pop_back();
  if (code == ErrorCode::kResourceExhausted) {
    return make_error(code,
                      "model '{}' cannot be loaded: {}: unload a model, or raise "
                      "capacity.max_memory_gb or capacity.max_models",
                      model_id, reason);
  }
  if (code == ErrorCode::kUnavailable)
    return make_error(code, "model '{}' cannot be loaded now: {}", model_id, reason);
  return make_error(ErrorCode::kFailedPrecondition,
                    "model '{}' cannot be loaded: {}: fix models.{} in the server's configuration "
                    "(`lipsync config check FILE` shows the problem); the next request or "
                    "LoadModel tries again",
                    model_id, reason, model_id);
}

// An unknown id's error lists the configured ones, up to this many.
constexpr std::size_t kListedModelIds = 10;

}  // namespace

Status not_configured(const std::string& model_id,
                      const std::map<std::string, std::shared_ptr<ModelEntry>>& entries) {
  if (entries.empty()) {
    return make_error(ErrorCode::kNotFound,
                      "model '{}' is not configured, and no model is: add it under models: in "
                      "the server's configuration",
                      model_id);
  }
  std::vector<std::string> ids;
  for (const auto& [id, entry] : entries) {
    if (ids.size() == kListedModelIds) break;
    ids.push_back("'" + id + "'");
  }
  const std::size_t more = entries.size() - ids.size();
  return make_error(ErrorCode::kNotFound,
                    "model '{}' is not configured: use one of {}{} (or add it under models: in "
                    "the server's configuration)",
                    model_id, fmt::join(ids, ", "),
                    more > 0 ? fmt::format(" and {} more", more) : std::string());
}

GpuPlacement gpu_placement_from(const Config& config) {
  GpuPlacement placement;
  placement.strategy = config.gpus.assignment_strategy;
  if (config.runtime.execution_provider != ExecutionProvider::kCuda) return placement;
  if (config.gpus.count == 0) {
    placement.devices = {config.runtime.device_id};
  } else {
    for (int id = 0; id < config.gpus.count; ++id) placement.devices.push_back(id);
  }
  return placement;
}

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
                         UnixClock clock, int gpu_id)
    : object_(std::move(object)),
      entry_(std::move(entry)),
      clock_(std::move(clock)),
      gpu_id_(gpu_id) {}

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
                             UnixClock clock, GpuPlacement gpus)
    : capacity_(capacity),
      default_loader_(std::move(default_loader)),
      clock_(clock ? std::move(clock) : UnixClock(system_unix_seconds)),
      gpus_(std::move(gpus)),
      releases_(std::make_shared<ReleaseSignal>()) {}

ModelRegistry::~ModelRegistry() {
  {
    std::lock_guard lock(sweeper_mutex_);
    sweeper_stop_ = true;
  }
  sweeper_wake_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

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
  return acquire_or_load(model_id, std::nullopt);
}

Result<std::optional<ModelHandle>> ModelRegistry::try_acquire(const std::string& model_id) {
  std::lock_guard lock(mutex_);
  auto entry = find(model_id);
  if (entry == nullptr) return not_configured(model_id, entries_);
  if (entry->state != ModelState::kReady) return std::optional<ModelHandle>();
  return std::optional<ModelHandle>(handle_locked(entry));
}

Status ModelRegistry::load(const std::string& model_id, std::optional<int> preferred_gpu) {
  return acquire_or_load(model_id, preferred_gpu).status();
}

// A handle on the ready `entry`, counted as one use.
ModelHandle ModelRegistry::handle_locked(const std::shared_ptr<ModelEntry>& entry) {
  entry->last_use_tick = ++use_tick_;
  entry->uses += 1;
  entry->mark_used(now());
  std::shared_ptr<LoadedModel> users = entry->users.lock();
  if (users == nullptr) {
    users = make_users(entry->object, releases_);
    entry->users = users;
  }
  return ModelHandle(std::move(users), entry, clock_, entry->gpu_id);
}

Result<ModelHandle> ModelRegistry::acquire_or_load(const std::string& model_id,
                                                   std::optional<int> preferred_gpu) {
  std::unique_lock lock(mutex_);
  auto entry = find(model_id);
  if (entry == nullptr) return not_configured(model_id, entries_);
  for (;;) {
    switch (entry->state) {
      case ModelState::kReady:
        return handle_locked(entry);
      case ModelState::kLoading: {
        const uint64_t generation = entry->load_generation;
        ++entry->waiting_for_load;
        entry->load_ended.wait(lock, [&] {
          return entry->state != ModelState::kLoading || entry->load_generation != generation;
        });
        --entry->waiting_for_load;
        if (entry->state == ModelState::kFailed && entry->load_generation == generation)
          return load_failure(model_id, entry->failure_code, entry->failure_reason);
        break;  // ready now, or unloaded again: look once more
      }
      case ModelState::kUnloaded:
      case ModelState::kFailed: {
        ASSIGN_OR_RETURN(const int gpu_id, choose_gpu_locked(*entry, preferred_gpu));
        return load_locked(entry, lock, gpu_id);
      }
    }
  }
}

// The device for a load of `entry`: `preferred` (a request's), else the model's configured
// preferred_gpu, else gpus_.strategy. -1 on the CPU.
Result<int> ModelRegistry::choose_gpu_locked(const ModelEntry& entry,
                                             std::optional<int> preferred) {
  if (gpus_.devices.empty()) return -1;
  if (!preferred.has_value() || *preferred < 0) preferred = entry.config.preferred_gpu;
  if (preferred.has_value() && *preferred >= 0) {
    if (std::find(gpus_.devices.begin(), gpus_.devices.end(), *preferred) == gpus_.devices.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': preferred_gpu {} is not a configured GPU (devices: {})",
                        entry.config.model_id, *preferred, fmt::join(gpus_.devices, ", "));
    }
    return *preferred;
  }
  if (gpus_.strategy == GpuAssignment::kLeastLoaded) return least_loaded_gpu_locked();
  return gpus_.devices[next_device_++ % gpus_.devices.size()];  // round-robin, per load
}

// The device with the fewest models loading, ready or draining on it; ties: fewer bytes, then
// the lower id.
int ModelRegistry::least_loaded_gpu_locked() const {
  std::map<int, std::pair<int, int64_t>> load;  // device -> (models, bytes)
  for (int device : gpus_.devices) load[device] = {0, 0};
  auto add = [&](int device, int64_t bytes) {
    auto it = load.find(device);
    if (it == load.end()) return;
    it->second.first += 1;
    it->second.second += bytes;
  };
  for (const auto& [id, entry] : entries_) {
    if (entry->state == ModelState::kReady || entry->state == ModelState::kLoading)
      add(entry->gpu_id, entry->memory_bytes);
    for (const auto& d : entry->draining) {
      if (!d.users.expired()) add(d.gpu_id, d.memory_bytes);
    }
  }
  int best = gpus_.devices.front();
  for (int device : gpus_.devices) {
    if (load[device] < load[best]) best = device;
  }
  return best;
}

// Runs the loader without the lock; `lock` is held on entry and released on return.
Result<ModelHandle> ModelRegistry::load_locked(const std::shared_ptr<ModelEntry>& entry,
                                               std::unique_lock<std::mutex>& lock, int gpu_id) {
  std::vector<std::shared_ptr<LoadedModel>> released;  // freed after the lock is dropped
  entry->state = ModelState::kLoading;
  entry->failure_reason.clear();
  entry->gpu_id = gpu_id;
  ++entry->load_generation;
  const Status reserved = make_room_for_reload_locked(entry, lock, released);
  const Loader loader = entry->loader;
  const ModelConfig config = entry->config;
  lock.unlock();
  released.clear();  // models evicted for the reload and not in use are freed before it
  if (gpu_id >= 0) {
    LOG_INFO("registry", "loading model '{}' on GPU {}", config.model_id, gpu_id);
  } else {
    LOG_INFO("registry", "loading model '{}'", config.model_id);
  }
  const auto start = std::chrono::steady_clock::now();
  auto loaded = reserved.ok() ? call_loader(loader, config, LoadTarget{gpu_id})
                              : Result<std::shared_ptr<LoadedModel>>(reserved);
  const double load_ms = ms_since(start);
  lock.lock();

  Status status = loaded.status();
  if (status.ok()) {
    entry->object = std::move(loaded).value();
    entry->memory_bytes = entry->object->memory_bytes();
    status = make_room_locked(entry, lock, released);
    if (!status.ok()) released.push_back(std::move(entry->object));
  }
  if (!status.ok()) {
    entry->state = ModelState::kFailed;
    entry->failure_code = status.code();
    entry->failure_reason = status.message();
    entry->memory_bytes = 0;
    entry->gpu_id = -1;
    entry->load_ended.notify_all();
    lock.unlock();
    LOG_WARN("registry", "model '{}' failed to load: {}", config.model_id, status.message());
    return load_failure(config.model_id, status.code(), status.message());
  }
  entry->state = ModelState::kReady;
  entry->last_memory_bytes = entry->memory_bytes;
  entry->load_time_ms = load_ms;
  entry->loads += 1;
  ModelHandle handle = handle_locked(entry);
  const int64_t bytes = entry->memory_bytes;
  entry->load_ended.notify_all();
  lock.unlock();
  LOG_INFO("registry", "model '{}' ready in {:.1f} ms ({} bytes)", config.model_id, load_ms, bytes);
  return handle;
}

Status ModelRegistry::preload() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : entries_) {
      // Backgrounds are part of the loaded model: preloading them means loading it.
      if (entry->config.preload_model || entry->config.preload_backgrounds) ids.push_back(id);
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

ModelInfo ModelRegistry::info_locked(const ModelEntry& entry) const {
  ModelInfo info;
  info.model_id = entry.config.model_id;
  info.state = entry.state;
  info.failure_reason = entry.failure_reason;
  info.waiting_for_load = entry.waiting_for_load;
  info.waiting_for_memory = entry.waiting_for_memory;
  info.gpu_id = entry.gpu_id;
  info.stats.memory_bytes = entry.state == ModelState::kReady ? entry.memory_bytes : 0;
  info.stats.draining_bytes = entry.draining_bytes();
  info.stats.uses = entry.uses;
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
  if (entry == nullptr) return not_configured(model_id, entries_);
  return info_locked(*entry);
}

int64_t ModelRegistry::resident_memory_bytes() const {
  std::lock_guard lock(mutex_);
  int64_t total = 0;
  for (const auto& [id, entry] : entries_)
    total += entry->state == ModelState::kReady ? entry->memory_bytes : 0;
  return total;
}

int64_t ModelRegistry::draining_memory_bytes() const {
  std::lock_guard lock(mutex_);
  int64_t total = 0;
  for (const auto& [id, entry] : entries_) total += entry->draining_bytes();
  return total;
}

int ModelRegistry::ready_count() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(std::count_if(entries_.begin(), entries_.end(), [](const auto& e) {
    return e.second->state == ModelState::kReady;
  }));
}

}  // namespace lipsync::registry
