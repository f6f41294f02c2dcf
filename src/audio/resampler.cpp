#include "audio/resampler.h"

#include <algorithm>
#include <array>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

namespace lipsync::audio::detail {
namespace {

constexpr int kSoxrPrecisionBits = 20;  // soxr's HQ recipe

// The plane pointers of `data` advanced by `frames` frames.
std::array<const std::uint8_t*, kMaxInputChannels> advance(const std::uint8_t* const* data,
                                                           AVSampleFormat format, int channels,
                                                           int frames) {
  std::array<const std::uint8_t*, kMaxInputChannels> planes{};
  const bool planar = av_sample_fmt_is_planar(format) != 0;
  const std::size_t frame_bytes = static_cast<std::size_t>(av_get_bytes_per_sample(format)) *
                                  static_cast<std::size_t>(planar ? 1 : channels);
  for (int p = 0; p < (planar ? channels : 1); ++p) {
    planes[static_cast<std::size_t>(p)] = data[p] + static_cast<std::size_t>(frames) * frame_bytes;
  }
  return planes;
}

}  // namespace

Result<Resampler> Resampler::create(const AVChannelLayout& layout, AVSampleFormat format,
                                    int sample_rate_hz, std::size_t max_samples,
                                    DecodeCounters* counters) {
  RETURN_IF_ERROR(check_input_format(sample_rate_hz, layout.nb_channels, "audio"));
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
  return Resampler(std::move(swr), format, channels, sample_rate_hz, max_samples, counters);
}

Resampler::Resampler(ffmpeg::SwrPtr swr, AVSampleFormat format, int channels, int input_rate_hz,
                     std::size_t max_samples, DecodeCounters* counters)
    : swr_(std::move(swr)),
      format_(format),
      channels_(channels),
      input_rate_hz_(input_rate_hz),
      max_samples_(max_samples),
      counters_(counters) {}

Status Resampler::check_same_input(int sample_rate_hz, AVSampleFormat format, int channels) const {
  if (sample_rate_hz != input_rate_hz_) {
    return make_error(ErrorCode::kUnimplemented, "sample rate changes mid-stream ({} -> {})",
                      input_rate_hz_, sample_rate_hz);
  }
  if (format != format_ || channels != channels_) {
    const char* from = av_get_sample_fmt_name(format_);
    const char* to = av_get_sample_fmt_name(format);
    return make_error(ErrorCode::kUnimplemented,
                      "the audio format changes mid-stream ({} {} channel(s) -> {} {} "
                      "channel(s)); convert the file to one format first",
                      from != nullptr ? from : "?", channels_, to != nullptr ? to : "?", channels);
  }
  return {};
}

Status Resampler::convert(const std::uint8_t* const* data, int frames, std::vector<float>& out) {
  if (data == nullptr) return step(nullptr, 0, out);
  for (int done = 0; done < frames; done += kResampleStepFrames) {
    const auto planes = advance(data, format_, channels_, done);
    RETURN_IF_ERROR(step(planes.data(), std::min(kResampleStepFrames, frames - done), out));
  }
  return {};
}

Status Resampler::step(const std::uint8_t* const* data, int frames, std::vector<float>& out) {
  const int capacity = swr_get_out_samples(swr_.get(), frames);
  if (capacity < 0) return ffmpeg::error(ErrorCode::kInternal, "resampler size", capacity);
  if (static_cast<std::size_t>(capacity) > kMaxResampleStepSamples) {
    return make_error(ErrorCode::kInternal, "a resampler step of {} samples exceeds {}", capacity,
                      kMaxResampleStepSamples);
  }
  const std::size_t old_size = out.size();
  reserve(out, old_size + static_cast<std::size_t>(capacity));
  out.resize(old_size + static_cast<std::size_t>(capacity));
  auto* dst = reinterpret_cast<std::uint8_t*>(out.data() + old_size);
  const int written =
      swr_convert(swr_.get(), &dst, capacity, const_cast<const std::uint8_t**>(data), frames);
  if (written < 0) return ffmpeg::error(ErrorCode::kInternal, "resampling audio", written);
  out.resize(old_size + static_cast<std::size_t>(written));
  if (out.size() > max_samples_) {
    return make_error(ErrorCode::kInvalidArgument, "audio is longer than the limit of {:.0f} s",
                      static_cast<double>(max_samples_) / kSampleRateHz);
  }
  return {};
}

// Grows by doubling, but never past the limit plus one step: a long input fails at the limit
// having held no more than that.
void Resampler::reserve(std::vector<float>& out, std::size_t needed) const {
  if (needed > out.capacity()) {
    const std::size_t ceiling = max_samples_ + kMaxResampleStepSamples;
    out.reserve(std::max(needed, std::min(2 * out.capacity(), ceiling)));
  }
  if (counters_ != nullptr) {
    counters_->peak_output_bytes =
        std::max(counters_->peak_output_bytes, out.capacity() * sizeof(float));
  }
}

}  // namespace lipsync::audio::detail
