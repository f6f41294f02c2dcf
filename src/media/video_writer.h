// In-process MP4 writing: H.264 (libx264 through libavcodec) from BGR frames.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "core/image.h"
#include "core/status.h"
#include "core/timeline.h"

namespace lipsync::media {

struct VideoWriterOptions {
  // Every frame must have this size. H.264 4:2:0 needs even sizes: an odd width (height) is
  // written one pixel wider (taller) with the last column (row) repeated, said once in the log.
  // (The SPS crop rectangle counts in 2-pixel units in 4:2:0, so it cannot crop one pixel off.)
  int width = 0;
  int height = 0;
  int fps = timeline::kFramesPerSecond;
  int crf = 18;                     // x264 constant rate factor: 0 lossless .. 51 worst
  std::string preset = "veryfast";  // x264 preset: ultrafast .. veryslow
  int threads = 0;                  // encoder threads; 0 = x264's choice
};

struct AudioTrackOptions {
  int sample_rate_hz = timeline::kSampleRateHz;
  int channels = 1;
  int bitrate_bps = 0;  // AAC bit rate; 0: 64 kbit/s per channel
};

// What add_audio_file made of a file's audio.
struct AudioTrackInfo {
  bool copied = false;       // the file's AAC packets, unchanged (no re-encode)
  std::string source_codec;  // FFmpeg's name of the file's audio codec: "aac", "pcm_s16le", ...
  int sample_rate_hz = 0;    // of the MP4's AAC track
  int channels = 0;
};

// Writes frames in order. The container header is written with the first frame, so an audio
// track (the AAC of `lipsync render`) can be added between create() and the first frame. The
// audio is interleaved with the video as frames are written and ends with the video: encoded
// audio is cut or padded with silence to the video's length; copied AAC keeps the packets that
// start before the video's end (up to one AAC frame longer) and ends early if the file does.
class VideoWriter {
 public:
  static Result<VideoWriter> create(const std::filesystem::path& path,
                                    const VideoWriterOptions& options);
  VideoWriter(VideoWriter&&) noexcept;
  VideoWriter& operator=(VideoWriter&&) noexcept;
  ~VideoWriter();  // an unfinished file is closed without its trailer (unplayable)

  // Adds an AAC track of `interleaved` float32 samples in [-1, 1] (copied); call before the
  // first frame, once (one audio track).
  Status add_audio(std::span<const float> interleaved, const AudioTrackOptions& options);
  // Adds the best audio stream of `path` as the AAC track, read as the frames are written: AAC
  // is copied packet for packet; any other codec is decoded and encoded to AAC (FFmpeg's aac
  // encoder) at its own sample rate and channel layout (the nearest the encoder takes where it
  // takes neither). `bitrate_bps` as in AudioTrackOptions. Call before the first frame, once.
  Result<AudioTrackInfo> add_audio_file(const std::filesystem::path& path, int bitrate_bps = 0);

  Status write_frame(ImageView bgr);
  // Flushes the encoder and writes the trailer; the file is complete afterwards.
  Status finish();
  std::int64_t frames_written() const;
  // The size in the file: options' size, rounded up to even.
  int encoded_width() const;
  int encoded_height() const;

 private:
  struct State;
  explicit VideoWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace lipsync::media
