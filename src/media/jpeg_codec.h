// JPEG settings and whole-frame encode/decode (libjpeg-turbo underneath, not exposed).
// Every JPEG written here is splice-compatible: baseline, the standard Huffman tables (no
// optimised tables) and a restart marker at every MCU row, so each MCU row is coded
// independently (see jpeg_background.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/image.h"
#include "core/status.h"

namespace lipsync::media {

using ChromaSubsampling = lipsync::ChromaSubsampling;  // core/image.h

struct JpegSettings {
  int quality = 75;  // 1..100, libjpeg's scale; ref: pipeline.md §6.4 (older server: 75, 4:2:0)
  ChromaSubsampling subsampling = ChromaSubsampling::k420;
};

// Rejects quality outside 1..100 and unknown subsampling values.
Status validate_jpeg_settings(const JpegSettings& settings);

// MCU size in pixels for the subsampling (16 for 4:2:0, 8 for 4:4:4).
int mcu_size_px(ChromaSubsampling subsampling);

// Rejects an empty image, channels != 3, a stride below width*3 or a side over 65500 px.
Status validate_jpeg_input(ImageView bgr);

// Encodes a BGR image (channels 3) with the splice-compatible settings.
Result<std::vector<std::uint8_t>> encode_jpeg(ImageView bgr, const JpegSettings& settings);

// The most pixels decode_jpeg accepts: 8192 x 8192 (an 8K UHD frame is 33 Mpx). A header may
// declare up to 65500 x 65500 in a few bytes; without the limit that is a 12.9 GB allocation.
inline constexpr std::int64_t kMaxJpegDecodePixels = std::int64_t{8192} * 8192;

// Decodes any baseline/progressive JPEG to a tightly packed BGR image. A header declaring more
// than kMaxJpegDecodePixels is refused (kInvalidArgument) before anything is allocated.
Result<Image> decode_jpeg(std::span<const std::uint8_t> jpeg);

}  // namespace lipsync::media
