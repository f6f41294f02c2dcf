// A background frame stored pre-encoded, and output frames spliced from it
// (ref: architecture.md "Backgrounds stored pre-encoded, re-encode only the face").
//
// The frame is encoded once (baseline, standard Huffman tables, an RST marker after every MCU
// row; jpeg_codec.h). Only the original pixels of the editable region (the union of the crop
// rects the avatar can paste into, widened to whole MCUs) are kept, less an optional `painted`
// rect inside it that every output paints over (the face rect: at 1080p that is ~95% of the
// region, ~600 KB per frame not kept). An output frame re-encodes
// only the MCUs that the pasted rect touches and splices them between the stored bits of the
// same MCU row; the result is byte-identical to encoding the whole composited frame.
//
//   ASSIGN_OR_RETURN(auto background, JpegBackground::create(frame, union_of_rects, settings));
//   ASSIGN_OR_RETURN(auto jpeg, background.compose(face_bgr, rect.x1, rect.y1));   // hard paste
//
//   ASSIGN_OR_RETURN(auto canvas, background.canvas(rect));   // or paint/blend yourself
//   blend_into(canvas.view(), canvas.area, ...);
//   ASSIGN_OR_RETURN(auto jpeg, background.encode(canvas));
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/image.h"
#include "core/status.h"
#include "media/jpeg_codec.h"

namespace lipsync::media {

// Pixels the caller may paint into before encode(): a copy of the background's pixels.
struct JpegCanvas {
  Rect area;     // in frame coordinates, whole MCUs (clipped at the frame's right/bottom edge)
  Image pixels;  // BGR, area.width() x area.height(); pixel (x, y) of the frame is at
                 // (x - area.x1, y - area.y1)
  MutableImageView view() { return pixels.mutable_view(); }
};

class JpegBackground {
 public:
  // `editable`: where output frames may change (clipped to the frame; may be empty). Canvases
  // outside it still work, but their pixels must be decoded from the stored JPEG (slow, lossy,
  // logged once per process). `painted` (may be empty): pixels every canvas encoded will have
  // painted over (compose() pastes over them): they are not kept, and canvases hold 0 there.
  static Result<JpegBackground> create(ImageView frame_bgr, Rect editable,
                                       const JpegSettings& settings, Rect painted = {});

  JpegBackground(JpegBackground&&) noexcept;
  JpegBackground& operator=(JpegBackground&&) noexcept;
  ~JpegBackground();

  int width() const;
  int height() const;
  const JpegSettings& settings() const;
  Rect editable_region() const;  // the stored pixels' rect: `editable` widened to whole MCUs
  Rect painted_region() const;   // `painted` within it: pixels not kept (may be empty)
  std::span<const std::uint8_t> jpeg() const;  // the background itself, a complete JPEG
  std::size_t memory_bytes() const;            // heap bytes held by this store

  // The frame with `patch` (BGR) hard-copied with its top-left at (x, y), clipped to the frame.
  Result<std::vector<std::uint8_t>> compose(ImageView patch, int x, int y) const;

  // A canvas covering `rect` (clipped to the frame, widened to whole MCUs; must not be empty).
  // Its pixels inside painted_region() are not the background's: paint all of them before
  // encode().
  Result<JpegCanvas> canvas(Rect rect) const;

  // The frame with the canvas's pixels; only the canvas's MCUs are re-encoded.
  Result<std::vector<std::uint8_t>> encode(const JpegCanvas& canvas) const;

 private:
  struct State;
  explicit JpegBackground(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace lipsync::media
