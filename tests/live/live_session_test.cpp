// Live sessions on a fake renderer and a deterministic encoder, paced by hand (advance_to):
// idle from the first frame, speech in order without a jump in the sequence, silence gating,
// interruption, the gap that ends an utterance, bounded queues, shared idle frames.
#include "live/live_session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "audio/streaming_extractor.h"
#include "audio/test_encoders.h"
#include "core/timeline.h"
#include "pipeline/render_request.h"

namespace lipsync::live {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kAvatarFrames = 7;

Jpeg bytes(const std::string& text) {
  return std::make_shared<const std::vector<std::uint8_t>>(text.begin(), text.end());
}

// Renders "<source>:<checksum of the features>" at once; records each call.
class FakeRenderer : public LiveRenderer {
 public:
  std::int64_t frame_count() const override { return kAvatarFrames; }
  int width() const override { return 64; }
  int height() const override { return 48; }
  std::future<Result<Jpeg>> render(std::int64_t source, std::vector<float> features,
                                   TimePoint deadline,
                                   std::shared_ptr<pipeline::CancelFlag> cancel) override {
    std::lock_guard lock(mutex);
    calls.push_back({source, features, deadline, cancel});
    if (deferred_idle && !cancel) {  // an idle render: finished only once someone waits for it
      return std::async(std::launch::deferred,
                        [source] { return Result<Jpeg>(bytes(std::to_string(source))); });
    }
    std::promise<Result<Jpeg>> answer;
    if (fail) {
      answer.set_value(Status(ErrorCode::kInternal, "renderer broken"));
    } else {
      double sum = 0;
      for (std::size_t i = 0; i < features.size(); ++i) sum += features[i] * (1.0 + i % 7);
      answer.set_value(bytes(std::to_string(source) + ":" + std::to_string(sum)));
    }
    return answer.get_future();
  }
  Result<Jpeg> source_frame(std::int64_t source) override {
    return bytes("source " + std::to_string(source));
  }

  struct Call {
    std::int64_t source;
    std::vector<float> features;
    TimePoint deadline;
    std::shared_ptr<pipeline::CancelFlag> cancel;
  };
  std::mutex mutex;
  std::vector<Call> calls;
  bool fail = false;
  bool deferred_idle = false;  // idle renders take until their frame is shown
};

std::vector<float> tone(double seconds, double amplitude, double hz = 220) {
  std::vector<float> samples(static_cast<std::size_t>(seconds * timeline::kSampleRateHz));
  for (std::size_t i = 0; i < samples.size(); ++i) {
    samples[i] = static_cast<float>(
        amplitude * std::sin(2 * M_PI * hz * static_cast<double>(i) / timeline::kSampleRateHz) *
        (1.0 + 0.5 * std::sin(static_cast<double>(i) / 900.0)));
  }
  return samples;
}

class LiveSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto analyzer = audio::MelAnalyzer::create();
    ASSERT_TRUE(analyzer.ok()) << analyzer.status().message();
    mel = std::move(*analyzer);
  }

  std::unique_ptr<SpeechTrack> track(SpeechOptions options = {}) {
    auto made = SpeechTrack::create(mel, encoder, options);
    EXPECT_TRUE(made.ok()) << made.status().message();
    return std::move(*made);
  }

  std::unique_ptr<Session> open(LiveOptions options = {}, IdleMode mode = IdleMode::kSilentModel,
                                SpeechOptions speech = {}) {
    auto speech_track = track(speech);
    if (!idle) idle = std::make_shared<IdleFrames>(mode, speech_track->silence_features());
    auto session = Session::open(renderer, idle, std::move(speech_track), options,
                                 Session::Pacing::kManual, t0);
    EXPECT_TRUE(session.ok()) << session.status().message();
    (*session)->watch([this](const LiveFrame& frame) {
      std::lock_guard lock(frames_mutex);
      frames.push_back(frame);
    });
    return std::move(*session);
  }

  TimePoint at(std::int64_t frame) const { return t0 + frame * 40ms; }

  // Frames a whole clip of `samples` has (streamed and flushed, as one utterance).
  std::vector<audio::FrameTensor> clip_frames(const std::vector<float>& samples) {
    audio::StreamingFeatureExtractor extractor(mel, encoder);
    auto first = extractor.push(samples);
    auto rest = extractor.flush();
    EXPECT_TRUE(first.ok() && rest.ok());
    first->insert(first->end(), rest->begin(), rest->end());
    return std::move(*first);
  }

  std::shared_ptr<const audio::MelAnalyzer> mel;
  audio::testing::MixingEncoder encoder;
  std::shared_ptr<FakeRenderer> renderer = std::make_shared<FakeRenderer>();
  std::shared_ptr<IdleFrames> idle;
  TimePoint t0 = LiveClock::now();
  std::mutex frames_mutex;
  std::vector<LiveFrame> frames;
};

TEST_F(LiveSessionTest, IdleFromTheFirstFrameInSequenceWithSilentAudio) {
  auto session = open();
  session->advance_to(at(20));
  ASSERT_EQ(frames.size(), 21u);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const LiveFrame& frame = frames[i];
    EXPECT_EQ(frame.index, static_cast<std::int64_t>(i));
    EXPECT_EQ(frame.pts_ms, 40 * static_cast<std::int64_t>(i));
    EXPECT_EQ(frame.utterance, 0);
    EXPECT_EQ(frame.source_frame,
              imaging::source_frame_index(imaging::SequenceMode::kPingPong,
                                          static_cast<std::int64_t>(i), kAvatarFrames));
    ASSERT_EQ(frame.pcm->size(), 640u);
    EXPECT_EQ(*std::max_element(frame.pcm->begin(), frame.pcm->end()), 0.0f);
    EXPECT_EQ(frame.late_ms, 0.0);
  }
  // Idle frames are the model on silence, rendered once per source frame.
  EXPECT_EQ(idle->renders(), kAvatarFrames);
  EXPECT_EQ(renderer->calls.size(), static_cast<std::size_t>(kAvatarFrames));
  const std::vector<float> silence = track()->silence_features();
  for (const auto& call : renderer->calls) EXPECT_EQ(call.features, silence);
  const LiveStats stats = session->stats();
  EXPECT_EQ(stats.frames, 21);
  EXPECT_EQ(stats.idle_frames, 21);
  EXPECT_EQ(stats.first_frame_ms, 0.0);
}

TEST_F(LiveSessionTest, SourceIdleModeRunsNoModel) {
  auto session = open({}, IdleMode::kSource);
  session->advance_to(at(9));
  ASSERT_EQ(frames.size(), 10u);
  EXPECT_TRUE(renderer->calls.empty());
  const std::string first(frames[3].jpeg->begin(), frames[3].jpeg->end());
  EXPECT_EQ(first, "source " + std::to_string(frames[3].source_frame));
}

// Audio pushed at the pace it is spoken, one 40 ms chunk per frame, except that one chunk comes
// a frame late together with the next (network jitter). The utterance starts on rendered idle
// frames, one frame period sooner than its lead: with a lead of 3 the frame that lacks its audio
// waits for it instead of showing idle, so the utterance has no gap; with the default lead of 2
// (or 1) there is no time to wait and the gap shows (the jitter buffer takes it for the next
// utterance: LateAudioInOneUtteranceIsBufferedInTheNext).
TEST_F(LiveSessionTest, AChunkOneFrameLateLeavesNoGapInTheUtterance) {
  for (int lead : {3, 2, 1}) {
    frames.clear();
    auto session = open({.lead_frames = lead});
    const std::vector<float> speech = tone(2.0, 0.3);
    constexpr std::size_t kChunk = 640;
    std::size_t sent = 0;
    const auto push = [&](std::size_t chunks) {
      const std::size_t n = std::min(chunks * kChunk, speech.size() - sent);
      ASSERT_TRUE(session->push_speech(std::span(speech).subspan(sent, n)).ok());
      sent += n;
    };
    session->advance_to(at(5));
    push(12);  // the look-ahead's worth at once (480 ms), then 40 ms a frame
    for (std::int64_t k = 6; sent < speech.size(); ++k) {
      session->advance_to(at(k));
      if (k == 30) continue;  // this chunk is late...
      push(k == 31 ? 2 : 1);  // ...and comes with the next
    }
    ASSERT_TRUE(session->end_speech().ok());
    session->advance_to(at(200));
    std::int64_t first = -1, last = -1, idle_inside = 0;
    for (const LiveFrame& frame : frames) {
      if (frame.utterance == 0) continue;
      if (first < 0) first = frame.index;
      last = frame.index;
    }
    ASSERT_GE(first, 0);
    for (const LiveFrame& frame : frames) {
      if (frame.index > first && frame.index < last && frame.utterance == 0) ++idle_inside;
    }
    if (lead == 3) {
      EXPECT_EQ(idle_inside, 0) << "an idle frame inside the utterance (lead 3)";
    } else {
      EXPECT_GE(idle_inside, 1) << "lead " << lead
                                << " has no time to wait: the late chunk leaves a gap";
    }
  }
}

// An utterance of 2 s pushed from frame `base` on, as a client streams it: 480 ms at once, then
// 40 ms at every frame, except that the chunks of two frames come late, with the third
// (80 ms late: more than a lead of 2 absorbs). Returns the utterance's first frame and how many
// idle frames came inside it.
struct Spoken {
  std::int64_t first = -1;
  std::int64_t idle_inside = 0;
};
Spoken speak_with_late_chunks(Session& session, std::int64_t base, std::int64_t utterance,
                              const std::vector<LiveFrame>& frames, TimePoint t0) {
  const std::vector<float> speech = tone(2.0, 0.3);
  constexpr std::size_t kChunk = 640;
  std::size_t sent = 0;
  const auto push = [&](std::size_t chunks) {
    const std::size_t n = std::min(chunks * kChunk, speech.size() - sent);
    EXPECT_TRUE(session.push_speech(std::span(speech).subspan(sent, n)).ok());
    sent += n;
  };
  const auto at = [&](std::int64_t frame) { return t0 + frame * 40ms; };
  session.advance_to(at(base));
  push(12);
  for (std::int64_t k = base + 1; sent < speech.size(); ++k) {
    session.advance_to(at(k));
    if (k == base + 25 || k == base + 26) continue;  // late...
    push(k == base + 27 ? 3 : 1);                    // ...by 80 ms
  }
  EXPECT_TRUE(session.end_speech().ok());
  session.advance_to(at(base + 100));
  Spoken spoken;
  std::int64_t last = -1;
  for (const LiveFrame& frame : frames) {
    if (frame.utterance != utterance) continue;
    if (spoken.first < 0) spoken.first = frame.index;
    last = frame.index;
  }
  for (const LiveFrame& frame : frames) {
    if (frame.index > spoken.first && frame.index < last && frame.utterance == 0)
      ++spoken.idle_inside;
  }
  return spoken;
}

// The jitter buffer: audio 80 ms late leaves a gap in its utterance (one started on rendered
// idle frames with a lead of 2 absorbs none), and the next utterance starts two frames later so
// that the same lateness leaves none; without the buffer (max 0) the gap comes back.
TEST_F(LiveSessionTest, LateAudioInOneUtteranceIsBufferedInTheNext) {
  for (const auto max_buffer : {200ms, 0ms}) {
    frames.clear();
    auto session = open({.max_jitter_buffer = max_buffer});
    const Spoken one = speak_with_late_chunks(*session, 5, 1, frames, t0);
    ASSERT_GE(one.first, 0);
    EXPECT_GE(one.idle_inside, 1) << "80 ms late audio without a buffer leaves a gap";
    EXPECT_DOUBLE_EQ(session->stats().audio_late_ms, 80.0);
    const Spoken two = speak_with_late_chunks(*session, 150, 2, frames, t0);
    ASSERT_GE(two.first, 0);
    if (max_buffer > 0ms) {
      EXPECT_EQ(two.idle_inside, 0) << "the buffer absorbs the same lateness";
      EXPECT_EQ(two.first - 150, one.first - 5 + 2) << "the buffer (80 ms) is two frames";
      EXPECT_DOUBLE_EQ(session->stats().jitter_buffer_ms, 80.0);
    } else {
      EXPECT_GE(two.idle_inside, 1);
      EXPECT_EQ(two.first - 150, one.first - 5);
      EXPECT_EQ(session->stats().jitter_buffer_ms, 0.0);
    }
  }
}

TEST_F(LiveSessionTest, SpeechFramesAreTheClipsFramesInOrderWithoutAJump) {
  auto session = open();
  session->advance_to(at(5));
  const std::vector<float> speech = tone(1.2, 0.3);
  ASSERT_TRUE(session->push_speech(speech).ok());
  ASSERT_TRUE(session->end_speech().ok());
  const std::vector<audio::FrameTensor> expected = clip_frames(speech);
  session->advance_to(at(5 + static_cast<std::int64_t>(expected.size()) + 10));

  std::vector<LiveFrame> spoken;
  for (const LiveFrame& frame : frames) {
    if (frame.utterance == 1) spoken.push_back(frame);
  }
  ASSERT_EQ(spoken.size(), expected.size());
  for (std::size_t i = 1; i < spoken.size(); ++i) {
    EXPECT_EQ(spoken[i].index, spoken[i - 1].index + 1) << "speech frames are contiguous";
  }
  // The sequence runs on: every frame, idle or speech, shows its position's source frame.
  for (std::size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].index, static_cast<std::int64_t>(i));
    EXPECT_EQ(frames[i].source_frame, imaging::source_frame_index(imaging::SequenceMode::kPingPong,
                                                                  frames[i].index, kAvatarFrames));
  }
  // The first speech frame is the first frame not yet planned when the speech arrived: the
  // rendered idle frames are planned one frame period later than the lead.
  EXPECT_EQ(spoken.front().index, 5 + 1 + LiveOptions{}.lead_frames - 1);
  // Each speech frame's mouth input is the whole clip's, and its audio is its own 40 ms.
  std::size_t speech_call = 0;
  for (const auto& call : renderer->calls) {
    if (!call.cancel) continue;  // idle renders carry no cancel flag
    ASSERT_LT(speech_call, expected.size());
    if (!spoken[speech_call].gated) {
      EXPECT_EQ(call.features, expected[speech_call].values);
    }
    ++speech_call;
  }
  EXPECT_EQ(speech_call, expected.size());
  for (std::size_t i = 0; i < spoken.size(); ++i) {
    const std::size_t begin = i * 640;
    for (std::size_t s = 0; s < 640; ++s) {
      const float want = begin + s < speech.size() ? speech[begin + s] : 0.0f;
      ASSERT_EQ((*spoken[i].pcm)[s], want) << "frame " << i << " sample " << s;
    }
  }
  EXPECT_EQ(session->stats().utterances, 1);
  EXPECT_EQ(session->stats().speech_frames, static_cast<std::int64_t>(expected.size()));
}

// Idle frames not rendered yet are planned `lead_frames` ahead (they need the render time);
// rendered ones a frame period later, so that speech arriving then starts a frame period sooner.
// A session starts each idle frame a few periods before it plans it, so even the first session
// of a model finds them rendered when renders are quick.
TEST_F(LiveSessionTest, SpeechStartsAFramePeriodSoonerOnceIdleFramesAreRendered) {
  const int lead = LiveOptions{}.lead_frames;
  // 40 ms of speech at frame 1 (it opens the utterance but makes no frame), the rest at frame
  // 2: its first frames are ready from then on.
  const std::vector<float> speech = tone(1.0, 0.3);
  const auto speak = [&](Session& session) {
    session.advance_to(at(1));
    ASSERT_TRUE(session.push_speech(std::span(speech).first(640)).ok());
    session.advance_to(at(2));
    ASSERT_TRUE(session.push_speech(std::span(speech).subspan(640)).ok());
    ASSERT_TRUE(session.end_speech().ok());
    session.advance_to(at(60));
  };
  renderer->deferred_idle = true;  // idle renders not finished before their frames are shown
  auto slow = open();
  speak(*slow);
  const auto first_speech = [&] {
    for (const LiveFrame& frame : frames) {
      if (frame.utterance != 0) return frame.index;
    }
    return std::int64_t{-1};
  };
  EXPECT_EQ(first_speech(), 2 + 1 + lead);
  slow->close();
  frames.clear();
  renderer->deferred_idle = false;
  idle = nullptr;  // a fresh cache: this session is its model's first
  auto quick = open();
  speak(*quick);
  EXPECT_EQ(first_speech(), 2 + 1 + lead - 1);
  // Every source frame's idle image was rendered once, none twice.
  for (std::int64_t source = 0; source < kAvatarFrames; ++source) EXPECT_TRUE(idle->ready(source));
  EXPECT_EQ(idle->renders(), kAvatarFrames);
}

TEST_F(LiveSessionTest, QuietAudioIsGatedToTheMouthOfSilence) {
  auto session = open();
  const std::vector<float> hush = tone(1.0, 0.0005);  // about -69 dBFS
  ASSERT_TRUE(session->push_speech(hush).ok());
  ASSERT_TRUE(session->end_speech().ok());
  session->advance_to(at(60));
  const std::vector<float> silence = track()->silence_features();
  int spoken = 0;
  for (const LiveFrame& frame : frames) {
    if (frame.utterance == 0) continue;
    ++spoken;
    EXPECT_TRUE(frame.gated);
  }
  EXPECT_GT(spoken, 20);
  for (const auto& call : renderer->calls) EXPECT_EQ(call.features, silence);
}

TEST_F(LiveSessionTest, LoudSpeechIsNotGatedAndGatingCanBeTurnedOff) {
  auto session = open({}, IdleMode::kSilentModel, {.silence_threshold_dbfs = -1000});
  ASSERT_TRUE(session->push_speech(tone(1.0, 0.0005)).ok());
  ASSERT_TRUE(session->end_speech().ok());
  session->advance_to(at(60));
  for (const LiveFrame& frame : frames) EXPECT_FALSE(frame.gated);
  frames.clear();
  auto loud = open();
  ASSERT_TRUE(loud->push_speech(tone(1.0, 0.3)).ok());
  ASSERT_TRUE(loud->end_speech().ok());
  loud->advance_to(at(60));
  int gated = 0;
  for (const LiveFrame& frame : frames) gated += frame.gated ? 1 : 0;
  EXPECT_EQ(gated, 0);
}

TEST_F(LiveSessionTest, InterruptReturnsToIdleAtTheNextFrameNotYetDelivered) {
  auto session = open();
  ASSERT_TRUE(session->push_speech(tone(4.0, 0.3)).ok());
  session->advance_to(at(20));
  const std::size_t before = frames.size();
  ASSERT_GT(session->stats().speech_frames, 5);
  session->interrupt();
  session->advance_to(at(21));
  session->advance_to(at(60));
  for (std::size_t i = before; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].utterance, 0) << "frame " << frames[i].index << " after the interrupt";
  }
  // Frames submitted before the interrupt were withdrawn.
  int cancelled = 0;
  for (const auto& call : renderer->calls) cancelled += call.cancel && call.cancel->is_set();
  EXPECT_EQ(cancelled, LiveOptions{}.lead_frames);
  const LiveStats stats = session->stats();
  EXPECT_EQ(stats.interrupts, 1);
  EXPECT_EQ(stats.queued_speech_frames, 0);
  EXPECT_GE(stats.last_interrupt_to_idle_ms, 0.0);
  EXPECT_LE(stats.last_interrupt_to_idle_ms, 40.0);
  // Speech after an interruption is a new utterance.
  ASSERT_TRUE(session->push_speech(tone(0.5, 0.3)).ok());
  ASSERT_TRUE(session->end_speech().ok());
  session->advance_to(at(100));
  EXPECT_EQ(frames.back().utterance, 0);
  EXPECT_EQ(session->stats().utterances, 2);
}

TEST_F(LiveSessionTest, AGapInTheAudioEndsTheUtterance) {
  auto session = open({.speech_gap = 200ms});
  const std::vector<float> speech = tone(1.0, 0.3);
  ASSERT_TRUE(session->push_speech(speech).ok());
  const auto expected = static_cast<std::int64_t>(clip_frames(speech).size());
  session->advance_to(at(3));  // less than the gap: the last frames wait for more audio
  session->advance_to(at(4));
  EXPECT_LT(session->stats().queued_speech_frames + session->stats().speech_frames, expected);
  session->advance_to(at(6));  // 240 ms after the push
  session->advance_to(at(80));
  EXPECT_EQ(session->stats().speech_frames, expected);
}

TEST_F(LiveSessionTest, TooMuchQueuedSpeechIsRefused) {
  auto session = open({.max_queued_speech_frames = 30});
  const Status refused = session->push_speech(tone(5.0, 0.3));
  EXPECT_EQ(refused.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("interrupt"), std::string::npos) << refused.message();
  EXPECT_TRUE(session->push_speech(tone(0.5, 0.3)).ok());
  const std::vector<float> nan(640, std::nanf(""));
  EXPECT_EQ(session->push_speech(nan).code(), ErrorCode::kInvalidArgument);
}

TEST_F(LiveSessionTest, IdleFramesAreSharedBetweenSessionsOfAModel) {
  auto first = open();
  auto second = open();
  first->advance_to(at(30));
  second->advance_to(at(30));
  EXPECT_EQ(idle->renders(), kAvatarFrames);
  EXPECT_EQ(idle->cached_frames(), static_cast<std::size_t>(kAvatarFrames));
  EXPECT_GT(idle->cached_bytes(), 0u);
  EXPECT_EQ(frames.size(), 62u);
}

TEST_F(LiveSessionTest, AFrameThatFailsToRenderShowsTheSourceFrame) {
  renderer->fail = true;
  auto session = open();
  session->advance_to(at(3));
  ASSERT_EQ(frames.size(), 4u);
  const std::string shown(frames[0].jpeg->begin(), frames[0].jpeg->end());
  EXPECT_EQ(shown, "source " + std::to_string(frames[0].source_frame));
  EXPECT_EQ(session->stats().render_errors, 4);
  renderer->fail = false;  // the failed idle renders are not kept: the next round renders
  session->advance_to(at(20));
  const std::string later(frames.back().jpeg->begin(), frames.back().jpeg->end());
  EXPECT_EQ(later.rfind("source", 0), std::string::npos) << later;
}

TEST_F(LiveSessionTest, WatchersJoinAndLeave) {
  auto session = open();
  std::atomic<int> second{0};
  const int id = session->watch([&](const LiveFrame&) { ++second; });
  session->advance_to(at(4));
  EXPECT_EQ(second.load(), 5);
  session->unwatch(id);
  session->advance_to(at(9));
  EXPECT_EQ(second.load(), 5);
  EXPECT_EQ(frames.size(), 10u);
  EXPECT_EQ(session->watchers(), 1u);
}

TEST_F(LiveSessionTest, OptionsOutOfRangeAreRefused) {
  EXPECT_EQ(check({.lead_frames = 0}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(check({.max_jitter_buffer = -1ms}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(check({.max_jitter_buffer = 2001ms}).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(check({.max_jitter_buffer = 0ms}).ok());
  EXPECT_EQ(check({.speech_gap = 5ms}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(check({.max_queued_speech_frames = 0}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(SpeechTrack::create(mel, encoder, {.silence_threshold_dbfs = 3}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_idle_mode("blink").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(*parse_idle_mode("source"), IdleMode::kSource);
}

TEST_F(LiveSessionTest, APacedSessionProducesFramesOnItsOwnThreadUntilClosed) {
  auto speech_track = track();
  idle = std::make_shared<IdleFrames>(IdleMode::kSilentModel, speech_track->silence_features());
  // The first frame is due 100 ms from now, so the watcher below sees it.
  auto opened = Session::open(renderer, idle, std::move(speech_track), {}, Session::Pacing::kThread,
                              LiveClock::now() + 100ms);
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<Session> session = std::move(*opened);
  std::atomic<std::int64_t> last{-1};
  std::atomic<bool> in_order{true};
  session->watch([&](const LiveFrame& frame) {
    if (frame.index != last.load() + 1) {
      ADD_FAILURE() << "frame " << frame.index << " after " << last.load();
      in_order = false;
    }
    last = frame.index;
  });
  // Generous for a loaded machine: 25 frames are due within a second.
  for (int i = 0; i < 100 && last.load() < 10; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GE(last.load(), 10);
  session->interrupt();  // safe from another thread
  session->close();
  const std::int64_t at_close = last.load();
  std::this_thread::sleep_for(120ms);
  EXPECT_EQ(last.load(), at_close) << "no frame after close";
  EXPECT_TRUE(in_order.load());
  EXPECT_EQ(session->push_speech(tone(0.1, 0.3)).code(), ErrorCode::kFailedPrecondition);
}

// One device that renders 16 frames per second, slower than the clock: the session skips what
// is hopelessly late instead of falling ever further behind.
class SlowRenderer : public FakeRenderer {
 public:
  std::future<Result<Jpeg>> render(std::int64_t source, std::vector<float>, TimePoint,
                                   std::shared_ptr<pipeline::CancelFlag>) override {
    return std::async(std::launch::async, [this, source] {
      std::lock_guard lock(device);
      std::this_thread::sleep_for(60ms);
      return Result<Jpeg>(bytes("slow " + std::to_string(source)));
    });
  }
  std::mutex device;
};

TEST_F(LiveSessionTest, APacedSessionBehindTheClockSkipsLateFrames) {
  renderer = std::make_shared<SlowRenderer>();
  auto speech_track = track();
  idle = std::make_shared<IdleFrames>(IdleMode::kSilentModel, speech_track->silence_features(),
                                      /*max_bytes=*/0);  // nothing cached: every frame is slow
  auto opened = Session::open(renderer, idle, std::move(speech_track), {});
  ASSERT_TRUE(opened.ok());
  std::this_thread::sleep_for(1500ms);
  const LiveStats stats = (*opened)->stats();
  (*opened)->close();
  EXPECT_GT(stats.skipped_frames, 0);
  EXPECT_GT(stats.frames, 0);
  // Never more than the frames that were due.
  EXPECT_LE(stats.frames + stats.skipped_frames, 1500 / 40 + 3);
}

}  // namespace
}  // namespace lipsync::live
