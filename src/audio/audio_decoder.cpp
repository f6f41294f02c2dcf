#include "audio/audio_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "audio/mel_spectrogram.h"
#include "core/log.h"
#include "core/npy.h"
#include "ffmpeg/handles.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

namespace lipsync::audio {
namespace {

constexpr int kMinInputRateHz = 1000;
constexpr int kMaxInputRateHz = 768000;
constexpr int kMaxChannels = 64;
constexpr int kSoxrPrecisionBits = 20;  // soxr's HQ recipe

// Resamples and downmixes one stream (fixed input format) to 16 kHz mono float, appending to
// `out`; enforces the length limit as it goes.
class Resampler {
 public:
  static Result<Resampler> create(const AVChannelLayout& layout, AVSampleFormat format,
                                  int sample_rate_hz, std::size_t max_samples) {
    AVChannelLayout in_layout{};
    if (layout.order == AV_CHANNEL_ORDER_UNSPEC || av_channel_layout_check(&layout) == 0) {
      av_channel_layout_default(&in_layout, layout.nb_channels);
    } else {
      av_channel_layout_copy(&in_layout, &layout);
    }
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext* raw = nullptr;
    int rc = swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_FLT, kSampleRateHz, &in_layout, format,
                                 sample_rate_hz, 0, nullptr);
    const int channels = in_layout.nb_channels;
    av_channel_layout_uninit(&in_layout);
    ffmpeg::SwrPtr swr(raw);
    if (rc < 0) return ffmpeg::error(ErrorCode::kInvalidArgument, "configuring the resampler", rc);
    // Mean of the channels (librosa.to_mono), not swresample's default downmix matrix.
    std::vector<double> matrix(static_cast<std::size_t>(channels), 1.0 / channels);
    rc = swr_set_matrix(swr.get(), matrix.data(), channels);
    if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "setting the downmix matrix", rc);
    // The reference (librosa.load) resamples with soxr "HQ" (20-bit precision); use it too.
    av_opt_set(swr.get(), "resampler", "soxr", 0);
    av_opt_set_int(swr.get(), "precision", kSoxrPrecisionBits, 0);
    rc = swr_init(swr.get());
    if (rc < 0) return ffmpeg::error(ErrorCode::kInvalidArgument, "starting the resampler", rc);
    return Resampler(std::move(swr), sample_rate_hz, max_samples);
  }

  // `frames` input frames at `data` (FFmpeg plane pointers); nullptr/0 drains.
  Status convert(const std::uint8_t* const* data, int frames, std::vector<float>& out) {
    const int capacity = swr_get_out_samples(swr_.get(), frames);
    if (capacity < 0) return ffmpeg::error(ErrorCode::kInternal, "resampler size", capacity);
    const std::size_t old_size = out.size();
    out.resize(old_size + static_cast<std::size_t>(capacity));
    auto* dst = reinterpret_cast<std::uint8_t*>(out.data() + old_size);
    const int written =
        swr_convert(swr_.get(), &dst, capacity, const_cast<const std::uint8_t**>(data), frames);
    if (written < 0) return ffmpeg::error(ErrorCode::kDataLoss, "resampling audio", written);
    out.resize(old_size + static_cast<std::size_t>(written));
    if (out.size() > max_samples_) {
      return make_error(ErrorCode::kInvalidArgument, "audio is longer than the limit of {:.0f} s",
                        static_cast<double>(max_samples_) / kSampleRateHz);
    }
    return Status::ok_status();
  }

  Status drain(std::vector<float>& out) { return convert(nullptr, 0, out); }
  int input_rate_hz() const { return input_rate_hz_; }

 private:
  Resampler(ffmpeg::SwrPtr swr, int input_rate_hz, std::size_t max_samples)
      : swr_(std::move(swr)), input_rate_hz_(input_rate_hz), max_samples_(max_samples) {}

  ffmpeg::SwrPtr swr_;
  int input_rate_hz_ = 0;
  std::size_t max_samples_ = 0;
};

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
  StreamDecoder(AVFormatContext* format, int stream_index, AVCodecContext* codec,
                std::string origin, std::size_t max_samples)
      : format_(format),
        stream_index_(stream_index),
        codec_(codec),
        origin_(std::move(origin)),
        max_samples_(max_samples) {}

  Result<std::vector<float>> run() {
    ffmpeg::PacketPtr packet = ffmpeg::make_packet();
    ffmpeg::FramePtr frame = ffmpeg::make_frame();
    if (!packet || !frame) return make_error(ErrorCode::kResourceExhausted, "out of memory");
    std::vector<float> out;
    int rc = 0;
    while ((rc = av_read_frame(format_, packet.get())) >= 0) {
      Status status = Status::ok_status();
      if (packet->stream_index == stream_index_) status = send(packet.get(), frame.get(), out);
      av_packet_unref(packet.get());
      RETURN_IF_ERROR(status);
    }
    if (rc != AVERROR_EOF) return ffmpeg::error(ErrorCode::kDataLoss, "reading " + origin_, rc);
    RETURN_IF_ERROR(send(nullptr, frame.get(), out));  // drain the decoder
    if (resampler_) RETURN_IF_ERROR(resampler_->drain(out));
    return out;
  }

 private:
  Status send(const AVPacket* packet, AVFrame* frame, std::vector<float>& out) {
    int rc = avcodec_send_packet(codec_, packet);
    if (rc < 0 && rc != AVERROR_EOF) {
      return ffmpeg::error(ErrorCode::kDataLoss, "decoding " + origin_, rc);
    }
    while ((rc = avcodec_receive_frame(codec_, frame)) >= 0) {
      Status status = consume(frame, out);
      av_frame_unref(frame);
      RETURN_IF_ERROR(status);
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
      return ffmpeg::error(ErrorCode::kDataLoss, "decoding " + origin_, rc);
    }
    return Status::ok_status();
  }

  Status consume(const AVFrame* frame, std::vector<float>& out) {
    if (!resampler_) {
      auto resampler =
          Resampler::create(frame->ch_layout, static_cast<AVSampleFormat>(frame->format),
                            frame->sample_rate, max_samples_);
      if (!resampler.ok()) return resampler.status().with_context(origin_);
      resampler_.emplace(std::move(resampler).value());
    } else if (frame->sample_rate != resampler_->input_rate_hz()) {
      return make_error(ErrorCode::kUnimplemented, "{}: sample rate changes mid-stream ({} -> {})",
                        origin_, resampler_->input_rate_hz(), frame->sample_rate);
    }
    Status status = resampler_->convert(frame->extended_data, frame->nb_samples, out);
    return status.ok() ? status : status.with_context(origin_);
  }

  AVFormatContext* format_;
  int stream_index_;
  AVCodecContext* codec_;
  std::string origin_;
  std::size_t max_samples_;
  std::optional<Resampler> resampler_;
};

// Decodes the best audio stream of an opened input.
Result<std::vector<float>> decode_best_stream(AVFormatContext* input, const std::string& origin,
                                              std::size_t max_samples) {
  const AVCodec* decoder = nullptr;
  const int stream_index = av_find_best_stream(input, AVMEDIA_TYPE_AUDIO, -1, -1, &decoder, 0);
  if (stream_index < 0 || decoder == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "{} has no decodable audio stream", origin);
  }
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(decoder));
  if (!codec) return make_error(ErrorCode::kResourceExhausted, "out of memory");
  int rc = avcodec_parameters_to_context(codec.get(), input->streams[stream_index]->codecpar);
  if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "reading codec of " + origin, rc);
  rc = avcodec_open2(codec.get(), decoder, nullptr);
  if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "opening the decoder of " + origin, rc);
  StreamDecoder stream(input, stream_index, codec.get(), origin, max_samples);
  ASSIGN_OR_RETURN(std::vector<float> samples, stream.run());
  RETURN_IF_ERROR(check_finite_and_nonempty(samples, origin));
  LOG_DEBUG("audio", "decoded {}: {} samples at 16 kHz ({}, {} Hz, {} ch)", origin, samples.size(),
            decoder->name, codec->sample_rate, codec->ch_layout.nb_channels);
  return samples;
}

// In-memory input for libavformat: a read/seek cursor over the caller's bytes.
struct MemoryReader {
  std::span<const std::byte> data;
  std::size_t position = 0;

  static int read(void* opaque, std::uint8_t* buffer, int size) {
    auto* self = static_cast<MemoryReader*>(opaque);
    const std::size_t left = self->data.size() - self->position;
    const std::size_t count = std::min(left, static_cast<std::size_t>(size));
    if (count == 0) return AVERROR_EOF;
    std::memcpy(buffer, self->data.data() + self->position, count);
    self->position += count;
    return static_cast<int>(count);
  }

  static std::int64_t seek(void* opaque, std::int64_t offset, int whence) {
    auto* self = static_cast<MemoryReader*>(opaque);
    const auto size = static_cast<std::int64_t>(self->data.size());
    if (whence & AVSEEK_SIZE) return size;
    std::int64_t target = offset;
    if ((whence & ~AVSEEK_FORCE) == SEEK_CUR) target += static_cast<std::int64_t>(self->position);
    if ((whence & ~AVSEEK_FORCE) == SEEK_END) target += size;
    if (target < 0 || target > size) return AVERROR(EINVAL);
    self->position = static_cast<std::size_t>(target);
    return target;
  }
};

struct IoContextDeleter {
  void operator()(AVIOContext* io) const {
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
using IoContextPtr = std::unique_ptr<AVIOContext, IoContextDeleter>;

constexpr int kIoBufferBytes = 64 * 1024;

}  // namespace

Result<std::vector<float>> decode_audio_file(const std::filesystem::path& path,
                                             const DecodeOptions& options) {
  ASSIGN_OR_RETURN(const std::size_t max_samples, max_samples_for(options));
  ASSIGN_OR_RETURN(ffmpeg::InputFormatPtr input, ffmpeg::open_input(path.string()));
  return decode_best_stream(input.get(), "'" + path.string() + "'", max_samples);
}

Result<std::vector<float>> decode_audio_bytes(std::span<const std::byte> bytes,
                                              const std::string& origin,
                                              const DecodeOptions& options) {
  ASSIGN_OR_RETURN(const std::size_t max_samples, max_samples_for(options));
  if (bytes.empty()) return make_error(ErrorCode::kInvalidArgument, "{}: no bytes", origin);
  MemoryReader reader{bytes};
  auto* buffer = static_cast<std::uint8_t*>(av_malloc(kIoBufferBytes));
  if (buffer == nullptr) return make_error(ErrorCode::kResourceExhausted, "out of memory");
  IoContextPtr io(avio_alloc_context(buffer, kIoBufferBytes, 0, &reader, &MemoryReader::read,
                                     nullptr, &MemoryReader::seek));
  if (!io) {
    av_free(buffer);
    return make_error(ErrorCode::kResourceExhausted, "out of memory");
  }
  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) return make_error(ErrorCode::kResourceExhausted, "out of memory");
  raw->pb = io.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  int rc = avformat_open_input(&raw, nullptr, nullptr, nullptr);  // frees `raw` on failure
  if (rc < 0) return ffmpeg::error(ErrorCode::kInvalidArgument, "cannot open " + origin, rc);
  ffmpeg::InputFormatPtr input(raw);  // destroyed before `io`
  rc = avformat_find_stream_info(input.get(), nullptr);
  if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "cannot read streams of " + origin, rc);
  return decode_best_stream(input.get(), origin, max_samples);
}

namespace {

Status check_pcm_format(int sample_rate_hz, int channels) {
  if (sample_rate_hz < kMinInputRateHz || sample_rate_hz > kMaxInputRateHz) {
    return make_error(ErrorCode::kInvalidArgument, "PCM sample rate {} Hz is outside [{}, {}]",
                      sample_rate_hz, kMinInputRateHz, kMaxInputRateHz);
  }
  if (channels < 1 || channels > kMaxChannels) {
    return make_error(ErrorCode::kInvalidArgument, "PCM channel count {} is outside [1, {}]",
                      channels, kMaxChannels);
  }
  return Status::ok_status();
}

Result<Resampler> pcm_resampler(int sample_rate_hz, int channels, std::size_t max_samples) {
  AVChannelLayout layout{};
  av_channel_layout_default(&layout, channels);
  auto resampler = Resampler::create(layout, AV_SAMPLE_FMT_FLT, sample_rate_hz, max_samples);
  av_channel_layout_uninit(&layout);
  return resampler;
}

}  // namespace

Result<std::vector<float>> convert_pcm(std::span<const float> interleaved, int sample_rate_hz,
                                       int channels, const DecodeOptions& options) {
  ASSIGN_OR_RETURN(const std::size_t max_samples, max_samples_for(options));
  RETURN_IF_ERROR(check_pcm_format(sample_rate_hz, channels));
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
  ASSIGN_OR_RETURN(Resampler resampler, pcm_resampler(sample_rate_hz, channels, max_samples));
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
  RETURN_IF_ERROR(check_pcm_format(sample_rate_hz, channels));
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
