#include "media/image_file.h"

extern "C" {
#include <libavutil/imgutils.h>
}

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <span>
#include <vector>

#include "ffmpeg/handles.h"
#include "media/jpeg_codec.h"
#include "media/video_ffmpeg_log.h"

namespace lipsync::media {
namespace {

namespace fs = std::filesystem;

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

AVCodecID codec_for(const fs::path& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".jpg" || ext == ".jpeg") return AV_CODEC_ID_MJPEG;
  if (ext == ".png") return AV_CODEC_ID_PNG;
  if (ext == ".bmp") return AV_CODEC_ID_BMP;
  return AV_CODEC_ID_NONE;
}

Result<std::vector<std::uint8_t>> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open image '{}'", path.string());
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  bytes.resize(bytes.size() + AV_INPUT_BUFFER_PADDING_SIZE, 0);  // FFmpeg reads past the end
  return bytes;
}

// Converts between a BGR image and an AVFrame of another pixel format.
Status convert(const AVFrame* src, AVPixelFormat src_format, AVFrame* dst, AVPixelFormat dst_format,
               int w, int h) {
  ffmpeg::SwsPtr sws(
      sws_getContext(w, h, src_format, w, h, dst_format, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!sws) return make_error(ErrorCode::kInternal, "no pixel converter for {}x{}", w, h);
  sws_scale(sws.get(), src->data, src->linesize, 0, h, dst->data, dst->linesize);
  return {};
}

Result<ffmpeg::FramePtr> decode_bytes(std::vector<std::uint8_t>& bytes, AVCodecID id,
                                      const std::string& name) {
  const AVCodec* decoder = avcodec_find_decoder(id);
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(decoder));
  int rc = avcodec_open2(codec.get(), decoder, nullptr);
  if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "'" + name + "': cannot open decoder", rc);
  ffmpeg::PacketPtr packet = ffmpeg::make_packet();
  packet->data = bytes.data();
  packet->size = static_cast<int>(bytes.size() - AV_INPUT_BUFFER_PADDING_SIZE);
  rc = avcodec_send_packet(codec.get(), packet.get());
  if (rc >= 0) rc = avcodec_send_packet(codec.get(), nullptr);
  ffmpeg::FramePtr frame = ffmpeg::make_frame();
  if (rc >= 0) rc = avcodec_receive_frame(codec.get(), frame.get());
  if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "cannot decode image '" + name + "'", rc);
  return frame;
}

Result<ffmpeg::FramePtr> encode_frame(ImageView bgr, AVPixelFormat format) {
  ffmpeg::FramePtr frame = ffmpeg::make_frame();
  frame->width = bgr.width;
  frame->height = bgr.height;
  frame->format = format;
  const int rc = av_frame_get_buffer(frame.get(), 0);
  if (rc < 0) return ffmpeg::error(ErrorCode::kResourceExhausted, "frame buffer", rc);
  AVFrame src{};
  src.data[0] = const_cast<std::uint8_t*>(bgr.data);
  src.linesize[0] = static_cast<int>(bgr.stride);
  RETURN_IF_ERROR(convert(&src, AV_PIX_FMT_BGR24, frame.get(), format, bgr.width, bgr.height));
  return frame;
}

Result<ffmpeg::PacketPtr> encode_image(ImageView bgr, AVCodecID id,
                                       const WriteImageOptions& options) {
  const AVCodec* encoder = avcodec_find_encoder(id);
  if (encoder == nullptr) return make_error(ErrorCode::kUnimplemented, "no image encoder");
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(encoder));
  const bool jpeg = id == AV_CODEC_ID_MJPEG;
  codec->width = bgr.width;
  codec->height = bgr.height;
  codec->time_base = {1, 25};
  codec->pix_fmt =
      jpeg ? AV_PIX_FMT_YUVJ420P : (id == AV_CODEC_ID_PNG ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR24);
  if (jpeg) {
    codec->flags |= AV_CODEC_FLAG_QSCALE;
    codec->global_quality = FF_QP2LAMBDA * std::clamp(options.jpeg_qscale, 2, 31);
  }
  int rc = avcodec_open2(codec.get(), encoder, nullptr);
  if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "cannot open image encoder", rc);
  ASSIGN_OR_RETURN(ffmpeg::FramePtr frame, encode_frame(bgr, codec->pix_fmt));
  if (jpeg) frame->quality = codec->global_quality;
  rc = avcodec_send_frame(codec.get(), frame.get());
  if (rc >= 0) rc = avcodec_send_frame(codec.get(), nullptr);
  ffmpeg::PacketPtr packet = ffmpeg::make_packet();
  if (rc >= 0) rc = avcodec_receive_packet(codec.get(), packet.get());
  if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "encoding an image", rc);
  return packet;
}

}  // namespace

Result<Image> read_image(const fs::path& path) {
  detail::quiet_ffmpeg_log();
  const AVCodecID id = codec_for(path);
  if (id == AV_CODEC_ID_NONE) {
    return make_error(ErrorCode::kInvalidArgument, "'{}': not a .jpg/.jpeg/.png/.bmp image",
                      path.string());
  }
  ASSIGN_OR_RETURN(auto bytes, read_bytes(path));
  if (id == AV_CODEC_ID_MJPEG) {
    // libjpeg-turbo to BGR, as the reference's cv2.imread decodes its frames (FFmpeg's decoder
    // and swscale's YUV->BGR round differently: up to tens of grey levels in the face).
    auto image = decode_jpeg(
        std::span<const std::uint8_t>(bytes).first(bytes.size() - AV_INPUT_BUFFER_PADDING_SIZE));
    if (!image.ok()) return image.status().with_context(path.string());
    return image;
  }
  ASSIGN_OR_RETURN(ffmpeg::FramePtr frame, decode_bytes(bytes, id, path.string()));
  // swscale writes whole SIMD blocks, past the end of a row of a width it does not divide:
  // convert into FFmpeg's padded frame buffer, then copy the rows out.
  ffmpeg::FramePtr bgr = ffmpeg::make_frame();
  bgr->width = frame->width;
  bgr->height = frame->height;
  bgr->format = AV_PIX_FMT_BGR24;
  const int rc = av_frame_get_buffer(bgr.get(), 0);
  if (rc < 0) return ffmpeg::error(ErrorCode::kResourceExhausted, "frame buffer", rc);
  Status converted = convert(frame.get(), static_cast<AVPixelFormat>(frame->format), bgr.get(),
                             AV_PIX_FMT_BGR24, frame->width, frame->height);
  if (!converted.ok()) return converted.with_context(path.string());
  Image image(frame->width, frame->height, 3);
  const std::size_t row_bytes = static_cast<std::size_t>(frame->width) * 3;
  for (int y = 0; y < frame->height; ++y) {
    std::copy_n(bgr->data[0] + static_cast<std::ptrdiff_t>(y) * bgr->linesize[0], row_bytes,
                image.pixels.data() + static_cast<std::size_t>(y) * image.stride());
  }
  return image;
}

Status write_image(const fs::path& path, ImageView bgr, const WriteImageOptions& options) {
  detail::quiet_ffmpeg_log();
  const AVCodecID id = codec_for(path);
  if (id == AV_CODEC_ID_NONE) {
    return make_error(ErrorCode::kInvalidArgument, "'{}': not a .jpg/.jpeg/.png/.bmp name",
                      path.string());
  }
  if (bgr.channels != 3 || bgr.width <= 0 || bgr.height <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "'{}': expected a BGR image", path.string());
  }
  auto packet = encode_image(bgr, id, options);
  if (!packet.ok()) return packet.status().with_context("writing '" + path.string() + "'");
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>((*packet)->data), (*packet)->size);
  if (!out) return make_error(ErrorCode::kDataLoss, "cannot write '{}'", path.string());
  return {};
}

}  // namespace lipsync::media
