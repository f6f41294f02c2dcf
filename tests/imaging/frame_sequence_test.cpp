#include "imaging/frame_sequence.h"

#include <gtest/gtest.h>

#include <vector>

namespace lipsync::imaging {
namespace {

std::vector<std::int64_t> sequence(SequenceMode mode, int count, std::int64_t n,
                                   std::int64_t start = 0) {
  std::vector<std::int64_t> out;
  for (int i = 0; i < count; ++i) out.push_back(source_frame_index(mode, i, n, start));
  return out;
}

TEST(FrameSequence, PingPongMatchesTheReferenceRenderer) {
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(sequence(SequenceMode::kPingPong, 13, 4), (V{1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1}));
  EXPECT_EQ(sequence(SequenceMode::kPingPong, 5, 2), (V{1, 0, 1, 0, 1}));
}

TEST(FrameSequence, PingPongHasPeriodTwoNMinusOneAndVisitsEveryFrame) {
  const std::int64_t n = 523;
  std::vector<int> visits(n, 0);
  for (std::int64_t i = 0; i < 2 * (n - 1); ++i) {
    const std::int64_t k = source_frame_index(SequenceMode::kPingPong, i, n);
    ASSERT_GE(k, 0);
    ASSERT_LT(k, n);
    EXPECT_EQ(k, source_frame_index(SequenceMode::kPingPong, i + 2 * (n - 1), n));
    ++visits[k];
  }
  EXPECT_EQ(visits.front(), 1);
  EXPECT_EQ(visits.back(), 1);
  for (std::int64_t k = 1; k < n - 1; ++k) EXPECT_EQ(visits[k], 2) << k;
}

TEST(FrameSequence, WrapIsStartPlusIModuloN) {
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(sequence(SequenceMode::kWrap, 6, 4), (V{0, 1, 2, 3, 0, 1}));
  EXPECT_EQ(sequence(SequenceMode::kWrap, 4, 4, 6), (V{2, 3, 0, 1}));
  EXPECT_EQ(sequence(SequenceMode::kWrap, 4, 4, -1), (V{3, 0, 1, 2}));
  EXPECT_EQ(sequence(SequenceMode::kWrap, 3, 4, -9), (V{3, 0, 1}));
}

TEST(FrameSequence, SingleFrameAvatarAlwaysUsesFrameZero) {
  for (auto mode : {SequenceMode::kPingPong, SequenceMode::kWrap}) {
    EXPECT_EQ(sequence(mode, 4, 1, 7), (std::vector<std::int64_t>{0, 0, 0, 0}));
  }
}

TEST(FrameSequence, ModesHaveNames) {
  for (auto mode : {SequenceMode::kPingPong, SequenceMode::kWrap}) {
    auto parsed = parse_sequence_mode(to_string(mode));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, mode);
  }
  auto bad = parse_sequence_mode("loop");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'loop'"), std::string::npos);
}

}  // namespace
}  // namespace lipsync::imaging
