// The image geometry of the SyncTalk_2D "328" model, in one typed place (pipeline.md §5-§6).
#pragma once

#include <cstddef>

#include "core/image.h"

namespace lipsync::imaging {

struct ModelGeometry {
  int crop_size_px = 328;  // the face crop is resized to crop_size × crop_size (bicubic)
  int roi_size_px = 320;   // the model sees the inner roi_size × roi_size
  int border_px = 4;       // crop328[border : border + roi_size] is the ROI
  // Zeroed in the masked half of the input; ends exclusive, in ROI pixels: rows 5..309 and
  // columns 5..314 inclusive, i.e. cv::rectangle(Rect(5, 5, 310, 305), FILLED).
  Rect mask_px{5, 5, 315, 310};
  int input_channels = 6;   // roi (BGR) then masked roi (BGR)
  int output_channels = 3;  // BGR, sigmoid

  constexpr std::size_t roi_plane_elements() const {
    return static_cast<std::size_t>(roi_size_px) * roi_size_px;
  }
  // Per frame: [input_channels, roi, roi] in, [output_channels, roi, roi] out.
  constexpr std::size_t input_tensor_elements() const {
    return input_channels * roi_plane_elements();
  }
  constexpr std::size_t output_tensor_elements() const {
    return output_channels * roi_plane_elements();
  }
};

// ref: pipeline.md §5 (the only geometry the served models use).
inline constexpr ModelGeometry kSyncTalk328{};

}  // namespace lipsync::imaging
