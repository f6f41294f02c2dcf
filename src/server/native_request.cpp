#include "server/native_request.h"

#include <fmt/format.h>

#include <span>

namespace lipsync::server {

Result<imaging::SequenceMode> sequence_mode(v1::SequenceMode mode) {
  switch (mode) {
    case v1::SEQUENCE_MODE_UNSPECIFIED:
    case v1::SEQUENCE_MODE_PING_PONG:
      return imaging::SequenceMode::kPingPong;
    case v1::SEQUENCE_MODE_WRAP:
      return imaging::SequenceMode::kWrap;
    default:
      return make_error(ErrorCode::kInvalidArgument,
                        "sequence_mode {} is not a SequenceMode (0 unspecified, 1 ping-pong, "
                        "2 wrap)",
                        static_cast<int>(mode));
  }
}

Result<std::optional<media::JpegSettings>> output_settings(const v1::OutputOptions& options,
                                                           const OutputSection& configured) {
  v1::FrameFormat format = options.format();
  if (format == v1::FRAME_FORMAT_UNSPECIFIED) {
    format =
        configured.format == OutputFormat::kRaw ? v1::FRAME_FORMAT_RAW_BGR : v1::FRAME_FORMAT_JPEG;
  }
  if (format == v1::FRAME_FORMAT_RAW_BGR) return std::optional<media::JpegSettings>();
  if (format != v1::FRAME_FORMAT_JPEG) {
    return make_error(ErrorCode::kInvalidArgument,
                      "output.format {} is not a FrameFormat (0 unspecified, 1 JPEG, 2 raw BGR)",
                      static_cast<int>(options.format()));
  }
  const int quality =
      options.jpeg_quality() == 0 ? configured.jpeg_quality : options.jpeg_quality();
  if (quality < 1 || quality > 100) {
    return make_error(ErrorCode::kInvalidArgument, "output.jpeg_quality {} outside 1..100",
                      options.jpeg_quality());
  }
  return std::optional(media::JpegSettings{quality, configured.chroma_subsampling});
}

namespace {

Result<std::vector<float>> pcm_samples(const v1::PcmAudio& pcm,
                                       const audio::DecodeOptions& limits) {
  const int channels = pcm.channels() == 0 ? 1 : pcm.channels();
  const std::span<const float> values(pcm.samples().data(), pcm.samples().size());
  if (pcm.sample_rate_hz() == audio::kSampleRateHz && channels == 1) {
    // Already what the pipeline reads: used as is, like a .npy clip offline.
    if (values.size() > limits.max_duration_s * audio::kSampleRateHz) {
      return make_error(ErrorCode::kInvalidArgument, "{} samples exceed the limit of {:.0f} s",
                        values.size(), limits.max_duration_s);
    }
    RETURN_IF_ERROR(audio::validate_samples(values));
    return std::vector<float>(values.begin(), values.end());
  }
  return audio::convert_pcm(values, pcm.sample_rate_hz(), channels, limits);
}

}  // namespace

Result<std::vector<float>> request_samples(const v1::AudioInput& input) {
  const audio::DecodeOptions limits{.max_duration_s = kMaxNativeAudioSeconds};
  Result<std::vector<float>> samples =
      make_error(ErrorCode::kInvalidArgument, "audio is required: set audio.pcm or audio.encoded");
  const char* field = "audio";
  if (input.has_pcm()) {
    field = "audio.pcm";
    samples = pcm_samples(input.pcm(), limits);
  } else if (input.source_case() == v1::AudioInput::kEncoded) {
    field = "audio.encoded";
    const std::string& bytes = input.encoded();
    samples = audio::decode_audio_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())),
                                        "audio.encoded", limits);
  }
  if (samples.ok()) return samples;
  const ErrorCode code = samples.status().code() == ErrorCode::kResourceExhausted
                             ? ErrorCode::kResourceExhausted
                             : ErrorCode::kInvalidArgument;
  return Status(code, fmt::format("{}: {}", field, samples.status().message()));
}

}  // namespace lipsync::server
