#include "avatar/background_store.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "media/jpeg_background.h"
#include "media/jpeg_codec.h"

namespace lipsync::avatar {
namespace {

// Slots indexed by frame, filled concurrently: encoding and decoding happen outside the lock.
template <typename T>
class SlotStore : public BackgroundStore {
 public:
  Status put(std::size_t index, ImageView frame, const Rect& face_rect) override {
    ASSIGN_OR_RETURN(T value, encode(frame, face_rect));
    const std::size_t bytes = bytes_of(value);
    auto slot = std::make_shared<const T>(std::move(value));
    std::lock_guard lock(mutex_);
    if (index >= slots_.size()) slots_.resize(index + 1);
    if (slots_[index]) bytes_ -= bytes_of(*slots_[index]);
    slots_[index] = std::move(slot);
    bytes_ += bytes;
    return {};
  }

  Result<Image> frame(std::size_t index) const override {
    std::shared_ptr<const T> value;
    {
      std::lock_guard lock(mutex_);
      if (index < slots_.size()) value = slots_[index];
    }
    if (!value) {
      return make_error(ErrorCode::kNotFound, "background frame {} is not stored", index);
    }
    return decode(*value);  // outside the lock: decodes run in parallel
  }

  std::size_t size() const override {
    std::lock_guard lock(mutex_);
    return slots_.size();
  }
  std::size_t memory_bytes() const override {
    std::lock_guard lock(mutex_);
    return bytes_ + slots_.capacity() * sizeof(std::shared_ptr<const T>);
  }

 protected:
  // The stored value of `index` (null when not stored); a put() of the same index replaces it.
  std::shared_ptr<const T> slot(std::size_t index) const {
    std::lock_guard lock(mutex_);
    return index < slots_.size() ? slots_[index] : nullptr;
  }

  virtual Result<T> encode(ImageView frame, const Rect& face_rect) const = 0;
  virtual Result<Image> decode(const T& value) const = 0;
  virtual std::size_t bytes_of(const T& value) const = 0;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const T>> slots_;
  std::size_t bytes_ = 0;
};

Image copy_of(ImageView view) {
  Image image(view.width, view.height, view.channels);
  for (int y = 0; y < view.height; ++y) {
    std::copy_n(view.row(y), image.stride(), image.pixels.data() + y * image.stride());
  }
  return image;
}

class RawStore final : public SlotStore<Image> {
 public:
  BackgroundStoreKind kind() const override { return BackgroundStoreKind::kRaw; }

 protected:
  Result<Image> encode(ImageView frame, const Rect&) const override { return copy_of(frame); }
  Result<Image> decode(const Image& value) const override { return value; }
  std::size_t bytes_of(const Image& value) const override { return value.pixels.capacity(); }
};

class JpegStore final : public SlotStore<std::vector<std::uint8_t>> {
 public:
  explicit JpegStore(media::JpegSettings settings) : settings_(settings) {}
  BackgroundStoreKind kind() const override { return BackgroundStoreKind::kJpeg; }

 protected:
  Result<std::vector<std::uint8_t>> encode(ImageView frame, const Rect&) const override {
    ASSIGN_OR_RETURN(auto jpeg, media::encode_jpeg(frame, settings_));
    jpeg.shrink_to_fit();
    return jpeg;
  }
  Result<Image> decode(const std::vector<std::uint8_t>& value) const override {
    return media::decode_jpeg(value);
  }
  std::size_t bytes_of(const std::vector<std::uint8_t>& value) const override {
    return value.capacity();
  }

 private:
  media::JpegSettings settings_;
};

class JpegSpliceStore final : public SlotStore<media::JpegBackground> {
 public:
  JpegSpliceStore(media::JpegSettings settings, int face_blend_px)
      : settings_(settings), face_blend_px_(face_blend_px) {}
  BackgroundStoreKind kind() const override { return BackgroundStoreKind::kJpegSplice; }
  std::shared_ptr<const media::JpegBackground> splice_background(std::size_t index) const override {
    return slot(index);
  }
  int face_blend_px() const override { return face_blend_px_; }

 protected:
  Result<media::JpegBackground> encode(ImageView frame, const Rect& face_rect) const override {
    // Every output pastes the face over the whole rect, blending only its outer face_blend_px.
    const int in = face_blend_px_;
    const Rect painted{face_rect.x1 + in, face_rect.y1 + in, face_rect.x2 - in, face_rect.y2 - in};
    return media::JpegBackground::create(frame, face_rect, settings_,
                                         painted.empty() ? Rect{} : painted);
  }
  Result<Image> decode(const media::JpegBackground& value) const override {
    return media::decode_jpeg(value.jpeg());
  }
  std::size_t bytes_of(const media::JpegBackground& value) const override {
    return value.memory_bytes();
  }

 private:
  media::JpegSettings settings_;
  int face_blend_px_ = 0;
};

}  // namespace

std::string_view to_string(BackgroundStoreKind kind) {
  switch (kind) {
    case BackgroundStoreKind::kRaw:
      return "raw";
    case BackgroundStoreKind::kJpeg:
      return "jpeg";
    case BackgroundStoreKind::kJpegSplice:
      return "jpeg_splice";
    case BackgroundStoreKind::kAuto:
      return "auto";
  }
  return "unknown";
}

Result<BackgroundStoreKind> parse_background_store_kind(std::string_view name) {
  for (auto kind : {BackgroundStoreKind::kRaw, BackgroundStoreKind::kJpeg,
                    BackgroundStoreKind::kJpegSplice, BackgroundStoreKind::kAuto}) {
    if (name == to_string(kind)) return kind;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "background store '{}' is not raw|jpeg|jpeg_splice|auto", name);
}

BackgroundStoreKind resolve_background_store_kind(const BackgroundStoreOptions& options, int width,
                                                  int height, std::int64_t frames) {
  if (options.kind != BackgroundStoreKind::kAuto) return options.kind;
  const std::uint64_t raw_bytes = std::uint64_t{3} * static_cast<std::uint64_t>(width) *
                                  static_cast<std::uint64_t>(height) *
                                  static_cast<std::uint64_t>(std::max<std::int64_t>(frames, 0));
  return raw_bytes <= options.raw_limit_bytes ? BackgroundStoreKind::kRaw
                                              : BackgroundStoreKind::kJpeg;
}

Result<std::unique_ptr<BackgroundStore>> make_background_store(
    const BackgroundStoreOptions& options) {
  const media::JpegSettings settings{.quality = options.jpeg_quality,
                                     .subsampling = options.jpeg_subsampling};
  if (options.kind == BackgroundStoreKind::kAuto) {
    return make_error(ErrorCode::kInternal,
                      "background store 'auto' is resolved by the avatar's size before use "
                      "(resolve_background_store_kind)");
  }
  if (options.kind == BackgroundStoreKind::kRaw)
    return std::unique_ptr<BackgroundStore>(new RawStore);
  RETURN_IF_ERROR(media::validate_jpeg_settings(settings));
  if (options.kind == BackgroundStoreKind::kJpeg) {
    return std::unique_ptr<BackgroundStore>(new JpegStore(settings));
  }
  if (options.face_blend_px < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "background store: face_blend_px {} is negative (0: the hard paste)",
                      options.face_blend_px);
  }
  return std::unique_ptr<BackgroundStore>(new JpegSpliceStore(settings, options.face_blend_px));
}

}  // namespace lipsync::avatar
