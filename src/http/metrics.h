// Process metrics in the Prometheus text format (exposition format 0.0.4): request counts by
// API and code, per-stage latency and batch-size histograms, queue depth, models, memory.
// Thread-safe; cheap enough to call per request.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace lipsync::http {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Appends `name_bucket{labels,le="…"}`, `name_sum` and `name_count` lines.
  void write(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();

  void count_request(std::string_view api, std::string_view code);  // lipsync_requests_total
  void observe_stage_ms(std::string_view stage, double ms);         // lipsync_stage_duration_ms
  void observe_batch_size(int frames);                              // lipsync_batch_frames
  void set_queue_depth(std::string_view model, int depth);          // lipsync_queue_depth
  void set_models_loaded(int count);                                // lipsync_models_loaded
  void count_eviction();                                            // lipsync_evictions_total
  void set_memory_bytes(std::int64_t bytes);                        // lipsync_memory_bytes
  void set_draining_memory_bytes(std::int64_t bytes);               // lipsync_draining_memory_bytes

  std::string prometheus_text() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> requests_;
  std::map<std::string, Histogram, std::less<>> stages_;
  Histogram batch_frames_;
  std::map<std::string, int, std::less<>> queue_depth_;
  int models_loaded_ = 0;
  std::uint64_t evictions_ = 0;
  std::int64_t memory_bytes_ = 0;
  std::int64_t draining_memory_bytes_ = 0;
};

}  // namespace lipsync::http
