#include "media/video_decoder.h"

extern "C" {
#include <libavutil/imgutils.h>
}

#include <algorithm>
#include <optional>
#include <thread>
#include <vector>

#include "ffmpeg/handles.h"
#include "ffmpeg/input.h"
#include "media/video_ffmpeg_log.h"

namespace lipsync::media {

struct VideoDecoder::State {
  std::optional<ffmpeg::Input> input;  // set by open()
  ffmpeg::CodecContextPtr codec;
  ffmpeg::PacketPtr packet = ffmpeg::make_packet();
  ffmpeg::FramePtr frame = ffmpeg::make_frame();
  int stream_index = -1;
  bool flushing = false;
  bool finished = false;
  std::int64_t decoded = 0;
  VideoInfo info;

  Status frame_error(const std::string& what, int rc) const {
    return ffmpeg::error(ErrorCode::kDataLoss,
                         fmt::format("'{}': {} at frame {}", info.path, what, decoded), rc);
  }
  Result<bool> feed();
};

namespace {

int thread_count(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Result<ffmpeg::CodecContextPtr> open_codec(const AVStream* stream, int threads,
                                           const std::string& path) {
  const AVCodec* decoder = avcodec_find_decoder(stream->codecpar->codec_id);
  if (decoder == nullptr) {
    return make_error(ErrorCode::kUnimplemented, "'{}': no decoder for codec '{}'", path,
                      avcodec_get_name(stream->codecpar->codec_id));
  }
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(decoder));
  int rc = avcodec_parameters_to_context(codec.get(), stream->codecpar);
  if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "'" + path + "': codec parameters", rc);
  codec->thread_count = thread_count(threads);
  codec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  rc = avcodec_open2(codec.get(), decoder, nullptr);
  if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "'" + path + "': cannot open decoder", rc);
  return codec;
}

std::int64_t estimate_frames(const AVFormatContext* input, const AVStream* stream, double fps) {
  if (stream->nb_frames > 0) return stream->nb_frames;
  if (stream->duration > 0) {
    return static_cast<std::int64_t>(stream->duration * av_q2d(stream->time_base) * fps + 0.5);
  }
  if (input->duration > 0) {
    return static_cast<std::int64_t>(input->duration / static_cast<double>(AV_TIME_BASE) * fps +
                                     0.5);
  }
  return 0;
}

}  // namespace

// Sends the next packet of our stream (or the flush packet at the end); false when nothing left.
Result<bool> VideoDecoder::State::feed() {
  if (flushing) return false;
  while (true) {
    const int rc = av_read_frame(input->get(), packet.get());
    if (rc == AVERROR_EOF) {
      flushing = true;
      const int flush = avcodec_send_packet(codec.get(), nullptr);
      if (flush < 0 && flush != AVERROR_EOF) return frame_error("flushing the decoder", flush);
      return true;
    }
    if (rc < 0) return frame_error("reading a packet", rc);
    if (packet->stream_index != stream_index) {
      av_packet_unref(packet.get());
      continue;
    }
    // Only called after receive_frame asked for input, so the decoder accepts the packet.
    const int sent = avcodec_send_packet(codec.get(), packet.get());
    av_packet_unref(packet.get());
    if (sent < 0) return frame_error("decoding", sent);
    return true;
  }
}

namespace {

// `frame` as tightly packed BGR into `out`; `sws` and `staging` are the caller's, kept between
// calls of one thread.
Status convert_to_bgr(const AVFrame& frame, const std::string& path, ffmpeg::SwsPtr& sws,
                      std::vector<std::uint8_t>& staging, Image* out) {
  const int w = frame.width;
  const int h = frame.height;
  sws.reset(sws_getCachedContext(sws.release(), w, h, static_cast<AVPixelFormat>(frame.format), w,
                                 h, AV_PIX_FMT_BGR24, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!sws) return make_error(ErrorCode::kInternal, "'{}': no pixel converter", path);
  if (out->width != w || out->height != h || out->channels != 3) *out = Image(w, h, 3);
  // swscale writes whole SIMD blocks: past the end of a row whose width it does not divide,
  // and so past the last row's end (heap corruption at 200 px). Such widths convert into
  // padded rows first; the usual ones (1280, 1920: multiples of 64) go straight to the image.
  constexpr int kBlockPx = 64;
  if (w % kBlockPx == 0) {
    std::uint8_t* planes[4] = {out->pixels.data(), nullptr, nullptr, nullptr};
    int strides[4] = {static_cast<int>(out->stride()), 0, 0, 0};
    sws_scale(sws.get(), frame.data, frame.linesize, 0, h, planes, strides);
    return {};
  }
  const std::size_t padded_stride =
      static_cast<std::size_t>((w + kBlockPx) / kBlockPx) * kBlockPx * 3;
  staging.resize(padded_stride * static_cast<std::size_t>(h));
  std::uint8_t* planes[4] = {staging.data(), nullptr, nullptr, nullptr};
  int strides[4] = {static_cast<int>(padded_stride), 0, 0, 0};
  sws_scale(sws.get(), frame.data, frame.linesize, 0, h, planes, strides);
  for (int y = 0; y < h; ++y) {
    std::copy_n(staging.data() + static_cast<std::size_t>(y) * padded_stride,
                static_cast<std::size_t>(w) * 3,
                out->pixels.data() + static_cast<std::size_t>(y) * out->stride());
  }
  return {};
}

}  // namespace

struct DecodedFrame::Data {
  ffmpeg::FramePtr frame;
  std::string path;
};

DecodedFrame::DecodedFrame(std::unique_ptr<Data> data) : data_(std::move(data)) {}
DecodedFrame::DecodedFrame(DecodedFrame&&) noexcept = default;
DecodedFrame& DecodedFrame::operator=(DecodedFrame&&) noexcept = default;
DecodedFrame::~DecodedFrame() = default;

Status DecodedFrame::to_bgr(Image* out) const {
  // One converter per thread: a pool's threads each keep theirs between frames.
  thread_local ffmpeg::SwsPtr sws;
  thread_local std::vector<std::uint8_t> staging;
  if (data_ == nullptr)
    return make_error(ErrorCode::kFailedPrecondition, "a moved-from decoded frame has no picture");
  return convert_to_bgr(*data_->frame, data_->path, sws, staging, out);
}

VideoDecoder::VideoDecoder(std::unique_ptr<State> state) : state_(std::move(state)) {}
VideoDecoder::VideoDecoder(VideoDecoder&&) noexcept = default;
VideoDecoder& VideoDecoder::operator=(VideoDecoder&&) noexcept = default;
VideoDecoder::~VideoDecoder() = default;

const VideoInfo& VideoDecoder::info() const {
  return state_->info;
}
std::int64_t VideoDecoder::frames_decoded() const {
  return state_->decoded;
}

Result<VideoDecoder> VideoDecoder::open(const std::filesystem::path& path,
                                        const VideoDecoderOptions& options) {
  detail::quiet_ffmpeg_log();
  auto state = std::make_unique<State>();
  state->info.path = path.string();
  ASSIGN_OR_RETURN(state->input, ffmpeg::open_input(path));
  const int index =
      av_find_best_stream(state->input->get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (index < 0) {
    return make_error(ErrorCode::kDataLoss, "'{}' has no video stream", path.string());
  }
  state->stream_index = index;
  AVStream* stream = state->input->get()->streams[index];
  ASSIGN_OR_RETURN(state->codec, open_codec(stream, options.threads, path.string()));
  VideoInfo& info = state->info;
  info.codec = state->codec->codec->name;
  info.width = state->codec->width;
  info.height = state->codec->height;
  info.fps = av_q2d(av_guess_frame_rate(state->input->get(), stream, nullptr));
  info.frame_count_estimate = estimate_frames(state->input->get(), stream, info.fps);
  if (info.width <= 0 || info.height <= 0) {
    return make_error(ErrorCode::kDataLoss, "'{}': video stream has no frame size", path.string());
  }
  return VideoDecoder(std::move(state));
}

Result<bool> VideoDecoder::next(Image* out) {
  ASSIGN_OR_RETURN(std::optional<DecodedFrame> decoded, next_decoded());
  if (!decoded) return false;
  RETURN_IF_ERROR(decoded->to_bgr(out));
  return true;
}

Result<std::optional<DecodedFrame>> VideoDecoder::next_decoded() {
  State& s = *state_;
  while (!s.finished) {
    const int rc = avcodec_receive_frame(s.codec.get(), s.frame.get());
    if (rc == 0) {
      auto data = std::make_unique<DecodedFrame::Data>();
      data->frame = ffmpeg::make_frame();
      data->path = s.info.path;
      av_frame_move_ref(data->frame.get(), s.frame.get());
      ++s.decoded;
      return std::optional<DecodedFrame>(DecodedFrame(std::move(data)));
    }
    if (rc == AVERROR_EOF) break;
    if (rc != AVERROR(EAGAIN)) return s.frame_error("decoding", rc);
    ASSIGN_OR_RETURN(bool fed, s.feed());
    if (!fed) break;
  }
  s.finished = true;
  return std::optional<DecodedFrame>();
}

Result<VideoInfo> decode_video(const std::filesystem::path& path, const FrameSink& on_frame,
                               const VideoDecoderOptions& options) {
  ASSIGN_OR_RETURN(VideoDecoder decoder, VideoDecoder::open(path, options));
  while (true) {
    Image frame;
    ASSIGN_OR_RETURN(bool got, decoder.next(&frame));
    if (!got) break;
    RETURN_IF_ERROR(on_frame(decoder.frames_decoded() - 1, std::move(frame)));
  }
  VideoInfo info = decoder.info();
  info.frame_count_estimate = decoder.frames_decoded();
  if (info.frame_count_estimate == 0) {
    return make_error(ErrorCode::kDataLoss, "'{}': no frame could be decoded", path.string());
  }
  return info;
}

}  // namespace lipsync::media
