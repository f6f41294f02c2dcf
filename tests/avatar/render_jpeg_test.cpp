// Avatar::render_jpeg: the spliced JPEG equals encoding the composited full frame, byte for byte.
// The splice store keeps the original pixels around the face (only the rest is JPEG), so the
// reference is the frame composited into the exact (raw) background: served frames are encoded
// once, not twice.
#include <gtest/gtest.h>

#include <random>

#include "avatar/avatar.h"
#include "imaging/crop_rects.h"
#include "media/image_file.h"
#include "media/image_folder.h"
#include "support/test_paths.h"

namespace lipsync::avatar {
namespace {

namespace fs = std::filesystem;

constexpr int kWidth = 360;
constexpr int kHeight = 248;  // not a multiple of 16: the last MCU row is partial

// Frame t: gradients plus a texture, so every MCU codes differently.
Image textured_frame(int t) {
  Image image(kWidth, kHeight);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      std::uint8_t* p = image.pixels.data() + (static_cast<std::size_t>(y) * kWidth + x) * 3;
      p[0] = static_cast<std::uint8_t>(40 + x * 150 / kWidth + ((x * 7 + y * 3 + t) % 23));
      p[1] = static_cast<std::uint8_t>(60 + y * 150 / kHeight + ((x * 5 + t * 11) % 17));
      p[2] = static_cast<std::uint8_t>(90 + ((x + y + 4 * t) % 64));
    }
  }
  return image;
}

// Inside the frame, then touching (and hanging over) each edge and a corner.
const std::vector<Rect> kRects = {
    {100, 60, 220, 180},   // inside, not MCU-aligned
    {-40, 50, 90, 170},    // over the left edge
    {260, 30, 400, 150},   // over the right edge
    {120, 160, 240, 290},  // over the bottom edge (partial MCU row)
    {-20, -30, 110, 90},   // over the top-left corner
    {0, 0, kWidth, kHeight},
};

class RenderJpegTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(testing::temp_dir());
    for (int t = 0; t < static_cast<int>(kRects.size()); ++t) {
      ASSERT_TRUE(
          media::write_image(*dir_ / media::frame_file_name(t, ".png"), textured_frame(t).view())
              .ok());
    }
    ASSERT_TRUE(imaging::write_rects_json(*dir_ / "crop_rects.json", kRects).ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::shared_ptr<const Avatar> load(BackgroundStoreOptions background) {
    // The rects cross the edges on purpose (accepted: the splice must handle them).
    auto avatar = Avatar::load({.frames_dir = *dir_,
                                .rects_path = *dir_ / "crop_rects.json",
                                .accept_rects_outside_frame = true},
                               {.background = background, .threads = 2});
    EXPECT_TRUE(avatar.ok()) << avatar.status().to_string();
    return avatar.ok() ? *avatar : nullptr;
  }

  // Model outputs in [-0.1, 1.1]: the clamp and truncation of pipeline.md §6.1 both matter.
  static std::vector<float> random_output(const Avatar& avatar, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> value(-0.1f, 1.1f);
    std::vector<float> output(avatar.geometry().output_tensor_elements());
    for (float& v : output) v = value(rng);
    return output;
  }

  // avatar.render_jpeg equals encode_jpeg(reference.render_frame) for every frame and a few
  // random outputs.
  static void expect_identical(const Avatar& avatar, const Avatar& reference,
                               const JpegOutputOptions& options) {
    for (std::size_t i = 0; i < avatar.frame_count(); ++i) {
      for (std::uint32_t seed = 0; seed < 2; ++seed) {
        const auto output = random_output(avatar, static_cast<std::uint32_t>(i * 10 + seed));
        auto frame = reference.render_frame(i, output, options.composite);
        ASSERT_TRUE(frame.ok()) << frame.status().to_string();
        auto expected = media::encode_jpeg(frame->view(), options.settings);
        ASSERT_TRUE(expected.ok()) << expected.status().to_string();
        auto jpeg = avatar.render_jpeg(i, output, options);
        ASSERT_TRUE(jpeg.ok()) << jpeg.status().to_string();
        ASSERT_EQ(*jpeg, *expected)
            << "frame " << i << " seed " << seed << " feather " << options.composite.feather_px;
      }
    }
  }

  static std::shared_ptr<const Avatar> raw() { return load({.kind = BackgroundStoreKind::kRaw}); }

  static fs::path* dir_;
};

fs::path* RenderJpegTest::dir_ = nullptr;

TEST_F(RenderJpegTest, SplicedEqualsFullEncodeAt420) {
  auto avatar = load({.kind = BackgroundStoreKind::kJpegSplice, .jpeg_quality = 75});
  ASSERT_NE(avatar, nullptr);
  const media::JpegSettings settings{.quality = 75};
  EXPECT_EQ(avatar->splice_refusal(settings), "");
  expect_identical(*avatar, *raw(), {.settings = settings});
}

TEST_F(RenderJpegTest, SplicedEqualsFullEncodeAt444) {
  auto avatar = load({.kind = BackgroundStoreKind::kJpegSplice,
                      .jpeg_quality = 92,
                      .jpeg_subsampling = media::ChromaSubsampling::k444});
  ASSERT_NE(avatar, nullptr);
  const media::JpegSettings settings{.quality = 92, .subsampling = media::ChromaSubsampling::k444};
  EXPECT_EQ(avatar->splice_refusal(settings), "");
  expect_identical(*avatar, *raw(), {.settings = settings});
}

TEST_F(RenderJpegTest, FeatheredCompositeIsSplicedToo) {
  auto avatar =
      load({.kind = BackgroundStoreKind::kJpegSplice, .jpeg_quality = 80, .face_blend_px = 6});
  ASSERT_NE(avatar, nullptr);
  EXPECT_EQ(avatar->splice_refusal({.quality = 80}, 6), "");
  expect_identical(*avatar, *raw(), {.settings = {.quality = 80}, .composite = {.feather_px = 6}});
  expect_identical(*avatar, *raw(), {.settings = {.quality = 80}, .composite = {.feather_px = 2}});
}

// The store keeps the pixels inside the face rect that a blend of face_blend_px reads, no more:
// a wider blend composites the full frame instead (into the store's decoded background).
TEST_F(RenderJpegTest, ABlendWiderThanTheStoreKeepsIsNotSpliced) {
  auto narrow = load({.kind = BackgroundStoreKind::kJpegSplice, .jpeg_quality = 80});
  ASSERT_NE(narrow, nullptr);
  EXPECT_NE(narrow->splice_refusal({.quality = 80}, 6).find("blended in over 6 px"),
            std::string::npos)
      << narrow->splice_refusal({.quality = 80}, 6);
  expect_identical(*narrow, *narrow, {.settings = {.quality = 80}, .composite = {.feather_px = 6}});
  // Without the face's pixels the store is smaller than one keeping them for a blend.
  auto wide =
      load({.kind = BackgroundStoreKind::kJpegSplice, .jpeg_quality = 80, .face_blend_px = 6});
  ASSERT_NE(wide, nullptr);
  EXPECT_LT(narrow->info().background_bytes, wide->info().background_bytes);
}

// The fallback composites into the store's own (decoded) background and encodes that.
TEST_F(RenderJpegTest, OtherSettingsOrStoresFallBackToTheFullEncode) {
  auto splice = load({.kind = BackgroundStoreKind::kJpegSplice, .jpeg_quality = 75});
  ASSERT_NE(splice, nullptr);
  const media::JpegSettings other{.quality = 60};
  EXPECT_NE(splice->splice_refusal(other).find("quality 60"), std::string::npos)
      << splice->splice_refusal(other);
  expect_identical(*splice, *splice, {.settings = other});

  auto whole = load({.kind = BackgroundStoreKind::kJpeg, .jpeg_quality = 75});
  ASSERT_NE(whole, nullptr);
  EXPECT_NE(whole->splice_refusal({.quality = 75}).find("'jpeg'"), std::string::npos);
  expect_identical(*whole, *whole, {.settings = {.quality = 75}});
  auto exact = raw();
  EXPECT_NE(exact->splice_refusal({.quality = 75}).find("'raw'"), std::string::npos);
  expect_identical(*exact, *exact, {.settings = {.quality = 75}});
}

TEST_F(RenderJpegTest, BadIndexOrOutputIsAnError) {
  auto avatar = load({.kind = BackgroundStoreKind::kJpegSplice, .jpeg_quality = 75});
  ASSERT_NE(avatar, nullptr);
  const auto output = random_output(*avatar, 1);
  auto past_end = avatar->render_jpeg(avatar->frame_count(), output, {});
  ASSERT_FALSE(past_end.ok());
  EXPECT_NE(past_end.status().message().find("frame 6"), std::string::npos);
  auto short_output =
      avatar->render_jpeg(0, std::span(output).first(10), {.settings = {.quality = 75}});
  ASSERT_FALSE(short_output.ok());
  EXPECT_NE(short_output.status().message().find("10 floats"), std::string::npos)
      << short_output.status().to_string();
}

}  // namespace
}  // namespace lipsync::avatar
