#include "avatar/background_store.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

namespace lipsync::avatar {
namespace {

Image test_frame(int width, int height) {
  Image image(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.pixels[(static_cast<std::size_t>(y) * width + x) * 3 + c] =
            static_cast<std::uint8_t>(128 + 100 * std::sin(x * 0.03 + c) * std::cos(y * 0.02));
  return image;
}

double mean_abs_diff(const Image& a, const Image& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(a.pixels[i] - b.pixels[i]);
  return sum / static_cast<double>(a.pixels.size());
}

class BackgroundStoreTest : public ::testing::TestWithParam<BackgroundStoreKind> {};

TEST_P(BackgroundStoreTest, StoresFramesByIndexAndReportsMemory) {
  auto store = make_background_store({.kind = GetParam(), .jpeg_quality = 90});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  const Image a = test_frame(320, 240);
  Image b = a;
  for (auto& p : b.pixels) p = static_cast<std::uint8_t>(255 - p);
  ASSERT_TRUE((*store)->put(1, b.view(), {100, 80, 180, 160}).ok());
  ASSERT_TRUE((*store)->put(0, a.view(), {100, 80, 180, 160}).ok());
  EXPECT_EQ((*store)->size(), 2u);
  EXPECT_EQ((*store)->kind(), GetParam());
  auto back_a = (*store)->frame(0);
  auto back_b = (*store)->frame(1);
  ASSERT_TRUE(back_a.ok() && back_b.ok());
  const double tolerance = GetParam() == BackgroundStoreKind::kRaw ? 0.0 : 2.0;  // JPEG q90
  EXPECT_LE(mean_abs_diff(*back_a, a), tolerance);
  EXPECT_LE(mean_abs_diff(*back_b, b), tolerance);
  EXPECT_GT((*store)->memory_bytes(), 0u);
  if (GetParam() == BackgroundStoreKind::kJpeg) {
    EXPECT_LT((*store)->memory_bytes(), 2 * a.pixels.size() / 4);
  }
  EXPECT_EQ((*store)->frame(5).status().code(), ErrorCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Kinds, BackgroundStoreTest,
                         ::testing::Values(BackgroundStoreKind::kRaw, BackgroundStoreKind::kJpeg,
                                           BackgroundStoreKind::kJpegSplice),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(BackgroundStore, KindsHaveNamesAndQualityIsChecked) {
  for (auto kind : {BackgroundStoreKind::kRaw, BackgroundStoreKind::kJpeg,
                    BackgroundStoreKind::kJpegSplice, BackgroundStoreKind::kAuto}) {
    EXPECT_EQ(*parse_background_store_kind(to_string(kind)), kind);
  }
  EXPECT_FALSE(parse_background_store_kind("png").ok());
  EXPECT_FALSE(make_background_store({.kind = BackgroundStoreKind::kJpeg, .jpeg_quality = 0}).ok());
  auto negative =
      make_background_store({.kind = BackgroundStoreKind::kJpegSplice, .face_blend_px = -1});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("face_blend_px -1"), std::string::npos);
}

// `auto` is raw while width x height x 3 bytes x frames fits the limit; other kinds as given.
TEST(BackgroundStore, AutoResolvesByTheRawSize) {
  const BackgroundStoreOptions automatic{.kind = BackgroundStoreKind::kAuto,
                                         .raw_limit_bytes = 3 * 100 * 50 * 10};
  EXPECT_EQ(resolve_background_store_kind(automatic, 100, 50, 10), BackgroundStoreKind::kRaw);
  EXPECT_EQ(resolve_background_store_kind(automatic, 100, 50, 11), BackgroundStoreKind::kJpeg);
  EXPECT_EQ(resolve_background_store_kind(automatic, 101, 50, 10), BackgroundStoreKind::kJpeg);
  // The default limit: 2 GiB, so a 1080p avatar of 345 frames is raw, of 346 JPEG.
  EXPECT_EQ(resolve_background_store_kind({}, 1920, 1080, 345), BackgroundStoreKind::kRaw);
  EXPECT_EQ(resolve_background_store_kind({}, 1920, 1080, 346), BackgroundStoreKind::kJpeg);
  for (auto kind :
       {BackgroundStoreKind::kRaw, BackgroundStoreKind::kJpeg, BackgroundStoreKind::kJpegSplice}) {
    EXPECT_EQ(resolve_background_store_kind({.kind = kind, .raw_limit_bytes = 0}, 100, 50, 10),
              kind);
  }
  // Unresolved, it is no store.
  EXPECT_FALSE(make_background_store({.kind = BackgroundStoreKind::kAuto}).ok());
}

}  // namespace
}  // namespace lipsync::avatar
