// A live avatar session: always on, one frame every 40 ms from the moment it opens until it is
// closed. Idle frames while no speech is queued; speech frames, in order, from the next frame
// not yet submitted once their audio has arrived; interrupt() drops queued speech and returns
// to idle at the next frame not yet delivered. The source frame sequence runs on without a
// jump between idle and speech (output frame n shows sequence position start_frame + n).
//
// Timing: frame n is due at open + n·40 ms. A frame is submitted for rendering `lead_frames`
// frames before it is due (the renderer sees its deadline) and delivered to every watcher at
// its due time, or as soon as it is ready when late. Within an utterance whose next audio is
// late (a chunk delayed on the network), the next frame waits for it until one frame period
// before it is due, then shows idle: a lead of 2 absorbs 40 ms of jitter without a gap. While
// idle, a frame whose idle image is already rendered (IdleFrames) is planned `lead_frames` - 1
// frame periods before it is due (at least 1): speech that arrives then starts a frame period
// sooner, its first frame rendered ahead of the queue's later deadlines (the executor runs the
// earliest first), and absorbs that much less jitter until the buffer below has seen some; each
// idle frame is started a few periods before it is planned (IdleFrames::prefetch) so that it is
// rendered by then. Audio
// later than that in the last utterances makes a new utterance's first frame wait for the
// difference (a jitter buffer, ArrivalJitter; LiveOptions::max_jitter_buffer). Frames
// carry their presentation time and their own 40 ms of audio (silence while idle), so players
// stay in sync.
//
// Threads: a paced session has one thread of its own that plans and delivers; push_speech(),
// end_speech(), interrupt(), watch() may be called from any thread. A manual session has no
// thread: advance_to() does the work for a given time (tests, benchmarks).
//
//   auto session = Session::open(renderer, idle, std::move(track), options);
//   (*session)->watch([](const LiveFrame& f) { send(f); });
//   (*session)->push_speech(pcm);  ...  (*session)->interrupt();
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/status.h"
#include "imaging/frame_sequence.h"
#include "live/arrival_jitter.h"
#include "live/idle_frames.h"
#include "live/live_renderer.h"
#include "live/speech_track.h"

namespace lipsync::live {

struct LiveOptions {
  imaging::SequenceMode sequence = imaging::SequenceMode::kPingPong;
  std::int64_t start_frame = 0;  // sequence position of output frame 0
  // No speech audio for this long ends the utterance: its last frames (held back by the
  // model's look-ahead) are rendered. end_speech() does it at once.
  std::chrono::milliseconds speech_gap{200};
  // Frames submitted for rendering before they are due: the time the renderer has per frame,
  // and the most an interruption waits for frames already submitted.
  int lead_frames = 2;
  // Speech frames queued and not yet shown, at most (60 s); push_speech() beyond is refused.
  std::int64_t max_queued_speech_frames = 1500;
  // Jitter buffer (ArrivalJitter): a new utterance's first frame waits for the lateness of the
  // audio of the last utterances, less what the lead absorbs, at most this long. 0: never waits.
  std::chrono::milliseconds max_jitter_buffer{200};
};

Status check(const LiveOptions& options);

struct LiveFrame {
  std::int64_t index = 0;         // since the session opened
  std::int64_t pts_ms = 0;        // index · 40: when to show it and to play its audio
  std::int64_t source_frame = 0;  // of the avatar
  std::int64_t utterance = 0;     // 0: idle; else the utterance it belongs to (1, 2, ...)
  bool gated = false;             // speech frame shown with the mouth of silence
  Jpeg jpeg;
  std::shared_ptr<const std::vector<float>> pcm;  // its 640 samples of 16 kHz mono audio
  double late_ms = 0;                             // delivered this long after it was due
};

struct LiveStats {
  std::int64_t frames = 0;  // delivered
  std::int64_t speech_frames = 0;
  std::int64_t idle_frames = 0;
  std::int64_t utterances = 0;
  std::int64_t interrupts = 0;
  std::int64_t render_errors = 0;   // frames shown as the source frame because rendering failed
  std::int64_t skipped_frames = 0;  // not rendered: already `lead` frames late when planned
  std::int64_t queued_speech_frames = 0;
  double max_late_ms = 0;
  double first_frame_ms = -1;             // from open to the first delivery
  double last_interrupt_to_idle_ms = -1;  // from interrupt() to the next idle frame delivered
  double audio_late_ms = 0;     // the recent utterances' latest audio, how late (ArrivalJitter)
  double jitter_buffer_ms = 0;  // how long the last utterance's first frame was held for it
};

class Session {
 public:
  using Watcher = std::function<void(const LiveFrame&)>;
  enum class Pacing { kThread, kManual };

  // `track` turns speech into frames; `idle` (shared by the sessions of a model) makes the idle
  // frames. The first frame is due at `start` (default: now).
  static Result<std::unique_ptr<Session>> open(std::shared_ptr<LiveRenderer> renderer,
                                               std::shared_ptr<IdleFrames> idle,
                                               std::unique_ptr<SpeechTrack> track,
                                               LiveOptions options, Pacing pacing = Pacing::kThread,
                                               TimePoint start = LiveClock::now());
  ~Session();  // close()
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // 16 kHz mono samples of speech, any count. Errors: INVALID_ARGUMENT (not finite),
  // RESOURCE_EXHAUSTED (more than max_queued_speech_frames would be queued), FAILED_PRECONDITION
  // (closed), and the encoder's.
  Status push_speech(std::span<const float> samples);
  // The speech pushed so far is complete: its last frames are queued now.
  Status end_speech();
  // Drops the open utterance and every speech frame not yet delivered; frames already
  // submitted are cancelled and replaced by idle frames.
  void interrupt();

  // `watcher` gets every frame from the next one on, in order, on the session's thread; it must
  // not block (queue and return). Returns an id for unwatch(), which waits for a running call.
  int watch(Watcher watcher);
  void unwatch(int id);
  std::size_t watchers() const;

  // Stops producing frames, cancels what is in flight, joins the thread. Idempotent.
  void close();
  bool closed() const;

  // Manual pacing: plans and delivers every frame due by `now` (blocking on renders due).
  void advance_to(TimePoint now);

  LiveStats stats() const;
  TimePoint due(std::int64_t frame) const;
  std::int64_t frame_count() const { return renderer_->frame_count(); }
  int width() const { return renderer_->width(); }
  int height() const { return renderer_->height(); }
  int lead_frames() const { return options_.lead_frames; }

 private:
  struct InFlight {
    std::int64_t index = 0;
    std::int64_t source = 0;
    std::int64_t utterance = 0;
    bool gated = false;
    std::shared_ptr<const std::vector<float>> pcm;
    std::shared_future<Result<Jpeg>> jpeg;
    std::shared_ptr<pipeline::CancelFlag> cancel;
  };

  Session(std::shared_ptr<LiveRenderer> renderer, std::shared_ptr<IdleFrames> idle,
          std::unique_ptr<SpeechTrack> track, LiveOptions options, Pacing pacing, TimePoint start);
  void run();
  void step(TimePoint now);
  void plan_until(TimePoint now);          // with mutex_ held
  InFlight plan_idle(std::int64_t index);  // with mutex_ held
  void deliver(InFlight frame);
  // Speech pushed: how many samples, when.
  struct Arrival {
    std::size_t samples = 0;
    TimePoint at;
  };
  // With track_mutex_ held; `arrival`: null for frames that no new audio brought (end_speech).
  Status queue_speech(Result<std::vector<SpeechFrame>> frames, const Arrival* arrival);
  TimePoint now() const;
  TimePoint next_wake() const;  // with mutex_ held
  // Mid-utterance with no speech frame ready: the next frame waits for its audio until one frame
  // period before it is due (with mutex_ held).
  bool holding_for_speech() const;
  // No speech frame queued and the idle frame of `index` already rendered: showing it needs no
  // render time, so it is planned one frame period later than `lead_frames` asks, and speech
  // arriving meanwhile starts on the frame it would have found planned (with mutex_ held).
  bool idling_on_a_ready_frame(std::int64_t index) const;
  // How many frame periods before it is due frame `index` is planned (with mutex_ held).
  int lead_of(std::int64_t index) const;
  std::int64_t source_of(std::int64_t index) const;

  const std::shared_ptr<LiveRenderer> renderer_;
  const std::shared_ptr<IdleFrames> idle_;
  const LiveOptions options_;
  const Pacing pacing_;
  const TimePoint start_;
  const std::shared_ptr<const std::vector<float>> silent_pcm_;

  std::mutex track_mutex_;  // taken before mutex_ when both are needed
  std::unique_ptr<SpeechTrack> track_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool closed_ = false;
  bool woken_ = false;
  TimePoint manual_now_;
  std::deque<SpeechFrame> speech_;  // ready, not yet submitted
  std::deque<InFlight> in_flight_;  // submitted, not yet delivered, in index order
  std::int64_t next_plan_ = 0;      // the next frame to submit
  bool utterance_open_ = false;
  TimePoint last_speech_;
  std::int64_t last_planned_utterance_ = 0;  // of the last frame submitted (0: idle)
  ArrivalJitter jitter_;
  // The open utterance's first frame is planned here or later: the first frame not yet submitted
  // when its first frames were ready, plus the jitter buffer in frames (rounded up).
  std::int64_t first_speech_slot_ = 0;
  bool interrupt_pending_ = false;
  TimePoint interrupted_at_;
  LiveStats stats_;

  mutable std::mutex watchers_mutex_;
  std::vector<std::pair<int, Watcher>> watchers_;
  int next_watcher_ = 1;

  std::thread thread_;
};

}  // namespace lipsync::live
