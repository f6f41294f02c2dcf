// Settings are honoured in the written header; bad settings and inputs are rejected.
#include "bench/synthetic_image.h"
#include "media/jpeg_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "media/jpeg_background.h"

namespace lipsync::media {

using bench::make_synthetic_frame;
namespace {

// The payload of the first marker segment `marker` (0xFFxx) in the header, if any.
std::optional<std::vector<std::uint8_t>> segment(const std::vector<std::uint8_t>& jpeg,
                                                 std::uint8_t marker) {
  for (std::size_t i = 2; i + 4 <= jpeg.size() && jpeg[i] == 0xFF;) {
    std::size_t length = (jpeg[i + 2] << 8) | jpeg[i + 3];
    if (jpeg[i + 1] == marker) {
      return std::vector<std::uint8_t>(jpeg.begin() + i + 4, jpeg.begin() + i + 2 + length);
    }
    if (jpeg[i + 1] == 0xDA) break;  // start of scan: the header is over
    i += 2 + length;
  }
  return std::nullopt;
}

std::vector<std::uint8_t> encode(int width, int height, JpegSettings settings) {
  Image frame = make_synthetic_frame(width, height, 3);
  auto jpeg = encode_jpeg(frame.view(), settings);
  EXPECT_TRUE(jpeg.ok()) << jpeg.status().to_string();
  return jpeg.ok() ? *jpeg : std::vector<std::uint8_t>{};
}

TEST(JpegCodec, HeaderIsBaselineWithRequestedSampling) {
  for (auto [subsampling, luma_factors] :
       {std::pair{ChromaSubsampling::k420, 0x22}, std::pair{ChromaSubsampling::k444, 0x11}}) {
    auto jpeg = encode(333, 251, {80, subsampling});
    auto sof0 = segment(jpeg, 0xC0);  // baseline DCT
    ASSERT_TRUE(sof0.has_value());
    EXPECT_FALSE(segment(jpeg, 0xC2).has_value());  // not progressive
    ASSERT_EQ(sof0->size(), 15u);                    // precision, size, 3 components
    EXPECT_EQ((*sof0)[0], 8);
    EXPECT_EQ(((*sof0)[1] << 8) | (*sof0)[2], 251);
    EXPECT_EQ(((*sof0)[3] << 8) | (*sof0)[4], 333);
    EXPECT_EQ((*sof0)[5], 3);
    EXPECT_EQ((*sof0)[7], luma_factors);  // Y: horizontal << 4 | vertical
    EXPECT_EQ((*sof0)[10], 0x11);         // Cb
    EXPECT_EQ((*sof0)[13], 0x11);         // Cr
    // A restart marker after every MCU row: DRI = MCUs per row.
    auto dri = segment(jpeg, 0xDD);
    ASSERT_TRUE(dri.has_value());
    int mcu = mcu_size_px(subsampling);
    EXPECT_EQ(((*dri)[0] << 8) | (*dri)[1], (333 + mcu - 1) / mcu);
  }
}

TEST(JpegCodec, QualityScalesTheQuantisationTables) {
  // ITU T.81 Annex K.1 luminance table starts 16, 11, 10; libjpeg scales it by 5000/q below 50
  // and by 200 - 2q above, and clamps to 1..255.
  auto dqt = [](int quality) {
    auto jpeg = encode(64, 48, {quality, ChromaSubsampling::k420});
    auto table = segment(jpeg, 0xDB);
    EXPECT_TRUE(table.has_value());
    return table.value_or(std::vector<std::uint8_t>(2, 0));
  };
  EXPECT_EQ(dqt(50)[1], 16);   // [0] is precision/table id, then zig-zag order
  EXPECT_EQ(dqt(75)[1], 8);    // 16 * 50 / 100
  EXPECT_EQ(dqt(25)[1], 32);   // 16 * 200 / 100
  EXPECT_EQ(dqt(100)[1], 1);
  EXPECT_EQ(dqt(1)[1], 255);   // clamped for baseline
  EXPECT_NE(encode(64, 48, {30, ChromaSubsampling::k420}),
            encode(64, 48, {90, ChromaSubsampling::k420}));
}

TEST(JpegCodec, StandardHuffmanTablesOnly) {
  auto jpeg = encode(200, 120, {75, ChromaSubsampling::k420});
  auto dht = segment(jpeg, 0xC4);
  ASSERT_TRUE(dht.has_value());
  // The first table is the standard luminance DC table (ITU T.81 Table K.3): its 16 code-length
  // counts are 0 1 5 1 1 1 1 1 1 0 0 0 0 0 0 0.
  std::vector<std::uint8_t> counts(dht->begin() + 1, dht->begin() + 17);
  EXPECT_EQ(counts, (std::vector<std::uint8_t>{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(JpegCodec, DecodesBackToTheImage) {
  Image frame = make_synthetic_frame(96, 64, 5);
  auto jpeg = encode_jpeg(frame.view(), {100, ChromaSubsampling::k444});
  ASSERT_TRUE(jpeg.ok());
  auto decoded = decode_jpeg(*jpeg);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  ASSERT_EQ(decoded->width, 96);
  ASSERT_EQ(decoded->height, 64);
  int max_error = 0;
  for (std::size_t i = 0; i < frame.pixels.size(); ++i) {
    max_error = std::max(max_error, std::abs(frame.pixels[i] - decoded->pixels[i]));
  }
  EXPECT_LE(max_error, 8);  // quality 100, 4:4:4: only rounding in DCT and colour conversion
}

TEST(JpegCodec, RejectsBadSettingsAndInputs) {
  Image frame = make_synthetic_frame(32, 32, 1);
  auto expect_invalid = [](const Status& status, const char* text) {
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << status.to_string();
    EXPECT_NE(status.message().find(text), std::string::npos) << status.message();
  };
  expect_invalid(encode_jpeg(frame.view(), {0, ChromaSubsampling::k420}).status(), "quality 0");
  expect_invalid(encode_jpeg(frame.view(), {101, ChromaSubsampling::k420}).status(),
                 "quality 101");
  expect_invalid(encode_jpeg(frame.view(), {75, static_cast<ChromaSubsampling>(7)}).status(),
                 "subsampling value 7");
  expect_invalid(encode_jpeg(ImageView{}, {}).status(), "empty");
  ImageView four_channels{frame.pixels.data(), 8, 8, 4, 32};
  expect_invalid(encode_jpeg(four_channels, {}).status(), "3 channels");
  // The background store rejects the same things at creation.
  Rect all{0, 0, 32, 32};
  expect_invalid(JpegBackground::create(frame.view(), all, {0, ChromaSubsampling::k444}).status(),
                 "quality 0");
  expect_invalid(JpegBackground::create(frame.view(), all, {101, ChromaSubsampling::k444}).status(),
                 "quality 101");
  expect_invalid(
      JpegBackground::create(frame.view(), all, {75, static_cast<ChromaSubsampling>(3)}).status(),
      "subsampling");
  expect_invalid(JpegBackground::create(ImageView{}, all, {}).status(), "empty");
  EXPECT_EQ(decode_jpeg({}).status().code(), ErrorCode::kInvalidArgument);
  std::vector<std::uint8_t> garbage = {0xFF, 0xD8, 0x00, 0x01, 0x02};
  EXPECT_EQ(decode_jpeg(garbage).status().code(), ErrorCode::kDataLoss);
}

// A header may declare up to 65500 x 65500 pixels (libjpeg's own limit) in a few bytes (found by
// fuzz/jpeg_splice: one malloc of 6.5 GB); decode refuses it before allocating, and accepts the
// limit's own size.
TEST(JpegCodec, RefusesAHeaderDeclaringMorePixelsThanTheLimit) {
  std::vector<std::uint8_t> jpeg = encode(16, 16, {75, ChromaSubsampling::k420});
  auto with_size = [&](int width, int height) {
    std::vector<std::uint8_t> patched = jpeg;
    for (std::size_t i = 2; i + 9 <= patched.size(); ++i) {
      if (patched[i] == 0xFF && patched[i + 1] == 0xC0) {  // SOF0: length, precision, H, W
        patched[i + 5] = static_cast<std::uint8_t>(height >> 8);
        patched[i + 6] = static_cast<std::uint8_t>(height & 0xFF);
        patched[i + 7] = static_cast<std::uint8_t>(width >> 8);
        patched[i + 8] = static_cast<std::uint8_t>(width & 0xFF);
        return patched;
      }
    }
    ADD_FAILURE() << "no SOF0 marker";
    return patched;
  };
  auto huge = decode_jpeg(with_size(60000, 40000));
  EXPECT_EQ(huge.status().code(), ErrorCode::kInvalidArgument) << huge.status().to_string();
  EXPECT_NE(huge.status().message().find("60000x40000"), std::string::npos)
      << huge.status().message();
  EXPECT_EQ(decode_jpeg(with_size(8193, 8192)).status().code(), ErrorCode::kInvalidArgument);
  // At the limit the header is accepted: the truncated scan decodes (libjpeg pads it) to the size.
  auto at_limit = decode_jpeg(with_size(4096, 16384));
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().to_string();
  EXPECT_EQ(at_limit->width, 4096);
  EXPECT_EQ(at_limit->height, 16384);
}

}  // namespace
}  // namespace lipsync::media
