// An avatar: a person's source frames (video or folder) and per-frame crop rects, loaded once
// into what inference and compositing need (architecture.md decision 2).
//
//   ASSIGN_OR_RETURN(auto avatar, Avatar::load({.video_path = "v.mp4", .rects_path = "r.json"}));
//   avatar->fill_input_tensor(i, batch.subspan(k * avatar->geometry().input_tensor_elements(),
//   ...));
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "avatar/background_store.h"
#include "core/image.h"
#include "core/status.h"
#include "imaging/face_crop.h"
#include "imaging/frame_sequence.h"
#include "imaging/model_geometry.h"
#include "media/jpeg_codec.h"

namespace lipsync::avatar {

struct AvatarSource {
  std::filesystem::path frames_dir;  // numbered .jpg/.png frames; empty or missing -> video_path
  std::filesystem::path video_path;  // any container/codec FFmpeg decodes
  std::filesystem::path rects_path;  // crop_rects.json, crop_rectangles.json or a .lms folder
  // When set and frames come from the video, also write them here as frame_%06d.jpg.
  std::filesystem::path write_frames_dir;
  // > 0: only the first max_frames frames and rects (config `num_frames`); 0: all of them.
  std::int64_t max_frames = 0;
  // What would render silently wrong is refused before any frame is decoded, unless allowed
  // (config `accept_any_fps` / `accept_rects_outside_frame`, render's flags of those names):
  // a video not at 25 fps (output frame k shows source frame k: the person moves at another
  // speed), and rects crossing the frame border (rects of another video, or a face at the edge:
  // the mouth lands clipped or on the background).
  bool accept_any_fps = false;
  bool accept_rects_outside_frame = false;
};

struct AvatarOptions {
  BackgroundStoreOptions background;
  std::size_t threads = 0;  // load workers; 0 = one per hardware thread
  imaging::ModelGeometry geometry = imaging::kSyncTalk328;
};

struct AvatarInfo {
  std::string frames_origin;  // "video 'x.mp4' (h264)" or "folder 'dir' (frame_%06d.jpg)"
  std::string rects_origin;   // the rects file or folder
  int width = 0;
  int height = 0;
  double fps = 0;  // from the video; 25 (pipeline.md) for frame folders
  double load_ms = 0;
  std::size_t face_bytes = 0;        // cached crops (crop_size² BGR per frame)
  std::size_t background_bytes = 0;  // the background store
  std::size_t memory_bytes() const { return face_bytes + background_bytes; }
};

struct JpegOutputOptions {
  media::JpegSettings settings;  // of the output JPEG
  imaging::CompositeOptions composite;
};

class Avatar {
 public:
  // Decodes and prepares every frame in parallel. Errors name the file and frame: missing or
  // corrupt media, rect count != frame count (both numbers), empty or fully-outside rects.
  static Result<std::shared_ptr<const Avatar>> load(const AvatarSource& source,
                                                    const AvatarOptions& options = {});

  std::size_t frame_count() const { return faces_.size(); }
  const AvatarInfo& info() const { return info_; }
  const imaging::ModelGeometry& geometry() const { return geometry_; }
  std::span<const Rect> rects() const { return rects_; }  // as given (unclipped)
  const imaging::FaceCrop& face(std::size_t index) const { return faces_.at(index); }
  ImageView roi(std::size_t index) const { return faces_.at(index).roi(geometry_); }
  const BackgroundStore& backgrounds() const { return *backgrounds_; }

  // The source frame for output frame `i` (pipeline.md §7; ping-pong is the reference).
  std::size_t source_frame(std::int64_t i,
                           imaging::SequenceMode mode = imaging::SequenceMode::kPingPong,
                           std::int64_t start = 0) const {
    return static_cast<std::size_t>(
        imaging::source_frame_index(mode, i, static_cast<std::int64_t>(faces_.size()), start));
  }

  // The [6, roi, roi] UNet image tensor of frame `index` (pipeline.md §5), into a caller
  // buffer of geometry().input_tensor_elements() floats (e.g. one slot of a batch).
  Status fill_input_tensor(std::size_t index, std::span<float> out) const;

  // The full frame `index` with the model output [3, roi, roi] composited (pipeline.md §6).
  Result<Image> render_frame(std::size_t index, std::span<const float> output,
                             const imaging::CompositeOptions& options = {}) const;

  // render_frame(index, output, options.composite) encoded as a JPEG with options.settings,
  // byte for byte. When the background store is kJpegSplice with the same JPEG settings, only
  // the MCUs under the face are encoded (media/jpeg_background.h); otherwise the full frame is
  // composited and encoded. Which path, and why, is logged once per avatar.
  Result<std::vector<std::uint8_t>> render_jpeg(std::size_t index, std::span<const float> output,
                                                const JpegOutputOptions& options = {}) const;

  // Why render_jpeg cannot splice JPEGs with `settings`, the face blended in over `feather_px`
  // (empty: it splices).
  std::string splice_refusal(const media::JpegSettings& settings, int feather_px = 0) const;

 private:
  Avatar() = default;
  friend class AvatarLoader;

  AvatarInfo info_;
  imaging::ModelGeometry geometry_;
  std::vector<Rect> rects_;
  std::vector<imaging::FaceCrop> faces_;
  std::unique_ptr<BackgroundStore> backgrounds_;
  mutable std::once_flag splice_logged_;
  mutable std::once_flag fallback_logged_;
};

}  // namespace lipsync::avatar
