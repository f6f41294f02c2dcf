// `lipsync bench model`: frames per second of a UNet (and optionally the audio encoder) alone,
// through runtime::Session, per batch size. Warm-up first; JSON with median and spread.
#include "bench/model_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/key_values.h"
#include "core/npy.h"
#include "imaging/model_geometry.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/onnx_feature_encoder.h"
#include "runtime/session.h"

namespace lipsync::bench {
namespace {

Result<runtime::GraphOptimization> parse_graph_optimization(const std::string& name) {
  static const std::map<std::string, runtime::GraphOptimization> kLevels{
      {"disable", runtime::GraphOptimization::kDisable},
      {"basic", runtime::GraphOptimization::kBasic},
      {"extended", runtime::GraphOptimization::kExtended},
      {"all", runtime::GraphOptimization::kAll}};
  const auto found = kLevels.find(name);
  if (found == kLevels.end()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--graph-optimization '{}': use disable, basic, extended or all", name);
  }
  return found->second;
}

nlohmann::json summarize(std::vector<double> ms, int batch) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[static_cast<std::size_t>(q * static_cast<double>(ms.size() - 1) + 0.5)];
  };
  const double median = at(0.5);
  return {{"batch", batch},      {"iterations", ms.size()},
          {"median_ms", median}, {"min_ms", ms.front()},
          {"p10_ms", at(0.1)},   {"p90_ms", at(0.9)},
          {"max_ms", ms.back()}, {"fps_median", batch * 1000.0 / median}};
}

std::vector<std::vector<float>> random_inputs(const runtime::Session& session, int batch) {
  std::mt19937 rng(batch);
  std::uniform_real_distribution<float> dist(0.f, 1.f);
  std::vector<std::vector<float>> values;
  for (const auto& spec : session.inputs()) {
    values.emplace_back(static_cast<std::size_t>(batch * runtime::values_per_frame(spec)));
    for (auto& v : values.back()) v = dist(rng);
  }
  return values;
}

// `runs` timed calls of `step` after `warmup` untimed ones; milliseconds per call.
Result<std::vector<double>> timed(int warmup, int runs, const std::function<Status()>& step) {
  std::vector<double> ms;
  for (int i = 0; i < warmup + runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(step());
    if (i >= warmup) ms.push_back(ms_since(start));
  }
  return ms;
}

// run_into() per batch: host float32 in and out.
Result<std::vector<double>> timed_runs(runtime::Session& session,
                                       std::span<const std::span<const float>> inputs, int batch,
                                       int warmup, int runs) {
  std::vector<std::vector<float>> buffers;  // reused, as the pipeline reuses its output frames
  for (const auto& spec : session.outputs()) {
    buffers.emplace_back(static_cast<std::size_t>(batch * runtime::values_per_frame(spec)));
  }
  const std::vector<std::span<float>> outputs(buffers.begin(), buffers.end());
  return timed(warmup, runs, [&] { return session.run_into(inputs, batch, outputs); });
}

// Every output of an executed batch into `path_prefix`_<output index>.npy ("" for output 0).
Status save_outputs(const runtime::Session& session, const runtime::Session::Batch& batch,
                    const std::string& path_prefix) {
  for (std::size_t o = 0; o < session.outputs().size(); ++o) {
    const auto& spec = session.outputs()[o];
    std::vector<float> values(
        static_cast<std::size_t>(batch.size() * runtime::values_per_frame(spec)));
    RETURN_IF_ERROR(batch.read_output(o, 0, values));
    std::vector<std::size_t> shape{static_cast<std::size_t>(batch.size())};
    for (std::size_t d = 1; d < spec.shape.size(); ++d)
      shape.push_back(static_cast<std::size_t>(spec.shape[d]));
    const std::string suffix = o == 0 ? "" : fmt::format("_{}", o);
    RETURN_IF_ERROR(write_npy(path_prefix + suffix + ".npy", values, shape));
  }
  return Status::ok_status();
}

// execute() of one staged and uploaded batch, again and again: the run alone, with its inputs
// and outputs already in the device's memory at the same addresses every time (as pipeline.md
// §8's I/O-binding anchor, and as CUDA graphs need). With `save_prefix`, the last run's
// outputs are saved (save_outputs).
Result<std::vector<double>> timed_executes(runtime::Session& session,
                                           std::span<const std::span<const float>> inputs,
                                           int batch, int warmup, int runs,
                                           const std::string& save_prefix) {
  ASSIGN_OR_RETURN(auto staged, session.stage(inputs, batch));
  RETURN_IF_ERROR(session.upload(staged));
  ASSIGN_OR_RETURN(auto ms, timed(warmup, runs, [&] { return session.execute(staged); }));
  if (!save_prefix.empty()) RETURN_IF_ERROR(save_outputs(session, staged, save_prefix));
  return ms;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

// Batches in flight in time_pipelined: one being written, one queued, one running, one queued,
// one being read. The first batches through allocate their staging memory (pinned host and
// device memory, a copy stream), which a server does once; they are not timed.
constexpr int kPipelineDepth = 5;

// The server's way: one thread writes batch n+1's inputs, one executes batch n, one reads batch
// n-1's outputs (Session::Batch). Returns the steady-state throughput (batches finished after
// the warm-up, over the time since the last warm-up batch finished) and the median time of each
// step, so that the slowest one shows.
Result<nlohmann::json> time_pipelined(runtime::Session& session,
                                      std::span<const std::span<const float>> inputs, int batch,
                                      int warmup, int runs) {
  warmup = std::max(warmup, kPipelineDepth);
  const int total = warmup + runs;
  BoundedQueue<runtime::Session::Batch> staged("bench staged", 1, FullPolicy::kBlock);
  BoundedQueue<runtime::Session::Batch> executed("bench executed", 1, FullPolicy::kBlock);
  std::vector<Status> errors(3);
  // Per batch: write (stage), upload, wait for a staged batch, execute, read (download + convert),
  // and when the reader finished it.
  std::vector<double> write_ms, upload_ms, wait_ms, execute_ms, read_ms;
  std::vector<std::chrono::steady_clock::time_point> finished;
  std::thread writer([&] {
    for (int i = 0; i < total && errors[0].ok(); ++i) {
      auto begin = std::chrono::steady_clock::now();
      auto next = session.stage(inputs, batch);
      if (!next.ok()) {
        errors[0] = next.status();
        break;
      }
      write_ms.push_back(ms_since(begin));
      begin = std::chrono::steady_clock::now();
      errors[0] = session.upload(*next);
      if (!errors[0].ok()) break;
      upload_ms.push_back(ms_since(begin));
      staged.push(std::move(next).value());
    }
    staged.close();
  });
  std::thread reader([&] {
    std::vector<std::vector<float>> buffers;
    for (const auto& spec : session.outputs())
      buffers.emplace_back(static_cast<std::size_t>(batch * runtime::values_per_frame(spec)));
    const std::vector<std::span<float>> outputs(buffers.begin(), buffers.end());
    while (auto done = executed.pop()) {
      const auto begin = std::chrono::steady_clock::now();
      if (errors[2].ok()) errors[2] = session.read_outputs(*done, outputs);
      read_ms.push_back(ms_since(begin));
      finished.push_back(std::chrono::steady_clock::now());
    }
  });
  for (;;) {
    auto begin = std::chrono::steady_clock::now();
    auto next = staged.pop();
    if (!next) break;
    wait_ms.push_back(ms_since(begin));
    begin = std::chrono::steady_clock::now();
    if (errors[1].ok()) errors[1] = session.execute(*next);
    execute_ms.push_back(ms_since(begin));
    executed.push(std::move(*next));
  }
  executed.close();
  writer.join();
  reader.join();
  for (const auto& error : errors) RETURN_IF_ERROR(error);
  // Steady state only: every series without its warm-up batches.
  auto timed = [&](const std::vector<double>& all) {
    return median(std::vector<double>(all.begin() + warmup, all.end()));
  };
  const double wall_ms = ms_between(finished[warmup - 1], finished.back());
  return nlohmann::json{{"pipelined_fps", 1000.0 * batch * runs / wall_ms},
                        {"pipelined_ms_per_batch", wall_ms / runs},
                        {"pipelined_warmup_batches", warmup},
                        {"pipelined_write_median_ms", timed(write_ms)},
                        {"pipelined_upload_median_ms", timed(upload_ms)},
                        {"pipelined_wait_median_ms", timed(wait_ms)},
                        {"pipelined_execute_median_ms", timed(execute_ms)},
                        {"pipelined_read_median_ms", timed(read_ms)}};
}

// With concurrency > 1, that many threads run batches at once (as a scheduler with several
// batches in flight would); throughput is frames over the wall-clock time of all timed runs.
Result<nlohmann::json> time_batch(runtime::Session& session, int batch,
                                  const BenchModelOptions& options, const std::string& part) {
  const auto values = random_inputs(session, batch);
  const std::vector<std::span<const float>> inputs(values.begin(), values.end());
  const std::string save_prefix =
      options.save_outputs.empty()
          ? ""
          : (std::filesystem::path(options.save_outputs) / fmt::format("{}_b{}", part, batch))
                .string();
  ASSIGN_OR_RETURN(auto executes, timed_executes(session, inputs, batch, options.warmup,
                                                 options.iterations, save_prefix));
  const auto execute_only = summarize(executes, batch);
  if (options.execute_only) return execute_only;
  ASSIGN_OR_RETURN(auto ms, timed_runs(session, inputs, batch, options.warmup, options.iterations));
  auto summary = summarize(ms, batch);
  summary["execute_only_median_ms"] = execute_only["median_ms"];
  summary["execute_only_fps"] = execute_only["fps_median"];
  if (options.pipelined) {
    ASSIGN_OR_RETURN(auto pipelined,
                     time_pipelined(session, inputs, batch, options.warmup, options.iterations));
    summary.update(pipelined);
  }
  if (options.concurrency <= 1) return summary;
  std::vector<Result<std::vector<double>>> results(options.concurrency,
                                                   Status(ErrorCode::kInternal, "not run"));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (auto& r : results)
    threads.emplace_back([&] { r = timed_runs(session, inputs, batch, 0, options.iterations); });
  for (auto& t : threads) t.join();
  const double wall_ms = ms_since(start);
  for (const auto& r : results) RETURN_IF_ERROR(r.status());
  summary["concurrency"] = options.concurrency;
  summary["concurrent_fps"] = 1000.0 * batch * options.iterations * options.concurrency / wall_ms;
  return summary;
}

Result<nlohmann::json> bench_one(const std::string& part, const std::string& path,
                                 std::vector<runtime::TensorSpec> inputs,
                                 std::vector<runtime::TensorSpec> outputs,
                                 const BenchModelOptions& options) {
  auto cuda_options = parse_key_values(options.cuda_options);
  if (!cuda_options.ok())
    return Status(ErrorCode::kInvalidArgument, "--cuda-option " + cuda_options.status().message());
  ASSIGN_OR_RETURN(const auto graph_optimization,
                   parse_graph_optimization(options.graph_optimization));
  const runtime::SessionOptions session_options = runtime::session_options_from(
      {}, {.provider = options.cuda ? ExecutionProvider::kCuda : ExecutionProvider::kCpu,
           .intra_op_threads = options.threads,
           .device_id = options.device_id,
           .cuda_ep_library = options.cuda_ep_library,
           .cuda_options = std::move(*cuda_options),
           .cuda_nhwc = options.cuda_nhwc,
           .upload_in_advance = options.upload_in_advance,
           .cuda_graph = options.cuda_graph,
           .graph_optimization = graph_optimization,
           .profile_prefix = options.profile.empty() ? "" : options.profile + "_" + part});
  ASSIGN_OR_RETURN(auto session, runtime::Session::create(path, session_options, std::move(inputs),
                                                          std::move(outputs)));
  const bool is_half = session->element_type() == runtime::ElementType::kFloat16;
  if (options.fp16 && !is_half) {
    return make_error(ErrorCode::kInvalidArgument, "--fp16 given but '{}' has float32 inputs",
                      path);
  }
  nlohmann::json report{
      {"model", path},
      {"precision", is_half ? "float16" : "float32"},
      {"provider", options.cuda ? "cuda" : "cpu"},
      {"device", session->device_description()},
      {"intra_op_threads", options.threads},
      {"cuda_options", session_options.cuda_options},
      {"upload_in_advance", options.upload_in_advance},
      {"cuda_nhwc", options.cuda_nhwc},
      {"cuda_graph", options.cuda_graph},
      {"graph_optimization", options.graph_optimization},
      {"warmup", options.warmup},
      {"api", options.execute_only ? "Session::execute of one uploaded batch (I/O on the device)"
                                   : "Session::run_into (caller-owned float32 output buffers)"},
      {"results", nlohmann::json::array()}};
  for (int batch : options.batches) {
    ASSIGN_OR_RETURN(auto result, time_batch(*session, batch, options, part));
    report["results"].push_back(std::move(result));
  }
  if (!options.profile.empty()) {
    ASSIGN_OR_RETURN(const auto file, session->end_profiling());
    report["profile_file"] = file.string();
  }
  return report;
}

}  // namespace

Result<nlohmann::json> bench_model(const BenchModelOptions& options) {
  const char* commit = std::getenv("LIPSYNC_COMMIT");
  nlohmann::json report{{"benchmark", "model"}, {"commit", commit != nullptr ? commit : "unknown"}};
  if (!options.save_outputs.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.save_outputs, ec);
    if (ec) {
      return make_error(ErrorCode::kInvalidArgument, "--save-outputs '{}': {}",
                        options.save_outputs, ec.message());
    }
  }
  ASSIGN_OR_RETURN(report["unet"],
                   bench_one("unet", options.model, pipeline::unet_inputs(imaging::kSyncTalk328),
                             pipeline::unet_outputs(imaging::kSyncTalk328), options));
  if (!options.encoder.empty()) {
    ASSIGN_OR_RETURN(report["encoder"],
                     bench_one("encoder", options.encoder, pipeline::encoder_inputs(),
                               pipeline::encoder_outputs(), options));
  }
  return report;
}

}  // namespace lipsync::bench
