// One output frame's inputs (FrameJob) and a UNet batch's outputs (RenderedBatch): what model
// runners, the batch renderer and the device executors pass around.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/image.h"
#include "media/jpeg_codec.h"

namespace lipsync::pipeline {

struct FrameJob {
  std::int64_t source_frame = 0;  // avatar frame (already sequenced, pipeline.md §7)
  std::span<const float> audio;   // [32, 16, 16] (pipeline.md §3)
  // A client-sent image tensor [6, roi, roi] (the compat API's visual frames); empty: built
  // from the avatar's cached crop.
  std::span<const float> image;
  // Set: the frame comes back as this JPEG (Avatar::render_jpeg: spliced into the stored
  // background when the store allows) instead of as BGR pixels.
  std::optional<media::JpegSettings> jpeg;
};

struct BatchTimings {
  double prepare_ms = 0;    // building the image and audio tensors
  double inference_ms = 0;  // the UNet run
  double composite_ms = 0;  // pasting the faces into full frames (and JPEG-encoding them)
};

struct RenderedBatch {
  std::vector<Image> frames;  // full BGR frames, in job order (empty for JPEG jobs)
  std::vector<std::vector<std::uint8_t>> jpegs;  // in job order (empty for BGR jobs)
  BatchTimings timings;
};

}  // namespace lipsync::pipeline
