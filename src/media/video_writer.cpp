#include "media/video_writer.h"

extern "C" {
#include <libavutil/opt.h>
}

#include <algorithm>
#include <optional>
#include <vector>

#include "core/log.h"
#include "ffmpeg/handles.h"
#include "media/audio_input.h"
#include "media/video_ffmpeg_log.h"

namespace lipsync::media {
namespace {

constexpr int kAacBitsPerChannel = 64000;              // per second; transparent for speech
constexpr std::int64_t kKeepDecodedSamples = 1 << 16;  // consumed samples dropped beyond this

// The input's own rate when the encoder takes it, else the next higher one it takes (else its
// highest).
int encoder_rate(const AVCodec& encoder, int rate) {
  if (encoder.supported_samplerates == nullptr) return rate;
  int higher = 0;
  int highest = 0;
  for (const int* r = encoder.supported_samplerates; *r != 0; ++r) {
    if (*r == rate) return rate;
    highest = std::max(highest, *r);
    if (*r > rate && (higher == 0 || *r < higher)) higher = *r;
  }
  return higher != 0 ? higher : highest;
}

bool encoder_takes(const AVCodec& encoder, const AVChannelLayout& layout) {
  if (encoder.ch_layouts == nullptr) return true;
  for (const AVChannelLayout* l = encoder.ch_layouts; l->nb_channels != 0; ++l) {
    if (av_channel_layout_compare(l, &layout) == 0) return true;
  }
  return false;
}

// The input's own layout when the encoder takes it, else the default one for its channel count,
// else stereo (mono for mono input).
AVChannelLayout encoder_layout(const AVCodec& encoder, const AVChannelLayout& layout) {
  if (encoder_takes(encoder, layout)) return layout;
  AVChannelLayout fallback{};
  av_channel_layout_default(&fallback, layout.nb_channels);
  if (encoder_takes(encoder, fallback)) return fallback;
  av_channel_layout_default(&fallback, layout.nb_channels > 1 ? 2 : 1);
  return fallback;
}

int even(int size) {
  return size + size % 2;
}

// `frame` into `padded` (even sizes, one pixel more than `frame` where it is odd): the last
// column and row repeated, as an edge extension that keeps the picture's border as it is.
void pad_to_even(ImageView frame, Image& padded) {
  const std::size_t row_bytes = static_cast<std::size_t>(frame.width) * 3;
  for (int y = 0; y < padded.height; ++y) {
    const std::uint8_t* source = frame.row(std::min(y, frame.height - 1));
    std::uint8_t* target = padded.pixels.data() + static_cast<std::size_t>(y) * padded.stride();
    std::copy_n(source, row_bytes, target);
    if (padded.width > frame.width) std::copy_n(source + row_bytes - 3, 3, target + row_bytes);
  }
}

}  // namespace

struct VideoWriter::State {
  std::string path;
  VideoWriterOptions options;
  ffmpeg::OutputFormatPtr output;
  ffmpeg::CodecContextPtr codec;
  ffmpeg::SwsPtr sws;
  Image padded;  // the frame at the encoded size, when options' size is odd
  ffmpeg::FramePtr frame = ffmpeg::make_frame();
  ffmpeg::PacketPtr packet = ffmpeg::make_packet();
  AVStream* stream = nullptr;
  // The optional AAC track: encoded from planar samples (add_audio, or a file's audio decoded
  // as the video advances) or copied packet for packet from a file.
  ffmpeg::CodecContextPtr audio_codec;
  AVStream* audio_stream = nullptr;
  ffmpeg::FramePtr audio_frame;
  std::vector<std::vector<float>> audio_planes;  // one per channel
  std::int64_t audio_planes_start = 0;           // the sample index of audio_planes[c][0]
  std::optional<detail::AudioInputDecoder> audio_decoder;
  std::int64_t audio_written = 0;  // samples per channel sent to the encoder
  std::optional<detail::AudioInput> copy_input;
  ffmpeg::PacketPtr copy_packet = ffmpeg::make_packet();
  bool copy_pending = false;  // copy_packet holds the next packet to copy
  bool header_written = false;
  bool finished = false;
  std::int64_t written = 0;

  Status fail(const std::string& what, int rc) const {
    return ffmpeg::error(ErrorCode::kInternal, "'" + path + "': " + what, rc);
  }
  Status open_encoder();
  Status check_no_audio() const;
  Status open_audio_encoder(int sample_rate_hz, const AVChannelLayout& layout, int bitrate_bps);
  Status ensure_header();
  Status drain() { return drain(codec.get(), stream); }
  Status drain(AVCodecContext* encoder, AVStream* target);
  // Sends the audio up to sample `end` (per channel) to the AAC encoder in full frames (a
  // shorter last frame only when `final`); silence where the audio has ended.
  Status encode_audio_until(std::int64_t end, bool final);
  // Copies the packets that start before video frame `frame`.
  Status copy_audio_until(std::int64_t frame);
  // The audio up to the end of the frames written so far.
  Status advance_audio(bool final);
};

Status VideoWriter::State::open_encoder() {
  const AVCodec* encoder = avcodec_find_encoder_by_name("libx264");
  if (encoder == nullptr) {
    return make_error(ErrorCode::kUnimplemented, "FFmpeg was built without libx264");
  }
  codec.reset(avcodec_alloc_context3(encoder));
  codec->width = even(options.width);
  codec->height = even(options.height);
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
  frame->width = codec->width;
  frame->height = codec->height;
  frame->format = AV_PIX_FMT_YUV420P;
  rc = av_frame_get_buffer(frame.get(), 0);
  if (rc < 0) return fail("frame buffer", rc);
  sws.reset(sws_getContext(codec->width, codec->height, AV_PIX_FMT_BGR24, codec->width,
                           codec->height, AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr,
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

Status VideoWriter::State::check_no_audio() const {
  if (header_written || audio_stream != nullptr) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "'{}': add the audio track once, before the first frame", path);
  }
  return {};
}

Status VideoWriter::State::open_audio_encoder(int sample_rate_hz, const AVChannelLayout& layout,
                                              int bitrate_bps) {
  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (encoder == nullptr) return make_error(ErrorCode::kUnimplemented, "no AAC encoder in FFmpeg");
  audio_codec.reset(avcodec_alloc_context3(encoder));
  audio_codec->sample_fmt = AV_SAMPLE_FMT_FLTP;
  audio_codec->sample_rate = sample_rate_hz;
  int rc = av_channel_layout_copy(&audio_codec->ch_layout, &layout);
  if (rc < 0) return fail("audio channel layout", rc);
  audio_codec->bit_rate = bitrate_bps > 0 ? bitrate_bps : kAacBitsPerChannel * layout.nb_channels;
  audio_codec->time_base = {1, sample_rate_hz};
  if (output->oformat->flags & AVFMT_GLOBALHEADER) {
    audio_codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  rc = avcodec_open2(audio_codec.get(), encoder, nullptr);
  if (rc < 0) return fail("cannot open the AAC encoder", rc);
  audio_stream = avformat_new_stream(output.get(), nullptr);
  if (audio_stream == nullptr) return make_error(ErrorCode::kInternal, "'{}': no stream", path);
  audio_stream->time_base = audio_codec->time_base;
  rc = avcodec_parameters_from_context(audio_stream->codecpar, audio_codec.get());
  if (rc < 0) return fail("audio stream parameters", rc);
  audio_frame = ffmpeg::make_frame();
  audio_frame->format = AV_SAMPLE_FMT_FLTP;
  audio_frame->nb_samples = audio_codec->frame_size;
  audio_frame->sample_rate = sample_rate_hz;
  rc = av_channel_layout_copy(&audio_frame->ch_layout, &audio_codec->ch_layout);
  if (rc >= 0) rc = av_frame_get_buffer(audio_frame.get(), 0);
  if (rc < 0) return fail("audio frame buffer", rc);
  audio_planes.assign(static_cast<std::size_t>(layout.nb_channels), {});
  return {};
}

Status VideoWriter::State::encode_audio_until(std::int64_t end, bool final) {
  if (audio_decoder) {
    RETURN_IF_ERROR(audio_decoder->fill(
        static_cast<std::size_t>(std::max<std::int64_t>(end - audio_planes_start, 0)),
        audio_planes));
  }
  const auto available = audio_planes_start + static_cast<std::int64_t>(audio_planes[0].size());
  const int frame_size = audio_codec->frame_size;
  while (end - audio_written >= frame_size || (final && end > audio_written)) {
    const int count = static_cast<int>(std::min<std::int64_t>(frame_size, end - audio_written));
    int rc = av_frame_make_writable(audio_frame.get());
    if (rc < 0) return fail("audio frame buffer", rc);
    audio_frame->nb_samples = count;
    const std::int64_t from = audio_written - audio_planes_start;
    const int real =
        static_cast<int>(std::clamp<std::int64_t>(available - audio_written, 0, count));
    for (std::size_t c = 0; c < audio_planes.size(); ++c) {
      auto* plane = reinterpret_cast<float*>(audio_frame->data[c]);
      std::copy_n(audio_planes[c].begin() + from, real, plane);
      std::fill(plane + real, plane + count, 0.0f);  // past the end of the audio: silence
    }
    audio_frame->pts = audio_written;
    rc = avcodec_send_frame(audio_codec.get(), audio_frame.get());
    if (rc < 0) return fail("encoding audio", rc);
    audio_written += count;
    RETURN_IF_ERROR(drain(audio_codec.get(), audio_stream));
  }
  const std::int64_t consumed = std::min(audio_written, available) - audio_planes_start;
  if (consumed > kKeepDecodedSamples) {
    for (auto& plane : audio_planes) plane.erase(plane.begin(), plane.begin() + consumed);
    audio_planes_start += consumed;
  }
  return {};
}

Status VideoWriter::State::copy_audio_until(std::int64_t frame) {
  const AVRational input_base = copy_input->stream().time_base;
  while (true) {
    if (!copy_pending) {
      ASSIGN_OR_RETURN(copy_pending, copy_input->read_packet(copy_packet.get()));
      if (!copy_pending) return {};  // the file's audio has ended
    }
    if (av_compare_ts(copy_packet->pts, input_base, frame, {1, options.fps}) >= 0) return {};
    av_packet_rescale_ts(copy_packet.get(), input_base, audio_stream->time_base);
    copy_packet->stream_index = audio_stream->index;
    copy_packet->pos = -1;
    copy_pending = false;
    const int rc = av_interleaved_write_frame(output.get(), copy_packet.get());
    if (rc < 0) return fail("writing an audio packet", rc);
  }
}

Status VideoWriter::State::advance_audio(bool final) {
  if (copy_input) return copy_audio_until(written);
  if (!audio_codec) return {};
  const std::int64_t rate = audio_codec->sample_rate;
  return encode_audio_until(written * rate / options.fps, final);
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

int VideoWriter::encoded_width() const {
  return state_->codec->width;
}

int VideoWriter::encoded_height() const {
  return state_->codec->height;
}

Result<VideoWriter> VideoWriter::create(const std::filesystem::path& path,
                                        const VideoWriterOptions& options) {
  if (options.width <= 0 || options.height <= 0 || options.fps <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}': video size {}x{} at {} fps (need positive sizes and rate)",
                      path.string(), options.width, options.height, options.fps);
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
  if (state->codec->width != options.width || state->codec->height != options.height) {
    state->padded = Image(state->codec->width, state->codec->height);
    LOG_INFO("media",
             "'{}': {}x{} frames are written as {}x{} (H.264 4:2:0 needs even sizes; the last "
             "column/row is repeated)",
             state->path, options.width, options.height, state->codec->width, state->codec->height);
  }
  return VideoWriter(std::move(state));
}

Status VideoWriter::add_audio(std::span<const float> interleaved,
                              const AudioTrackOptions& options) {
  State& s = *state_;
  RETURN_IF_ERROR(s.check_no_audio());
  if (options.sample_rate_hz < 8000 || options.sample_rate_hz > 192000 || options.channels < 1 ||
      options.channels > 8 || interleaved.size() % static_cast<std::size_t>(options.channels)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}': audio of {} samples at {} Hz with {} channel(s) is not valid", s.path,
                      interleaved.size(), options.sample_rate_hz, options.channels);
  }
  AVChannelLayout layout{};
  av_channel_layout_default(&layout, options.channels);
  RETURN_IF_ERROR(s.open_audio_encoder(options.sample_rate_hz, layout, options.bitrate_bps));
  const std::size_t channels = s.audio_planes.size();
  for (std::size_t c = 0; c < channels; ++c) {  // interleaved -> planar
    auto& plane = s.audio_planes[c];
    plane.resize(interleaved.size() / channels);
    for (std::size_t i = 0; i < plane.size(); ++i) plane[i] = interleaved[i * channels + c];
  }
  return {};
}

Result<AudioTrackInfo> VideoWriter::add_audio_file(const std::filesystem::path& file,
                                                   int bitrate_bps) {
  State& s = *state_;
  RETURN_IF_ERROR(s.check_no_audio());
  ASSIGN_OR_RETURN(detail::AudioInput input, detail::AudioInput::open(file));
  const AVCodecParameters& par = *input.stream().codecpar;
  AudioTrackInfo info{.copied = par.codec_id == AV_CODEC_ID_AAC,
                      .source_codec = avcodec_get_name(par.codec_id)};
  if (info.copied) {  // stream copy: the packets and their codec parameters as they are
    s.audio_stream = avformat_new_stream(s.output.get(), nullptr);
    if (s.audio_stream == nullptr)
      return make_error(ErrorCode::kInternal, "'{}': no stream", s.path);
    const int rc = avcodec_parameters_copy(s.audio_stream->codecpar, &par);
    if (rc < 0) return s.fail("audio stream parameters", rc);
    s.audio_stream->codecpar->codec_tag = 0;  // the MP4 muxer picks its own
    s.audio_stream->time_base = input.stream().time_base;
    info.sample_rate_hz = par.sample_rate;
    info.channels = par.ch_layout.nb_channels;
    s.copy_input.emplace(std::move(input));
    return info;
  }
  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (encoder == nullptr) return make_error(ErrorCode::kUnimplemented, "no AAC encoder in FFmpeg");
  const int rate = encoder_rate(*encoder, par.sample_rate);
  const AVChannelLayout layout = encoder_layout(*encoder, input.layout());
  RETURN_IF_ERROR(s.open_audio_encoder(rate, layout, bitrate_bps));
  ASSIGN_OR_RETURN(auto decoder, detail::AudioInputDecoder::create(std::move(input), rate, layout));
  s.audio_decoder.emplace(std::move(decoder));
  info.sample_rate_hz = rate;
  info.channels = layout.nb_channels;
  return info;
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
  ImageView source = bgr;
  if (!s.padded.pixels.empty()) {
    pad_to_even(bgr, s.padded);
    source = s.padded.view();
  }
  const std::uint8_t* planes[4] = {source.data, nullptr, nullptr, nullptr};
  const int strides[4] = {static_cast<int>(source.stride), 0, 0, 0};
  sws_scale(s.sws.get(), planes, strides, 0, source.height, s.frame->data, s.frame->linesize);
  s.frame->pts = s.written;
  rc = avcodec_send_frame(s.codec.get(), s.frame.get());
  if (rc < 0) return s.fail("encoding", rc);
  ++s.written;
  RETURN_IF_ERROR(s.drain());
  return s.advance_audio(false);  // keep the audio up with the video
}

Status VideoWriter::finish() {
  State& s = *state_;
  if (s.finished) return {};
  RETURN_IF_ERROR(s.ensure_header());
  s.finished = true;
  const int rc = avcodec_send_frame(s.codec.get(), nullptr);
  if (rc < 0) return s.fail("flushing the encoder", rc);
  RETURN_IF_ERROR(s.drain());
  RETURN_IF_ERROR(s.advance_audio(true));
  if (s.audio_codec) {
    const int audio_rc = avcodec_send_frame(s.audio_codec.get(), nullptr);
    if (audio_rc < 0) return s.fail("flushing the audio encoder", audio_rc);
    RETURN_IF_ERROR(s.drain(s.audio_codec.get(), s.audio_stream));
  }
  const int trailer = av_write_trailer(s.output.get());
  if (trailer < 0) return s.fail("writing the trailer", trailer);
  return {};
}

}  // namespace lipsync::media
