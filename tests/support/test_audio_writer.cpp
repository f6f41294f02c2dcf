#include "support/test_audio_writer.h"

#include <algorithm>

#include "ffmpeg/handles.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
}

namespace lipsync::audio::testing {
namespace {

constexpr double kLeftGain = 1.2;
constexpr double kRightGain = 0.8;

// Converts 16 kHz mono float to stereo `format` at `rate_hz`; returns one buffer per plane.
Result<std::vector<std::vector<std::uint8_t>>> convert(std::span<const float> mono, int rate_hz,
                                                       AVSampleFormat format, int* frames_out) {
  AVChannelLayout mono_layout = AV_CHANNEL_LAYOUT_MONO;
  AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO;
  SwrContext* raw = nullptr;
  int rc = swr_alloc_set_opts2(&raw, &stereo, format, rate_hz, &mono_layout, AV_SAMPLE_FMT_FLT,
                               16000, 0, nullptr);
  ffmpeg::SwrPtr swr(raw);
  if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "swr_alloc_set_opts2", rc);
  av_opt_set(swr.get(), "resampler", "soxr", 0);  // a clean upsampling, as a studio file would be
  av_opt_set_int(swr.get(), "precision", 28, 0);
  const double matrix[2] = {kLeftGain, kRightGain};
  if ((rc = swr_set_matrix(swr.get(), matrix, 1)) < 0 || (rc = swr_init(swr.get())) < 0) {
    return ffmpeg::error(ErrorCode::kInternal, "swr_init", rc);
  }
  const int capacity = swr_get_out_samples(swr.get(), static_cast<int>(mono.size())) + 4096;
  const bool planar = av_sample_fmt_is_planar(format) != 0;
  const int bytes = av_get_bytes_per_sample(format);
  std::vector<std::vector<std::uint8_t>> planes(planar ? 2 : 1);
  for (auto& plane : planes)
    plane.resize(static_cast<std::size_t>(capacity * bytes * (planar ? 1 : 2)));
  std::uint8_t* out[2] = {planes[0].data(), planar ? planes[1].data() : nullptr};
  const auto* in = reinterpret_cast<const std::uint8_t*>(mono.data());
  const int first = swr_convert(swr.get(), out, capacity, &in, static_cast<int>(mono.size()));
  if (first < 0) return ffmpeg::error(ErrorCode::kInternal, "swr_convert", first);
  for (auto*& plane : out) {
    if (plane != nullptr) plane += static_cast<std::size_t>(first * bytes * (planar ? 1 : 2));
  }
  const int rest = swr_convert(swr.get(), out, capacity - first, nullptr, 0);
  if (rest < 0) return ffmpeg::error(ErrorCode::kInternal, "swr_convert drain", rest);
  *frames_out = first + rest;
  return planes;
}

struct Writer {
  ffmpeg::OutputFormatPtr format;
  ffmpeg::CodecContextPtr codec;
  AVStream* stream = nullptr;

  Status write_packets(const AVFrame* frame) {
    int rc = avcodec_send_frame(codec.get(), frame);
    if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "avcodec_send_frame", rc);
    ffmpeg::PacketPtr packet = ffmpeg::make_packet();
    while ((rc = avcodec_receive_packet(codec.get(), packet.get())) >= 0) {
      av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      rc = av_interleaved_write_frame(format.get(), packet.get());
      if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "av_interleaved_write_frame", rc);
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
      return ffmpeg::error(ErrorCode::kInternal, "avcodec_receive_packet", rc);
    }
    return Status::ok_status();
  }
};

Result<Writer> open_writer(const std::filesystem::path& path, const TestAudioFormat& spec) {
  const AVCodec* encoder = avcodec_find_encoder_by_name(spec.encoder.c_str());
  if (encoder == nullptr) return make_error(ErrorCode::kNotFound, "no encoder {}", spec.encoder);
  Writer writer;
  AVFormatContext* raw = nullptr;
  int rc = avformat_alloc_output_context2(&raw, nullptr, nullptr, path.string().c_str());
  if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "output context", rc);
  writer.format.reset(raw);
  writer.codec.reset(avcodec_alloc_context3(encoder));
  AVCodecContext* c = writer.codec.get();
  c->sample_fmt = encoder->sample_fmts != nullptr ? encoder->sample_fmts[0] : AV_SAMPLE_FMT_S16;
  c->sample_rate = spec.sample_rate_hz;
  av_channel_layout_default(&c->ch_layout, 2);
  c->time_base = AVRational{1, spec.sample_rate_hz};
  if (spec.bit_rate > 0) c->bit_rate = spec.bit_rate;
  if (writer.format->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if ((rc = avcodec_open2(c, encoder, nullptr)) < 0) {
    return ffmpeg::error(ErrorCode::kInternal, "avcodec_open2 " + spec.encoder, rc);
  }
  writer.stream = avformat_new_stream(writer.format.get(), nullptr);
  writer.stream->time_base = c->time_base;
  avcodec_parameters_from_context(writer.stream->codecpar, c);
  if ((rc = avio_open(&writer.format->pb, path.string().c_str(), AVIO_FLAG_WRITE)) < 0) {
    return ffmpeg::error(ErrorCode::kInternal, "avio_open", rc);
  }
  if ((rc = avformat_write_header(writer.format.get(), nullptr)) < 0) {
    return ffmpeg::error(ErrorCode::kInternal, "avformat_write_header", rc);
  }
  return writer;
}

}  // namespace

bool encoder_available(const std::string& name) {
  return avcodec_find_encoder_by_name(name.c_str()) != nullptr;
}

Result<std::vector<float>> to_stereo(std::span<const float> mono_16k, int rate_hz) {
  int frames = 0;
  ASSIGN_OR_RETURN(auto planes, convert(mono_16k, rate_hz, AV_SAMPLE_FMT_FLT, &frames));
  const auto* data = reinterpret_cast<const float*>(planes[0].data());
  return std::vector<float>(data, data + 2 * frames);
}

Status write_test_audio(const std::filesystem::path& path, std::span<const float> mono_16k,
                        const TestAudioFormat& spec) {
  ASSIGN_OR_RETURN(Writer writer, open_writer(path, spec));
  AVCodecContext* c = writer.codec.get();
  int total = 0;
  ASSIGN_OR_RETURN(auto planes, convert(mono_16k, spec.sample_rate_hz, c->sample_fmt, &total));
  const int frame_size = c->frame_size > 0 ? c->frame_size : 1024;
  const bool planar = av_sample_fmt_is_planar(c->sample_fmt) != 0;
  const int stride = av_get_bytes_per_sample(c->sample_fmt) * (planar ? 1 : 2);
  ffmpeg::FramePtr frame = ffmpeg::make_frame();
  for (int start = 0; start < total; start += frame_size) {
    frame->nb_samples = std::min(frame_size, total - start);
    frame->format = c->sample_fmt;
    frame->sample_rate = c->sample_rate;
    av_channel_layout_copy(&frame->ch_layout, &c->ch_layout);
    int rc = av_frame_get_buffer(frame.get(), 0);
    if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "av_frame_get_buffer", rc);
    for (std::size_t p = 0; p < planes.size(); ++p) {
      std::copy_n(planes[p].data() + static_cast<std::size_t>(start * stride),
                  frame->nb_samples * stride, frame->extended_data[p]);
    }
    frame->pts = start;
    RETURN_IF_ERROR(writer.write_packets(frame.get()));
    av_frame_unref(frame.get());
  }
  RETURN_IF_ERROR(writer.write_packets(nullptr));
  const int rc = av_write_trailer(writer.format.get());
  if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "av_write_trailer", rc);
  return Status::ok_status();
}

}  // namespace lipsync::audio::testing
