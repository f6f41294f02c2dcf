#include "media/jpeg_codec.h"

#include "media/jpeg_libjpeg.h"

namespace lipsync::media {

Status validate_jpeg_input(ImageView bgr) {
  if (bgr.data == nullptr || bgr.width <= 0 || bgr.height <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "JPEG input image is empty ({}x{})", bgr.width,
                      bgr.height);
  }
  if (bgr.channels != 3) {
    return make_error(ErrorCode::kInvalidArgument, "JPEG input must be BGR (3 channels), got {}",
                      bgr.channels);
  }
  if (bgr.width > JPEG_MAX_DIMENSION || bgr.height > JPEG_MAX_DIMENSION) {
    return make_error(ErrorCode::kInvalidArgument, "JPEG input {}x{} exceeds the {} px limit",
                      bgr.width, bgr.height, JPEG_MAX_DIMENSION);
  }
  if (bgr.stride < static_cast<std::size_t>(bgr.width) * 3) {
    return make_error(ErrorCode::kInvalidArgument, "JPEG input stride {} is below width*3 = {}",
                      bgr.stride, bgr.width * 3);
  }
  return {};
}

namespace {

Status read_pixels(jpeg::DecompressState& state, std::span<const std::uint8_t> bytes,
                   Image* image) {
  jpeg_decompress_struct* cinfo = &state.cinfo;
  LIPSYNC_JPEG_GUARD(state.error, "decoding a JPEG")
  jpeg_mem_src(cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(cinfo, TRUE);
  const std::int64_t pixels =
      std::int64_t{cinfo->image_width} * static_cast<std::int64_t>(cinfo->image_height);
  if (pixels > kMaxJpegDecodePixels) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the JPEG declares {}x{} pixels, over the {} megapixel limit of a frame; "
                      "scale the image down",
                      cinfo->image_width, cinfo->image_height, kMaxJpegDecodePixels / 1000000);
  }
  cinfo->out_color_space = JCS_EXT_BGR;
  jpeg_start_decompress(cinfo);
  *image = Image(static_cast<int>(cinfo->output_width), static_cast<int>(cinfo->output_height));
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = image->pixels.data() + cinfo->output_scanline * image->stride();
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return {};
}

}  // namespace

Status validate_jpeg_settings(const JpegSettings& settings) {
  if (settings.quality < 1 || settings.quality > 100) {
    return make_error(ErrorCode::kInvalidArgument, "jpeg_quality {} is outside 1..100",
                      settings.quality);
  }
  if (settings.subsampling != ChromaSubsampling::k420 &&
      settings.subsampling != ChromaSubsampling::k444) {
    return make_error(ErrorCode::kInvalidArgument,
                      "unknown chroma subsampling value {} (expected 4:2:0 or 4:4:4)",
                      static_cast<int>(settings.subsampling));
  }
  return {};
}

int mcu_size_px(ChromaSubsampling subsampling) {
  return subsampling == ChromaSubsampling::k420 ? 16 : 8;
}

Result<std::vector<std::uint8_t>> encode_jpeg(ImageView bgr, const JpegSettings& settings) {
  RETURN_IF_ERROR(validate_jpeg_settings(settings));
  RETURN_IF_ERROR(validate_jpeg_input(bgr));
  auto compressor = jpeg::make_compressor();
  std::vector<std::uint8_t> out;
  RETURN_IF_ERROR(jpeg::encode(*compressor, bgr, settings, &out));
  return out;
}

Result<Image> decode_jpeg(std::span<const std::uint8_t> jpeg) {
  if (jpeg.empty()) return make_error(ErrorCode::kInvalidArgument, "JPEG data is empty");
  auto decompressor = jpeg::make_decompressor();
  Image image;
  RETURN_IF_ERROR(read_pixels(*decompressor, jpeg, &image));
  return image;
}

}  // namespace lipsync::media
