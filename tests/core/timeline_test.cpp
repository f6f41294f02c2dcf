#include "core/timeline.h"

#include <gtest/gtest.h>

namespace lipsync::timeline {
namespace {

TEST(Timeline, TheNumbersOfPipelineMd) {
  // ref: pipeline.md §1-§2: 16 kHz audio, 25 fps video, 640 samples and 3.2 mel rows per frame.
  EXPECT_EQ(kSamplesPerFrame, 640);
  EXPECT_EQ(kFrameIntervalMs, 40);
  EXPECT_EQ(kMelRowsPerSecond, 80);
  EXPECT_EQ(kEncoderWindowRows, 16);
}

TEST(Timeline, ConvertsBetweenFramesSamplesAndTime) {
  EXPECT_EQ(frame_to_samples(0), 0);
  EXPECT_EQ(frame_to_samples(25), 16000);
  EXPECT_EQ(samples_to_frames(639), 0);
  EXPECT_EQ(samples_to_frames(640), 1);
  EXPECT_EQ(samples_to_frames(frame_to_samples(1234)), 1234);
  EXPECT_EQ(frame_to_ms(3), 120);
  EXPECT_DOUBLE_EQ(frames_to_seconds(50), 2.0);
  EXPECT_DOUBLE_EQ(frames_to_seconds(1), 0.04);
  EXPECT_DOUBLE_EQ(samples_to_ms(16000), 1000.0);
  EXPECT_DOUBLE_EQ(samples_to_ms(frame_to_samples(7)), static_cast<double>(frame_to_ms(7)));
}

TEST(Timeline, LookaheadIsAbout452Ms) {
  // pipeline.md §3: output frame i depends on audio up to about 40·i + 452 ms.
  EXPECT_EQ(kLookaheadSamples, 7240);
  EXPECT_DOUBLE_EQ(kLookaheadMs, 452.5);
}

}  // namespace
}  // namespace lipsync::timeline
