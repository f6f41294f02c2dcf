#include "server/service_context.h"

namespace lipsync::server {

void RegistryGauges::refresh() {
  std::int64_t evictions = 0;
  for (const auto& info : registry_.list()) evictions += info.stats.evictions;
  std::lock_guard lock(mutex_);
  for (; evictions_seen_ < evictions; ++evictions_seen_) metrics_.count_eviction();
  metrics_.set_models_loaded(registry_.ready_count());
  metrics_.set_memory_bytes(registry_.resident_memory_bytes());
  metrics_.set_draining_memory_bytes(registry_.draining_memory_bytes());
}

}  // namespace lipsync::server
