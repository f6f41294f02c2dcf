#include "imaging/face_crop.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <opencv2/imgproc.hpp>

namespace lipsync::imaging {
namespace {

cv::Mat as_mat(ImageView view) {
  return cv::Mat(view.height, view.width, CV_8UC(view.channels),
                 const_cast<std::uint8_t*>(view.data), view.stride);
}

std::string describe(const Rect& r) {
  return fmt::format("[{}, {}, {}, {}]", r.x1, r.y1, r.x2, r.y2);
}

Status check_bgr(ImageView view, const char* what) {
  if (view.channels != 3 || view.data == nullptr || view.width <= 0 || view.height <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be a non-empty 3-channel BGR image",
                      what);
  }
  return {};
}

// ref: pipeline.md §6.1: pixel = uint8(trunc(255·v)); v outside [0, 1] is clamped first.
std::uint8_t output_to_uint8(float v) {
  const float scaled = std::clamp(v, 0.0f, 1.0f) * 255.0f;
  return static_cast<std::uint8_t>(scaled);
}

void write_output_into_crop(Image& crop, std::span<const float> output, const ModelGeometry& g) {
  const std::size_t plane = g.roi_plane_elements();
  for (int y = 0; y < g.roi_size_px; ++y) {
    std::uint8_t* row = crop.pixels.data() +
                        (static_cast<std::size_t>(y + g.border_px) * crop.width + g.border_px) * 3;
    const std::size_t offset = static_cast<std::size_t>(y) * g.roi_size_px;
    for (int x = 0; x < g.roi_size_px; ++x) {
      for (int c = 0; c < 3; ++c) row[x * 3 + c] = output_to_uint8(output[c * plane + offset + x]);
    }
  }
}

// Weight of the pasted face at (x, y) of a w × h patch: ramps from 1/(N+1) at a blended edge to 1
// N pixels inside. Edges flagged in `hard` (on the frame border) are not blended.
float feather_weight(int x, int y, int w, int h, int feather, const bool hard[4]) {
  int d = feather;
  if (!hard[0]) d = std::min(d, x);
  if (!hard[1]) d = std::min(d, y);
  if (!hard[2]) d = std::min(d, w - 1 - x);
  if (!hard[3]) d = std::min(d, h - 1 - y);
  return static_cast<float>(d + 1) / static_cast<float>(feather + 1);
}

// Edges of `r` that lie on the frame border are never blended (nothing lies beyond them).
void paste(const cv::Mat& patch, cv::Mat& target, const Rect& r, int frame_width, int frame_height,
           int feather_px) {
  if (feather_px <= 0) {
    patch.copyTo(target);
    return;
  }
  const bool hard[4] = {r.x1 == 0, r.y1 == 0, r.x2 == frame_width, r.y2 == frame_height};
  for (int y = 0; y < patch.rows; ++y) {
    const std::uint8_t* src = patch.ptr<std::uint8_t>(y);
    std::uint8_t* dst = target.ptr<std::uint8_t>(y);
    for (int x = 0; x < patch.cols; ++x) {
      const float a = feather_weight(x, y, patch.cols, patch.rows, feather_px, hard);
      for (int c = 0; c < 3; ++c) {
        const float v = a * src[x * 3 + c] + (1.0f - a) * dst[x * 3 + c];
        dst[x * 3 + c] = static_cast<std::uint8_t>(std::lround(v));
      }
    }
  }
}

}  // namespace

Rect clip_rect(const Rect& rect, int width, int height) {
  return {std::max(rect.x1, 0), std::max(rect.y1, 0), std::min(rect.x2, width),
          std::min(rect.y2, height)};
}

ImageView FaceCrop::roi(const ModelGeometry& geometry) const {
  const std::size_t offset =
      (static_cast<std::size_t>(geometry.border_px) * crop.width + geometry.border_px) * 3;
  return {crop.pixels.data() + offset, geometry.roi_size_px, geometry.roi_size_px, 3,
          crop.stride()};
}

Result<FaceCrop> make_face_crop(ImageView frame, const Rect& rect, const ModelGeometry& geometry) {
  RETURN_IF_ERROR(check_bgr(frame, "the source frame"));
  if (rect.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "crop rect {} has zero or negative size",
                      describe(rect));
  }
  // Rects larger than the frame, or mostly beside it, come from another video: refused before
  // the crop (and the avatar's stored face regions) would be sized by them.
  if (rect.width() > frame.width || rect.height() > frame.height) {
    return make_error(ErrorCode::kInvalidArgument,
                      "crop rect {} is larger than the {}x{} frame: the rects do not belong to "
                      "this video",
                      describe(rect), frame.width, frame.height);
  }
  const Rect clipped = clip_rect(rect, frame.width, frame.height);
  if (clipped.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "crop rect {} lies outside the {}x{} frame",
                      describe(rect), frame.width, frame.height);
  }
  if (clipped.width() * 4 < rect.width() || clipped.height() * 4 < rect.height()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "crop rect {} lies mostly outside the {}x{} frame (less than a quarter of "
                      "its width or height inside): the rects do not belong to this video",
                      describe(rect), frame.width, frame.height);
  }
  // ref: pipeline.md §5.1-2: crop (clipped at the border), bicubic to crop_size².
  const cv::Mat source =
      as_mat(frame)(cv::Rect(clipped.x1, clipped.y1, clipped.width(), clipped.height()));
  FaceCrop face{Image(geometry.crop_size_px, geometry.crop_size_px, 3), clipped};
  cv::Mat target = as_mat(face.crop.view());
  cv::resize(source, target, target.size(), 0, 0, cv::INTER_CUBIC);
  return face;
}

Status fill_input_tensor(ImageView roi, std::span<float> out, const ModelGeometry& g) {
  RETURN_IF_ERROR(check_bgr(roi, "the ROI"));
  if (roi.width != g.roi_size_px || roi.height != g.roi_size_px) {
    return make_error(ErrorCode::kInvalidArgument, "ROI is {}x{}, expected {}x{}", roi.width,
                      roi.height, g.roi_size_px, g.roi_size_px);
  }
  if (out.size() != g.input_tensor_elements()) {
    return make_error(ErrorCode::kInvalidArgument, "tensor buffer has {} floats, expected {}",
                      out.size(), g.input_tensor_elements());
  }
  const std::size_t plane = g.roi_plane_elements();
  const Rect& mask = g.mask_px;
  for (int y = 0; y < g.roi_size_px; ++y) {
    const std::uint8_t* row = roi.row(y);
    const bool mask_row = y >= mask.y1 && y < mask.y2;
    const std::size_t offset = static_cast<std::size_t>(y) * g.roi_size_px;
    for (int x = 0; x < g.roi_size_px; ++x) {
      const bool masked = mask_row && x >= mask.x1 && x < mask.x2;
      for (int c = 0; c < 3; ++c) {
        const float value = static_cast<float>(row[x * 3 + c]) / 255.0f;  // ref: §5.5
        out[c * plane + offset + x] = value;
        out[(c + 3) * plane + offset + x] = masked ? 0.0f : value;
      }
    }
  }
  return {};
}

Result<Image> make_face_patch(const FaceCrop& face, std::span<const float> output,
                              const ModelGeometry& geometry) {
  if (output.size() != geometry.output_tensor_elements()) {
    return make_error(ErrorCode::kInvalidArgument, "model output has {} floats, expected {}",
                      output.size(), geometry.output_tensor_elements());
  }
  const Rect& r = face.source_rect;
  if (r.empty() || face.crop.width != geometry.crop_size_px ||
      face.crop.height != geometry.crop_size_px) {
    return make_error(ErrorCode::kInvalidArgument,
                      "face crop of rect {} is not a {}x{} crop of a non-empty rect", describe(r),
                      geometry.crop_size_px, geometry.crop_size_px);
  }
  Image full = face.crop;  // ref: §6.2: the border keeps the resampled original
  write_output_into_crop(full, output, geometry);
  Image patch(r.width(), r.height(), 3);
  cv::Mat target = as_mat(patch.view());
  cv::resize(as_mat(full.view()), target, target.size(), 0, 0, cv::INTER_CUBIC);
  return patch;
}

Status paste_face_patch(MutableImageView target, ImageView patch, const Rect& rect, int frame_width,
                        int frame_height, const CompositeOptions& options) {
  RETURN_IF_ERROR(check_bgr(target, "the paste target"));
  RETURN_IF_ERROR(check_bgr(patch, "the face patch"));
  if (patch.width != rect.width() || patch.height != rect.height() ||
      target.width != rect.width() || target.height != rect.height()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "face patch {}x{} and target {}x{} must both match rect {}", patch.width,
                      patch.height, target.width, target.height, describe(rect));
  }
  cv::Mat target_mat = as_mat(target);
  paste(as_mat(patch), target_mat, rect, frame_width, frame_height, options.feather_px);
  return {};
}

Status composite_face(MutableImageView frame, const FaceCrop& face, std::span<const float> output,
                      const CompositeOptions& options, const ModelGeometry& geometry) {
  RETURN_IF_ERROR(check_bgr(frame, "the target frame"));
  const Rect& r = face.source_rect;
  if (r.empty() || clip_rect(r, frame.width, frame.height) != r) {
    return make_error(ErrorCode::kInvalidArgument,
                      "face crop of rect {} does not fit the {}x{} frame", describe(r), frame.width,
                      frame.height);
  }
  ASSIGN_OR_RETURN(Image patch, make_face_patch(face, output, geometry));
  const MutableImageView target{frame.row(r.y1) + static_cast<std::size_t>(r.x1) * 3, r.width(),
                                r.height(), 3, frame.stride};
  return paste_face_patch(target, patch.view(), r, frame.width, frame.height, options);
}

}  // namespace lipsync::imaging
