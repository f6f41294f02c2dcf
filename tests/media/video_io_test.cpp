#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "media/video_decoder.h"
#include "media/video_writer.h"
#include "support/test_paths.h"

namespace lipsync::media {
namespace {

namespace fs = std::filesystem;

// Frame `t` of a moving test pattern: a gradient with a bright square sliding to the right.
Image moving_frame(int width, int height, int t) {
  Image image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = image.pixels.data() + (static_cast<std::size_t>(y) * width + x) * 3;
      const bool square = x >= 40 + 8 * t && x < 140 + 8 * t && y >= 100 && y < 200;
      p[0] = square ? 230 : static_cast<std::uint8_t>(x * 200 / width);
      p[1] = square ? 40 : static_cast<std::uint8_t>(y * 200 / height);
      p[2] = static_cast<std::uint8_t>(100 + 60 * std::sin((x + 4 * t) * 0.02));
    }
  }
  return image;
}

double mean_abs_diff(const Image& a, const Image& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(a.pixels[i] - b.pixels[i]);
  return sum / static_cast<double>(a.pixels.size());
}

fs::path write_test_video(const fs::path& path, int frames, int width, int height) {
  auto writer = VideoWriter::create(path, {.width = width, .height = height, .crf = 12});
  EXPECT_TRUE(writer.ok()) << writer.status().to_string();
  for (int t = 0; t < frames; ++t) {
    const Image frame = moving_frame(width, height, t);
    EXPECT_TRUE(writer->write_frame(frame.view()).ok());
  }
  EXPECT_TRUE(writer->finish().ok());
  EXPECT_EQ(writer->frames_written(), frames);
  return path;
}

TEST(VideoIo, WrittenH264VideoDecodesWithFrameCountSizeFpsAndPixels) {
  const fs::path path = write_test_video(testing::temp_dir() / "moving.mp4", 60, 1280, 720);
  auto decoder = VideoDecoder::open(path, {.threads = 2});
  ASSERT_TRUE(decoder.ok()) << decoder.status().to_string();
  EXPECT_EQ(decoder->info().codec, "h264");
  EXPECT_EQ(decoder->info().width, 1280);
  EXPECT_EQ(decoder->info().height, 720);
  EXPECT_DOUBLE_EQ(decoder->info().fps, 25.0);
  EXPECT_EQ(decoder->info().frame_count_estimate, 60);
  Image frame;
  int count = 0;
  while (true) {
    auto got = decoder->next(&frame);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    if (!*got) break;
    // Lossy (H.264 CRF 12, 4:2:0): stated tolerance, mean |error| per channel value < 2.5.
    EXPECT_LT(mean_abs_diff(frame, moving_frame(1280, 720, count)), 2.5) << "frame " << count;
    ++count;
  }
  EXPECT_EQ(count, 60);
}

TEST(VideoIo, DecodedFramesConvertOnOtherThreadsAndAMovedFromOneIsAnError) {
  const fs::path path = write_test_video(testing::temp_dir() / "decoded.mp4", 3, 320, 240);
  auto decoder = VideoDecoder::open(path, {.threads = 1});
  ASSERT_TRUE(decoder.ok()) << decoder.status().to_string();
  auto decoded = decoder->next_decoded();
  ASSERT_TRUE(decoded.ok() && decoded->has_value()) << decoded.status().to_string();
  DecodedFrame frame = std::move(**decoded);
  Image converted;
  Status status;
  std::thread([&] { status = frame.to_bgr(&converted); }).join();
  ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_LT(mean_abs_diff(converted, moving_frame(320, 240, 0)), 2.5);
  DecodedFrame taken = std::move(frame);
  const Status moved = frame.to_bgr(&converted);  // NOLINT(bugprone-use-after-move): the point
  EXPECT_EQ(moved.code(), ErrorCode::kFailedPrecondition) << moved.to_string();
  EXPECT_TRUE(taken.to_bgr(&converted).ok());
}

TEST(VideoIo, DecodeVideoCallsTheSinkInOrderAndStopsOnItsError) {
  const fs::path path = write_test_video(testing::temp_dir() / "short.mp4", 5, 320, 240);
  std::vector<std::int64_t> seen;
  auto info = decode_video(path, [&](std::int64_t index, Image&& frame) {
    EXPECT_EQ(frame.width, 320);
    seen.push_back(index);
    return Status();
  });
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->frame_count_estimate, 5);
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  auto stopped = decode_video(path, [](std::int64_t index, Image&&) {
    return index == 2 ? Status(ErrorCode::kDataLoss, "stop at 2") : Status();
  });
  EXPECT_EQ(stopped.status().message(), "stop at 2");
}

TEST(VideoIo, MissingAndCorruptVideosAreClearErrors) {
  const fs::path dir = testing::temp_dir();
  auto missing = VideoDecoder::open(dir / "nope.mp4");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.mp4"), std::string::npos);

  std::ofstream(dir / "garbage.mp4") << std::string(4096, 'x');
  auto garbage = VideoDecoder::open(dir / "garbage.mp4");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("garbage.mp4"), std::string::npos);

  // A complete video cut in half loses its index: unreadable, named.
  const fs::path whole = write_test_video(dir / "whole.mp4", 10, 320, 240);
  fs::resize_file(whole, fs::file_size(whole) / 2);
  auto cut = decode_video(whole, [](std::int64_t, Image&&) { return Status(); });
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("whole.mp4"), std::string::npos);
}

// A source of odd size (H.264 4:2:0 needs even ones) is written one pixel wider and taller with
// its last column and row repeated, and reads back with the source's pixels.
TEST(VideoIo, OddSizedFramesAreWrittenWithTheLastColumnAndRowRepeated) {
  constexpr int kWidth = 321;
  constexpr int kHeight = 241;
  constexpr int kFrames = 4;
  const fs::path path = testing::temp_dir() / "odd.mp4";
  auto writer = VideoWriter::create(path, {.width = kWidth, .height = kHeight, .crf = 12});
  ASSERT_TRUE(writer.ok()) << writer.status().to_string();
  EXPECT_EQ(writer->encoded_width(), kWidth + 1);
  EXPECT_EQ(writer->encoded_height(), kHeight + 1);
  for (int t = 0; t < kFrames; ++t) {
    const Image frame = moving_frame(kWidth, kHeight, t);
    ASSERT_TRUE(writer->write_frame(frame.view()).ok());
  }
  ASSERT_TRUE(writer->finish().ok());

  auto decoder = VideoDecoder::open(path);
  ASSERT_TRUE(decoder.ok()) << decoder.status().to_string();
  EXPECT_EQ(decoder->info().width, kWidth + 1);
  EXPECT_EQ(decoder->info().height, kHeight + 1);
  Image frame;
  for (int t = 0; t < kFrames; ++t) {
    auto got = decoder->next(&frame);
    ASSERT_TRUE(got.ok() && *got) << "frame " << t;
    // The written pixels, cut back to the source size: the same tolerance as any H.264 frame.
    Image source_area(kWidth, kHeight);
    for (int y = 0; y < kHeight; ++y) {
      std::copy_n(frame.view().row(y), source_area.stride(),
                  source_area.pixels.data() + y * source_area.stride());
    }
    EXPECT_LT(mean_abs_diff(source_area, moving_frame(kWidth, kHeight, t)), 2.5) << t;
    // The added column and row repeat their neighbours (not black, not a stretch).
    double column = 0;
    double row = 0;
    for (int y = 0; y < kHeight; ++y) {
      for (int c = 0; c < 3; ++c) {
        column += std::abs(frame.view().row(y)[kWidth * 3 + c] -
                           frame.view().row(y)[(kWidth - 1) * 3 + c]);
      }
    }
    for (int x = 0; x < kWidth * 3; ++x) {
      row += std::abs(frame.view().row(kHeight)[x] - frame.view().row(kHeight - 1)[x]);
    }
    EXPECT_LT(column / (kHeight * 3), 2.5) << t;
    EXPECT_LT(row / (kWidth * 3), 2.5) << t;
  }
}

TEST(VideoIo, WriterRejectsBadSizesAndMismatchedFrames) {
  const fs::path dir = testing::temp_dir();
  EXPECT_FALSE(VideoWriter::create(dir / "empty.mp4", {.width = 0, .height = 240}).ok());
  auto writer = VideoWriter::create(dir / "v.mp4", {.width = 320, .height = 240});
  ASSERT_TRUE(writer.ok());
  const Image wrong(64, 64);
  auto status = writer->write_frame(wrong.view());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("expected 320x240"), std::string::npos);
}

}  // namespace
}  // namespace lipsync::media
