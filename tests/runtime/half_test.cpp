// float32 <-> float16 conversion against known binary16 encodings.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "runtime/session.h"

namespace lipsync::runtime {
namespace {

TEST(Half, KnownEncodings) {
  // 1, -2, 0.5, 65504 (max), 6.1035e-05 (min normal), 5.96e-08 (min subnormal), 0, inf
  const std::vector<float> values{1.f,
                                  -2.f,
                                  0.5f,
                                  65504.f,
                                  6.103515625e-05f,
                                  5.960464477539063e-08f,
                                  0.f,
                                  std::numeric_limits<float>::infinity(),
                                  1.f,
                                  1.f,
                                  1.f};
  const std::vector<uint16_t> bits{0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0400, 0x0001,
                                   0x0000, 0x7C00, 0x3C00, 0x3C00, 0x3C00};
  std::vector<uint16_t> half(values.size());
  float_to_half(values, half);
  EXPECT_EQ(half, bits);
  std::vector<float> back(values.size());
  half_to_float(half, back);
  EXPECT_EQ(back, values);
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1.0).
  const std::vector<float> values{1.f + 1.f / 2048.f, 1.f + 3.f / 2048.f, 70000.f};
  std::vector<uint16_t> half(values.size());
  float_to_half(values, half);
  EXPECT_EQ(half[0], 0x3C00);
  EXPECT_EQ(half[1], 0x3C02);
  EXPECT_EQ(half[2], 0x7C00);  // overflow -> inf
}

TEST(Half, RandomRoundTripWithinHalfPrecision) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-4.f, 4.f);
  std::vector<float> values(1003);  // not a multiple of the vector width
  for (auto& v : values) v = dist(rng);
  std::vector<uint16_t> half(values.size());
  std::vector<float> back(values.size());
  float_to_half(values, half);
  half_to_float(half, back);
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_NEAR(back[i], values[i], std::abs(values[i]) * 0x1p-11f + 1e-7f) << i;
  }
}

}  // namespace
}  // namespace lipsync::runtime
