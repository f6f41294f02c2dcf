// Source frame + rect -> the cached face crop and the UNet image tensor (pipeline.md §5), and the
// UNet output -> composited frame (§6).
#pragma once

#include <span>

#include "core/image.h"
#include "core/status.h"
#include "imaging/model_geometry.h"

namespace lipsync::imaging {

// `rect` clipped to a width × height frame; empty() when it lies fully outside.
Rect clip_rect(const Rect& rect, int width, int height);

// What one avatar frame needs for inference and compositing: the bicubic crop_size² resample of
// the (clipped) rect. Its inner roi_size² is the ROI; the border is kept for compositing.
struct FaceCrop {
  Image crop;        // crop_size × crop_size, BGR
  Rect source_rect;  // the clipped rect in the source frame that `crop` was resampled from

  ImageView roi(const ModelGeometry& geometry = kSyncTalk328) const;
};

// ref: pipeline.md §5 steps 1-3. Errors when the rect is empty or fully outside the frame.
Result<FaceCrop> make_face_crop(ImageView frame, const Rect& rect,
                                const ModelGeometry& geometry = kSyncTalk328);

// ref: pipeline.md §5 steps 4-5: writes the [6, roi, roi] float tensor (BGR, value / 255;
// channels 0-2 the ROI, 3-5 the ROI with the mask box zeroed) into `out`.
Status fill_input_tensor(ImageView roi, std::span<float> out,
                         const ModelGeometry& geometry = kSyncTalk328);

struct CompositeOptions {
  // 0 = hard paste, the reference behaviour. N > 0 blends the pasted face linearly into the
  // frame over its outer N pixels (edges on the frame border are not blended).
  int feather_px = 0;

  bool operator==(const CompositeOptions&) const = default;
};

// ref: pipeline.md §6.1-3: the face as composite_face pastes it: output [3, roi, roi] sigmoid BGR
// -> uint8 by truncation, written into a copy of face.crop at the border offset, bicubic back to
// face.source_rect's size (BGR, source_rect.width() x source_rect.height()).
Result<Image> make_face_patch(const FaceCrop& face, std::span<const float> output,
                              const ModelGeometry& geometry = kSyncTalk328);

// ref: pipeline.md §6.4: pastes `patch` over `target`, the pixels of `rect` (same size) in a
// frame_width x frame_height frame; with options.feather_px > 0 blends as CompositeOptions says
// (the frame size tells which edges lie on the frame border).
Status paste_face_patch(MutableImageView target, ImageView patch, const Rect& rect, int frame_width,
                        int frame_height, const CompositeOptions& options = {});

// ref: pipeline.md §6: output [3, roi, roi] sigmoid BGR -> uint8 by truncation, written into a
// copy of face.crop at the border offset, bicubic back to the clipped rect's size, pasted into
// `frame` at the clipped rect.
Status composite_face(MutableImageView frame, const FaceCrop& face, std::span<const float> output,
                      const CompositeOptions& options = {},
                      const ModelGeometry& geometry = kSyncTalk328);

}  // namespace lipsync::imaging
