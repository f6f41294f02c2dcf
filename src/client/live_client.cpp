#include "client/live_client.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "client/client.h"
#include "client/model_header.h"
#include "client/percentile.h"
#include "core/clock.h"
#include "core/timeline.h"
#include "proto/lipsync_v1.grpc.pb.h"

namespace lipsync::client {
namespace {

using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<v1::LiveRequest, v1::LiveEvent>;

// How long after the speech ended (or was interrupted) the avatar must be idle again.
constexpr std::chrono::seconds kBackToIdleTimeout{30};

Status check_options(const LiveClientOptions& o) {
  if (o.server.empty()) return make_error(ErrorCode::kInvalidArgument, "--server is required");
  if (o.model_id.empty()) return make_error(ErrorCode::kInvalidArgument, "--model is required");
  if (o.sessions < 1 || o.sessions > 256)
    return make_error(ErrorCode::kInvalidArgument, "{} sessions: use 1..256", o.sessions);
  if (o.chunk_ms < 10 || o.chunk_ms > 1000)
    return make_error(ErrorCode::kInvalidArgument, "chunk {} ms outside 10..1000", o.chunk_ms);
  if (o.idle_before_s < 0 || o.idle_after_s < 0 || o.interrupt_after_s < 0)
    return make_error(ErrorCode::kInvalidArgument, "idle and interrupt times must be >= 0 s");
  return {};
}

// What the reader thread sees, for the writer (this session's thread) to wait on.
class Watch {
 public:
  explicit Watch(LiveSessionReport& report, Clock::time_point start)
      : report_(report), start_(start) {}

  // One frame arrived now.
  void frame(const v1::LiveFrame& frame) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    ++report_.frames;
    if (frame.utterance() == 0) {
      ++report_.idle_frames;
    } else {
      ++report_.speech_frames;
    }
    if (report_.frames == 1) report_.first_frame_ms = ms(start_, now);
    if (last_index_ >= 0) {
      report_.missing_frames += std::max<std::int64_t>(0, frame.index() - last_index_ - 1);
      report_.max_frame_gap_ms = std::max(report_.max_frame_gap_ms, ms(last_arrival_, now));
    }
    last_index_ = frame.index();
    last_arrival_ = now;
    if (frame.utterance() != 0 && speech_sent_ && report_.speech_to_mouth_ms < 0)
      report_.speech_to_mouth_ms = ms(*speech_sent_, now);
    if (frame.utterance() == 0 && interrupted_ && report_.interrupt_to_idle_ms < 0)
      report_.interrupt_to_idle_ms = ms(*interrupted_, now);
    if (frame.utterance() != 0) spoke_ = true;
    if (frame.utterance() == 0 && (spoke_ || interrupted_) && speech_over_) idle_again_ = true;
    changed_.notify_all();
  }
  void error(const std::string& text) {
    std::lock_guard lock(mutex_);
    if (report_.error.empty()) report_.error = text;
  }
  void ended() {
    std::lock_guard lock(mutex_);
    ended_ = true;
    changed_.notify_all();
  }

  void speech_sent(Clock::time_point at) {
    std::lock_guard lock(mutex_);
    if (!speech_sent_) speech_sent_ = at;
  }
  void interrupted(Clock::time_point at) {
    std::lock_guard lock(mutex_);
    interrupted_ = at;
    speech_over_ = true;
  }
  void speech_over() {
    std::lock_guard lock(mutex_);
    speech_over_ = true;
  }

  // Waits for the first frame; false when the call ended first or after `timeout`.
  bool wait_first_frame(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ended_ || report_.frames > 0; }) &&
           report_.frames > 0;
  }
  // Waits until an idle frame follows the end of the speech (or the interrupt).
  bool wait_idle_again(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ended_ || idle_again_; }) && idle_again_;
  }
  bool ended() const {
    std::lock_guard lock(mutex_);
    return ended_;
  }

 private:
  static double ms(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
  }

  LiveSessionReport& report_;
  const Clock::time_point start_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::int64_t last_index_ = -1;
  Clock::time_point last_arrival_;
  std::optional<Clock::time_point> speech_sent_;
  std::optional<Clock::time_point> interrupted_;
  bool spoke_ = false;
  bool speech_over_ = false;
  bool idle_again_ = false;
  bool ended_ = false;
};

void read_events(Stream& stream, Watch& watch) {
  for (v1::LiveEvent event; stream.Read(&event);) {
    if (event.has_frame()) {
      watch.frame(event.frame());
    } else if (event.has_error()) {
      watch.error(fmt::format("{}: {}", event.error().code(), event.error().message()));
    }
  }
  watch.ended();
}

// Speech of the clip, chunk_ms at a time, each sent when it would have been recorded; stops
// early for the interrupt. False when the server ended the call.
bool speak(Stream& stream, std::span<const float> clip, const LiveClientOptions& o, Watch& watch) {
  const auto chunk = static_cast<std::size_t>(o.chunk_ms) * timeline::kSampleRateHz / 1000;
  const auto began = Clock::now();
  const auto interrupt_at =
      began + std::chrono::microseconds(static_cast<std::int64_t>(o.interrupt_after_s * 1e6));
  for (std::size_t at = 0, k = 0; at < clip.size(); at += chunk, ++k) {
    std::this_thread::sleep_until(began + std::chrono::milliseconds(k * o.chunk_ms));
    if (o.interrupt_after_s > 0 && Clock::now() >= interrupt_at) {
      v1::LiveRequest interrupt;
      interrupt.set_interrupt(true);
      watch.interrupted(Clock::now());
      return stream.Write(interrupt);
    }
    v1::LiveRequest request;
    const auto piece = clip.subspan(at, std::min(chunk, clip.size() - at));
    request.mutable_pcm()->Add(piece.begin(), piece.end());
    if (k == 0) watch.speech_sent(Clock::now());
    if (!stream.Write(request)) return false;
  }
  v1::LiveRequest end;
  end.set_end(true);
  watch.speech_over();
  return stream.Write(end);
}

std::chrono::milliseconds seconds_ms(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

std::string status_text(const grpc::Status& status) {
  return fmt::format("gRPC status {}: {}", static_cast<int>(status.error_code()),
                     status.error_message());
}

LiveSessionReport run_session(std::span<const float> clip, const LiveClientOptions& o) {
  LiveSessionReport report;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  // A connection per session: a live session is one user.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(o.server, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 std::chrono::milliseconds(o.connect_timeout_ms))) {
    report.error =
        fmt::format("server '{}' unreachable within {} ms", o.server, o.connect_timeout_ms);
    return report;
  }
  auto stub = v1::LipSync::NewStub(channel);
  grpc::ClientContext context;
  // No deadline: a live session lasts as long as its user talks to the avatar.
  name_model(context, o.model_id);
  const auto start = Clock::now();
  auto stream = stub->Live(&context);
  v1::LiveRequest open;
  open.mutable_start()->set_model_id(o.model_id);
  v1::LiveEvent first;
  if (!stream->Write(open) || !stream->Read(&first) || !first.has_opened()) {
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    report.error = status.ok() ? "the server sent no `opened` event" : status_text(status);
    return report;
  }
  report.session = first.opened().session();
  report.width = first.opened().width();
  report.height = first.opened().height();
  report.lookahead_ms = first.opened().lookahead_ms();

  Watch watch(report, start);
  std::thread reader([&] { read_events(*stream, watch); });
  bool ok = watch.wait_first_frame(std::chrono::seconds(30));
  if (!ok) watch.error("no frame within 30 s of opening");
  if (ok) {
    std::this_thread::sleep_for(seconds_ms(o.idle_before_s));
    ok = speak(*stream, clip, o, watch);
  }
  if (ok && !watch.wait_idle_again(kBackToIdleTimeout))
    watch.error("the avatar did not return to idle after the speech");
  if (ok) std::this_thread::sleep_for(seconds_ms(o.idle_after_s));
  v1::LiveRequest close;
  close.set_close(true);
  (void)stream->Write(close);
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) watch.error(status_text(status));
  return report;
}

LiveFigure figure(const std::vector<double>& values) {
  return {.count = static_cast<int>(values.size()),
          .p50 = percentile(values, 50),
          .p95 = percentile(values, 95),
          .max = values.empty() ? 0 : *std::max_element(values.begin(), values.end())};
}

std::string figure_text(const LiveFigure& f) {
  if (f.count == 0) return "none";
  return fmt::format("p50={:.1f} p95={:.1f} max={:.1f} n={}", f.p50, f.p95, f.max, f.count);
}

}  // namespace

Result<LiveReport> run_live(std::span<const float> clip, const LiveClientOptions& options) {
  RETURN_IF_ERROR(check_options(options));
  if (clip.empty()) return make_error(ErrorCode::kInvalidArgument, "the audio has no samples");
  LiveReport report;
  report.sessions.resize(static_cast<std::size_t>(options.sessions));
  {
    std::vector<std::jthread> workers;
    for (auto& session : report.sessions)
      workers.emplace_back([&session, clip, &options] { session = run_session(clip, options); });
  }
  std::vector<double> first, mouth, over, interrupt, gap;
  for (const auto& s : report.sessions) {
    if (!s.error.empty()) ++report.failed;
    if (s.first_frame_ms >= 0) first.push_back(s.first_frame_ms);
    if (s.speech_to_mouth_ms >= 0) {
      mouth.push_back(s.speech_to_mouth_ms);
      over.push_back(s.speech_to_mouth_ms - s.lookahead_ms);
    }
    if (s.interrupt_to_idle_ms >= 0) interrupt.push_back(s.interrupt_to_idle_ms);
    if (s.frames > 1) gap.push_back(s.max_frame_gap_ms);
  }
  report.first_frame_ms = figure(first);
  report.speech_to_mouth_ms = figure(mouth);
  report.speech_to_mouth_over_lookahead_ms = figure(over);
  report.interrupt_to_idle_ms = figure(interrupt);
  report.max_frame_gap_ms = figure(gap);
  if (report.failed == options.sessions) {
    return make_error(ErrorCode::kFailedPrecondition, "all {} live session(s) on '{}' failed: {}",
                      options.sessions, options.server, report.sessions.front().error);
  }
  return report;
}

std::string format_live_report(const LiveReport& report, const LiveClientOptions& options) {
  std::int64_t frames = 0, idle = 0, speech = 0, missing = 0;
  for (const auto& s : report.sessions) {
    frames += s.frames;
    idle += s.idle_frames;
    speech += s.speech_frames;
    missing += s.missing_frames;
  }
  const LiveSessionReport* any = nullptr;
  for (const auto& s : report.sessions) {
    if (!s.session.empty()) any = &s;
  }
  std::string out = fmt::format("live: server {} model {} sessions {} failed {}\n", options.server,
                                options.model_id, report.sessions.size(), report.failed);
  if (any != nullptr) {
    out += fmt::format("frame: {}x{} at {} fps, look-ahead {:.1f} ms\n", any->width, any->height,
                       timeline::kFramesPerSecond, any->lookahead_ms);
  }
  out += fmt::format("first_frame_ms: {}\n", figure_text(report.first_frame_ms));
  out += fmt::format("speech_to_mouth_ms: {}\n", figure_text(report.speech_to_mouth_ms));
  out += fmt::format("speech_to_mouth_over_lookahead_ms: {}\n",
                     figure_text(report.speech_to_mouth_over_lookahead_ms));
  out += fmt::format("interrupt_to_idle_ms: {}\n", figure_text(report.interrupt_to_idle_ms));
  out += fmt::format("max_frame_gap_ms: {}\n", figure_text(report.max_frame_gap_ms));
  out +=
      fmt::format("frames: {} (idle {}, speech {}, missing {})\n", frames, idle, speech, missing);
  for (std::size_t i = 0; i < report.sessions.size(); ++i) {
    if (!report.sessions[i].error.empty())
      out += fmt::format("error: session {}: {}\n", i, report.sessions[i].error);
  }
  return out;
}

}  // namespace lipsync::client
