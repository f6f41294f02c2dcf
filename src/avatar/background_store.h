// Where an avatar keeps its full source frames (the backgrounds the face is pasted into),
// behind one small interface so stores can be swapped: raw pixels, whole-frame JPEG, or the
// splicing JPEG background of media/jpeg_background.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "core/image.h"
#include "core/status.h"
#include "media/jpeg_codec.h"

namespace lipsync::media {
class JpegBackground;
}

namespace lipsync::avatar {

enum class BackgroundStoreKind {
  kRaw,         // BGR pixels: exact, 3 bytes per pixel
  kJpeg,        // each frame one JPEG (lossy, ~20x smaller); decoded on demand
  kJpegSplice,  // media::JpegBackground: JPEG + the pixels of the face rect's MCU rows
  // kRaw while the avatar's frames fit BackgroundStoreOptions::raw_limit_bytes as raw pixels,
  // else kJpeg: resolved when the avatar's size is known (resolve_background_store_kind).
  kAuto,
};

// "raw" | "jpeg" | "jpeg_splice" | "auto"
std::string_view to_string(BackgroundStoreKind kind);
Result<BackgroundStoreKind> parse_background_store_kind(std::string_view name);

// kAuto's default limit: 2 GiB of raw frames (at 25 fps: 1080p for 13.8 s, 720p for 31 s, 512x512
// for 110 s).
inline constexpr std::uint64_t kDefaultRawBackgroundLimitBytes = std::uint64_t{2} << 30;

struct BackgroundStoreOptions {
  // Auto: the source's pixels as they are (pipeline.md §6 pastes into the decoded frame) unless
  // that would take more than raw_limit_bytes.
  BackgroundStoreKind kind = BackgroundStoreKind::kAuto;
  std::uint64_t raw_limit_bytes = kDefaultRawBackgroundLimitBytes;  // kAuto only
  // The JPEG kinds' encoding. For kJpegSplice, output JPEGs with these same settings are
  // spliced (Avatar::render_jpeg); set them to the served output's quality and subsampling.
  int jpeg_quality = 90;  // 1..100 (libjpeg scale)
  media::ChromaSubsampling jpeg_subsampling = media::ChromaSubsampling::k420;
  // kJpegSplice: the original pixels kept inside the face rect, from its edges inwards, for
  // outputs that blend the face in over that many pixels (imaging::CompositeOptions::feather_px;
  // 0: the hard paste of the reference). The pixels further in are painted over by every output
  // and not kept; an output blending over more pixels is not spliced (Avatar::splice_refusal).
  int face_blend_px = 0;
};

class BackgroundStore {
 public:
  virtual ~BackgroundStore() = default;

  virtual BackgroundStoreKind kind() const = 0;
  // Stores frame `index` (BGR); `face_rect` is where faces will be pasted. Safe to call from
  // several threads at once for different indices.
  virtual Status put(std::size_t index, ImageView frame, const Rect& face_rect) = 0;
  // The stored frame as BGR pixels (decoded for the JPEG kinds).
  virtual Result<Image> frame(std::size_t index) const = 0;
  virtual std::size_t size() const = 0;          // 1 + the highest index stored
  virtual std::size_t memory_bytes() const = 0;  // heap bytes held
  // kJpegSplice only: frame `index`'s splicing background (null for other kinds or a frame not
  // stored).
  virtual std::shared_ptr<const media::JpegBackground> splice_background(std::size_t) const {
    return nullptr;
  }
  // kJpegSplice only: BackgroundStoreOptions::face_blend_px.
  virtual int face_blend_px() const { return 0; }
};

// The kind to store `frames` frames of width x height with: kAuto becomes kRaw when their raw
// BGR pixels fit options.raw_limit_bytes, else kJpeg; the other kinds stay as they are.
BackgroundStoreKind resolve_background_store_kind(const BackgroundStoreOptions& options, int width,
                                                  int height, std::int64_t frames);

// A store of options.kind; kAuto must be resolved first (an error otherwise).
Result<std::unique_ptr<BackgroundStore>> make_background_store(
    const BackgroundStoreOptions& options);

}  // namespace lipsync::avatar
