// The JPEG bytes a background store keeps and splices (media/jpeg_*): the restart-row scan
// (find_row_segments), the entropy decoder that walks each row's MCUs as the splicer does, and
// libjpeg's decode. The first two input bytes choose the layout: subsampling and MCU rows/cols.
#include <cstddef>
#include <cstdint>
#include <span>

#include "media/jpeg_codec.h"
#include "media/jpeg_entropy.h"

namespace {

using namespace lipsync::media;

void walk_rows(std::span<const std::uint8_t> jpeg, const JpegSettings& settings, int rows,
               int columns) {
  auto layout = jpeg::make_entropy_layout(settings);
  auto segments = jpeg::find_row_segments(jpeg, rows);
  if (!layout.ok() || !segments.ok()) return;
  std::vector<std::uint8_t> out;
  for (int row = 0; row < rows; ++row) {
    if (segments->begin[row] > jpeg.size()) return;
    jpeg::BitReader reader(jpeg, {segments->begin[row], 0});
    jpeg::BitWriter writer(&out);
    jpeg::DcPredictors read_dc{};
    jpeg::DcPredictors write_dc{};
    for (int col = 0; col < columns; ++col) {
      if (!jpeg::transcode_mcu(reader, &writer, *layout, &read_dc, &write_dc).ok()) break;
    }
    writer.finish();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const JpegSettings settings{.quality = 75,
                              .subsampling = (data[0] & 1) != 0 ? lipsync::ChromaSubsampling::k444
                                                                : lipsync::ChromaSubsampling::k420};
  const int rows = 1 + (data[1] & 0x0F);
  const int columns = 1 + (data[1] >> 4);
  const std::span<const std::uint8_t> jpeg(data + 2, size - 2);
  walk_rows(jpeg, settings, rows, columns);
  (void)decode_jpeg(jpeg);
  return 0;
}
