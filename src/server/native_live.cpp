// The native Live RPC (lipsync.v1, proto/lipsync_v1.proto): the LiveHub's sessions over a gRPC
// stream, each call one LiveConnection, as /ws/live serves them to the browser.
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "core/client_text.h"
#include "core/guard.h"
#include "core/log.h"
#include "core/model_id.h"
#include "core/timeline.h"
#include "server/grpc_status.h"
#include "server/live_connection.h"
#include "server/native_service.h"

namespace lipsync::server {
namespace {

using LiveStream = grpc::ServerReaderWriter<v1::LiveEvent, v1::LiveRequest>;

// Values of speech one LiveRequest may carry: 32 s of 16 kHz mono (what /ws/live takes in one
// 1 MiB message of 16-bit samples); the speech worker queues at most 100 such messages.
constexpr int kMaxLivePcmValues = 1 << 19;
// How often a call whose client has closed its sending side asks whether the client is gone.
constexpr auto kHalfClosedPoll = std::chrono::milliseconds(20);

// What the first request asks for: open a session or join one, and this call's speech.
struct LiveTarget {
  std::optional<LiveRequest> open;  // set: open a session; else join `session`
  std::string session;
  SpeechFormat speech;
  bool audio = false;
};

Result<live::IdleMode> idle_mode(v1::LiveIdle idle) {
  switch (idle) {
    case v1::LIVE_IDLE_UNSPECIFIED:
    case v1::LIVE_IDLE_SILENT_MODEL:
      return live::IdleMode::kSilentModel;
    case v1::LIVE_IDLE_SOURCE:
      return live::IdleMode::kSource;
    default:
      return make_error(ErrorCode::kInvalidArgument,
                        "start.idle {} is not a LiveIdle (0 unspecified, 1 silent model, "
                        "2 source)",
                        static_cast<int>(idle));
  }
}

Result<LiveTarget> live_target(const v1::LiveStart& start) {
  LiveTarget target{.audio = start.audio()};
  target.speech = {.sample_rate_hz = start.sample_rate_hz() == 0 ? timeline::kSampleRateHz
                                                                 : start.sample_rate_hz(),
                   .channels = start.channels() == 0 ? 1 : start.channels()};
  RETURN_IF_ERROR(check(target.speech, "start.sample_rate_hz", "start.channels"));
  if (start.target_case() == v1::LiveStart::kSession) {
    if (start.idle() != v1::LIVE_IDLE_UNSPECIFIED || start.has_silence_threshold_dbfs()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "start.idle and start.silence_threshold_dbfs are set by the call that "
                        "opens a session, not by one that joins it");
    }
    target.session = start.session();
    return target;
  }
  if (start.target_case() != v1::LiveStart::kModelId) {
    return make_error(ErrorCode::kInvalidArgument,
                      "start needs model_id (open a session on a model) or session (join one)");
  }
  RETURN_IF_ERROR(check_model_id(start.model_id(), "start.model_id"));
  LiveRequest open{.model_id = start.model_id()};
  ASSIGN_OR_RETURN(open.idle, idle_mode(start.idle()));
  if (start.has_silence_threshold_dbfs()) {
    const double dbfs = start.silence_threshold_dbfs();
    if (!std::isfinite(dbfs) || dbfs > 0 || dbfs < -200) {
      return make_error(ErrorCode::kInvalidArgument,
                        "start.silence_threshold_dbfs {} is outside -200..0 (e.g. -45)", dbfs);
    }
    open.speech.silence_threshold_dbfs = dbfs;
  }
  target.open = std::move(open);
  return target;
}

// The call's events, from the sender thread (frames) and the reader and speech worker (errors):
// gRPC takes one write at a time.
class EventWriter {
 public:
  explicit EventWriter(LiveStream& stream) : stream_(stream) {}
  bool write(const v1::LiveEvent& event) {
    std::lock_guard lock(mutex_);
    return stream_.Write(event);
  }

 private:
  LiveStream& stream_;
  std::mutex mutex_;
};

v1::LiveEvent frame_event(const live::LiveFrame& frame, bool audio) {
  v1::LiveEvent event;
  v1::LiveFrame& out = *event.mutable_frame();
  out.set_index(frame.index);
  out.set_timestamp_ms(frame.pts_ms);
  out.set_utterance(frame.utterance);
  out.set_source_frame(frame.source_frame);
  out.set_gated(frame.gated);
  if (frame.jpeg) out.set_jpeg(frame.jpeg->data(), frame.jpeg->size());
  if (audio && frame.pcm) out.mutable_audio()->Add(frame.pcm->begin(), frame.pcm->end());
  return event;
}

v1::LiveEvent error_event(const Status& status) {
  v1::LiveEvent event;
  event.mutable_error()->set_code(std::string(to_string(status.code())));
  event.mutable_error()->set_message(client_message(status));
  return event;
}

// Leaves a session when the call ends, on every path.
struct HubLeave {
  LiveHub& hub;
  std::string id;
  ~HubLeave() { hub.leave(id); }
};

// One request after the first: interrupt, speech, end. False for close.
bool act(const v1::LiveRequest& request, const SpeechFormat& speech, LiveConnection& connection,
         const std::function<void(const Status&)>& report) {
  if (request.interrupt()) connection.interrupt();
  if (request.pcm_size() > kMaxLivePcmValues) {
    report(make_error(ErrorCode::kResourceExhausted,
                      "{} pcm values in one LiveRequest, above {}: send smaller chunks (they "
                      "were dropped)",
                      request.pcm_size(), kMaxLivePcmValues));
  } else if (request.pcm_size() % speech.channels != 0) {
    report(make_error(ErrorCode::kInvalidArgument,
                      "{} pcm values are not a whole number of {}-channel samples (they were "
                      "dropped)",
                      request.pcm_size(), speech.channels));
  } else if (request.pcm_size() > 0) {
    connection.speak(std::vector<float>(request.pcm().begin(), request.pcm().end()));
  }
  if (request.end()) connection.end_speech();
  return !request.close();
}

}  // namespace

grpc::Status NativeService::Live(grpc::ServerContext* context, LiveStream* stream) {
  const CallInFlight call(context_);
  Status status = guard("Live failed", [&] { return live(*context, *stream); });
  if (context->IsCancelled()) return finish_cancelled("Live");  // how a watcher usually leaves
  return finish("Live", status);
}

Status NativeService::live(grpc::ServerContext& context, LiveStream& stream) {
  v1::LiveRequest request;
  if (!stream.Read(&request)) {
    return make_error(ErrorCode::kInvalidArgument, "the call ended before its start message");
  }
  if (!request.has_start()) {
    return make_error(ErrorCode::kInvalidArgument, "the first LiveRequest must carry start");
  }
  if (context_.stopping->load())
    return make_error(ErrorCode::kUnavailable, "the server is shutting down");
  ASSIGN_OR_RETURN(LiveTarget target, live_target(request.start()));
  std::string id = target.session;
  std::shared_ptr<live::Session> session;
  if (target.open) {
    ASSIGN_OR_RETURN(auto opened, live_.open(*target.open));
    std::tie(id, session) = std::move(opened);
  } else {
    ASSIGN_OR_RETURN(session, live_.join(id));
  }
  // From here on this call holds a connection to the session: the last to leave closes it.
  const HubLeave leave{live_, id};

  EventWriter writer(stream);
  v1::LiveEvent opened;
  opened.mutable_opened()->set_session(id);
  opened.mutable_opened()->set_width(session->width());
  opened.mutable_opened()->set_height(session->height());
  opened.mutable_opened()->set_fps(timeline::kFramesPerSecond);
  opened.mutable_opened()->set_lookahead_ms(timeline::kLookaheadMs);
  opened.mutable_opened()->set_joined(!target.open);
  opened.mutable_opened()->set_lead_frames(session->lead_frames());
  if (!writer.write(opened)) return make_error(ErrorCode::kCancelled, "the client went away");

  const auto report = [&writer](const Status& status) {
    LOG_INFO("live", "native Live request refused: {}", client_text(status.to_string(), 512));
    (void)writer.write(error_event(status));
  };
  LiveConnection connection(session, target.speech,
                            {.send =
                                 [&writer, audio = target.audio](const live::LiveFrame& frame) {
                                   return writer.write(frame_event(frame, audio));
                                 },
                             .report = report});
  RETURN_IF_ERROR(connection.start());
  request.clear_start();
  while (act(request, target.speech, connection, report)) {
    if (!stream.Read(&request)) {
      // Closed by the client: when it only stopped sending, it still watches until it cancels
      // or goes away (a write fails).
      while (!context.IsCancelled() && connection.sending() && !context_.stopping->load()) {
        std::this_thread::sleep_for(kHalfClosedPoll);
      }
      if (context_.stopping->load() && !context.IsCancelled())
        return make_error(ErrorCode::kUnavailable, "the server is shutting down");
      return {};
    }
    if (request.has_start()) {
      report(make_error(ErrorCode::kInvalidArgument,
                        "start is allowed in the first LiveRequest only (ignored)"));
    }
  }
  return {};  // the client asked to close
}

}  // namespace lipsync::server
