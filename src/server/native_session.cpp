// The native Session RPC: a client streams PCM and gets each frame as soon as its audio has
// arrived. The call's thread reads the client's messages and checks and converts their PCM; a
// worker thread of the call turns all the audio received so far into features and frames and
// writes them. A session that falls behind (a slow step, a burst of audio) so takes everything
// that arrived meanwhile in one go and catches up in larger batches, instead of rendering one
// chunk per round trip while the rest waits unread.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "core/clock.h"
#include "core/guard.h"
#include "core/model_id.h"
#include "server/native_service.h"
#include "server/response_messages.h"

namespace lipsync::server {

using Clock = std::chrono::steady_clock;
using SessionStream = grpc::ServerReaderWriter<v1::RenderResponse, v1::SessionRequest>;

namespace {

// Audio the reader has taken and the worker has not: beyond this the reader stops reading until
// the worker catches up (the client then waits on gRPC's flow control), so a client that sends
// faster than the session renders cannot grow the server's memory.
constexpr std::size_t kMaxBacklogSamples = std::size_t{30} * audio::kSampleRateHz;

// How long a worker that failed waits for the reader to notice (at its next message) before it
// cancels the call: a client that neither sends nor closes would keep the reader waiting.
constexpr auto kFailedReaderGrace = std::chrono::seconds(2);

}  // namespace

// The audio between a Session call's reader and its worker.
class SessionInbox {
 public:
  struct Taken {
    std::vector<float> samples;
    bool end = false;             // the client's last audio is in `samples`
    bool stopped = false;         // the reader stopped on an error: nothing more comes
    pipeline::TimePoint arrived;  // when the oldest of `samples` was read
    double audio_ms = 0;          // the reader's time on them (conversion)
  };

  // Reader: adds a message's samples (`end`: its last); waits while the worker is far behind.
  // False when the worker has failed (the reader then stops).
  bool put(std::vector<float> samples, bool end, double audio_ms) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return failed_ || samples_.size() < kMaxBacklogSamples; });
    if (failed_) return false;
    if (!arrived_) arrived_ = pipeline::ExecutorClock::now();
    samples_.insert(samples_.end(), samples.begin(), samples.end());
    end_ = end_ || end;
    audio_ms_ += audio_ms;
    changed_.notify_all();
    return true;
  }

  // Reader: no more puts.
  void reader_done() {
    std::lock_guard lock(mutex_);
    reader_done_ = true;
    changed_.notify_all();
  }

  bool failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }

  // Worker: everything that arrived; waits until there is something (or the end, or the reader
  // stopped).
  Taken take() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !samples_.empty() || end_ || reader_done_; });
    Taken taken{.end = end_,
                .stopped = reader_done_ && !end_,
                .arrived = arrived_.value_or(pipeline::ExecutorClock::now()),
                .audio_ms = audio_ms_};
    taken.samples.swap(samples_);
    arrived_.reset();
    audio_ms_ = 0;
    changed_.notify_all();
    return taken;
  }

  // Worker: it failed; the reader stops at its next message. False when the reader did not stop
  // within `grace`.
  bool fail(std::chrono::milliseconds grace) {
    std::unique_lock lock(mutex_);
    failed_ = true;
    changed_.notify_all();
    return changed_.wait_for(lock, grace, [&] { return reader_done_; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<float> samples_;
  std::optional<pipeline::TimePoint> arrived_;
  double audio_ms_ = 0;
  bool end_ = false;
  bool reader_done_ = false;
  bool failed_ = false;
};

grpc::Status NativeService::Session(grpc::ServerContext* context, SessionStream* stream) {
  const CallInFlight call(context_);
  Status status = guard("Session failed", [&] { return session(*context, *stream); });
  if (context->IsCancelled()) return finish_cancelled("Session");
  return finish("Session", status);
}

Result<LiveSession> NativeService::start_session(const v1::SessionRequest& first) {
  if (!first.has_start())
    return make_error(ErrorCode::kInvalidArgument, "the first SessionRequest must carry start");
  if (context_.stopping->load())
    return make_error(ErrorCode::kUnavailable, "the server is shutting down");
  const v1::SessionStart& start = first.start();
  RETURN_IF_ERROR(check_model_id(start.model_id()));
  RETURN_IF_ERROR(context_.registry->info(start.model_id()).status());
  LiveSession live{.spec = {.model_id = start.model_id(), .start_frame = start.start_frame()}};
  ASSIGN_OR_RETURN(live.spec.sequence, sequence_mode(start.sequence_mode()));
  RETURN_IF_ERROR(pipeline::check_start_frame(live.spec.start_frame));
  ASSIGN_OR_RETURN(live.spec.jpeg, output_settings(start.output(), context_.config->output));
  const int rate_hz = start.sample_rate_hz() == 0 ? audio::kSampleRateHz : start.sample_rate_hz();
  const int channels = start.channels() == 0 ? 1 : start.channels();
  if (rate_hz != audio::kSampleRateHz || channels != 1) {
    auto converter = audio::PcmStreamConverter::create(rate_hz, channels);
    if (!converter.ok()) {
      return Status(ErrorCode::kInvalidArgument, "start: " + converter.status().message());
    }
    live.converter = std::move(*converter);
  }
  ASSIGN_OR_RETURN(live.model,
                   pipeline::acquire_clip_model(*context_.registry, live.spec.model_id));
  // The server's analyzer outlives every call: a non-owning shared_ptr.
  const std::shared_ptr<const audio::MelAnalyzer> mel(std::shared_ptr<void>(), context_.mel);
  live.extractor = std::make_unique<audio::StreamingFeatureExtractor>(mel, *context_.encoder);
  return live;
}

Status NativeService::session(grpc::ServerContext& context, SessionStream& stream) {
  const auto start = Clock::now();
  v1::SessionRequest message;
  if (!stream.Read(&message)) {
    return make_error(ErrorCode::kInvalidArgument, "the session ended before its start message");
  }
  ASSIGN_OR_RETURN(LiveSession live, start_session(message));
  SessionInbox inbox;
  Status rendered;
  std::thread worker([&] {
    rendered = guard("Session failed",
                     [&] { return render_session(context, live, inbox, stream, start); });
    if (!rendered.ok() && !inbox.fail(kFailedReaderGrace)) context.TryCancel();
  });
  Status read = guard("Session failed", [&] { return read_session(live, message, inbox, stream); });
  inbox.reader_done();
  worker.join();
  RETURN_IF_ERROR(read);
  RETURN_IF_ERROR(rendered);
  context_.metrics->observe_stage_ms("total", ms_since(start));
  return {};
}

// The reader: the client's messages from `message` (the start) on, their PCM checked, converted
// to 16 kHz mono and handed to the worker, until the client's end or the worker's failure.
Status NativeService::read_session(LiveSession& live, v1::SessionRequest& message,
                                   SessionInbox& inbox, SessionStream& stream) {
  while (true) {
    const auto start = Clock::now();
    const std::span<const float> pcm(message.pcm().data(), message.pcm().size());
    std::vector<float> samples;
    Status status;
    if (live.converter) {
      if (!pcm.empty()) status = live.converter->push(pcm, samples);
      if (status.ok() && message.end()) status = live.converter->flush(samples);
    } else if (!pcm.empty()) {
      status = audio::validate_samples(pcm);
      samples.assign(pcm.begin(), pcm.end());
    }
    if (!status.ok()) return Status(ErrorCode::kInvalidArgument, "pcm: " + status.message());
    const bool end = message.end();
    if (!inbox.put(std::move(samples), end, ms_since(start)) || end) return {};
    if (!stream.Read(&message)) {  // the client closed its side: the same as `end`
      message.Clear();
      message.set_end(true);
    } else if (message.has_start()) {
      return make_error(ErrorCode::kInvalidArgument, "start is allowed in the first message only");
    }
  }
}

// The worker: features and frames of all the audio that arrived, written as they are rendered.
Status NativeService::render_session(grpc::ServerContext& context, LiveSession& live,
                                     SessionInbox& inbox, SessionStream& stream,
                                     Clock::time_point start) {
  v1::RenderResponse header;
  header.set_format(live.spec.jpeg ? v1::FRAME_FORMAT_JPEG : v1::FRAME_FORMAT_RAW_BGR);
  header.set_width(live.model.width);
  header.set_height(live.model.height);
  header.set_model_loaded(live.model.loaded_now);
  header.set_model_load_ms(live.model.load_ms);
  while (true) {
    SessionInbox::Taken taken = inbox.take();
    if (taken.stopped) return {};  // the reader's error is the call's
    const auto audio_start = Clock::now();
    live.audio_arrived = taken.arrived;
    if (!taken.samples.empty()) {
      ASSIGN_OR_RETURN(auto frames, live.extractor->push(taken.samples));
      for (auto& frame : frames) live.ready.push_back(std::move(frame));
    }
    if (taken.end) {
      ASSIGN_OR_RETURN(auto frames, live.extractor->flush());
      for (auto& frame : frames) live.ready.push_back(std::move(frame));
    }
    live.audio_ms += taken.audio_ms + ms_since(audio_start);
    header.set_clip_frames(static_cast<std::int64_t>(live.extractor->frames_emitted()));
    RETURN_IF_ERROR(render_ready(context, live, header, stream, start));
    if (taken.end) return {};
  }
}

// Renders the frames the session's audio has made ready, in batches of up to max_batch with
// several in flight (BatchWindow), and writes them in order; the audio time spent since the
// last message rides on the next one.
Status NativeService::render_ready(grpc::ServerContext& context, LiveSession& live,
                                   v1::RenderResponse& header, SessionStream& stream,
                                   Clock::time_point start) {
  if (live.ready.empty()) return {};
  const std::span<const audio::FrameTensor> ready(live.ready);
  const auto first_index = static_cast<std::int64_t>(ready.front().index);
  pipeline::BatchWindow window(
      *context_.scheduler, static_cast<std::int64_t>(ready.size()),
      [&](std::int64_t first, std::int64_t count) {
        pipeline::RenderRequest request = pipeline::session_request(
            live.spec, live.model,
            ready.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count)));
        // A live frame is due one frame period after the audio it needs arrived.
        request.deadlines.assign(request.source_frames.size(),
                                 live.audio_arrived + pipeline::kFramePeriod);
        return request;
      },
      context_.config->pipeline);
  while (!window.done()) {
    if (context.IsCancelled()) return cancelled();
    ASSIGN_OR_RETURN(pipeline::ClipBatch batch, window.next());
    batch.first += first_index;
    observe(batch);
    header.mutable_timings()->set_audio_ms(live.audio_ms);
    live.audio_ms = 0;
    RETURN_IF_ERROR(write_batch(batch, header, stream, start, context_.max_message_bytes));
  }
  live.ready.clear();
  return {};
}

}  // namespace lipsync::server
