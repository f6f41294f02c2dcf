// Spliced output must equal, byte for byte, a full encode of the composited frame.
#include "bench/synthetic_image.h"
#include "media/jpeg_background.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "media/jpeg_codec.h"

namespace lipsync::media {

using bench::make_synthetic_frame;
namespace {

struct SpliceCase {
  int width;
  int height;
  JpegSettings settings;
};

std::string case_name(const ::testing::TestParamInfo<SpliceCase>& info) {
  const SpliceCase& c = info.param;
  return std::to_string(c.width) + "x" + std::to_string(c.height) + "_q" +
         std::to_string(c.settings.quality) +
         (c.settings.subsampling == ChromaSubsampling::k420 ? "_420" : "_444");
}

// The reference: paste `patch` at (x, y), clipped, into a copy of `frame`, and encode it whole.
std::vector<std::uint8_t> full_encode(const Image& frame, const Image& patch, int x, int y,
                                      const JpegSettings& settings) {
  Image composite = frame;
  for (int py = 0; py < patch.height; ++py) {
    for (int px = 0; px < patch.width; ++px) {
      int fx = x + px;
      int fy = y + py;
      if (fx < 0 || fy < 0 || fx >= frame.width || fy >= frame.height) continue;
      std::memcpy(composite.pixels.data() + (static_cast<std::size_t>(fy) * frame.width + fx) * 3,
                  patch.pixels.data() + (static_cast<std::size_t>(py) * patch.width + px) * 3, 3);
    }
  }
  auto jpeg = encode_jpeg(composite.view(), settings);
  EXPECT_TRUE(jpeg.ok()) << jpeg.status().to_string();
  return jpeg.ok() ? *jpeg : std::vector<std::uint8_t>{};
}

struct Placement {
  int x, y, width, height;
};

// Seeded random rects (some crossing the edges) plus edges, corners and extremes.
std::vector<Placement> placements(int width, int height, int random_count) {
  std::vector<Placement> list = {
      {0, 0, 1, 1},
      {width - 1, height - 1, 1, 1},
      {0, 0, std::min(width, 200), std::min(height, 200)},
      {width - 100, height - 100, 100, 100},
      {width - 50, height - 50, 120, 120},  // crosses the right and bottom edges
      {-30, -40, 100, 100},                 // crosses the left and top edges
      {width - 37, 0, 37, height},          // right column strip
      {0, height / 2, width, 19},           // full width
      {0, 0, width, height},                // everything
      {width / 3, height / 3, 7, 5},
  };
  std::mt19937 rng(1234);
  for (int i = 0; i < random_count; ++i) {
    int w = 1 + static_cast<int>(rng() % std::min(width, 340));
    int h = 1 + static_cast<int>(rng() % std::min(height, 340));
    int x = static_cast<int>(rng() % (width + w / 2)) - w / 4;
    int y = static_cast<int>(rng() % (height + h / 2)) - h / 4;
    list.push_back({x, y, w, h});
  }
  return list;
}

class SpliceTest : public ::testing::TestWithParam<SpliceCase> {};

TEST_P(SpliceTest, EqualsFullEncodeByteForByte) {
  const SpliceCase& c = GetParam();
  Image frame = make_synthetic_frame(c.width, c.height, 7);
  auto background = JpegBackground::create(frame.view(), {0, 0, c.width, c.height}, c.settings);
  ASSERT_TRUE(background.ok()) << background.status().to_string();
  ASSERT_EQ(full_encode(frame, Image(1, 1), -5, -5, c.settings),
            std::vector<std::uint8_t>(background->jpeg().begin(), background->jpeg().end()));
  Image source = make_synthetic_frame(340, 340, 99);
  for (const Placement& p : placements(c.width, c.height, 40)) {
    SCOPED_TRACE(::testing::Message() << "patch " << p.width << "x" << p.height << " at (" << p.x
                                      << ", " << p.y << ")");
    Image patch(p.width, p.height);
    for (int y = 0; y < p.height; ++y) {
      for (int x = 0; x < p.width; ++x) {
        std::memcpy(&patch.pixels[(static_cast<std::size_t>(y) * p.width + x) * 3],
                    &source.pixels[(static_cast<std::size_t>(y % 340) * 340 + x % 340) * 3], 3);
      }
    }
    auto spliced = background->compose(patch.view(), p.x, p.y);
    ASSERT_TRUE(spliced.ok()) << spliced.status().to_string();
    ASSERT_EQ(*spliced, full_encode(frame, patch, p.x, p.y, c.settings));
  }
}

// A background that does not keep the pixels of the rect every output paints over (the face
// rect) splices the same bytes as one that keeps them all, and holds less.
TEST_P(SpliceTest, PaintedRectIsNotKeptAndSplicesTheSameBytes) {
  const SpliceCase& c = GetParam();
  Image frame = make_synthetic_frame(c.width, c.height, 11);
  Image source = make_synthetic_frame(340, 340, 5);
  for (const Placement& p : placements(c.width, c.height, 12)) {
    SCOPED_TRACE(::testing::Message() << "rect " << p.width << "x" << p.height << " at (" << p.x
                                      << ", " << p.y << ")");
    const Rect rect{p.x, p.y, p.x + p.width, p.y + p.height};
    auto kept = JpegBackground::create(frame.view(), rect, c.settings);
    auto holed = JpegBackground::create(frame.view(), rect, c.settings, rect);
    ASSERT_TRUE(kept.ok() && holed.ok());
    EXPECT_EQ(holed->editable_region(), kept->editable_region());
    Rect clipped{std::max(rect.x1, 0), std::max(rect.y1, 0), std::min(rect.x2, c.width),
                 std::min(rect.y2, c.height)};
    if (clipped.empty()) clipped = {};  // off the frame: nothing stored, nothing painted
    EXPECT_EQ(holed->painted_region(), clipped);
    EXPECT_EQ(kept->memory_bytes() - holed->memory_bytes(),
              static_cast<std::size_t>(clipped.width()) * clipped.height() * 3);
    Image patch(p.width, p.height);
    for (int y = 0; y < p.height; ++y) {
      for (int x = 0; x < p.width; ++x) {
        std::memcpy(&patch.pixels[(static_cast<std::size_t>(y) * p.width + x) * 3],
                    &source.pixels[(static_cast<std::size_t>(y % 340) * 340 + x % 340) * 3], 3);
      }
    }
    auto spliced = holed->compose(patch.view(), p.x, p.y);
    ASSERT_TRUE(spliced.ok()) << spliced.status().to_string();
    ASSERT_EQ(*spliced, full_encode(frame, patch, p.x, p.y, c.settings));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, SpliceTest,
    ::testing::Values(SpliceCase{1920, 1080, {75, ChromaSubsampling::k420}},
                      SpliceCase{1920, 1080, {90, ChromaSubsampling::k444}},
                      SpliceCase{1280, 720, {75, ChromaSubsampling::k420}},
                      SpliceCase{1280, 720, {50, ChromaSubsampling::k444}},
                      SpliceCase{333, 251, {30, ChromaSubsampling::k420}},
                      SpliceCase{333, 251, {100, ChromaSubsampling::k444}},
                      SpliceCase{333, 251, {1, ChromaSubsampling::k420}},
                      SpliceCase{17, 9, {85, ChromaSubsampling::k420}}),
    case_name);

}  // namespace
}  // namespace lipsync::media
