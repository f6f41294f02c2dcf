// Where `lipsync render` puts frames: an MP4 (H.264 + AAC) or a folder of JPEGs (or PNGs: the
// composited pixels themselves, e.g. to compare with the reference renderer). Written under
// a temporary name and moved into place only when complete, so a failed render leaves nothing
// that looks finished.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "core/image.h"
#include "core/status.h"

namespace lipsync::cli {

struct RenderOutputOptions {
  int crf = 18;                     // H.264 quality (MP4)
  std::string preset = "veryfast";  // x264 preset (MP4)
  int jpeg_quality = 90;            // JPEG folder
  bool png_frames = false;          // a folder of lossless PNGs instead of JPEGs
  // The MP4's sound: the audio file's own stream (AAC copied as it is, anything else encoded to
  // AAC at its own rate and channel layout); without a file, `samples_16k` (16 kHz mono samples,
  // e.g. from a .npy) encoded to AAC. Either is cut to the video's length.
  std::filesystem::path audio_file;
  std::span<const float> samples_16k;
};

class RenderOutput {
 public:
  virtual ~RenderOutput() = default;
  virtual Status write(std::int64_t index, const Image& frame) = 0;
  // Completes the output and moves it to its final path.
  virtual Status commit() = 0;
  // Removes what was written so far (from any thread, e.g. on Ctrl-C: cli/interrupt.h); later
  // writes fail. Nothing happens after commit().
  virtual void abandon() = 0;
  // A path ending in '/' or naming a folder means image frames; anything else an MP4 file.
  // Nothing is created until the first frame is written.
  static Result<std::unique_ptr<RenderOutput>> open(const std::filesystem::path& path,
                                                    const RenderOutputOptions& options);
  // What open() checks of the path and the settings (to say it before minutes of loading).
  static Status check(const std::filesystem::path& path, const RenderOutputOptions& options);
};

}  // namespace lipsync::cli
