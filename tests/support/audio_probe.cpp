#include "support/audio_probe.h"

#include "ffmpeg/handles.h"
#include "ffmpeg/input.h"

namespace lipsync::media::testing {
namespace {

// Decoded frames -> interleaved float at the frame's own rate and channel count.
Status append_frame(const AVFrame& frame, ffmpeg::SwrPtr& swr, std::vector<float>& out) {
  if (!swr) {
    AVChannelLayout layout{};  // FFmpeg 5.1 takes non-const layouts
    int rc = av_channel_layout_copy(&layout, &frame.ch_layout);
    SwrContext* raw = nullptr;
    if (rc >= 0) {
      rc = swr_alloc_set_opts2(&raw, &layout, AV_SAMPLE_FMT_FLT, frame.sample_rate, &layout,
                               static_cast<AVSampleFormat>(frame.format), frame.sample_rate, 0,
                               nullptr);
    }
    av_channel_layout_uninit(&layout);
    swr.reset(raw);
    if (rc >= 0) rc = swr_init(swr.get());
    if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "swr_init", rc);
  }
  const int channels = frame.ch_layout.nb_channels;
  const std::size_t old_size = out.size();
  out.resize(old_size + static_cast<std::size_t>(frame.nb_samples * channels));
  auto* dst = reinterpret_cast<std::uint8_t*>(out.data() + old_size);
  const int got =
      swr_convert(swr.get(), &dst, frame.nb_samples,
                  const_cast<const std::uint8_t**>(frame.extended_data), frame.nb_samples);
  if (got < 0) return ffmpeg::error(ErrorCode::kInternal, "swr_convert", got);
  out.resize(old_size + static_cast<std::size_t>(got * channels));
  return Status::ok_status();
}

Status receive(AVCodecContext* codec, ffmpeg::SwrPtr& swr, std::vector<float>& out) {
  ffmpeg::FramePtr frame = ffmpeg::make_frame();
  int rc = 0;
  while ((rc = avcodec_receive_frame(codec, frame.get())) >= 0) {
    RETURN_IF_ERROR(append_frame(*frame, swr, out));
    av_frame_unref(frame.get());
  }
  if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
    return ffmpeg::error(ErrorCode::kDataLoss, "avcodec_receive_frame", rc);
  }
  return Status::ok_status();
}

}  // namespace

std::vector<float> ProbedAudio::channel(int c) const {
  std::vector<float> out;
  for (std::size_t i = static_cast<std::size_t>(c); i < samples.size(); i += channels) {
    out.push_back(samples[i]);
  }
  return out;
}

Result<ProbedAudio> probe_audio(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(ffmpeg::Input input, ffmpeg::open_input(path));
  const AVCodec* decoder = nullptr;
  const int index = av_find_best_stream(input.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &decoder, 0);
  if (index < 0) return make_error(ErrorCode::kNotFound, "'{}': no audio", path.string());
  const AVCodecParameters& par = *input->streams[index]->codecpar;
  ProbedAudio probed{.codec = avcodec_get_name(par.codec_id),
                     .sample_rate_hz = par.sample_rate,
                     .channels = par.ch_layout.nb_channels,
                     .extradata = {par.extradata, par.extradata + par.extradata_size}};
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(decoder));
  int rc = avcodec_parameters_to_context(codec.get(), &par);
  if (rc >= 0) rc = avcodec_open2(codec.get(), decoder, nullptr);
  if (rc < 0) return ffmpeg::error(ErrorCode::kInternal, "opening the decoder", rc);
  ffmpeg::PacketPtr packet = ffmpeg::make_packet();
  ffmpeg::SwrPtr swr;
  while ((rc = av_read_frame(input.get(), packet.get())) >= 0) {
    if (packet->stream_index == index) {
      probed.packets.emplace_back(packet->data, packet->data + packet->size);
      rc = avcodec_send_packet(codec.get(), packet.get());
      if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "avcodec_send_packet", rc);
      RETURN_IF_ERROR(receive(codec.get(), swr, probed.samples));
    }
    av_packet_unref(packet.get());
  }
  avcodec_send_packet(codec.get(), nullptr);
  RETURN_IF_ERROR(receive(codec.get(), swr, probed.samples));
  return probed;
}

}  // namespace lipsync::media::testing
