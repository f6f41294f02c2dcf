#include "http/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace lipsync::http {
namespace {

// Latency buckets in milliseconds and batch-size buckets in frames.
const std::vector<double> kStageBucketsMs = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
const std::vector<double> kBatchBuckets = {1, 2, 4, 8, 16, 25, 32, 64, 128};

// Label values escape backslash, double quote and newline (exposition format).
std::string escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[static_cast<std::size_t>(bucket)];
  sum_ += value;
  ++count_;
}

void Histogram::write(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out +=
        fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count_);
  const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
}

Metrics::Metrics() : batch_frames_(kBatchBuckets) {}

void Metrics::count_request(std::string_view api, std::string_view code) {
  std::lock_guard lock(mutex_);
  ++requests_[{std::string(api), std::string(code)}];
}

void Metrics::observe_stage_ms(std::string_view stage, double ms) {
  std::lock_guard lock(mutex_);
  auto it = stages_.find(stage);
  if (it == stages_.end())
    it = stages_.emplace(std::string(stage), Histogram(kStageBucketsMs)).first;
  it->second.observe(ms);
}

void Metrics::observe_batch_size(int frames) {
  std::lock_guard lock(mutex_);
  batch_frames_.observe(frames);
}

void Metrics::set_queue_depth(std::string_view model, int depth) {
  std::lock_guard lock(mutex_);
  auto it = queue_depth_.find(model);
  if (it == queue_depth_.end()) it = queue_depth_.emplace(std::string(model), 0).first;
  it->second = depth;
}

void Metrics::set_models_loaded(int count) {
  std::lock_guard lock(mutex_);
  models_loaded_ = count;
}

void Metrics::count_eviction() {
  std::lock_guard lock(mutex_);
  ++evictions_;
}

void Metrics::set_memory_bytes(std::int64_t bytes) {
  std::lock_guard lock(mutex_);
  memory_bytes_ = bytes;
}

void Metrics::set_draining_memory_bytes(std::int64_t bytes) {
  std::lock_guard lock(mutex_);
  draining_memory_bytes_ = bytes;
}

std::string Metrics::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  header(out, "lipsync_requests_total", "counter", "Requests by API and status code.");
  for (const auto& [key, count] : requests_) {
    out += fmt::format("lipsync_requests_total{{api=\"{}\",code=\"{}\"}} {}\n", escape(key.first),
                       escape(key.second), count);
  }
  header(out, "lipsync_stage_duration_ms", "histogram", "Time per pipeline stage, milliseconds.");
  for (const auto& [stage, histogram] : stages_) {
    histogram.write(out, "lipsync_stage_duration_ms", fmt::format("stage=\"{}\"", escape(stage)));
  }
  header(out, "lipsync_batch_frames", "histogram", "Frames per UNet run.");
  batch_frames_.write(out, "lipsync_batch_frames", "");
  header(out, "lipsync_queue_depth", "gauge", "Requests waiting per model.");
  for (const auto& [model, depth] : queue_depth_) {
    out += fmt::format("lipsync_queue_depth{{model=\"{}\"}} {}\n", escape(model), depth);
  }
  header(out, "lipsync_models_loaded", "gauge", "Models resident in memory.");
  out += fmt::format("lipsync_models_loaded {}\n", models_loaded_);
  header(out, "lipsync_evictions_total", "counter", "Models evicted to make room.");
  out += fmt::format("lipsync_evictions_total {}\n", evictions_);
  header(out, "lipsync_memory_bytes", "gauge", "Host memory held by loaded models and avatars.");
  out += fmt::format("lipsync_memory_bytes {}\n", memory_bytes_);
  header(out, "lipsync_draining_memory_bytes", "gauge",
         "Memory of evicted or unloaded models still in use (counted in the memory budget).");
  out += fmt::format("lipsync_draining_memory_bytes {}\n", draining_memory_bytes_);
  return out;
}

}  // namespace lipsync::http
