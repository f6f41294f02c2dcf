#include "live/live_session.h"

#include <algorithm>
#include <utility>

#include "core/clock.h"
#include "core/log.h"
#include "core/timeline.h"
#include "pipeline/render_request.h"

namespace lipsync::live {
namespace {

constexpr auto kFramePeriod = std::chrono::milliseconds(timeline::kFrameIntervalMs);

}  // namespace

Status check(const LiveOptions& options) {
  if (options.lead_frames < 1 || options.lead_frames > 50) {
    return make_error(ErrorCode::kInvalidArgument,
                      "live lead of {} frames: use 1..50 (frames rendered ahead of time)",
                      options.lead_frames);
  }
  if (options.speech_gap.count() < 40 || options.speech_gap.count() > 10000) {
    return make_error(ErrorCode::kInvalidArgument, "live speech gap of {} ms: use 40..10000 ms",
                      options.speech_gap.count());
  }
  if (options.max_jitter_buffer.count() < 0 || options.max_jitter_buffer.count() > 2000) {
    return make_error(ErrorCode::kInvalidArgument,
                      "live jitter buffer of at most {} ms: use 0..2000 ms",
                      options.max_jitter_buffer.count());
  }
  if (options.max_queued_speech_frames < 1) {
    return make_error(ErrorCode::kInvalidArgument, "live speech queue of {} frames: use 1 or more",
                      options.max_queued_speech_frames);
  }
  return {};
}

Result<std::unique_ptr<Session>> Session::open(std::shared_ptr<LiveRenderer> renderer,
                                               std::shared_ptr<IdleFrames> idle,
                                               std::unique_ptr<SpeechTrack> track,
                                               LiveOptions options, Pacing pacing,
                                               TimePoint start) {
  RETURN_IF_ERROR(check(options));
  if (!renderer || !idle || !track) {
    return make_error(ErrorCode::kInternal,
                      "a live session needs a renderer, idle frames and "
                      "a speech track");
  }
  if (renderer->frame_count() < 1) {
    return make_error(ErrorCode::kFailedPrecondition, "the avatar has no frames");
  }
  std::unique_ptr<Session> session(
      new Session(std::move(renderer), std::move(idle), std::move(track), options, pacing, start));
  if (pacing == Pacing::kThread) session->thread_ = std::thread([s = session.get()] { s->run(); });
  return session;
}

Session::Session(std::shared_ptr<LiveRenderer> renderer, std::shared_ptr<IdleFrames> idle,
                 std::unique_ptr<SpeechTrack> track, LiveOptions options, Pacing pacing,
                 TimePoint start)
    : renderer_(std::move(renderer)),
      idle_(std::move(idle)),
      options_(options),
      pacing_(pacing),
      start_(start),
      silent_pcm_(std::make_shared<const std::vector<float>>(
          static_cast<std::size_t>(timeline::kSamplesPerFrame), 0.0f)),
      track_(std::move(track)),
      manual_now_(start),
      jitter_(options.max_jitter_buffer) {}

Session::~Session() {
  close();
}

TimePoint Session::due(std::int64_t frame) const {
  return start_ + frame * kFramePeriod;
}

TimePoint Session::now() const {
  if (pacing_ == Pacing::kThread) return LiveClock::now();
  std::lock_guard lock(mutex_);
  return manual_now_;
}

std::int64_t Session::source_of(std::int64_t index) const {
  return imaging::source_frame_index(options_.sequence, options_.start_frame + index,
                                     renderer_->frame_count(), options_.start_frame);
}

Status Session::push_speech(std::span<const float> samples) {
  std::lock_guard track_lock(track_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (closed_) return make_error(ErrorCode::kFailedPrecondition, "the live session is closed");
    const auto incoming = static_cast<std::int64_t>(samples.size()) / timeline::kSamplesPerFrame;
    if (std::ssize(speech_) + incoming > options_.max_queued_speech_frames) {
      return make_error(ErrorCode::kResourceExhausted,
                        "{} s of speech are queued already (at most {} s): send audio at the pace "
                        "it is spoken, or interrupt",
                        timeline::frames_to_seconds(std::ssize(speech_)),
                        timeline::frames_to_seconds(options_.max_queued_speech_frames));
    }
    if (!track_->open() && !samples.empty()) jitter_.start_utterance();
  }
  const TimePoint pushed_at = now();
  const Arrival arrival{.samples = samples.size(), .at = pushed_at};
  RETURN_IF_ERROR(queue_speech(track_->push(samples), &arrival));
  std::lock_guard lock(mutex_);
  if (!samples.empty()) {
    utterance_open_ = track_->open();
    last_speech_ = pushed_at;
  }
  return {};
}

Status Session::end_speech() {
  std::lock_guard track_lock(track_mutex_);
  RETURN_IF_ERROR(queue_speech(track_->end_utterance(), nullptr));
  std::lock_guard lock(mutex_);
  utterance_open_ = false;
  return {};
}

Status Session::queue_speech(Result<std::vector<SpeechFrame>> frames, const Arrival* arrival) {
  if (!frames.ok()) return frames.status();
  std::lock_guard lock(mutex_);
  const bool first = !frames->empty() && frames->front().index == 0;
  if (arrival != nullptr && arrival->samples > 0) {
    jitter_.arrived(arrival->samples, arrival->at, first);
    stats_.audio_late_ms = jitter_.late_ms();
  }
  if (first) {  // frames that end_speech() brought wait for no more audio
    // The next frame not yet planned is the utterance's first: what it absorbs without a
    // buffer depends on how early it would have been planned.
    const ArrivalJitter::Duration wait =
        arrival != nullptr ? jitter_.buffer((lead_of(next_plan_) - 1) * kFramePeriod)
                           : ArrivalJitter::Duration(0);
    const std::int64_t frames_later =
        (wait + kFramePeriod - ArrivalJitter::Duration(1)) / kFramePeriod;
    first_speech_slot_ = next_plan_ + frames_later;
    stats_.jitter_buffer_ms = static_cast<double>(frames_later * timeline::kFrameIntervalMs);
  }
  if (frames->empty()) return {};
  if (frames->front().index == 0) ++stats_.utterances;
  for (SpeechFrame& frame : *frames) speech_.push_back(std::move(frame));
  stats_.queued_speech_frames = std::ssize(speech_);
  woken_ = true;
  wake_.notify_one();
  return {};
}

void Session::interrupt() {
  std::lock_guard track_lock(track_mutex_);
  track_->drop();
  std::lock_guard lock(mutex_);
  utterance_open_ = false;
  speech_.clear();
  stats_.queued_speech_frames = 0;
  ++stats_.interrupts;
  for (InFlight& frame : in_flight_) {
    if (frame.utterance == 0) continue;
    renderer_->cancel(frame.cancel);
    frame = plan_idle(frame.index);
  }
  last_planned_utterance_ = 0;
  interrupt_pending_ = true;
  interrupted_at_ = pacing_ == Pacing::kThread ? LiveClock::now() : manual_now_;
  woken_ = true;
  wake_.notify_one();
}

int Session::watch(Watcher watcher) {
  std::lock_guard lock(watchers_mutex_);
  watchers_.emplace_back(next_watcher_, std::move(watcher));
  return next_watcher_++;
}

void Session::unwatch(int id) {
  std::lock_guard lock(watchers_mutex_);
  std::erase_if(watchers_, [id](const auto& entry) { return entry.first == id; });
}

std::size_t Session::watchers() const {
  std::lock_guard lock(watchers_mutex_);
  return watchers_.size();
}

void Session::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_ && !thread_.joinable()) return;
    closed_ = true;
    for (InFlight& frame : in_flight_) renderer_->cancel(frame.cancel);
    woken_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  std::lock_guard lock(mutex_);
  in_flight_.clear();
  speech_.clear();
}

bool Session::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

LiveStats Session::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Session::advance_to(TimePoint now) {
  {
    std::lock_guard lock(mutex_);
    manual_now_ = std::max(manual_now_, now);
  }
  step(now);
}

void Session::run() {
  while (true) {
    step(LiveClock::now());
    std::unique_lock lock(mutex_);
    if (closed_) return;
    wake_.wait_until(lock, next_wake(), [this] { return closed_ || woken_; });
    woken_ = false;
    if (closed_) return;
  }
}

bool Session::holding_for_speech() const {
  return speech_.empty() && utterance_open_ && last_planned_utterance_ != 0 &&
         options_.lead_frames > 1;
}

bool Session::idling_on_a_ready_frame(std::int64_t index) const {
  // Also while an utterance's first audio is arriving: its first frame is not ready yet.
  return speech_.empty() && idle_->ready(source_of(index));
}

int Session::lead_of(std::int64_t index) const {
  if (holding_for_speech()) return 1;
  if (options_.lead_frames > 1 && idling_on_a_ready_frame(index)) return options_.lead_frames - 1;
  return options_.lead_frames;
}

TimePoint Session::next_wake() const {
  TimePoint wake = due(next_plan_) - lead_of(next_plan_) * kFramePeriod;
  if (!in_flight_.empty()) wake = std::min(wake, due(in_flight_.front().index));
  if (utterance_open_) wake = std::min(wake, last_speech_ + options_.speech_gap);
  return wake;
}

void Session::step(TimePoint now) {
  bool gap_passed = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    gap_passed = utterance_open_ && now - last_speech_ >= options_.speech_gap;
  }
  if (gap_passed) {
    if (Status ended = end_speech(); !ended.ok()) {
      LOG_WARN("live", "ending an utterance after a gap: {}", ended.message());
    }
  }
  while (true) {
    InFlight frame;
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      plan_until(now);
      if (in_flight_.empty() || due(in_flight_.front().index) > now) return;
      frame = std::move(in_flight_.front());
      in_flight_.pop_front();
    }
    deliver(std::move(frame));
  }
}

void Session::plan_until(TimePoint now) {
  // Behind the clock (renders slower than real time, a starved machine): frames already more
  // than `lead` late are skipped, speech frames with them, so the session catches up with the
  // clock instead of falling further behind. Manual pacing simulates instant renders: no skips.
  const auto oldest = now - options_.lead_frames * kFramePeriod;
  for (; pacing_ == Pacing::kThread && due(next_plan_) < oldest; ++next_plan_) {
    if (!speech_.empty()) speech_.pop_front();
    stats_.queued_speech_frames = std::ssize(speech_);
    ++stats_.skipped_frames;
  }
  const auto horizon = now + options_.lead_frames * kFramePeriod;
  for (; due(next_plan_) <= horizon; ++next_plan_) {
    // A new utterance's first frame waits out the jitter buffer (idle meanwhile).
    const bool buffering =
        !speech_.empty() && speech_.front().index == 0 && next_plan_ < first_speech_slot_;
    if (speech_.empty() || buffering) {
      // The utterance's next audio is late, or the frame is a finished idle frame: wait while
      // there is still a frame period to render a speech frame in (push_speech wakes the
      // session).
      if (due(next_plan_) - lead_of(next_plan_) * kFramePeriod > now) break;
      in_flight_.push_back(plan_idle(next_plan_));
      last_planned_utterance_ = 0;
      continue;
    }
    SpeechFrame speech = std::move(speech_.front());
    speech_.pop_front();
    last_planned_utterance_ = speech.utterance;
    stats_.queued_speech_frames = std::ssize(speech_);
    InFlight frame{.index = next_plan_,
                   .source = source_of(next_plan_),
                   .utterance = speech.utterance,
                   .gated = speech.gated,
                   .pcm = std::make_shared<const std::vector<float>>(std::move(speech.pcm)),
                   .cancel = std::make_shared<pipeline::CancelFlag>()};
    frame.jpeg =
        renderer_->render(frame.source, std::move(speech.features), due(next_plan_), frame.cancel)
            .share();
    in_flight_.push_back(std::move(frame));
  }
}

Session::InFlight Session::plan_idle(std::int64_t index) {
  InFlight frame{.index = index, .source = source_of(index), .pcm = silent_pcm_};
  frame.jpeg = idle_->frame(frame.source, *renderer_, due(index));
  // The idle frame a few periods on is started now, due when it would be planned, so that it is
  // ready then and speech arriving meanwhile can start a period sooner (idling_on_a_ready_frame).
  // Every idle frame is rendered once per model anyway; this only renders it earlier.
  const std::int64_t ahead = index + options_.lead_frames + 2;
  idle_->prefetch(source_of(ahead), *renderer_, due(ahead) - options_.lead_frames * kFramePeriod);
  return frame;
}

void Session::deliver(InFlight frame) {
  Result<Jpeg> jpeg = frame.jpeg.get();
  if (!jpeg.ok()) {
    LOG_WARN("live", "frame {} (source {}) did not render: {}; showing the source frame",
             frame.index, frame.source, jpeg.status().message());
    jpeg = renderer_->source_frame(frame.source);
  }
  // Manual pacing simulates a clock: a frame is shown when due (renders count as instant).
  const auto delivered = pacing_ == Pacing::kThread ? LiveClock::now() : due(frame.index);
  LiveFrame out{.index = frame.index,
                .pts_ms = timeline::frame_to_ms(frame.index),
                .source_frame = frame.source,
                .utterance = frame.utterance,
                .gated = frame.gated,
                .pcm = frame.pcm,
                .late_ms = std::max(0.0, ms_between(due(frame.index), delivered))};
  {
    std::lock_guard lock(mutex_);
    if (!jpeg.ok()) {
      ++stats_.render_errors;
      LOG_ERROR("live", "frame {}: not even the source frame: {}", frame.index,
                jpeg.status().message());
      return;
    }
    if (!frame.jpeg.get().ok()) ++stats_.render_errors;
    ++stats_.frames;
    ++(frame.utterance == 0 ? stats_.idle_frames : stats_.speech_frames);
    stats_.max_late_ms = std::max(stats_.max_late_ms, out.late_ms);
    if (stats_.first_frame_ms < 0) stats_.first_frame_ms = ms_between(start_, delivered);
    if (interrupt_pending_ && frame.utterance == 0) {
      stats_.last_interrupt_to_idle_ms = std::max(0.0, ms_between(interrupted_at_, delivered));
      interrupt_pending_ = false;
    }
  }
  out.jpeg = std::move(*jpeg);
  std::lock_guard lock(watchers_mutex_);
  for (const auto& [id, watcher] : watchers_) watcher(out);
}

}  // namespace lipsync::live
