#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "client/compat_inputs.h"
#include "client/model_header.h"
#include "client/percentile.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/timeline.h"
#include "proto/lipsync_v1.grpc.pb.h"
#include "proto/monolithic.grpc.pb.h"

namespace lipsync::client {
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
  double first_frame_ms = 0;         // RenderStream, Session: until the first frames arrived
  FirstMessageStages first_message;  // RenderStream, Session: the server's times of that message
  std::vector<double> lateness_ms;   // paced Session: per frame (frame_lateness_ms)
};

// The start frame request r reports in error messages.
int request_start(const ClientOptions& o, int r) {
  return o.api == ClientApi::kCompat ? o.start_frame + r * o.batch_size : o.start_frame;
}

Status check_options(const ClientOptions& o) {
  if (o.server.empty()) return make_error(ErrorCode::kInvalidArgument, "--server is required");
  if (o.model_id.empty()) return make_error(ErrorCode::kInvalidArgument, "--model is required");
  if (o.api == ClientApi::kCompat && (o.batch_size < 1 || o.batch_size > 32))
    return make_error(ErrorCode::kInvalidArgument, "batch size {} outside 1..32", o.batch_size);
  if (o.concurrency < 1)
    return make_error(ErrorCode::kInvalidArgument, "concurrency {} must be >= 1", o.concurrency);
  if (o.requests < 1)
    return make_error(ErrorCode::kInvalidArgument, "requests {} must be >= 1", o.requests);
  if (o.api == ClientApi::kNativeSession && (o.chunk_ms < 1 || o.chunk_ms > 60000))
    return make_error(ErrorCode::kInvalidArgument, "chunk {} ms outside 1..60000", o.chunk_ms);
  if (o.api == ClientApi::kNativeSession && !o.encoded_audio.empty())
    return make_error(ErrorCode::kInvalidArgument, "a Session sends PCM, not encoded audio");
  return {};
}

// `own_connection`: a channel with its own TCP connection (a live session is one user).
std::shared_ptr<grpc::Channel> connect(const ClientOptions& o, bool own_connection = false) {
  grpc::ChannelArguments args;
  if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);  // a batch with visual frames is ~61.5 MB
  args.SetMaxSendMessageSize(-1);
  // The retry policy (deploy/grpc/service_config.json) applies to calls whose connection failed
  // or that a draining replica refused (UNAVAILABLE); the channel replays them.
  if (!o.service_config_json.empty()) {
    args.SetServiceConfigJSON(o.service_config_json);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  }
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
  request.set_sample_rate(timeline::kSampleRateHz);
  request.set_raw_audio(as_bytes(compat_raw_audio(clip, start, o.batch_size)));
  if (o.avatar) {
    ASSIGN_OR_RETURN(auto frames, compat_visual_frames(*o.avatar, start, o.batch_size));
    request.set_visual_frames(as_bytes(frames));
  }
  return request;
}

Status save_frame(const fs::path& dir, std::int64_t index, const std::string& jpeg) {
  const fs::path path = dir / fmt::format("frame_{:06d}.jpg", index);
  std::ofstream out(path, std::ios::binary);
  out.write(jpeg.data(), static_cast<std::streamsize>(jpeg.size()));
  if (!out) return make_error(ErrorCode::kInternal, "cannot write '{}'", path.string());
  return {};
}

Status save_frames(const monolithic::CompositeBatchResponse& response, const fs::path& dir,
                   int start) {
  for (int i = 0; i < response.composited_frames_size(); ++i)
    RETURN_IF_ERROR(save_frame(dir, start + i, response.composited_frames(i)));
  return {};
}

void set_deadline(grpc::ClientContext& context, const ClientOptions& o) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(o.request_timeout_ms));
}

// gRPC's name of a status code, as the compat API's errors print theirs ("NOT_FOUND: ...").
std::string_view code_name(grpc::StatusCode code) {
  static constexpr std::array<std::string_view, 17> kNames = {"OK",
                                                              "CANCELLED",
                                                              "UNKNOWN",
                                                              "INVALID_ARGUMENT",
                                                              "DEADLINE_EXCEEDED",
                                                              "NOT_FOUND",
                                                              "ALREADY_EXISTS",
                                                              "PERMISSION_DENIED",
                                                              "RESOURCE_EXHAUSTED",
                                                              "FAILED_PRECONDITION",
                                                              "ABORTED",
                                                              "OUT_OF_RANGE",
                                                              "UNIMPLEMENTED",
                                                              "INTERNAL",
                                                              "UNAVAILABLE",
                                                              "DATA_LOSS",
                                                              "UNAUTHENTICATED"};
  const auto index = static_cast<std::size_t>(code);
  return index < kNames.size() ? kNames[index] : "UNKNOWN";
}

// A native call's deadline, and its avatar named for a cluster's proxy (client/model_header.h).
void set_native_context(grpc::ClientContext& context, const ClientOptions& o) {
  set_deadline(context, o);
  name_model(context, o.model_id);
}

std::string grpc_error(const grpc::Status& status, const ClientOptions& o) {
  return fmt::format("{} from '{}': {}", code_name(status.error_code()), o.server,
                     status.error_message());
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
  set_deadline(context, o);
  monolithic::CompositeBatchResponse response;
  const auto sent = Clock::now();
  const grpc::Status status = stub.InferBatchComposite(&context, *request, &response);
  outcome.latency_ms = ms_since(sent);
  if (!status.ok()) {
    outcome.error = grpc_error(status, o);
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

v1::RenderRequest native_request(std::span<const float> clip, const ClientOptions& o) {
  v1::RenderRequest request;
  request.set_model_id(o.model_id);
  request.set_start_frame(o.start_frame);
  request.mutable_output()->set_format(v1::FRAME_FORMAT_JPEG);
  if (!o.encoded_audio.empty()) {
    request.mutable_audio()->set_encoded(o.encoded_audio);
    return request;
  }
  v1::PcmAudio& pcm = *request.mutable_audio()->mutable_pcm();
  pcm.set_sample_rate_hz(timeline::kSampleRateHz);
  pcm.mutable_samples()->Add(clip.begin(), clip.end());
  return request;
}

// Takes one message's frames: they must continue the clip in order; saves them when asked.
Status take_native_frames(const v1::RenderResponse& message, const ClientOptions& o,
                          RequestOutcome& outcome) {
  if (outcome.frames == 0 && message.frames_size() > 0) {
    const v1::StageTimings& t = message.timings();
    outcome.first_message = {.audio_ms = t.audio_ms(),
                             .queue_ms = t.queue_ms(),
                             .prepare_ms = t.prepare_ms(),
                             .inference_ms = t.inference_ms(),
                             .composite_ms = t.composite_ms(),
                             .total_ms = t.total_ms()};
  }
  for (const v1::Frame& frame : message.frames()) {
    if (frame.index() != outcome.frames) {
      return make_error(ErrorCode::kInternal, "frame {} arrived where frame {} was expected",
                        frame.index(), outcome.frames);
    }
    if (!o.save_dir.empty()) RETURN_IF_ERROR(save_frame(o.save_dir, frame.index(), frame.data()));
    ++outcome.frames;
  }
  const v1::StageTimings& t = message.timings();
  outcome.stages.inference_ms += t.inference_ms();
  outcome.stages.composite_ms += t.composite_ms();
  outcome.stages.audio_processing_ms += t.audio_ms();
  outcome.stages.total_ms = std::max(outcome.stages.total_ms, t.total_ms());
  return {};
}

Status check_clip_complete(const RequestOutcome& outcome, std::int64_t clip_frames) {
  if (outcome.frames == clip_frames) return {};
  return make_error(ErrorCode::kInternal, "{} frames returned for a clip of {}", outcome.frames,
                    clip_frames);
}

// Reads a streamed clip's messages until the end or a frame out of order; times the first frames.
template <typename Stream>
Status read_frames(Stream& stream, const ClientOptions& o, Clock::time_point sent,
                   RequestOutcome& outcome, std::int64_t& clip_frames) {
  Status taken;
  for (v1::RenderResponse message; taken.ok() && stream.Read(&message);) {
    if (outcome.frames == 0 && message.frames_size() > 0) outcome.first_frame_ms = ms_since(sent);
    clip_frames = message.clip_frames();
    taken = take_native_frames(message, o, outcome);
  }
  return taken;
}

// Ends a native call's outcome: its frames must make the whole clip, and the call must succeed.
void conclude(RequestOutcome& outcome, Status taken, const grpc::Status& status,
              std::int64_t clip_frames, Clock::time_point sent, const ClientOptions& o) {
  outcome.latency_ms = ms_since(sent);
  // The call's status first: a call that failed after its answer arrived (its trailers lost)
  // carries a complete answer that was never read, and must be reported as the failure it is.
  if (!status.ok() && taken.ok())
    taken = make_error(ErrorCode::kInternal, "{}", grpc_error(status, o));
  if (taken.ok()) taken = check_clip_complete(outcome, clip_frames);
  outcome.success = taken.ok();
  if (!taken.ok()) outcome.error = taken.message();
}

// Render or RenderStream of the whole clip.
RequestOutcome send_native(v1::LipSync::Stub& stub, const v1::RenderRequest& request,
                           const ClientOptions& o) {
  RequestOutcome outcome;
  grpc::ClientContext context;
  set_native_context(context, o);
  const auto sent = Clock::now();
  Status taken;
  std::int64_t clip_frames = 0;
  grpc::Status status;
  if (o.api == ClientApi::kNative) {
    v1::RenderResponse response;
    status = stub.Render(&context, request, &response);
    clip_frames = response.clip_frames();
    if (status.ok()) taken = take_native_frames(response, o, outcome);
  } else {
    auto reader = stub.RenderStream(&context, request);
    taken = read_frames(*reader, o, sent, outcome, clip_frames);
    if (!taken.ok()) context.TryCancel();
    status = reader->Finish();
  }
  conclude(outcome, std::move(taken), status, clip_frames, sent, o);
  return outcome;
}

// The Session messages of the whole clip: start, then PCM chunks of chunk_ms, the last with end.
std::vector<v1::SessionRequest> session_messages(std::span<const float> clip,
                                                 const ClientOptions& o) {
  std::vector<v1::SessionRequest> messages(1);
  v1::SessionStart& start = *messages[0].mutable_start();
  start.set_model_id(o.model_id);
  start.set_sample_rate_hz(timeline::kSampleRateHz);
  start.set_start_frame(o.start_frame);
  start.mutable_output()->set_format(v1::FRAME_FORMAT_JPEG);
  const auto chunk = static_cast<std::size_t>(o.chunk_ms) * timeline::kSampleRateHz / 1000;
  for (std::size_t at = 0; at < clip.size(); at += chunk) {
    const auto piece = clip.subspan(at, std::min(chunk, clip.size() - at));
    messages.emplace_back().mutable_pcm()->Add(piece.begin(), piece.end());
  }
  messages.back().set_end(true);
  return messages;
}

// A Session: one thread writes the messages (paced when `realtime`), this one reads the frames.
RequestOutcome send_session(v1::LipSync::Stub& stub,
                            const std::vector<v1::SessionRequest>& messages,
                            const ClientOptions& o) {
  RequestOutcome outcome;
  grpc::ClientContext context;
  set_native_context(context, o);
  const auto sent = Clock::now();
  auto stream = stub.Session(&context);
  // When each message was handed to gRPC, in ms after `sent` (a frame's audio was sent by then).
  std::vector<std::atomic<double>> sent_ms(messages.size());
  std::jthread writer([&] {
    for (std::size_t m = 0; m < messages.size(); ++m) {
      // Message m >= 1 holds the audio of [(m-1) * chunk_ms, m * chunk_ms): recorded by then.
      if (o.realtime && m >= 1)
        std::this_thread::sleep_until(sent + std::chrono::milliseconds(m * o.chunk_ms));
      sent_ms[m] = ms_since(sent);
      if (!stream->Write(messages[m])) return;  // the server ended the call
    }
    stream->WritesDone();
  });
  const auto chunk_samples = static_cast<std::size_t>(o.chunk_ms) * timeline::kSampleRateHz / 1000;
  std::int64_t clip_frames = 0;
  Status taken;
  std::vector<double> sent_now(messages.size());
  for (v1::RenderResponse message; taken.ok() && stream->Read(&message);) {
    const double arrived_ms = ms_since(sent);
    if (outcome.frames == 0 && message.frames_size() > 0) outcome.first_frame_ms = arrived_ms;
    clip_frames = message.clip_frames();
    if (o.realtime && message.frames_size() > 0) {
      for (std::size_t m = 0; m < messages.size(); ++m) sent_now[m] = sent_ms[m].load();
      for (const v1::Frame& frame : message.frames()) {
        outcome.lateness_ms.push_back(
            frame_lateness_ms(frame.index(), arrived_ms, sent_now, chunk_samples));
      }
    }
    taken = take_native_frames(message, o, outcome);
  }
  if (!taken.ok()) context.TryCancel();
  writer.join();
  conclude(outcome, std::move(taken), stream->Finish(), clip_frames, sent, o);
  return outcome;
}

ClientReport summarize(const std::vector<RequestOutcome>& outcomes, const ClientOptions& o,
                       double wall_s) {
  ClientReport report;
  report.requests = static_cast<int>(outcomes.size());
  report.wall_s = wall_s;
  std::vector<double> latencies;
  std::vector<double> first_frames;
  std::array<std::vector<double>, 6> first_stages;  // FirstMessageStages' fields, in order
  for (std::size_t r = 0; r < outcomes.size(); ++r) {
    const RequestOutcome& outcome = outcomes[r];
    if (!outcome.success) {
      ++report.failed;
      if (report.errors.size() < o.max_errors_kept) {
        report.errors.push_back(fmt::format("request {} (start {}): {}", r,
                                            request_start(o, static_cast<int>(r)), outcome.error));
      }
      continue;
    }
    ++report.succeeded;
    report.frames += outcome.frames;
    latencies.push_back(outcome.latency_ms);
    first_frames.push_back(outcome.first_frame_ms);
    const FirstMessageStages& f = outcome.first_message;
    std::size_t field = 0;
    for (double ms :
         {f.audio_ms, f.queue_ms, f.prepare_ms, f.inference_ms, f.composite_ms, f.total_ms})
      first_stages[field++].push_back(ms);
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
  if (o.api == ClientApi::kNativeStream || o.api == ClientApi::kNativeSession) {
    report.first_frame_p50_ms = percentile(first_frames, 50);
    report.first_frame_p95_ms = percentile(first_frames, 95);
    report.first_message_p50 = {.audio_ms = percentile(first_stages[0], 50),
                                .queue_ms = percentile(first_stages[1], 50),
                                .prepare_ms = percentile(first_stages[2], 50),
                                .inference_ms = percentile(first_stages[3], 50),
                                .composite_ms = percentile(first_stages[4], 50),
                                .total_ms = percentile(first_stages[5], 50)};
  }
  report.frames_per_s = wall_s > 0 ? static_cast<double>(report.frames) / wall_s : 0;
  std::vector<std::vector<double>> paced;
  for (const RequestOutcome& outcome : outcomes) {
    if (outcome.success) paced.push_back(outcome.lateness_ms);
  }
  summarize_lateness(paced, report);
  return report;
}

}  // namespace

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
  // One native request for every worker: the whole clip (read-only while sending).
  const v1::RenderRequest native =
      options.api == ClientApi::kCompat ? v1::RenderRequest() : native_request(clip, options);
  const std::vector<v1::SessionRequest> session = options.api == ClientApi::kNativeSession
                                                      ? session_messages(clip, options)
                                                      : std::vector<v1::SessionRequest>();
  std::atomic<int> next{0};
  const auto started = Clock::now();
  {
    std::vector<std::jthread> workers;
    for (int w = 0; w < std::min(options.concurrency, options.requests); ++w) {
      workers.emplace_back([&] {
        // Sessions are users: each worker has a connection of its own.
        auto own = options.api == ClientApi::kNativeSession ? connect(options, true) : channel;
        auto stub = monolithic::MonolithicService::NewStub(own);
        auto native_stub = v1::LipSync::NewStub(own);
        for (int r; (r = next.fetch_add(1)) < options.requests;) {
          auto& outcome = outcomes[static_cast<std::size_t>(r)];
          switch (options.api) {
            case ClientApi::kCompat:
              outcome = send(*stub, clip, options, options.start_frame + r * options.batch_size);
              break;
            case ClientApi::kNative:
            case ClientApi::kNativeStream:
              outcome = send_native(*native_stub, native, options);
              break;
            case ClientApi::kNativeSession:
              outcome = send_session(*native_stub, session, options);
              break;
          }
        }
      });
    }
  }
  const double wall_s = seconds_since(started);
  ClientReport report = summarize(outcomes, options, wall_s);
  if (report.succeeded == 0) {
    return make_error(ErrorCode::kFailedPrecondition, "all {} request(s) to '{}' failed: {}",
                      report.requests, options.server, report.errors.front());
  }
  return report;
}

}  // namespace lipsync::client
