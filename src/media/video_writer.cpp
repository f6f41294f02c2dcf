#include "media/video_writer.h"

extern "C" {
#include <libavutil/opt.h>
}

#include <algorithm>
#include <vector>

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
  // The optional AAC track (add_audio).
  ffmpeg::CodecContextPtr audio_codec;
  AVStream* audio_stream = nullptr;
  ffmpeg::FramePtr audio_frame;
  std::vector<float> audio_samples;  // interleaved
  int audio_channels = 0;
  std::int64_t audio_written = 0;  // samples per channel sent to the encoder
  bool header_written = false;
  bool finished = false;
  std::int64_t written = 0;

  Status fail(const std::string& what, int rc) const {
    return ffmpeg::error(ErrorCode::kInternal, "'" + path + "': " + what, rc);
  }
  Status open_encoder();
  Status open_audio_encoder(const AudioTrackOptions& options);
  Status ensure_header();
  Status drain() { return drain(codec.get(), stream); }
  Status drain(AVCodecContext* encoder, AVStream* target);
  // Sends the audio up to sample `end` (per channel) to the AAC encoder in full frames (a
  // shorter last frame only when `final`).
  Status encode_audio_until(std::int64_t end, bool final);
  std::int64_t audio_total() const {
    return audio_channels ? static_cast<std::int64_t>(audio_samples.size()) / audio_channels : 0;
  }
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

Status VideoWriter::State::open_audio_encoder(const AudioTrackOptions& audio) {
  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (encoder == nullptr) return make_error(ErrorCode::kUnimplemented, "no AAC encoder in FFmpeg");
  audio_codec.reset(avcodec_alloc_context3(encoder));
  audio_codec->sample_fmt = AV_SAMPLE_FMT_FLTP;
  audio_codec->sample_rate = audio.sample_rate_hz;
  av_channel_layout_default(&audio_codec->ch_layout, audio.channels);
  audio_codec->bit_rate = audio.bitrate_bps;
  audio_codec->time_base = {1, audio.sample_rate_hz};
  if (output->oformat->flags & AVFMT_GLOBALHEADER) {
    audio_codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  int rc = avcodec_open2(audio_codec.get(), encoder, nullptr);
  if (rc < 0) return fail("cannot open the AAC encoder", rc);
  audio_stream = avformat_new_stream(output.get(), nullptr);
  if (audio_stream == nullptr) return make_error(ErrorCode::kInternal, "'{}': no stream", path);
  audio_stream->time_base = audio_codec->time_base;
  rc = avcodec_parameters_from_context(audio_stream->codecpar, audio_codec.get());
  if (rc < 0) return fail("audio stream parameters", rc);
  audio_frame = ffmpeg::make_frame();
  audio_frame->format = AV_SAMPLE_FMT_FLTP;
  audio_frame->nb_samples = audio_codec->frame_size;
  audio_frame->sample_rate = audio.sample_rate_hz;
  rc = av_channel_layout_copy(&audio_frame->ch_layout, &audio_codec->ch_layout);
  if (rc >= 0) rc = av_frame_get_buffer(audio_frame.get(), 0);
  if (rc < 0) return fail("audio frame buffer", rc);
  audio_channels = audio.channels;
  return {};
}

Status VideoWriter::State::encode_audio_until(std::int64_t end, bool final) {
  if (!audio_codec) return {};
  end = std::min(end, audio_total());
  const int frame_size = audio_codec->frame_size;
  while (end - audio_written >= frame_size || (final && end > audio_written)) {
    const int count = static_cast<int>(std::min<std::int64_t>(frame_size, end - audio_written));
    int rc = av_frame_make_writable(audio_frame.get());
    if (rc < 0) return fail("audio frame buffer", rc);
    audio_frame->nb_samples = count;
    for (int c = 0; c < audio_channels; ++c) {  // interleaved -> planar
      auto* plane = reinterpret_cast<float*>(audio_frame->data[c]);
      for (int i = 0; i < count; ++i) {
        plane[i] =
            audio_samples[static_cast<std::size_t>((audio_written + i) * audio_channels + c)];
      }
    }
    audio_frame->pts = audio_written;
    rc = avcodec_send_frame(audio_codec.get(), audio_frame.get());
    if (rc < 0) return fail("encoding audio", rc);
    audio_written += count;
    RETURN_IF_ERROR(drain(audio_codec.get(), audio_stream));
  }
  return {};
}

Status VideoWriter::State::drain(AVCodecContext* encoder, AVStream* target) {
  while (true) {
    int rc = avcodec_receive_packet(encoder, packet.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return {};
    if (rc < 0) return fail("encoding", rc);
    // Without a duration the MP4 edit list cuts the last frame off.
    if (packet->duration == 0) packet->duration = 1;
    av_packet_rescale_ts(packet.get(), encoder->time_base, target->time_base);
    packet->stream_index = target->index;
    rc = av_interleaved_write_frame(output.get(), packet.get());
    if (rc < 0) return fail("writing a packet", rc);
  }
}

VideoWriter::VideoWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
VideoWriter::VideoWriter(VideoWriter&&) noexcept = default;
VideoWriter& VideoWriter::operator=(VideoWriter&&) noexcept = default;
VideoWriter::~VideoWriter() = default;

std::int64_t VideoWriter::frames_written() const {
  return state_->written;
}

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

Status VideoWriter::add_audio(std::span<const float> interleaved,
                              const AudioTrackOptions& options) {
  State& s = *state_;
  if (s.header_written || s.audio_codec) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "'{}': add the audio track once, before the first frame", s.path);
  }
  if (options.sample_rate_hz < 8000 || options.sample_rate_hz > 192000 || options.channels < 1 ||
      options.channels > 8 || interleaved.size() % static_cast<std::size_t>(options.channels)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}': audio of {} samples at {} Hz with {} channel(s) is not valid", s.path,
                      interleaved.size(), options.sample_rate_hz, options.channels);
  }
  RETURN_IF_ERROR(s.open_audio_encoder(options));
  s.audio_samples.assign(interleaved.begin(), interleaved.end());
  return {};
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
  RETURN_IF_ERROR(s.drain());
  if (!s.audio_codec) return {};
  // Keep the audio up with the video: everything up to the end of this frame.
  const std::int64_t rate = s.audio_codec->sample_rate;
  return s.encode_audio_until(s.written * rate / s.options.fps, false);
}

Status VideoWriter::finish() {
  State& s = *state_;
  if (s.finished) return {};
  RETURN_IF_ERROR(s.ensure_header());
  s.finished = true;
  const int rc = avcodec_send_frame(s.codec.get(), nullptr);
  if (rc < 0) return s.fail("flushing the encoder", rc);
  RETURN_IF_ERROR(s.drain());
  if (s.audio_codec) {
    RETURN_IF_ERROR(s.encode_audio_until(s.audio_total(), true));
    const int audio_rc = avcodec_send_frame(s.audio_codec.get(), nullptr);
    if (audio_rc < 0) return s.fail("flushing the audio encoder", audio_rc);
    RETURN_IF_ERROR(s.drain(s.audio_codec.get(), s.audio_stream));
  }
  const int trailer = av_write_trailer(s.output.get());
  if (trailer < 0) return s.fail("writing the trailer", trailer);
  return {};
}

}  // namespace lipsync::media
