#include "media/audio_input.h"

extern "C" {
#include <libavutil/channel_layout.h>
}

namespace lipsync::media::detail {

Result<AudioInput> AudioInput::open(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(ffmpeg::Input format, ffmpeg::open_input(path));
  const int index = av_find_best_stream(format.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (index < 0) {
    return make_error(ErrorCode::kInvalidArgument, "'{}' has no audio stream", path.string());
  }
  const AVCodecParameters& par = *format->streams[index]->codecpar;
  if (par.sample_rate <= 0 || par.ch_layout.nb_channels <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}': audio stream with {} Hz and {} channel(s) is not usable",
                      path.string(), par.sample_rate, par.ch_layout.nb_channels);
  }
  return AudioInput(std::move(format), index, path.string());
}

AVChannelLayout AudioInput::layout() const {
  const AVChannelLayout& in = stream().codecpar->ch_layout;
  AVChannelLayout out{};
  if (in.order == AV_CHANNEL_ORDER_NATIVE) {
    av_channel_layout_from_mask(&out, in.u.mask);
  } else {
    av_channel_layout_default(&out, in.nb_channels);
  }
  return out;
}

Result<bool> AudioInput::read_packet(AVPacket* packet) {
  while (true) {
    const int rc = av_read_frame(format_.get(), packet);
    if (rc == AVERROR_EOF) return false;
    if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "reading '" + path_ + "'", rc);
    if (packet->stream_index != index_) {
      av_packet_unref(packet);
      continue;
    }
    if (packet->pts == AV_NOPTS_VALUE) packet->pts = packet->dts;
    if (packet->pts == AV_NOPTS_VALUE) packet->pts = next_pts_;
    next_pts_ = packet->pts + packet->duration;
    return true;
  }
}

Result<AudioInputDecoder> AudioInputDecoder::create(AudioInput input, int sample_rate_hz,
                                                    const AVChannelLayout& layout) {
  if (layout.order != AV_CHANNEL_ORDER_NATIVE) {
    return make_error(ErrorCode::kInvalidArgument, "'{}': output layout is not a channel mask",
                      input.path());
  }
  const AVCodecParameters& par = *input.stream().codecpar;
  const AVCodec* decoder = avcodec_find_decoder(par.codec_id);
  if (decoder == nullptr) {
    return make_error(ErrorCode::kUnimplemented, "'{}': no decoder for its audio codec '{}'",
                      input.path(), avcodec_get_name(par.codec_id));
  }
  ffmpeg::CodecContextPtr codec(avcodec_alloc_context3(decoder));
  if (!codec) return make_error(ErrorCode::kResourceExhausted, "out of memory");
  int rc = avcodec_parameters_to_context(codec.get(), &par);
  if (rc >= 0) rc = avcodec_open2(codec.get(), decoder, nullptr);
  if (rc < 0) {
    return ffmpeg::error(ErrorCode::kDataLoss,
                         "opening the audio decoder of '" + input.path() + "'", rc);
  }
  return AudioInputDecoder(std::move(input), std::move(codec), sample_rate_hz, layout.u.mask);
}

Status AudioInputDecoder::fill(std::size_t count, std::vector<std::vector<float>>& planes) {
  while (!finished_ && planes.front().size() < count) {
    if (!input_done_) {
      ASSIGN_OR_RETURN(const bool got, input_.read_packet(packet_.get()));
      input_done_ = !got;
      const int rc = avcodec_send_packet(codec_.get(), got ? packet_.get() : nullptr);
      av_packet_unref(packet_.get());
      if (rc < 0) {  // never EAGAIN: every frame is received after each packet
        return ffmpeg::error(ErrorCode::kDataLoss, "decoding '" + input_.path() + "'", rc);
      }
    }
    RETURN_IF_ERROR(receive_frames(planes));
  }
  return {};
}

Status AudioInputDecoder::receive_frames(std::vector<std::vector<float>>& planes) {
  while (true) {
    const int rc = avcodec_receive_frame(codec_.get(), frame_.get());
    if (rc == AVERROR(EAGAIN)) return {};
    if (rc == AVERROR_EOF) {
      finished_ = true;
      return swr_ ? convert(nullptr, planes) : Status{};  // the resampler's delayed samples
    }
    if (rc < 0) return ffmpeg::error(ErrorCode::kDataLoss, "decoding '" + input_.path() + "'", rc);
    Status status = convert(frame_.get(), planes);
    av_frame_unref(frame_.get());
    RETURN_IF_ERROR(status);
  }
}

Status AudioInputDecoder::open_resampler(const AVFrame& frame) {
  AVChannelLayout in_layout{};
  if (frame.ch_layout.order == AV_CHANNEL_ORDER_NATIVE) {
    av_channel_layout_from_mask(&in_layout, frame.ch_layout.u.mask);
  } else {
    av_channel_layout_default(&in_layout, frame.ch_layout.nb_channels);
  }
  AVChannelLayout out_layout{};
  av_channel_layout_from_mask(&out_layout, layout_mask_);
  SwrContext* raw = nullptr;
  int rc =
      swr_alloc_set_opts2(&raw, &out_layout, AV_SAMPLE_FMT_FLTP, sample_rate_hz_, &in_layout,
                          static_cast<AVSampleFormat>(frame.format), frame.sample_rate, 0, nullptr);
  swr_.reset(raw);
  if (rc >= 0) rc = swr_init(swr_.get());
  if (rc < 0) {
    return ffmpeg::error(ErrorCode::kInvalidArgument,
                         "converting the audio of '" + input_.path() + "'", rc);
  }
  input_rate_hz_ = frame.sample_rate;
  input_format_ = frame.format;
  input_channels_ = frame.ch_layout.nb_channels;
  return {};
}

// `frame` nullptr drains the resampler.
Status AudioInputDecoder::convert(const AVFrame* frame, std::vector<std::vector<float>>& planes) {
  if (frame != nullptr && !swr_) RETURN_IF_ERROR(open_resampler(*frame));
  if (frame != nullptr && frame->sample_rate != input_rate_hz_) {
    return make_error(ErrorCode::kUnimplemented, "'{}': sample rate changes mid-stream ({} -> {})",
                      input_.path(), input_rate_hz_, frame->sample_rate);
  }
  if (frame != nullptr &&
      (frame->format != input_format_ || frame->ch_layout.nb_channels != input_channels_)) {
    return make_error(ErrorCode::kUnimplemented,
                      "'{}': the audio format changes mid-stream ({} -> {} channel(s)); convert "
                      "the file to one format first",
                      input_.path(), input_channels_, frame->ch_layout.nb_channels);
  }
  const int in_count = frame != nullptr ? frame->nb_samples : 0;
  const int capacity = swr_get_out_samples(swr_.get(), in_count);
  if (capacity < 0) return ffmpeg::error(ErrorCode::kInternal, "resampler size", capacity);
  const std::size_t old_size = planes.front().size();
  std::vector<std::uint8_t*> out(planes.size());
  for (std::size_t c = 0; c < planes.size(); ++c) {
    planes[c].resize(old_size + static_cast<std::size_t>(capacity));
    out[c] = reinterpret_cast<std::uint8_t*>(planes[c].data() + old_size);
  }
  const int written = swr_convert(
      swr_.get(), out.data(), capacity,
      frame != nullptr ? const_cast<const std::uint8_t**>(frame->extended_data) : nullptr,
      in_count);
  if (written < 0) {
    return ffmpeg::error(ErrorCode::kDataLoss, "converting the audio of '" + input_.path() + "'",
                         written);
  }
  for (auto& plane : planes) plane.resize(old_size + static_cast<std::size_t>(written));
  return {};
}

}  // namespace lipsync::media::detail
