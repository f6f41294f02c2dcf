// The canvas API (blended composites), editable regions, memory accounting, and decoding of the
// spliced output by libjpeg and by FFmpeg's MJPEG decoder (in-process).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bench/synthetic_image.h"
#include "ffmpeg/handles.h"
#include "media/jpeg_background.h"
#include "media/jpeg_codec.h"

namespace lipsync::media {

using bench::make_synthetic_frame;
namespace {

constexpr JpegSettings k420{75, ChromaSubsampling::k420};

// A 50/50 blend of `patch` into `frame` at (x, y); the patch lies inside the frame.
void blend(ImageView patch, int x, int y, MutableImageView frame) {
  for (int py = 0; py < patch.height; ++py) {
    for (int px = 0; px < patch.width * 3; ++px) {
      std::uint8_t& dst = frame.row(y + py)[x * 3 + px];
      dst = static_cast<std::uint8_t>((dst + patch.row(py)[px] + 1) / 2);
    }
  }
}

std::vector<std::uint8_t> encoded(const Image& frame, JpegSettings settings) {
  auto jpeg = encode_jpeg(frame.view(), settings);
  EXPECT_TRUE(jpeg.ok()) << jpeg.status().to_string();
  return jpeg.ok() ? *jpeg : std::vector<std::uint8_t>{};
}

// Decodes with libavcodec's MJPEG decoder; returns the Y, U and V planes, tightly packed.
std::vector<std::uint8_t> ffmpeg_decode(const std::vector<std::uint8_t>& jpeg) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
  EXPECT_NE(codec, nullptr);
  if (codec == nullptr) return {};
  ffmpeg::CodecContextPtr context(avcodec_alloc_context3(codec));
  EXPECT_EQ(avcodec_open2(context.get(), codec, nullptr), 0);
  ffmpeg::PacketPtr packet = ffmpeg::make_packet();
  EXPECT_EQ(av_new_packet(packet.get(), static_cast<int>(jpeg.size())), 0);
  std::memcpy(packet->data, jpeg.data(), jpeg.size());
  EXPECT_EQ(avcodec_send_packet(context.get(), packet.get()), 0);
  ffmpeg::FramePtr frame = ffmpeg::make_frame();
  EXPECT_EQ(avcodec_receive_frame(context.get(), frame.get()), 0);
  if (frame->width == 0) return {};
  std::vector<std::uint8_t> planes;
  for (int p = 0; p < 3; ++p) {
    int chroma_shift = p == 0 || frame->format == AV_PIX_FMT_YUVJ444P ? 0 : 1;
    int width = (frame->width + chroma_shift) >> chroma_shift;
    int height = (frame->height + chroma_shift) >> chroma_shift;
    for (int y = 0; y < height; ++y) {
      const std::uint8_t* row = frame->data[p] + static_cast<std::ptrdiff_t>(y) * frame->linesize[p];
      planes.insert(planes.end(), row, row + width);
    }
  }
  return planes;
}

TEST(JpegCanvas, BlendedCompositeEqualsFullEncode) {
  Image frame = make_synthetic_frame(1280, 720, 11);
  Image face = make_synthetic_frame(250, 250, 12);
  Rect face_rect{500, 200, 750, 450};
  auto background = JpegBackground::create(frame.view(), {480, 180, 770, 470}, k420);
  ASSERT_TRUE(background.ok()) << background.status().to_string();
  auto canvas = background->canvas(face_rect);
  ASSERT_TRUE(canvas.ok()) << canvas.status().to_string();
  EXPECT_EQ(canvas->area, (Rect{496, 192, 752, 464}));  // widened to 16 px MCUs
  blend(face.view(), face_rect.x1 - canvas->area.x1, face_rect.y1 - canvas->area.y1,
        canvas->view());
  auto spliced = background->encode(*canvas);
  ASSERT_TRUE(spliced.ok()) << spliced.status().to_string();
  Image composite = frame;
  blend(face.view(), face_rect.x1, face_rect.y1, composite.mutable_view());
  EXPECT_EQ(*spliced, encoded(composite, k420));
}

TEST(JpegCanvas, OutputDecodesWithLibjpegAndFfmpegLikeTheFullEncode) {
  for (JpegSettings settings : {k420, JpegSettings{88, ChromaSubsampling::k444}}) {
    Image frame = make_synthetic_frame(333, 251, 21);
    Image face = make_synthetic_frame(120, 90, 22);
    auto background = JpegBackground::create(frame.view(), {100, 100, 333, 251}, settings);
    ASSERT_TRUE(background.ok());
    auto spliced = background->compose(face.view(), 250, 190);  // crosses right and bottom
    ASSERT_TRUE(spliced.ok()) << spliced.status().to_string();
    Image composite = frame;
    for (int y = 190; y < 251; ++y) {
      std::memcpy(&composite.pixels[(y * 333 + 250) * 3], &face.pixels[(y - 190) * 120 * 3], 83 * 3);
    }
    std::vector<std::uint8_t> full = encoded(composite, settings);
    auto ours = decode_jpeg(*spliced);
    auto theirs = decode_jpeg(full);
    ASSERT_TRUE(ours.ok() && theirs.ok());
    EXPECT_EQ(ours->pixels, theirs->pixels);
    std::vector<std::uint8_t> ours_ffmpeg = ffmpeg_decode(*spliced);
    EXPECT_FALSE(ours_ffmpeg.empty());
    EXPECT_EQ(ours_ffmpeg, ffmpeg_decode(full));
  }
}

TEST(JpegCanvas, OutsideTheStoredRegionStillSplicesValidJpeg) {
  Image frame = make_synthetic_frame(640, 360, 31);
  Image patch = make_synthetic_frame(64, 64, 32);
  auto background = JpegBackground::create(frame.view(), {300, 100, 400, 200}, k420);
  ASSERT_TRUE(background.ok());
  EXPECT_EQ(background->editable_region(), (Rect{288, 96, 400, 208}));
  auto spliced = background->compose(patch.view(), 20, 280);  // pixels come from decoding
  ASSERT_TRUE(spliced.ok()) << spliced.status().to_string();
  auto decoded = decode_jpeg(*spliced);
  auto reference = decode_jpeg(background->jpeg());
  ASSERT_TRUE(decoded.ok() && reference.ok());
  EXPECT_FALSE(ffmpeg_decode(*spliced).empty());
  // Rows above the touched MCU rows are untouched; the pasted pixels are there (lossy).
  for (int y = 0; y < 256; ++y) {
    ASSERT_EQ(std::memcmp(decoded->pixels.data() + y * 640 * 3,
                          reference->pixels.data() + y * 640 * 3, 640 * 3), 0) << "row " << y;
  }
  int max_error = 0;
  for (int y = 290; y < 334; ++y) {
    for (int x = 30 * 3; x < 74 * 3; ++x) {
      int pasted = patch.pixels[((y - 280) * 64) * 3 + x - 20 * 3];
      max_error = std::max(max_error, std::abs(decoded->pixels[y * 640 * 3 + x] - pasted));
    }
  }
  EXPECT_LT(max_error, 48);
}

TEST(JpegCanvas, RejectsForeignCanvasesAndEmptyRects) {
  Image frame = make_synthetic_frame(320, 240, 41);
  auto background = JpegBackground::create(frame.view(), {0, 0, 320, 240}, k420);
  ASSERT_TRUE(background.ok());
  EXPECT_EQ(background->canvas({400, 10, 500, 20}).status().code(), ErrorCode::kInvalidArgument);
  auto canvas = background->canvas({40, 40, 80, 80});
  ASSERT_TRUE(canvas.ok());
  canvas->area.x1 += 3;  // no longer whole MCUs
  EXPECT_EQ(background->encode(*canvas).status().code(), ErrorCode::kInvalidArgument);
  canvas->area.x1 -= 3;
  canvas->pixels = Image(8, 8);
  EXPECT_EQ(background->encode(*canvas).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(background->compose(ImageView{}, 0, 0).status().code(), ErrorCode::kInvalidArgument);
  // A patch entirely outside the frame changes nothing.
  auto outside = background->compose(frame.view(), 320, 0);
  ASSERT_TRUE(outside.ok());
  EXPECT_TRUE(std::equal(outside->begin(), outside->end(), background->jpeg().begin(),
                         background->jpeg().end()));
}

TEST(JpegCanvas, MemoryCountsJpegAndRegionPixelsOnly) {
  Image frame = make_synthetic_frame(1920, 1080, 51);
  auto background = JpegBackground::create(frame.view(), {800, 300, 1120, 620}, k420);
  ASSERT_TRUE(background.ok());
  Rect region = background->editable_region();
  EXPECT_EQ(region, (Rect{800, 288, 1120, 624}));
  std::size_t pixels = static_cast<std::size_t>(region.width()) * region.height() * 3;
  EXPECT_GE(background->memory_bytes(), background->jpeg().size() + pixels);
  EXPECT_LE(background->memory_bytes(), background->jpeg().size() + pixels + 64 * 1024);
  EXPECT_LT(background->memory_bytes(), 1920u * 1080 * 4 * 15 / 100);  // the target
}

}  // namespace
}  // namespace lipsync::media
