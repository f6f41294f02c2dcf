#include "avatar/avatar.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "imaging/crop_rects.h"
#include "media/image_file.h"
#include "media/image_folder.h"
#include "media/video_decoder.h"
#include "media/video_writer.h"
#include "support/test_paths.h"

namespace lipsync::avatar {
namespace {

namespace fs = std::filesystem;

constexpr int kFrames = 60;
constexpr int kWidth = 1280;
constexpr int kHeight = 720;

// Frame t: smooth gradients with a textured "face" blob moving right.
Image moving_frame(int t) {
  Image image(kWidth, kHeight);
  const int cx = 300 + 10 * t;
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      std::uint8_t* p = image.pixels.data() + (static_cast<std::size_t>(y) * kWidth + x) * 3;
      const double d = std::hypot(x - cx, y - 360) / 120.0;
      const double blob = d < 1 ? 80 * (1 - d) * std::cos(x * 0.08) : 0;
      p[0] = static_cast<std::uint8_t>(60 + x * 120 / kWidth + blob);
      p[1] = static_cast<std::uint8_t>(70 + y * 120 / kHeight + blob / 2);
      p[2] = static_cast<std::uint8_t>(120 + 50 * std::sin((x + 3 * t) * 0.01));
    }
  }
  return image;
}

// Rect t follows the blob; frame 7's rect hangs over the left edge, frame 9's over the bottom.
Rect moving_rect(int t) {
  if (t == 7) return {-60, 300, 140, 500};
  if (t == 9) return {600, 620, 760, 780};
  const int cx = 300 + 10 * t;
  return {cx - 110, 250, cx + 110, 470};
}

double mean_abs_diff(ImageView a, ImageView b) {
  double sum = 0;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width * 3; ++x) sum += std::abs(a.row(y)[x] - b.row(y)[x]);
  return sum / (3.0 * a.width * a.height);
}

fs::path write_rects(const fs::path& dir, int count,
                     const std::vector<std::pair<int, Rect>>& edits = {}) {
  std::vector<Rect> rects;
  for (int t = 0; t < count; ++t) rects.push_back(moving_rect(t));
  for (const auto& [index, rect] : edits) rects[index] = rect;
  const fs::path path = dir / "crop_rects.json";
  EXPECT_TRUE(imaging::write_rects_json(path, rects).ok());
  return path;
}

class AvatarTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(testing::temp_dir());
    auto writer = media::VideoWriter::create(*dir_ / "moving.mp4",
                                             {.width = kWidth, .height = kHeight, .crf = 12});
    ASSERT_TRUE(writer.ok()) << writer.status().to_string();
    for (int t = 0; t < kFrames; ++t) ASSERT_TRUE(writer->write_frame(moving_frame(t).view()).ok());
    ASSERT_TRUE(writer->finish().ok());
    write_rects(*dir_, kFrames);
  }
  static void TearDownTestSuite() { delete dir_; }

  static fs::path video() { return *dir_ / "moving.mp4"; }
  static fs::path rects() { return *dir_ / "crop_rects.json"; }

  // The fixture's rects 7 and 9 cross the frame border on purpose (clipping is tested), which
  // a load refuses unless told.
  static std::shared_ptr<const Avatar> load_ok(
      AvatarSource source, BackgroundStoreKind kind = BackgroundStoreKind::kRaw) {
    source.accept_rects_outside_frame = true;
    auto avatar = Avatar::load(source, {.background = {.kind = kind}});
    EXPECT_TRUE(avatar.ok()) << avatar.status().to_string();
    return avatar.ok() ? *avatar : nullptr;
  }

  static fs::path* dir_;
};
fs::path* AvatarTest::dir_ = nullptr;

TEST_F(AvatarTest, SyntheticVideoLoadsWithFrameCountAndPixels) {
  auto avatar = load_ok({.video_path = video(), .rects_path = rects()});
  ASSERT_TRUE(avatar);
  EXPECT_EQ(avatar->frame_count(), static_cast<std::size_t>(kFrames));
  EXPECT_EQ(avatar->info().width, kWidth);
  EXPECT_EQ(avatar->info().height, kHeight);
  EXPECT_DOUBLE_EQ(avatar->info().fps, 25.0);
  EXPECT_NE(avatar->info().frames_origin.find("video"), std::string::npos);
  EXPECT_GT(avatar->info().memory_bytes(), kFrames * 328u * 328 * 3);
  for (int t : {0, 7, 9, 31, 59}) {
    auto background = avatar->backgrounds().frame(t);
    ASSERT_TRUE(background.ok());
    const Image expected = moving_frame(t);
    // Stated tolerance: H.264 CRF 12 4:2:0, mean |error| < 2.5 per channel value.
    EXPECT_LT(mean_abs_diff(background->view(), expected.view()), 2.5) << "frame " << t;
    auto face = imaging::make_face_crop(expected.view(), moving_rect(t));
    ASSERT_TRUE(face.ok());
    EXPECT_LT(mean_abs_diff(avatar->roi(t), face->roi()), 2.5) << "frame " << t;
  }
  EXPECT_EQ(avatar->face(7).source_rect, (Rect{0, 300, 140, 500}));  // clipped at the border
  EXPECT_EQ(avatar->face(9).source_rect, (Rect{600, 620, 760, 720}));
}

TEST_F(AvatarTest, VideoAndPngFolderOfTheSameFramesGiveIdenticalRois) {
  const fs::path folder = testing::temp_dir();
  auto decoded = media::decode_video(video(), [&](std::int64_t i, Image&& frame) {
    return media::write_image(folder / media::frame_file_name(i, ".png"), frame.view());
  });
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  auto from_video = load_ok({.video_path = video(), .rects_path = rects()});
  auto from_folder = load_ok({.frames_dir = folder, .rects_path = rects()});
  ASSERT_TRUE(from_video && from_folder);
  EXPECT_NE(from_folder->info().frames_origin.find("frame_%06d.png"), std::string::npos);
  ASSERT_EQ(from_folder->frame_count(), from_video->frame_count());
  for (std::size_t i = 0; i < from_video->frame_count(); ++i) {
    ASSERT_EQ(from_video->face(i).crop.pixels, from_folder->face(i).crop.pixels) << "frame " << i;
  }
}

TEST_F(AvatarTest, EmptyFolderFallsBackToTheVideoAndCanWriteJpegFrames) {
  const fs::path empty = testing::temp_dir();
  const fs::path written = testing::temp_dir() / "frames";
  auto avatar = load_ok({.frames_dir = empty,
                         .video_path = video(),
                         .rects_path = rects(),
                         .write_frames_dir = written});
  ASSERT_TRUE(avatar);
  EXPECT_NE(avatar->info().frames_origin.find("video"), std::string::npos);
  auto folder = media::scan_frame_folder(written);
  ASSERT_TRUE(folder.ok()) << folder.status().to_string();
  EXPECT_EQ(folder->pattern, "frame_%06d.jpg");
  EXPECT_EQ(folder->files.size(), static_cast<std::size_t>(kFrames));
  auto reloaded = load_ok({.frames_dir = written, .rects_path = rects()});
  ASSERT_TRUE(reloaded);
  EXPECT_LT(mean_abs_diff(reloaded->roi(30), avatar->roi(30)), 2.0);  // one JPEG generation
}

TEST_F(AvatarTest, TensorComesFromTheCachedRoiIntoACallerBatch) {
  auto avatar = load_ok({.video_path = video(), .rects_path = rects()});
  ASSERT_TRUE(avatar);
  const std::size_t n = avatar->geometry().input_tensor_elements();
  std::vector<float> batch(2 * n, -1.0f);
  ASSERT_TRUE(avatar->fill_input_tensor(3, std::span(batch).subspan(n, n)).ok());
  EXPECT_EQ(batch[0], -1.0f);  // slot 0 untouched
  std::vector<float> direct(n);
  ASSERT_TRUE(imaging::fill_input_tensor(avatar->roi(3), direct).ok());
  EXPECT_TRUE(std::equal(direct.begin(), direct.end(), batch.begin() + n));
  EXPECT_FALSE(avatar->fill_input_tensor(kFrames, std::span(batch).first(n)).ok());
}

TEST_F(AvatarTest, SourceFramesFollowTheNamedSequenceMode) {
  auto avatar = load_ok({.video_path = video(), .rects_path = rects()});
  ASSERT_TRUE(avatar);
  EXPECT_EQ(avatar->source_frame(0), 1u);  // ping-pong starts at frame 1
  EXPECT_EQ(avatar->source_frame(kFrames - 1), static_cast<std::size_t>(kFrames - 2));
  EXPECT_EQ(avatar->source_frame(2 * (kFrames - 1) - 1), 0u);
  EXPECT_EQ(avatar->source_frame(5, imaging::SequenceMode::kWrap, kFrames - 2), 3u);
}

TEST_F(AvatarTest, RenderWithIdentityModelChangesOnlyTheRect) {
  for (auto kind : {BackgroundStoreKind::kRaw, BackgroundStoreKind::kJpeg}) {
    auto avatar = load_ok({.video_path = video(), .rects_path = rects()}, kind);
    ASSERT_TRUE(avatar);
    for (int t : {7, 20}) {
      const ImageView roi = avatar->roi(t);
      const std::size_t plane = avatar->geometry().roi_plane_elements();
      std::vector<float> output(3 * plane);
      for (int y = 0; y < roi.height; ++y)
        for (int x = 0; x < roi.width; ++x)
          for (int c = 0; c < 3; ++c)
            output[c * plane + y * roi.width + x] = (roi.row(y)[x * 3 + c] + 0.5f) / 255.0f;
      auto rendered = avatar->render_frame(t, output);
      auto background = avatar->backgrounds().frame(t);
      ASSERT_TRUE(rendered.ok() && background.ok());
      const Rect r = avatar->face(t).source_rect;
      Image outside_a = *rendered;
      Image outside_b = *background;
      for (int y = r.y1; y < r.y2; ++y)
        for (int x = r.x1 * 3; x < r.x2 * 3; ++x)
          outside_a.pixels[y * outside_a.stride() + x] =
              outside_b.pixels[y * outside_b.stride() + x] = 0;
      EXPECT_EQ(outside_a.pixels, outside_b.pixels) << "frame " << t;
      const ImageView inside_a{rendered->pixels.data() + r.y1 * rendered->stride() + r.x1 * 3,
                               r.width(), r.height(), 3, rendered->stride()};
      const ImageView inside_b{background->pixels.data() + r.y1 * background->stride() + r.x1 * 3,
                               r.width(), r.height(), 3, background->stride()};
      EXPECT_LT(mean_abs_diff(inside_a, inside_b), 1.5) << "frame " << t;  // bicubic there and back
    }
  }
}

// pipeline.md §6 pastes the face into the decoded frame itself: with the raw store, every pixel
// outside the face is the decoded source's, exactly.
TEST_F(AvatarTest, RawStoreRendersTheDecodedSourceExactlyOutsideTheFace) {
  auto avatar = load_ok({.video_path = video(), .rects_path = rects()}, BackgroundStoreKind::kRaw);
  ASSERT_TRUE(avatar);
  std::vector<Image> decoded;
  ASSERT_TRUE(media::decode_video(video(), [&](std::int64_t, Image&& frame) {
                decoded.push_back(std::move(frame));
                return Status();
              }).ok());
  ASSERT_EQ(decoded.size(), static_cast<std::size_t>(kFrames));
  const std::vector<float> grey(3 * avatar->geometry().roi_plane_elements(), 0.5f);
  for (int t : {0, 7, 9, 33}) {
    auto rendered = avatar->render_frame(t, grey);
    ASSERT_TRUE(rendered.ok()) << rendered.status().to_string();
    const Rect r = avatar->face(t).source_rect;
    std::int64_t differing = 0;
    std::int64_t inside_changed = 0;
    for (int y = 0; y < kHeight; ++y) {
      for (int x = 0; x < kWidth * 3; ++x) {
        const bool inside = y >= r.y1 && y < r.y2 && x >= r.x1 * 3 && x < r.x2 * 3;
        const bool same = rendered->view().row(y)[x] == decoded[t].view().row(y)[x];
        if (!inside && !same) ++differing;
        if (inside && !same) ++inside_changed;
      }
    }
    EXPECT_EQ(differing, 0) << "frame " << t;
    EXPECT_GT(inside_changed, 0) << "frame " << t;  // the face was pasted
  }
}

// `auto` keeps raw pixels while the frames fit the limit, JPEG beyond it.
TEST_F(AvatarTest, AutoStoreIsRawUnderTheLimitAndJpegOverIt) {
  const std::uint64_t raw_bytes = std::uint64_t{3} * kWidth * kHeight * kFrames;
  const AvatarSource source{
      .video_path = video(), .rects_path = rects(), .accept_rects_outside_frame = true};
  for (const auto& [limit, expected] :
       {std::pair{kDefaultRawBackgroundLimitBytes, BackgroundStoreKind::kRaw},
        std::pair{raw_bytes, BackgroundStoreKind::kRaw},
        std::pair{raw_bytes - 1, BackgroundStoreKind::kJpeg}}) {
    auto avatar = Avatar::load(
        source, {.background = {.kind = BackgroundStoreKind::kAuto, .raw_limit_bytes = limit}});
    ASSERT_TRUE(avatar.ok()) << avatar.status().to_string();
    EXPECT_EQ((*avatar)->backgrounds().kind(), expected) << "limit " << limit;
  }
  EXPECT_EQ(BackgroundStoreOptions{}.kind, BackgroundStoreKind::kAuto);  // the default
}

// Config `num_frames`: only the first N frames and rects, from a video or a folder.
TEST_F(AvatarTest, MaxFramesKeepsTheFirstFramesOnly) {
  auto limited = load_ok({.video_path = video(), .rects_path = rects(), .max_frames = 10});
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->frame_count(), 10u);
  EXPECT_EQ(limited->rects().size(), 10u);
  EXPECT_EQ(limited->face(9).source_rect, (Rect{600, 620, 760, 720}));

  const fs::path folder = testing::temp_dir();
  for (int t = 0; t < 12; ++t) {
    const Image frame = moving_frame(t);
    ASSERT_TRUE(media::write_image(folder / media::frame_file_name(t, ".png"), frame.view()).ok());
  }
  auto from_folder =
      load_ok({.frames_dir = folder, .rects_path = write_rects(folder, 12), .max_frames = 5});
  ASSERT_TRUE(from_folder);
  EXPECT_EQ(from_folder->frame_count(), 5u);

  auto beyond = load_ok({.video_path = video(), .rects_path = rects(), .max_frames = 1000});
  ASSERT_TRUE(beyond);
  EXPECT_EQ(beyond->frame_count(), static_cast<std::size_t>(kFrames));  // all there are
}

TEST_F(AvatarTest, RectCountMismatchNamesBothNumbers) {
  const fs::path dir = testing::temp_dir();
  auto avatar = Avatar::load({.video_path = video(),
                              .rects_path = write_rects(dir, kFrames - 1),
                              .accept_rects_outside_frame = true});
  ASSERT_FALSE(avatar.ok());
  const std::string& message = avatar.status().message();
  EXPECT_NE(message.find("60 frames"), std::string::npos) << message;
  EXPECT_NE(message.find("59 rects"), std::string::npos) << message;
}

TEST_F(AvatarTest, BadRectsNameTheFrame) {
  const fs::path dir = testing::temp_dir();
  auto zero = Avatar::load({.video_path = video(),
                            .rects_path = write_rects(dir, kFrames, {{3, {10, 10, 10, 50}}}),
                            .accept_rects_outside_frame = true});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("frame 3"), std::string::npos) << zero.status().message();
  EXPECT_NE(zero.status().message().find("zero or negative size"), std::string::npos);
  const fs::path dir2 = testing::temp_dir();
  auto outside =
      Avatar::load({.video_path = video(),
                    .rects_path = write_rects(dir2, kFrames, {{12, {2000, 10, 2100, 110}}}),
                    .accept_rects_outside_frame = true});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("frame 12"), std::string::npos);
  EXPECT_NE(outside.status().message().find("outside the 1280x720 frame"), std::string::npos);
}

// What render and serve would use silently wrong is refused before any frame is decoded,
// unless the source says to accept it.
TEST_F(AvatarTest, RectsCrossingTheBorderAreRefusedUnlessAccepted) {
  auto refused = Avatar::load({.video_path = video(), .rects_path = rects()});
  ASSERT_FALSE(refused.ok());
  const std::string& message = refused.status().message();
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("2 of the 60 rects"), std::string::npos) << message;
  EXPECT_NE(message.find("1280x720 frames"), std::string::npos) << message;
  EXPECT_NE(message.find("frame 7 [-60, 300, 140, 500]"), std::string::npos) << message;
  EXPECT_NE(message.find("reaches the frame's edge"), std::string::npos) << message;
  EXPECT_NE(message.find("accept_rects_outside_frame: true"), std::string::npos) << message;
  EXPECT_TRUE(load_ok({.video_path = video(), .rects_path = rects()}));  // accepted

  // Rects made for a wider video: most of them cross.
  std::vector<Rect> wide;
  for (int t = 0; t < kFrames; ++t) wide.push_back({1200, 250, 1420, 470});
  const fs::path dir = testing::temp_dir();
  ASSERT_TRUE(imaging::write_rects_json(dir / "wide.json", wide).ok());
  auto other = Avatar::load({.video_path = video(), .rects_path = dir / "wide.json"});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("60 of the 60 rects"), std::string::npos)
      << other.status().message();
  EXPECT_NE(other.status().message().find("they span [1200, 250, 1420, 470], made for frames of "
                                          "another size"),
            std::string::npos)
      << other.status().message();
}

TEST_F(AvatarTest, VideoNot25FpsIsRefusedUnlessAccepted) {
  const fs::path dir = testing::temp_dir();
  auto writer =
      media::VideoWriter::create(dir / "fast.mp4", {.width = 320, .height = 240, .fps = 30});
  ASSERT_TRUE(writer.ok()) << writer.status().to_string();
  for (int t = 0; t < 3; ++t) {
    const Image frame = moving_frame(t);
    Image small(320, 240);
    for (int y = 0; y < 240; ++y) {
      std::copy_n(frame.pixels.data() + static_cast<std::size_t>(y) * kWidth * 3, 320 * 3,
                  small.pixels.data() + static_cast<std::size_t>(y) * 320 * 3);
    }
    ASSERT_TRUE(writer->write_frame(small.view()).ok());
  }
  ASSERT_TRUE(writer->finish().ok());
  ASSERT_TRUE(
      imaging::write_rects_json(dir / "rects.json", std::vector<Rect>(3, Rect{40, 40, 200, 200}))
          .ok());
  auto refused = Avatar::load({.video_path = dir / "fast.mp4", .rects_path = dir / "rects.json"});
  ASSERT_FALSE(refused.ok());
  const std::string& message = refused.status().message();
  EXPECT_NE(message.find("runs at 30.000 fps, the model at 25"), std::string::npos) << message;
  EXPECT_NE(message.find("ffmpeg -i '" + (dir / "fast.mp4").string() + "' -vf fps=25"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("accept_any_fps: true"), std::string::npos) << message;
  auto accepted = Avatar::load(
      {.video_path = dir / "fast.mp4", .rects_path = dir / "rects.json", .accept_any_fps = true});
  ASSERT_TRUE(accepted.ok()) << accepted.status().to_string();
  EXPECT_NEAR((*accepted)->info().fps, 30.0, 1e-6);
  EXPECT_EQ((*accepted)->frame_count(), 3u);
}

TEST_F(AvatarTest, MissingAndCorruptInputsAreClearErrors) {
  const fs::path dir = testing::temp_dir();
  auto missing = Avatar::load({.video_path = dir / "none.mp4", .rects_path = rects()});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("none.mp4"), std::string::npos);

  std::ofstream(dir / "corrupt.mp4") << std::string(10000, '\x42');
  auto corrupt = Avatar::load({.video_path = dir / "corrupt.mp4", .rects_path = rects()});
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.status().message().find("corrupt.mp4"), std::string::npos);

  auto no_rects = Avatar::load({.video_path = video(), .rects_path = dir / "nope.json"});
  EXPECT_EQ(no_rects.status().code(), ErrorCode::kNotFound);
  auto nothing = Avatar::load({.rects_path = rects()});
  EXPECT_FALSE(nothing.ok());
}

TEST_F(AvatarTest, UnreadableFolderFrameNamesFileAndFrame) {
  const fs::path folder = testing::temp_dir();
  const Image small = [] {
    Image image(64, 48);
    for (std::size_t i = 0; i < image.pixels.size(); ++i)
      image.pixels[i] = static_cast<std::uint8_t>(i);
    return image;
  }();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(media::write_image(folder / fmt::format("{}.png", i), small.view()).ok());
  }
  std::ofstream(folder / "2.png", std::ios::trunc) << "broken";
  const std::vector<Rect> rects(4, Rect{8, 8, 40, 40});
  ASSERT_TRUE(imaging::write_rects_json(folder / "rects.json", rects).ok());
  auto avatar = Avatar::load({.frames_dir = folder, .rects_path = folder / "rects.json"});
  ASSERT_FALSE(avatar.ok());
  const std::string& message = avatar.status().message();
  EXPECT_NE(message.find("frame 2"), std::string::npos) << message;
  EXPECT_NE(message.find("2.png"), std::string::npos) << message;
}

}  // namespace
}  // namespace lipsync::avatar
