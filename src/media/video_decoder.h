// In-process video decoding (libavformat/libavcodec, threaded) to BGR frames.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
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

// A decoded frame before its conversion to BGR (VideoDecoder::next_decoded). The conversion
// (swscale) is the larger part of decoding a big frame and runs on the thread that calls
// to_bgr(), so a caller with many frames converts them on several threads while the decoder
// goes on with the next ones.
class DecodedFrame {
 public:
  DecodedFrame(DecodedFrame&&) noexcept;
  DecodedFrame& operator=(DecodedFrame&&) noexcept;
  ~DecodedFrame();

  // Writes the frame into `out` as tightly packed BGR (resized as needed). Distinct frames may
  // convert on distinct threads at once.
  Status to_bgr(Image* out) const;

 private:
  friend class VideoDecoder;
  struct Data;
  explicit DecodedFrame(std::unique_ptr<Data> data);
  std::unique_ptr<Data> data_;
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
  // The next frame not yet converted (nullopt at the end of the stream); it counts as decoded.
  Result<std::optional<DecodedFrame>> next_decoded();

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
