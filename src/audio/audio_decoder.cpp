#include "audio/audio_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "audio/mel_spectrogram.h"
#include "audio/resampler.h"
#include "core/log.h"
#include "core/npy.h"
#include "ffmpeg/input.h"

extern "C" {
#include <libavutil/channel_layout.h>
}

namespace lipsync::audio {
namespace {

using detail::Resampler;

// Containers round their durations and count encoder priming; the exact length is checked while
// decoding, so the declared one only has to be near the limit.
constexpr double kDeclaredDurationSlackS = 1.0;

Result<std::size_t> max_samples_for(const DecodeOptions& options) {
  if (!(options.max_duration_s > 0.0) || !std::isfinite(options.max_duration_s)) {
    return make_error(ErrorCode::kInvalidArgument, "max_duration_s {} is not positive",
                      options.max_duration_s);
  }
  const double samples = options.max_duration_s * kSampleRateHz;
  return static_cast<std::size_t>(std::min(samples, static_cast<double>(kMaxAudioSamples)));
}

Status check_finite_and_nonempty(const std::vector<float>& samples, const std::string& origin) {
  if (samples.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no audio samples", origin);
  }
  Status status = validate_samples(samples);
  return status.ok() ? status : status.with_context(origin);
}

// Decodes the packets of one audio stream, feeding frames through the resampler.
class StreamDecoder {
 public:
  StreamDecoder(ffmpeg::Input& input, int stream_index, AVCodecContext* codec, std::string origin,
                std::size_t max_samples, DecodeCounters* counters)
      : input_(input),
        stream_index_(stream_index),
        codec_(codec),
        origin_(std::move(origin)),
        max_samples_(max_samples),
        counters_(counters),
        bad_data_(input.policy().unreadable) {}

  Result<std::vector<float>> run() {
    ffmpeg::PacketPtr packet = ffmpeg::make_packet();
    ffmpeg::FramePtr frame = ffmpeg::make_frame();
    if (!packet || !frame) return make_error(ErrorCode::kResourceExhausted, "out of memory");
    std::vector<float> out;
    int rc = 0;
    while ((rc = av_read_frame(input_.get(), packet.get())) >= 0) {
      Status status = Status::ok_status();
      if (packet->stream_index == stream_index_) status = send(packet.get(), frame.get(), out);
      av_packet_unref(packet.get());
      RETURN_IF_ERROR(status);
    }
    if (rc != AVERROR_EOF) return ffmpeg::error(bad_data_, "reading " + origin_, rc);
    RETURN_IF_ERROR(send(nullptr, frame.get(), out));  // drain the decoder
    if (resampler_) RETURN_IF_ERROR(resampler_->drain(out));
    return out;
  }

 private:
  Status send(const AVPacket* packet, AVFrame* frame, std::vector<float>& out) {
    if (packet != nullptr && counters_ != nullptr) ++counters_->packets_decoded;
    int rc = avcodec_send_packet(codec_, packet);
    if (rc < 0 && rc != AVERROR_EOF) return ffmpeg::error(bad_data_, "decoding " + origin_, rc);
    while ((rc = avcodec_receive_frame(codec_, frame)) >= 0) {
      Status status = consume(frame, out);
      av_frame_unref(frame);
      RETURN_IF_ERROR(status);
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
      return ffmpeg::error(bad_data_, "decoding " + origin_, rc);
    }
    return Status::ok_status();
  }

  Status consume(const AVFrame* frame, std::vector<float>& out) {
    if (!resampler_) {
      auto resampler =
          Resampler::create(frame->ch_layout, static_cast<AVSampleFormat>(frame->format),
                            frame->sample_rate, max_samples_, counters_);
      if (!resampler.ok()) return resampler.status().with_context(origin_);
      resampler_.emplace(std::move(resampler).value());
    } else {
      Status same = resampler_->check_same_input(frame->sample_rate,
                                                  static_cast<AVSampleFormat>(frame->format),
                                                  frame->ch_layout.nb_channels);
      if (!same.ok()) return same.with_context(origin_);
    }
    Status status = resampler_->convert(frame->extended_data, frame->nb_samples, out);
    return status.ok() ? status : status.with_context(origin_);
  }

  ffmpeg::Input& input_;
  int stream_index_;
  AVCodecContext* codec_;
  std::string origin_;
  std::size_t max_samples_;
  DecodeCounters* counters_;
  ErrorCode bad_data_;
  std::optional<Resampler> resampler_;
};

// The stream's duration as its container declares it, when the container says (not an estimate
// from the bit rate, which a hostile header can make anything).
std::optional<double> declared_seconds(const AVFormatContext& format, const AVStream& stream) {
  if (format.duration_estimation_method == AVFMT_DURATION_FROM_BITRATE) return std::nullopt;
  if (stream.duration > 0) return static_cast<double>(stream.duration) * av_q2d(stream.time_base);
  if (format.duration > 0) return static_cast<double>(format.duration) / AV_TIME_BASE;
  return std::nullopt;
}

// What can be refused from the headers alone, before a packet is decoded.
Status check_stream(const ffmpeg::Input& input, const AVStream& stream, const AVCodec& decoder,
                    const std::string& origin, std::size_t max_samples) {
  if (!input.policy().allows_codec(decoder.id)) {
    return make_error(ErrorCode::kInvalidArgument, "{}: audio codec '{}' is not accepted here",
                      origin, decoder.name);
  }
  // What the header states (0: unknown until decoded, then the resampler checks it).
  const AVCodecParameters& par = *stream.codecpar;
  const int rate_hz = par.sample_rate != 0 ? par.sample_rate : kMinInputRateHz;
  const int channels = par.ch_layout.nb_channels != 0 ? par.ch_layout.nb_channels : 1;
  RETURN_IF_ERROR(check_input_format(rate_hz, channels, origin));
  const double limit_s = static_cast<double>(max_samples) / kSampleRateHz;
  const std::optional<double> declared = declared_seconds(*input.get(), stream);
  if (declared && *declared > limit_s + kDeclaredDurationSlackS) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: the container declares {:.0f} s of audio, longer than the limit of "
                      "{:.0f} s",
                      origin, *declared, limit_s);
  }
  return {};
}

// Decodes the best audio stream of an opened input.
Result<std::vector<float>> decode_best_stream(ffmpeg::Input& input, const std::string& origin,
                                              std::size_t max_samples, DecodeCounters* counters) {
  const AVCodec* decoder = nullptr;
  const int stream_index =
      av_find_best_stream(input.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &decoder, 0);
  if (stream_index < 0 || decoder == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "{} has no decodable audio stream", origin);
  }
  const AVStream& stream = *input->streams[stream_index];
  RETURN_IF_ERROR(check_stream(input, stream, *decoder, origin, max_samples));
  const ErrorCode bad_data = input.policy().unreadable;
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(decoder));
  if (!codec) return make_error(ErrorCode::kResourceExhausted, "out of memory");
  int rc = avcodec_parameters_to_context(codec.get(), stream.codecpar);
  if (rc < 0) return ffmpeg::error(bad_data, "reading codec of " + origin, rc);
  rc = avcodec_open2(codec.get(), decoder, nullptr);
  if (rc < 0) return ffmpeg::error(bad_data, "opening the decoder of " + origin, rc);
  StreamDecoder decode(input, stream_index, codec.get(), origin, max_samples, counters);
  ASSIGN_OR_RETURN(std::vector<float> samples, decode.run());
  RETURN_IF_ERROR(check_finite_and_nonempty(samples, origin));
  LOG_DEBUG("audio", "decoded {}: {} samples at 16 kHz ({}, {} Hz, {} ch)", origin, samples.size(),
            decoder->name, codec->sample_rate, codec->ch_layout.nb_channels);
  return samples;
}

Result<std::vector<float>> decode_input(Result<ffmpeg::Input> opened, const std::string& origin,
                                        std::size_t max_samples, DecodeCounters* counters) {
  if (!opened.ok()) return opened.status();
  ffmpeg::Input& input = *opened;
  Result<std::vector<float>> samples = [&]() -> Result<std::vector<float>> {
    RETURN_IF_ERROR(ffmpeg::find_stream_info(input, origin));
    return decode_best_stream(input, origin, max_samples, counters);
  }();
  if (counters != nullptr) counters->bytes_read = input.counters().bytes_read;
  return samples;
}

}  // namespace

Status check_input_format(int sample_rate_hz, int channels, std::string_view what) {
  if (sample_rate_hz < kMinInputRateHz || sample_rate_hz > kMaxInputRateHz) {
    return make_error(ErrorCode::kInvalidArgument, "{}: sample rate {} Hz is outside [{}, {}] Hz",
                      what, sample_rate_hz, kMinInputRateHz, kMaxInputRateHz);
  }
  if (channels < 1 || channels > kMaxInputChannels) {
    return make_error(ErrorCode::kInvalidArgument, "{}: channel count {} is outside [1, {}]", what,
                      channels, kMaxInputChannels);
  }
  return {};
}

Result<std::vector<float>> decode_audio_file(const std::filesystem::path& path,
                                             const DecodeOptions& options) {
  ASSIGN_OR_RETURN(const std::size_t max_samples, max_samples_for(options));
  return decode_input(ffmpeg::open_file_input(path, ffmpeg::server_file_policy()),
                      "'" + path.string() + "'", max_samples, options.counters);
}

Result<std::vector<float>> decode_audio_bytes(std::span<const std::byte> bytes,
                                              const std::string& origin,
                                              const DecodeOptions& options) {
  DecodeOptions client = options;
  client.max_duration_s = std::min(options.max_duration_s, kMaxClientAudioSeconds);
  ASSIGN_OR_RETURN(const std::size_t max_samples, max_samples_for(client));
  Result<std::vector<float>> samples =
      decode_input(ffmpeg::open_memory_input(bytes, origin, ffmpeg::client_media_policy()), origin,
                   max_samples, options.counters);
  // The bytes are the client's: whatever FFmpeg could not make of them is a bad argument.
  if (samples.ok() || samples.status().code() == ErrorCode::kResourceExhausted) return samples;
  return Status(ErrorCode::kInvalidArgument, samples.status().message());
}

namespace {

Result<Resampler> pcm_resampler(int sample_rate_hz, int channels, std::size_t max_samples,
                                DecodeCounters* counters = nullptr) {
  AVChannelLayout layout{};
  av_channel_layout_default(&layout, channels);
  auto resampler =
      Resampler::create(layout, AV_SAMPLE_FMT_FLT, sample_rate_hz, max_samples, counters);
  av_channel_layout_uninit(&layout);
  return resampler;
}

}  // namespace

Result<std::vector<float>> convert_pcm(std::span<const float> interleaved, int sample_rate_hz,
                                       int channels, const DecodeOptions& options) {
  ASSIGN_OR_RETURN(const std::size_t max_samples, max_samples_for(options));
  RETURN_IF_ERROR(check_input_format(sample_rate_hz, channels, "PCM"));
  const auto channel_count = static_cast<std::size_t>(channels);
  if (interleaved.empty() || interleaved.size() % channel_count != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "PCM has {} values, not a positive multiple of {} channels",
                      interleaved.size(), channels);
  }
  const std::size_t frames = interleaved.size() / channel_count;
  const double out_samples = static_cast<double>(frames) * kSampleRateHz / sample_rate_hz;
  if (out_samples > static_cast<double>(max_samples) ||
      frames > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "PCM of {} frames at {} Hz is longer than the limit of {:.0f} s", frames,
                      sample_rate_hz, static_cast<double>(max_samples) / kSampleRateHz);
  }
  RETURN_IF_ERROR(validate_samples(interleaved).with_context("PCM input"));
  ASSIGN_OR_RETURN(Resampler resampler,
                   pcm_resampler(sample_rate_hz, channels, max_samples, options.counters));
  std::vector<float> out;
  const auto* data = reinterpret_cast<const std::uint8_t*>(interleaved.data());
  RETURN_IF_ERROR(resampler.convert(&data, static_cast<int>(frames), out));
  RETURN_IF_ERROR(resampler.drain(out));
  RETURN_IF_ERROR(check_finite_and_nonempty(out, "PCM input"));
  return out;
}

struct PcmStreamConverter::Impl {
  Resampler resampler;
  std::size_t channels;
  std::size_t frames_received = 0;
  bool flushed = false;
};

PcmStreamConverter::PcmStreamConverter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PcmStreamConverter::~PcmStreamConverter() = default;
PcmStreamConverter::PcmStreamConverter(PcmStreamConverter&&) noexcept = default;
PcmStreamConverter& PcmStreamConverter::operator=(PcmStreamConverter&&) noexcept = default;

Result<PcmStreamConverter> PcmStreamConverter::create(int sample_rate_hz, int channels) {
  RETURN_IF_ERROR(check_input_format(sample_rate_hz, channels, "PCM"));
  ASSIGN_OR_RETURN(Resampler resampler, pcm_resampler(sample_rate_hz, channels, kMaxAudioSamples));
  return PcmStreamConverter(
      std::unique_ptr<Impl>(new Impl{std::move(resampler), static_cast<std::size_t>(channels)}));
}

Status PcmStreamConverter::push(std::span<const float> interleaved, std::vector<float>& out) {
  Impl& s = *impl_;
  if (s.flushed) return make_error(ErrorCode::kFailedPrecondition, "PCM pushed after flush");
  if (interleaved.size() % s.channels != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "PCM chunk has {} values, not a multiple of {} channels", interleaved.size(),
                      s.channels);
  }
  const std::size_t frames = interleaved.size() / s.channels;
  if (frames > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return make_error(ErrorCode::kInvalidArgument, "PCM chunk of {} frames is too large", frames);
  }
  for (std::size_t i = 0; i < interleaved.size(); ++i) {
    if (!std::isfinite(interleaved[i])) {
      return make_error(ErrorCode::kInvalidArgument, "PCM value {} of the stream is {}",
                        s.frames_received * s.channels + i, interleaved[i]);
    }
  }
  if (frames == 0) return Status::ok_status();
  const auto* data = reinterpret_cast<const std::uint8_t*>(interleaved.data());
  RETURN_IF_ERROR(s.resampler.convert(&data, static_cast<int>(frames), out));
  s.frames_received += frames;
  return Status::ok_status();
}

Status PcmStreamConverter::flush(std::vector<float>& out) {
  Impl& s = *impl_;
  if (s.flushed) return make_error(ErrorCode::kFailedPrecondition, "PCM stream flushed twice");
  s.flushed = true;
  return s.resampler.drain(out);
}

Result<std::vector<float>> load_audio(const std::filesystem::path& path,
                                      const DecodeOptions& options) {
  if (path.extension() != ".npy") return decode_audio_file(path, options);
  ASSIGN_OR_RETURN(NpyArray array, read_npy(path));
  if (array.shape.size() != 1 || array.dtype == NpyDtype::kUint8) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}': expected a 1-D float32/float64 array of 16 kHz samples",
                      path.string());
  }
  std::vector<float> samples = array.to_c_order<float>();
  RETURN_IF_ERROR(check_finite_and_nonempty(samples, "'" + path.string() + "'"));
  return samples;
}

}  // namespace lipsync::audio
