// Internal to media (VideoWriter::add_audio_file): the best audio stream of a file, read packet
// by packet (for stream copy) or decoded to planar float at a chosen rate and channel layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"
#include "ffmpeg/handles.h"
#include "ffmpeg/input.h"

namespace lipsync::media::detail {

class AudioInput {
 public:
  // Opens `path` and picks its best audio stream; errors name the file.
  static Result<AudioInput> open(const std::filesystem::path& path);

  const AVStream& stream() const { return *format_->streams[index_]; }
  const std::string& path() const { return path_; }
  // The stream's channel layout as a channel mask; a layout that is not one (unspecified or
  // custom order) becomes the default layout for its channel count.
  AVChannelLayout layout() const;

  // Reads the stream's next packet into `packet` (its pts filled in where the file has none);
  // false at the end of the file.
  Result<bool> read_packet(AVPacket* packet);

 private:
  AudioInput(ffmpeg::Input format, int index, std::string path)
      : format_(std::move(format)), index_(index), path_(std::move(path)) {}

  ffmpeg::Input format_;
  int index_ = -1;
  std::string path_;
  std::int64_t next_pts_ = 0;  // where the next packet starts when the file gives no pts
};

// Decodes an AudioInput and converts it (libswresample) to planar float at a fixed sample rate
// and channel layout (a channel mask).
class AudioInputDecoder {
 public:
  static Result<AudioInputDecoder> create(AudioInput input, int sample_rate_hz,
                                          const AVChannelLayout& layout);
  // Decodes until every plane of `planes` (one per output channel) holds at least `count`
  // samples, or the input ends.
  Status fill(std::size_t count, std::vector<std::vector<float>>& planes);

 private:
  AudioInputDecoder(AudioInput input, ffmpeg::CodecContextPtr codec, int sample_rate_hz,
                    std::uint64_t layout_mask)
      : input_(std::move(input)),
        codec_(std::move(codec)),
        sample_rate_hz_(sample_rate_hz),
        layout_mask_(layout_mask) {}
  Status receive_frames(std::vector<std::vector<float>>& planes);
  Status convert(const AVFrame* frame, std::vector<std::vector<float>>& planes);
  Status open_resampler(const AVFrame& frame);

  AudioInput input_;
  ffmpeg::CodecContextPtr codec_;
  ffmpeg::SwrPtr swr_;  // made at the first frame, when the decoder's output format is known
  ffmpeg::PacketPtr packet_ = ffmpeg::make_packet();
  ffmpeg::FramePtr frame_ = ffmpeg::make_frame();
  int sample_rate_hz_ = 0;
  std::uint64_t layout_mask_ = 0;
  int input_rate_hz_ = 0;
  int input_format_ = -1;   // AVSampleFormat of the first frame
  int input_channels_ = 0;  // later frames must keep both: swresample reads that many planes
  bool input_done_ = false;  // the decoder was sent the end of the stream
  bool finished_ = false;    // ... and gave all its frames back
};

}  // namespace lipsync::media::detail
