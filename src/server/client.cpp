#include "server/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "core/log.h"
#include "proto/monolithic.grpc.pb.h"

namespace lipsync::server {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;  // for timings; gRPC deadlines take system_clock

// What one request came back with.
struct RequestOutcome {
  bool success = false;
  std::string error;
  double latency_ms = 0;
  int frames = 0;
  StageTimes stages;
};

Status check_options(const ClientOptions& o) {
  if (o.server.empty()) return make_error(ErrorCode::kInvalidArgument, "--server is required");
  if (o.model_id.empty()) return make_error(ErrorCode::kInvalidArgument, "--model is required");
  if (o.batch_size < 1 || o.batch_size > 32)
    return make_error(ErrorCode::kInvalidArgument, "batch size {} outside 1..32", o.batch_size);
  if (o.concurrency < 1)
    return make_error(ErrorCode::kInvalidArgument, "concurrency {} must be >= 1", o.concurrency);
  if (o.requests < 1)
    return make_error(ErrorCode::kInvalidArgument, "requests {} must be >= 1", o.requests);
  return {};
}

std::shared_ptr<grpc::Channel> connect(const ClientOptions& o) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // a batch with visual frames is ~61.5 MB
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(o.server, grpc::InsecureChannelCredentials(), args);
}

Status wait_connected(grpc::Channel& channel, const ClientOptions& o) {
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(o.connect_timeout_ms);
  if (channel.WaitForConnected(deadline)) return {};
  return make_error(ErrorCode::kUnavailable, "server '{}' unreachable: no connection within {} ms",
                    o.server, o.connect_timeout_ms);
}

template <typename T>
std::string as_bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

Result<monolithic::CompositeBatchRequest> build_request(std::span<const float> clip,
                                                        const ClientOptions& o, int start) {
  monolithic::CompositeBatchRequest request;
  request.set_model_id(o.model_id);
  request.set_batch_size(o.batch_size);
  request.set_start_frame_idx(start);
  request.set_sample_rate(kCompatSampleRateHz);
  request.set_raw_audio(as_bytes(compat_raw_audio(clip, start, o.batch_size)));
  if (o.avatar) {
    ASSIGN_OR_RETURN(auto frames, compat_visual_frames(*o.avatar, start, o.batch_size));
    request.set_visual_frames(as_bytes(frames));
  }
  return request;
}

Status save_frames(const monolithic::CompositeBatchResponse& response, const fs::path& dir,
                   int start) {
  for (int i = 0; i < response.composited_frames_size(); ++i) {
    const fs::path path = dir / fmt::format("frame_{:06d}.jpg", start + i);
    std::ofstream out(path, std::ios::binary);
    const std::string& jpeg = response.composited_frames(i);
    out.write(jpeg.data(), static_cast<std::streamsize>(jpeg.size()));
    if (!out) return make_error(ErrorCode::kInternal, "cannot write '{}'", path.string());
  }
  return {};
}

StageTimes stage_times(const monolithic::CompositeBatchResponse& response) {
  return {.inference_ms = response.inference_time_ms(),
          .composite_ms = response.composite_time_ms(),
          .audio_processing_ms = response.audio_processing_ms(),
          .total_ms = response.total_time_ms()};
}

RequestOutcome send(monolithic::MonolithicService::Stub& stub, std::span<const float> clip,
                    const ClientOptions& o, int start) {
  RequestOutcome outcome;
  auto request = build_request(clip, o, start);
  if (!request.ok()) {
    outcome.error = request.status().to_string();
    return outcome;
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(o.request_timeout_ms));
  monolithic::CompositeBatchResponse response;
  const auto sent = Clock::now();
  const grpc::Status status = stub.InferBatchComposite(&context, *request, &response);
  outcome.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
  if (!status.ok()) {
    outcome.error =
        fmt::format("gRPC error {} from '{}': {}", static_cast<int>(status.error_code()), o.server,
                    status.error_message());
    return outcome;
  }
  if (!response.success()) {
    outcome.error = response.error();
    return outcome;
  }
  if (response.composited_frames_size() != o.batch_size) {
    outcome.error = fmt::format("{} frames returned for a batch of {}",
                                response.composited_frames_size(), o.batch_size);
    return outcome;
  }
  if (!o.save_dir.empty()) {
    if (Status saved = save_frames(response, o.save_dir, start); !saved.ok()) {
      outcome.error = saved.to_string();
      return outcome;
    }
  }
  outcome.success = true;
  outcome.frames = response.composited_frames_size();
  outcome.stages = stage_times(response);
  return outcome;
}

ClientReport summarize(const std::vector<RequestOutcome>& outcomes, const ClientOptions& o,
                       double wall_s) {
  ClientReport report;
  report.requests = static_cast<int>(outcomes.size());
  report.wall_s = wall_s;
  std::vector<double> latencies;
  for (std::size_t r = 0; r < outcomes.size(); ++r) {
    const RequestOutcome& outcome = outcomes[r];
    if (!outcome.success) {
      ++report.failed;
      if (report.errors.size() < o.max_errors_kept) {
        report.errors.push_back(fmt::format("request {} (start {}): {}", r,
                                            o.start_frame + static_cast<int>(r) * o.batch_size,
                                            outcome.error));
      }
      continue;
    }
    ++report.succeeded;
    report.frames += outcome.frames;
    latencies.push_back(outcome.latency_ms);
    report.mean_stage.inference_ms += outcome.stages.inference_ms;
    report.mean_stage.composite_ms += outcome.stages.composite_ms;
    report.mean_stage.audio_processing_ms += outcome.stages.audio_processing_ms;
    report.mean_stage.total_ms += outcome.stages.total_ms;
  }
  if (report.succeeded > 0) {
    const double n = report.succeeded;
    report.mean_stage = {report.mean_stage.inference_ms / n, report.mean_stage.composite_ms / n,
                         report.mean_stage.audio_processing_ms / n, report.mean_stage.total_ms / n};
    double sum = 0;
    for (double l : latencies) sum += l;
    report.latency_mean_ms = sum / n;
  }
  report.latency_p50_ms = percentile(latencies, 50);
  report.latency_p95_ms = percentile(latencies, 95);
  report.latency_p99_ms = percentile(latencies, 99);
  report.frames_per_s = wall_s > 0 ? static_cast<double>(report.frames) / wall_s : 0;
  return report;
}

}  // namespace

std::vector<float> compat_raw_audio(std::span<const float> clip, int start_frame, int batch_size) {
  // ref: compat-api.md "Audio alignment"
  const long long first_frame = std::max(0, start_frame - kCompatAudioLeadFrames);
  const std::size_t length =
      static_cast<std::size_t>(batch_size + kCompatAudioExtraFrames) * kSamplesPerVideoFrame;
  std::vector<float> samples(length, 0.0f);
  const auto offset = static_cast<std::size_t>(first_frame * kSamplesPerVideoFrame);
  if (offset < clip.size()) {
    const std::size_t available = std::min(length, clip.size() - offset);
    std::copy_n(clip.begin() + static_cast<std::ptrdiff_t>(offset), available, samples.begin());
  }
  return samples;
}

Result<std::vector<float>> compat_visual_frames(const avatar::Avatar& avatar, int start_frame,
                                                int batch_size) {
  const std::size_t per_frame = avatar.geometry().input_tensor_elements();
  const auto count = static_cast<long long>(avatar.frame_count());
  if (count == 0) return make_error(ErrorCode::kInvalidArgument, "the avatar has no frames");
  std::vector<float> tensors(per_frame * static_cast<std::size_t>(batch_size));
  for (int i = 0; i < batch_size; ++i) {
    const long long index = ((static_cast<long long>(start_frame) + i) % count + count) % count;
    RETURN_IF_ERROR(avatar.fill_input_tensor(static_cast<std::size_t>(index),
                                             std::span(tensors).subspan(i * per_frame, per_frame)));
  }
  return tensors;
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(rank));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (rank - static_cast<double>(below)) * (values[above] - values[below]);
}

Result<ClientReport> run_client(std::span<const float> clip, const ClientOptions& options) {
  RETURN_IF_ERROR(check_options(options));
  if (!options.save_dir.empty()) {
    std::error_code error;
    fs::create_directories(options.save_dir, error);
    if (error) {
      return make_error(ErrorCode::kInvalidArgument, "cannot create --save folder '{}': {}",
                        options.save_dir.string(), error.message());
    }
  }
  auto channel = connect(options);
  RETURN_IF_ERROR(wait_connected(*channel, options));
  std::vector<RequestOutcome> outcomes(static_cast<std::size_t>(options.requests));
  std::atomic<int> next{0};
  const auto started = Clock::now();
  {
    std::vector<std::jthread> workers;
    for (int w = 0; w < std::min(options.concurrency, options.requests); ++w) {
      workers.emplace_back([&] {
        auto stub = monolithic::MonolithicService::NewStub(channel);
        for (int r; (r = next.fetch_add(1)) < options.requests;) {
          outcomes[static_cast<std::size_t>(r)] =
              send(*stub, clip, options, options.start_frame + r * options.batch_size);
        }
      });
    }
  }
  const double wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  ClientReport report = summarize(outcomes, options, wall_s);
  if (report.succeeded == 0) {
    return make_error(ErrorCode::kFailedPrecondition, "all {} request(s) to '{}' failed: {}",
                      report.requests, options.server, report.errors.front());
  }
  return report;
}

}  // namespace lipsync::server
