// ModelRegistry's capacity rules: making room for a load (count and memory, draining models
// included), choosing and evicting victims, waiting for releases, and unloading idle models.
#include <algorithm>
#include <chrono>

#include "core/log.h"
#include "registry/model_entry.h"
#include "registry/model_registry.h"

namespace lipsync::registry {
namespace {

constexpr double kBytesPerGb = 1024.0 * 1024.0 * 1024.0;

bool fewer_uses(const ModelEntry& a, const ModelEntry& b, EvictionPolicy policy) {
  if (policy == EvictionPolicy::kLfu && a.uses != b.uses) return a.uses < b.uses;
  return a.last_use_tick < b.last_use_tick;
}

}  // namespace

// A reload's size is known from its last load: room is made for it before the loader runs, so
// that the model being loaded and those evicted for it are not in memory together. A first load
// is checked once its size is known (load_locked).
Status ModelRegistry::make_room_for_reload_locked(
    const std::shared_ptr<ModelEntry>& entry, std::unique_lock<std::mutex>& lock,
    std::vector<std::shared_ptr<LoadedModel>>& released) {
  if (entry->last_memory_bytes <= 0) return {};
  entry->memory_bytes = entry->last_memory_bytes;
  Status status = make_room_locked(entry, lock, released);
  entry->memory_bytes = 0;
  return status;
}

// The next model to evict for `keep`: idle ones first (evicting a model in use frees nothing
// until its users finish), each group in eviction-policy order.
ModelEntry* ModelRegistry::pick_victim_locked(const ModelEntry& keep) const {
  ModelEntry* victim = nullptr;
  for (const auto& [id, entry] : entries_) {
    if (entry.get() == &keep || entry->state != ModelState::kReady) continue;
    if (victim == nullptr) {
      victim = entry.get();
    } else if (entry->in_use() != victim->in_use()) {
      if (!entry->in_use()) victim = entry.get();
    } else if (fewer_uses(*entry, *victim, capacity_.eviction_policy)) {
      victim = entry.get();
    }
  }
  return victim;
}

// Drops the registry's reference; a model still in use goes on draining until its last handle.
void ModelRegistry::evict_locked(ModelEntry& victim,
                                 std::vector<std::shared_ptr<LoadedModel>>& released) {
  victim.forget_released();
  if (victim.in_use())
    victim.draining.push_back({victim.users, victim.memory_bytes, victim.gpu_id});
  victim.users.reset();
  released.push_back(std::move(victim.object));
  victim.state = ModelState::kUnloaded;
  victim.memory_bytes = 0;
  victim.gpu_id = -1;
}

// Evicts ready models (never `keep`) until count and memory fit; memory counts the draining
// models too. When only draining memory is left over budget, waits for releases until
// capacity.drain_wait_ms has passed. The evicted objects stay alive in their users' handles.
Status ModelRegistry::make_room_locked(const std::shared_ptr<ModelEntry>& keep,
                                       std::unique_lock<std::mutex>& lock,
                                       std::vector<std::shared_ptr<LoadedModel>>& released) {
  const auto budget = static_cast<int64_t>(capacity_.max_memory_gb * kBytesPerGb);
  if (budget > 0 && keep->memory_bytes > budget) {
    return make_error(ErrorCode::kResourceExhausted,
                      "it needs {} bytes, more than capacity.max_memory_gb ({} GB)",
                      keep->memory_bytes, capacity_.max_memory_gb);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(capacity_.drain_wait_ms);
  for (;;) {
    const uint64_t releases_seen = releases_->seen();  // a release from now on ends a wait
    int ready = 1;                                     // `keep`
    int64_t resident = keep->memory_bytes;
    int64_t draining = 0;
    for (const auto& [id, entry] : entries_) {
      draining += entry->draining_bytes();
      if (entry == keep || entry->state != ModelState::kReady) continue;
      ++ready;
      resident += entry->memory_bytes;
    }
    const bool too_many = capacity_.max_models > 0 && ready > capacity_.max_models;
    const bool too_big = budget > 0 && resident + draining > budget;
    if (!too_many && !too_big) return {};
    if (ModelEntry* victim = pick_victim_locked(*keep)) {
      LOG_INFO("registry", "evicting model '{}' ({}; {} loaded, {} bytes resident, {} draining){}",
               victim->config.model_id,
               capacity_.eviction_policy == EvictionPolicy::kLfu ? "least frequently used"
                                                                 : "least recently used",
               ready, resident, draining, victim->in_use() ? "; in use: it drains" : "");
      evict_locked(*victim, released);
      victim->evictions += 1;
      continue;
    }
    if (!too_big) return {};
    RETURN_IF_ERROR(wait_for_release(*keep, lock, releases_seen, deadline)
                        .with_context(fmt::format("{} bytes resident + {} bytes of evicted models "
                                                  "still in use exceed capacity.max_memory_gb",
                                                  resident, draining)));
  }
}

// Waits (without the registry lock) for a last handle to be released.
Status ModelRegistry::wait_for_release(ModelEntry& entry, std::unique_lock<std::mutex>& lock,
                                       uint64_t releases_seen,
                                       std::chrono::steady_clock::time_point deadline) {
  entry.waiting_for_memory = true;
  lock.unlock();
  const bool released = releases_->wait(releases_seen, deadline);
  lock.lock();
  entry.waiting_for_memory = false;
  if (released) return {};
  return make_error(ErrorCode::kResourceExhausted,
                    "no model in use was released within capacity.drain_wait_ms ({} ms)",
                    capacity_.drain_wait_ms);
}

Status ModelRegistry::unload(const std::string& model_id) {
  std::vector<std::shared_ptr<LoadedModel>> released;  // freed after the lock is dropped
  std::unique_lock lock(mutex_);
  auto entry = find(model_id);
  if (entry == nullptr) return not_configured(model_id, entries_);
  entry->load_ended.wait(lock, [&] { return entry->state != ModelState::kLoading; });
  if (entry->state != ModelState::kReady) return {};
  const bool in_use = entry->in_use();
  evict_locked(*entry, released);
  lock.unlock();
  LOG_INFO("registry", "unloaded model '{}'{}", model_id,
           in_use ? " (in use: freed when its last user finishes)" : "");
  return {};
}

int ModelRegistry::unload_idle() {
  if (capacity_.idle_timeout_minutes <= 0) return 0;
  const int64_t cutoff = now() - int64_t{capacity_.idle_timeout_minutes} * 60;
  std::vector<std::shared_ptr<LoadedModel>> released;
  std::lock_guard lock(mutex_);
  for (auto& [id, entry] : entries_) {
    if (entry->state != ModelState::kReady || entry->in_use()) continue;
    int64_t last_used = 0;
    {
      std::lock_guard stats_lock(entry->stats_mutex);
      last_used = entry->last_used_unix_s;
    }
    if (last_used > cutoff) continue;
    LOG_INFO("registry", "unloading model '{}': idle for over {} minute(s)", id,
             capacity_.idle_timeout_minutes);
    evict_locked(*entry, released);
  }
  return static_cast<int>(released.size());
}

void ModelRegistry::start_idle_sweeper(std::chrono::milliseconds period) {
  if (capacity_.idle_timeout_minutes <= 0) return;
  std::lock_guard lock(sweeper_mutex_);
  if (sweeper_.joinable() || sweeper_stop_) return;
  sweeper_ = std::thread([this, period] { sweep_idle(period); });
  LOG_INFO("registry", "unloading models idle for {} minute(s), checked every {} ms",
           capacity_.idle_timeout_minutes, period.count());
}

void ModelRegistry::sweep_idle(std::chrono::milliseconds period) {
  std::unique_lock lock(sweeper_mutex_);
  while (!sweeper_wake_.wait_for(lock, period, [&] { return sweeper_stop_; })) {
    lock.unlock();
    unload_idle();
    lock.lock();
  }
}

}  // namespace lipsync::registry
