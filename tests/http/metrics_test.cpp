#include "http/metrics.h"

#include <gtest/gtest.h>

namespace lipsync::http {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, CountsRequestsByApiAndCode) {
  Metrics m;
  m.count_request("compat", "OK");
  m.count_request("compat", "OK");
  m.count_request("native", "NOT_FOUND");
  const auto text = m.prometheus_text();
  EXPECT_TRUE(has_line(text, "# TYPE lipsync_requests_total counter")) << text;
  EXPECT_TRUE(has_line(text, R"(lipsync_requests_total{api="compat",code="OK"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(lipsync_requests_total{api="native",code="NOT_FOUND"} 1)")) << text;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Metrics m;
  for (double ms : {0.5, 3.0, 3.0, 700.0, 9000.0}) m.observe_stage_ms("inference", ms);
  m.observe_batch_size(25);
  const auto text = m.prometheus_text();
  EXPECT_TRUE(has_line(text, R"(lipsync_stage_duration_ms_bucket{stage="inference",le="1"} 1)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(lipsync_stage_duration_ms_bucket{stage="inference",le="5"} 3)"));
  EXPECT_TRUE(has_line(text, R"(lipsync_stage_duration_ms_bucket{stage="inference",le="1000"} 4)"));
  EXPECT_TRUE(has_line(text, R"(lipsync_stage_duration_ms_bucket{stage="inference",le="+Inf"} 5)"));
  EXPECT_TRUE(has_line(text, R"(lipsync_stage_duration_ms_count{stage="inference"} 5)"));
  EXPECT_TRUE(has_line(text, R"(lipsync_stage_duration_ms_sum{stage="inference"} 9706.5)"));
  EXPECT_TRUE(has_line(text, R"(lipsync_batch_frames_bucket{le="16"} 0)"));
  EXPECT_TRUE(has_line(text, R"(lipsync_batch_frames_bucket{le="25"} 1)"));
  EXPECT_TRUE(has_line(text, "lipsync_batch_frames_count 1"));
}

TEST(Metrics, GaugesAndEscapedLabels) {
  Metrics m;
  m.set_queue_depth("al\"ice", 3);
  m.set_queue_depth("al\"ice", 1);
  m.set_models_loaded(2);
  m.count_eviction();
  m.set_memory_bytes(1234);
  const auto text = m.prometheus_text();
  EXPECT_TRUE(has_line(text, R"(lipsync_queue_depth{model="al\"ice"} 1)")) << text;
  EXPECT_TRUE(has_line(text, "lipsync_models_loaded 2"));
  EXPECT_TRUE(has_line(text, "lipsync_evictions_total 1"));
  EXPECT_TRUE(has_line(text, "lipsync_memory_bytes 1234"));
}

}  // namespace
}  // namespace lipsync::http
