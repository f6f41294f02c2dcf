// In-process video decoding (libavformat/libavcodec, threaded) to BGR frames.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "core/image.h"
#include "core/status.h"

namespace lipsync::media {

struct VideoInfo {
  std::string path;
  std::string codec;  // FFmpeg's decoder name, e.g. "h264"
  int width = 0;
  int height = 0;
  double fps = 0;
  std::int64_t frame_count_estimate = 0;  // from the container; 0 when it does not say
};

struct VideoDecoderOptions {
  int threads = 0;  // decoder threads (FFmpeg thread_count); 0 = one per hardware thread
};

// Reads one video stream of any container/codec FFmpeg supports, one BGR frame at a time.
class VideoDecoder {
 public:
  static Result<VideoDecoder> open(const std::filesystem::path& path,
                                   const VideoDecoderOptions& options = {});
  VideoDecoder(VideoDecoder&&) noexcept;
  VideoDecoder& operator=(VideoDecoder&&) noexcept;
  ~VideoDecoder();

  const VideoInfo& info() const;
  std::int64_t frames_decoded() const;

  // Decodes the next frame into `frame` (resized as needed, tightly packed BGR). Returns false
  // at the end of the stream; errors name the file and the frame index.
  Result<bool> next(Image* frame);

 private:
  struct State;
  explicit VideoDecoder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Decodes every frame in order, calling on_frame(index, frame); stops at the first error
// (its own or on_frame's). Returns the stream's info, frame_count_estimate set to the count.
using FrameSink = std::function<Status(std::int64_t index, Image&& frame)>;
Result<VideoInfo> decode_video(const std::filesystem::path& path, const FrameSink& on_frame,
                               const VideoDecoderOptions& options = {});

}  // namespace lipsync::media
