// Cheap registry models for tests: count live instances and loader calls, optionally gated.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "registry/model_registry.h"

namespace lipsync::registry::testing {

inline std::atomic<int>& live_fakes() {
  static std::atomic<int> count{0};
  return count;
}

class FakeModel : public LoadedModel {
 public:
  static constexpr uint32_t kAlive = 0xA11CE;
  FakeModel(std::string id, int64_t bytes) : id_(std::move(id)), bytes_(bytes) { ++live_fakes(); }
  ~FakeModel() override {
    magic_ = 0;
    --live_fakes();
  }
  int64_t memory_bytes() const override { return bytes_; }
  bool alive() const { return magic_ == kAlive; }
  const std::string& id() const { return id_; }

 private:
  std::string id_;
  int64_t bytes_;
  volatile uint32_t magic_ = kAlive;
};

// A loader whose calls are counted per model; sizes per model (default 100 bytes).
class FakeLoader {
 public:
  explicit FakeLoader(std::map<std::string, int64_t> sizes = {}) : sizes_(std::move(sizes)) {}
  Loader loader() {
    return [this](const ModelConfig& config,
                  const LoadTarget& target) -> Result<std::shared_ptr<LoadedModel>> {
      int64_t bytes = 100;
      {
        std::lock_guard lock(mutex_);
        ++calls_[config.model_id];
        gpus_[config.model_id] = target.gpu_id;
        if (auto it = sizes_.find(config.model_id); it != sizes_.end()) bytes = it->second;
      }
      return std::shared_ptr<LoadedModel>(std::make_shared<FakeModel>(config.model_id, bytes));
    };
  }
  int calls(const std::string& id) {
    std::lock_guard lock(mutex_);
    return calls_[id];
  }
  // The device the last load of `id` was given (LoadTarget::gpu_id); -2 if never loaded.
  int gpu(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = gpus_.find(id);
    return it == gpus_.end() ? -2 : it->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, int64_t> sizes_;
  std::map<std::string, int> calls_;
  std::map<std::string, int> gpus_;
};

// A one-shot gate: wait() blocks until open().
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

inline ModelConfig model(const std::string& id, bool preload = false) {
  ModelConfig config;
  config.model_id = id;
  config.model_path = id + ".onnx";
  config.preload_model = preload;
  return config;
}

inline CapacitySection capacity(int max_models, double max_memory_gb = 0.0) {
  CapacitySection c;
  c.max_models = max_models;
  c.max_memory_gb = max_memory_gb;
  return c;
}

// max_memory_gb for a budget of `bytes`.
inline double gb(double bytes) {
  return bytes / (1024.0 * 1024.0 * 1024.0);
}

// Spins (no sleeping) until `done()`; false if it did not happen within 20 s.
template <typename Predicate>
bool eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace lipsync::registry::testing
