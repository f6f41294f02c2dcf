#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "media/image_file.h"
#include "media/image_folder.h"
#include "media/jpeg_codec.h"
#include "support/test_paths.h"

namespace lipsync::media {
namespace {

namespace fs = std::filesystem;

Image smooth_image(int width, int height, int seed) {
  Image image(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.pixels[(static_cast<std::size_t>(y) * width + x) * 3 + c] =
            static_cast<std::uint8_t>((x * (c + 1) + y * 2 + seed * 10) % 256);
  return image;
}

void touch(const fs::path& path) {
  std::ofstream(path) << "x";
}

TEST(ImageFile, PngRoundTripIsExact) {
  const fs::path path = testing::temp_dir() / "a.png";
  Image image(37, 21);
  std::mt19937 rng(3);
  for (auto& p : image.pixels) p = static_cast<std::uint8_t>(rng());
  ASSERT_TRUE(write_image(path, image.view()).ok());
  auto back = read_image(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->width, 37);
  EXPECT_EQ(back->height, 21);
  EXPECT_EQ(back->pixels, image.pixels);
}

TEST(ImageFile, JpegRoundTripIsClose) {
  const fs::path path = testing::temp_dir() / "a.jpg";
  const Image image = smooth_image(64, 48, 1);
  ASSERT_TRUE(write_image(path, image.view()).ok());
  auto back = read_image(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  double sum = 0;
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    sum += std::abs(back->pixels[i] - image.pixels[i]);
  }
  EXPECT_LT(sum / image.pixels.size(), 4.0);  // lossy, qscale 2
}

// A JPEG file reads as libjpeg-turbo decodes its bytes (as the reference's cv2.imread), at
// any width: FFmpeg's swscale wrote past the end of rows it does not divide (200 px: heap
// corruption when the import test's frames were read).
TEST(ImageFile, JpegReadsAsLibjpegDecodesItAtAnyWidth) {
  const fs::path dir = testing::temp_dir();
  for (const int width : {200, 37, 331}) {
    const Image image = smooth_image(width, 41, width);
    auto bytes = encode_jpeg(image.view(), {.quality = 95});
    ASSERT_TRUE(bytes.ok());
    const fs::path path = dir / fmt::format("w{}.jpg", width);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes->data()),
               static_cast<std::streamsize>(bytes->size()));
    auto read = read_image(path);
    ASSERT_TRUE(read.ok()) << read.status().to_string();
    auto decoded = decode_jpeg(*bytes);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(read->width, width);
    EXPECT_EQ(read->pixels, decoded->pixels) << width;

    const fs::path png = dir / fmt::format("w{}.png", width);
    ASSERT_TRUE(write_image(png, image.view()).ok());
    auto back = read_image(png);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->pixels, image.pixels) << width;
  }
}

TEST(ImageFile, BadFilesNameTheFile) {
  const fs::path dir = testing::temp_dir();
  std::ofstream(dir / "broken.jpg") << "not a jpeg at all";
  auto broken = read_image(dir / "broken.jpg");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("broken.jpg"), std::string::npos);
  EXPECT_EQ(read_image(dir / "missing.png").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(read_image(dir / "a.gif").status().code(), ErrorCode::kInvalidArgument);
}

TEST(FrameFolder, FindsZeroPaddedPatterns) {
  const fs::path dir = testing::temp_dir();
  for (int i = 1; i <= 3; ++i) touch(dir / fmt::format("frame_{:06d}.jpg", i));
  touch(dir / "notes.txt");
  auto folder = scan_frame_folder(dir);
  ASSERT_TRUE(folder.ok()) << folder.status().to_string();
  EXPECT_EQ(folder->pattern, "frame_%06d.jpg");
  EXPECT_EQ(folder->first_number, 1);
  ASSERT_EQ(folder->files.size(), 3u);
  EXPECT_EQ(folder->files[2].filename(), "frame_000003.jpg");

  const fs::path dir4 = testing::temp_dir();
  for (int i = 0; i < 2; ++i) touch(dir4 / fmt::format("frame_{:04d}.png", i));
  EXPECT_EQ(scan_frame_folder(dir4)->pattern, "frame_%04d.png");
}

TEST(FrameFolder, PlainNumbersSortNumerically) {
  const fs::path dir = testing::temp_dir();
  for (int i = 0; i < 12; ++i) touch(dir / fmt::format("{}.jpg", i));
  auto folder = scan_frame_folder(dir);
  ASSERT_TRUE(folder.ok()) << folder.status().to_string();
  EXPECT_EQ(folder->pattern, "%d.jpg");
  ASSERT_EQ(folder->files.size(), 12u);
  EXPECT_EQ(folder->files[2].filename(), "2.jpg");
  EXPECT_EQ(folder->files[10].filename(), "10.jpg");
}

TEST(FrameFolder, GapsMissingAndEmptyFoldersAreErrors) {
  const fs::path gap = testing::temp_dir();
  for (int i : {0, 1, 3}) touch(gap / fmt::format("f{}.png", i));
  auto gapped = scan_frame_folder(gap);
  ASSERT_FALSE(gapped.ok());
  EXPECT_NE(gapped.status().message().find("frame number 2 is missing"), std::string::npos);
  EXPECT_EQ(scan_frame_folder(gap / "nope").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(scan_frame_folder(testing::temp_dir()).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(frame_file_name(7), "frame_000007.jpg");
}

}  // namespace
}  // namespace lipsync::media
