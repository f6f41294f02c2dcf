#include "media/video_writer.h"

extern "C" {
#include <libavutil/opt.h>
}

#include "ffmpeg/handles.h"
#include "media/video_ffmpeg_log.h"

namespace lipsync::media {

struct VideoWriter::State {
  std::string path;
  VideoWriterOptions options;
  ffmpeg::OutputFormatPtr output;
  ffmpeg::CodecContextPtr codec;
  ffmpeg::SwsPtr sws;
  ffmpeg::FramePtr frame = ffmpeg::make_frame();
  ffmpeg::PacketPtr packet = ffmpeg::make_packet();
  AVStream* stream = nullptr;
  bool header_written = false;
  bool finished = false;
  std::int64_t written = 0;

  Status fail(const std::string& what, int rc) const {
    return ffmpeg::error(ErrorCode::kInternal, "'" + path + "': " + what, rc);
  }
  Status open_encoder();
  Status ensure_header();
  Status drain();
};

Status VideoWriter::State::open_encoder() {
  const AVCodec* encoder = avcodec_find_encoder_by_name("libx264");
  if (encoder == nullptr) {
    return make_error(ErrorCode::kUnimplemented, "FFmpeg was built without libx264");
  }
  codec.reset(avcodec_alloc_context3(encoder));
  codec->width = options.width;
  codec->height = options.height;
  codec->time_base = {1, options.fps};
  codec->framerate = {options.fps, 1};
  codec->pix_fmt = AV_PIX_FMT_YUV420P;
  codec->thread_count = options.threads;
  if (output->oformat->flags & AVFMT_GLOBALHEADER) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set(codec->priv_data, "preset", options.preset.c_str(), 0);
  av_opt_set(codec->priv_data, "crf", std::to_string(options.crf).c_str(), 0);
  int rc = avcodec_open2(codec.get(), encoder, nullptr);
  if (rc < 0) return fail("cannot open the H.264 encoder", rc);
  stream = avformat_new_stream(output.get(), nullptr);
  if (stream == nullptr) return make_error(ErrorCode::kInternal, "'{}': no stream", path);
  stream->time_base = codec->time_base;
  rc = avcodec_parameters_from_context(stream->codecpar, codec.get());
  if (rc < 0) return fail("stream parameters", rc);
  frame->width = options.width;
  frame->height = options.height;
  frame->format = AV_PIX_FMT_YUV420P;
  rc = av_frame_get_buffer(frame.get(), 0);
  if (rc < 0) return fail("frame buffer", rc);
  sws.reset(sws_getContext(options.width, options.height, AV_PIX_FMT_BGR24, options.width,
                           options.height, AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr,
                           nullptr));
  if (!sws) return make_error(ErrorCode::kInternal, "'{}': no pixel converter", path);
  return {};
}

Status VideoWriter::State::ensure_header() {
  if (header_written) return {};
  int rc = avio_open(&output->pb, path.c_str(), AVIO_FLAG_WRITE);
  if (rc < 0) return ffmpeg::error(ErrorCode::kNotFound, "cannot create '" + path + "'", rc);
  rc = avformat_write_header(output.get(), nullptr);
  if (rc < 0) return fail("writing the header", rc);
  header_written = true;
  return {};
}

Status VideoWriter::State::drain() {
  while (true) {
    int rc = avcodec_receive_packet(codec.get(), packet.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return {};
    if (rc < 0) return fail("encoding", rc);
    // Without a duration the MP4 edit list cuts the last frame off.
    if (packet->duration == 0) packet->duration = 1;
    av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
    packet->stream_index = stream->index;
    rc = av_interleaved_write_frame(output.get(), packet.get());
    if (rc < 0) return fail("writing a packet", rc);
  }
}

VideoWriter::VideoWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
VideoWriter::VideoWriter(VideoWriter&&) noexcept = default;
VideoWriter& VideoWriter::operator=(VideoWriter&&) noexcept = default;
VideoWriter::~VideoWriter() = default;

std::int64_t VideoWriter::frames_written() const { return state_->written; }

Result<VideoWriter> VideoWriter::create(const std::filesystem::path& path,
                                        const VideoWriterOptions& options) {
  if (options.width <= 0 || options.height <= 0 || options.width % 2 || options.height % 2 ||
      options.fps <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}': video size {}x{} at {} fps (need positive, even sizes)", path.string(),
                      options.width, options.height, options.fps);
  }
  detail::quiet_ffmpeg_log();
  auto state = std::make_unique<State>();
  state->path = path.string();
  state->options = options;
  AVFormatContext* raw = nullptr;
  const int rc = avformat_alloc_output_context2(&raw, nullptr, "mp4", state->path.c_str());
  if (rc < 0) return state->fail("cannot set up MP4 output", rc);
  state->output.reset(raw);
  RETURN_IF_ERROR(state->open_encoder());
  return VideoWriter(std::move(state));
}

Status VideoWriter::write_frame(ImageView bgr) {
  State& s = *state_;
  if (s.finished) return make_error(ErrorCode::kFailedPrecondition, "'{}' is finished", s.path);
  if (bgr.width != s.options.width || bgr.height != s.options.height || bgr.channels != 3) {
    return make_error(ErrorCode::kInvalidArgument, "'{}': frame {} is {}x{}x{}, expected {}x{} BGR",
                      s.path, s.written, bgr.width, bgr.height, bgr.channels, s.options.width,
                      s.options.height);
  }
  RETURN_IF_ERROR(s.ensure_header());
  int rc = av_frame_make_writable(s.frame.get());
  if (rc < 0) return s.fail("frame buffer", rc);
  const std::uint8_t* planes[4] = {bgr.data, nullptr, nullptr, nullptr};
  const int strides[4] = {static_cast<int>(bgr.stride), 0, 0, 0};
  sws_scale(s.sws.get(), planes, strides, 0, bgr.height, s.frame->data, s.frame->linesize);
  s.frame->pts = s.written;
  rc = avcodec_send_frame(s.codec.get(), s.frame.get());
  if (rc < 0) return s.fail("encoding", rc);
  ++s.written;
  return s.drain();
}

Status VideoWriter::finish() {
  State& s = *state_;
  if (s.finished) return {};
  RETURN_IF_ERROR(s.ensure_header());
  s.finished = true;
  const int rc = avcodec_send_frame(s.codec.get(), nullptr);
  if (rc < 0) return s.fail("flushing the encoder", rc);
  RETURN_IF_ERROR(s.drain());
  const int trailer = av_write_trailer(s.output.get());
  if (trailer < 0) return s.fail("writing the trailer", trailer);
  return {};
}

}  // namespace lipsync::media
