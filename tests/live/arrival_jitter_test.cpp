#include "live/arrival_jitter.h"

#include <gtest/gtest.h>

#include <chrono>

namespace lipsync::live {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kChunk = 640;  // 40 ms of 16 kHz audio

// With a start one frame period before the lead of 2 (40 ms absorbed without a buffer).
double buffer_ms(const ArrivalJitter& jitter) {
  return std::chrono::duration<double, std::milli>(jitter.buffer(40ms)).count();
}

class ArrivalJitterTest : public ::testing::Test {
 protected:
  // An utterance at `start`: `first` chunks at once (they make its first frames), then one
  // chunk every 40 ms; `late` (a chunk number after the first ones) comes `late_by` later.
  void utterance(TimePoint start, int first, int chunks, int late = -1, int late_by_frames = 0) {
    jitter.start_utterance();
    jitter.arrived(first * kChunk, start, true);
    for (int c = 0; c < chunks; ++c) {
      if (c >= late && c < late + late_by_frames) continue;                   // held back...
      const int count = c == late + late_by_frames ? late_by_frames + 1 : 1;  // ...sent here
      jitter.arrived(count * kChunk, start + (c + 1) * 40ms, false);
    }
  }

  ArrivalJitter jitter{200ms};
  TimePoint t0 = LiveClock::now();
};

TEST_F(ArrivalJitterTest, AudioAtItsPaceIsNotLate) {
  utterance(t0, 12, 40);
  EXPECT_EQ(jitter.late_ms(), 0.0);
  utterance(t0 + 10s, 1, 40);
  EXPECT_EQ(buffer_ms(jitter), 0.0);
}

TEST_F(ArrivalJitterTest, AChunkTwoFramesLateNeedsABufferOfOneFrameAboveTheTolerance) {
  utterance(t0, 12, 40, /*late=*/20, /*late_by_frames=*/2);
  EXPECT_DOUBLE_EQ(jitter.late_ms(), 80.0);
  EXPECT_EQ(buffer_ms(jitter), 0.0) << "the open utterance's lateness is for the next one";
  jitter.start_utterance();
  EXPECT_DOUBLE_EQ(buffer_ms(jitter), 40.0);  // 80 ms late, 40 tolerated by the lead
  const double all = std::chrono::duration<double, std::milli>(jitter.buffer(0ms)).count();
  EXPECT_DOUBLE_EQ(all, 80.0) << "a start with no frame period to spare waits for all of it";
}

TEST_F(ArrivalJitterTest, ChunksLongerThanAFrameCountAsLate) {
  jitter.start_utterance();
  jitter.arrived(5 * kChunk, t0, true);  // 200 ms at once, then 100 ms chunks every 100 ms
  for (int c = 1; c <= 10; ++c) jitter.arrived(5 * kChunk / 2, t0 + c * 100ms, false);
  EXPECT_DOUBLE_EQ(jitter.late_ms(), 60.0);  // each chunk's first 40 ms waited 60 ms
}

TEST_F(ArrivalJitterTest, AudioFasterThanSpokenIsNeverLate) {
  jitter.start_utterance();
  jitter.arrived(kChunk, t0, true);
  for (int c = 1; c <= 100; ++c) jitter.arrived(10 * kChunk, t0 + c * 1ms, false);  // a burst
  EXPECT_EQ(jitter.late_ms(), 0.0);
  jitter.start_utterance();
  EXPECT_EQ(buffer_ms(jitter), 0.0);
}

TEST_F(ArrivalJitterTest, TheBufferIsCappedAndForgetsOldUtterances) {
  utterance(t0, 12, 40, /*late=*/10, /*late_by_frames=*/10);  // 400 ms late
  jitter.start_utterance();
  EXPECT_DOUBLE_EQ(buffer_ms(jitter), 200.0);  // at most max_buffer
  for (std::size_t u = 0; u < ArrivalJitter::kRemembered - 1; ++u)
    utterance(t0 + (u + 1) * 10s, 12, 40);
  jitter.start_utterance();  // the late one is the oldest remembered: still counted
  EXPECT_DOUBLE_EQ(buffer_ms(jitter), 200.0);
  utterance(t0 + 100s, 12, 40);
  jitter.start_utterance();
  EXPECT_EQ(buffer_ms(jitter), 0.0) << "forgotten after " << ArrivalJitter::kRemembered;

  ArrivalJitter off(0ms);
  off.start_utterance();
  off.arrived(kChunk, t0, true);
  off.arrived(kChunk, t0 + 1s, false);
  off.start_utterance();
  EXPECT_EQ(std::chrono::duration<double>(off.buffer(0ms)).count(), 0.0);
}

TEST_F(ArrivalJitterTest, NothingIsMeasuredBeforeTheFirstFramesAreReady) {
  jitter.start_utterance();
  jitter.arrived(kChunk, t0, false);  // not enough for a frame yet
  jitter.arrived(kChunk, t0 + 1s, false);
  EXPECT_EQ(jitter.late_ms(), 0.0);
  jitter.arrived(kChunk, t0 + 2s, true);  // anchored here: 120 ms of audio by t0 + 2 s
  jitter.arrived(kChunk, t0 + 2s + 40ms, false);
  EXPECT_EQ(jitter.late_ms(), 0.0);
  jitter.arrived(kChunk, t0 + 2s + 130ms, false);  // due at + 80 ms
  EXPECT_NEAR(jitter.late_ms(), 50.0, 1e-6);
}

}  // namespace
}  // namespace lipsync::live
