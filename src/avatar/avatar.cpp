#include "avatar/avatar.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "avatar/avatar_frames.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "core/timeline.h"
#include "imaging/crop_rects.h"
#include "media/jpeg_background.h"

namespace lipsync::avatar {

// Builds an Avatar; a friend so that the public class stays immutable after load.
class AvatarLoader {
 public:
  static Result<std::shared_ptr<const Avatar>> load(const AvatarSource& source,
                                                    const AvatarOptions& options);

 private:
  static Status process(Avatar& avatar, std::int64_t index, const Image& frame);
};

namespace {

namespace fs = std::filesystem;

std::string describe(const Rect& r) {
  return fmt::format("[{}, {}, {}, {}]", r.x1, r.y1, r.x2, r.y2);
}

std::string describe(const media::JpegSettings& settings) {
  return fmt::format("quality {} {}", settings.quality,
                     settings.subsampling == media::ChromaSubsampling::k444 ? "4:4:4" : "4:2:0");
}

bool same_settings(const media::JpegSettings& a, const media::JpegSettings& b) {
  return a.quality == b.quality && a.subsampling == b.subsampling;
}

// The face patch over `face.source_rect` of the background, blended per `composite`.
Result<std::vector<std::uint8_t>> splice_jpeg(const media::JpegBackground& background,
                                              const Image& patch, const Rect& r,
                                              const imaging::CompositeOptions& composite) {
  if (composite.feather_px <= 0) return background.compose(patch.view(), r.x1, r.y1);
  ASSIGN_OR_RETURN(media::JpegCanvas canvas, background.canvas(r));
  const MutableImageView whole = canvas.view();
  const MutableImageView target{
      whole.row(r.y1 - canvas.area.y1) + static_cast<std::size_t>(r.x1 - canvas.area.x1) * 3,
      r.width(), r.height(), 3, whole.stride};
  RETURN_IF_ERROR(imaging::paste_face_patch(target, patch.view(), r, background.width(),
                                            background.height(), composite));
  return background.encode(canvas);
}

// pipeline.md: the model's frames are 25 fps; a video within this of it is taken as 25 fps.
constexpr double kFpsTolerance = 0.01;

// A source render or serve would use silently wrong (AvatarSource::accept_*): refused before
// any frame is decoded, with what to do about it.
Status admit_source(const AvatarSource& source, std::span<const Rect> rects,
                    const detail::FramesInfo& frames) {
  if (frames.from_video && !source.accept_any_fps &&
      std::abs(frames.fps - timeline::kFramesPerSecond) > kFpsTolerance) {
    const fs::path& video = source.video_path;
    return make_error(
        ErrorCode::kInvalidArgument,
        "{} runs at {:.3f} fps, the model at 25: output frame k would show source frame k, so "
        "the person would move at {:.2f}x speed. Convert it (ffmpeg -i '{}' -vf fps=25 "
        "'{}_25fps.mp4') and make its rects from that video's frames, or accept it as it is "
        "(models.<id>.accept_any_fps: true; render --accept-any-fps)",
        frames.origin, frames.fps, timeline::kFramesPerSecond / frames.fps, video.string(),
        (video.parent_path() / video.stem()).string());
  }
  if (source.accept_rects_outside_frame) return {};
  std::int64_t crossing = 0;
  std::int64_t first = -1;
  for (std::size_t i = 0; i < rects.size(); ++i) {
    if (imaging::clip_rect(rects[i], frames.width, frames.height) == rects[i]) continue;
    if (first < 0) first = static_cast<std::int64_t>(i);
    ++crossing;
  }
  if (crossing == 0) return {};
  const imaging::RectStats stats = imaging::rect_stats(rects);
  // Most rects outside: made for frames of another size (a landscape video's rects on a
  // portrait one); a few: a face that reaches the frame's edge.
  const std::string cause =
      2 * crossing > std::ssize(rects)
          ? fmt::format(
                "they span {}, made for frames of another size? Make the rects from this "
                "video's landmarks (lipsync avatar rects)",
                describe(stats.bounds))
          : std::string(
                "the face reaches the frame's edge there, so the mouth would be pasted "
                "clipped");
  return make_error(ErrorCode::kInvalidArgument,
                    "{} of the {} rects in '{}' cross the border of the {}x{} frames of {} (the "
                    "first: frame {} {}): {}; or accept them as they are "
                    "(models.<id>.accept_rects_outside_frame: true; render "
                    "--accept-rects-outside-frame)",
                    crossing, rects.size(), source.rects_path.string(), frames.width, frames.height,
                    frames.origin, first, describe(rects[static_cast<std::size_t>(first)]), cause);
}

// The background store for `frames` frames of width x height, kAuto resolved (and said why when
// it is not raw: the output is then no longer pixel for pixel the source's outside the face).
Result<std::unique_ptr<BackgroundStore>> make_backgrounds(const BackgroundStoreOptions& options,
                                                          int width, int height,
                                                          std::int64_t frames) {
  BackgroundStoreOptions resolved = options;
  resolved.kind = resolve_background_store_kind(options, width, height, frames);
  if (options.kind == BackgroundStoreKind::kAuto && resolved.kind != BackgroundStoreKind::kRaw) {
    LOG_INFO("avatar",
             "backgrounds stored as JPEG (quality {}): {} frames of {}x{} take {:.1f} GB as raw "
             "pixels, over the raw store's limit of {:.1f} GB; the background is then the JPEG's, "
             "not the source's pixels",
             options.jpeg_quality, frames, width, height, 3.0 * width * height * frames / 1e9,
             options.raw_limit_bytes / 1e9);
  }
  return make_background_store(resolved);
}

std::size_t pool_threads(std::size_t requested) {
  return requested > 0 ? requested : std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

Status AvatarLoader::process(Avatar& avatar, std::int64_t index, const Image& frame) {
  const auto i = static_cast<std::size_t>(index);
  if (i >= avatar.rects_.size()) return {};  // counted; the mismatch is reported after decoding
  const Rect& rect = avatar.rects_[i];
  auto face = imaging::make_face_crop(frame.view(), rect, avatar.geometry_);
  if (!face.ok()) return face.status().with_context(fmt::format("rect {}", describe(rect)));
  RETURN_IF_ERROR(avatar.backgrounds_->put(i, frame.view(), face->source_rect));
  avatar.faces_[i] = std::move(*face);
  return {};
}

Result<std::shared_ptr<const Avatar>> AvatarLoader::load(const AvatarSource& source,
                                                         const AvatarOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<Avatar> avatar(new Avatar);
  avatar->geometry_ = options.geometry;
  ASSIGN_OR_RETURN(avatar->rects_, imaging::read_rects(source.rects_path));
  if (source.max_frames > 0 && std::ssize(avatar->rects_) > source.max_frames) {
    avatar->rects_.resize(static_cast<std::size_t>(source.max_frames));
  }
  avatar->faces_.resize(avatar->rects_.size());
  const auto rect_count = static_cast<std::int64_t>(avatar->rects_.size());

  const std::size_t threads = pool_threads(options.threads);
  ThreadPool pool(threads, /*queue_capacity=*/2 * threads);  // bounds decoded frames in flight
  // Once the frames' size is known, before any is decoded: the source is checked and the store
  // made (an auto store needs the size).
  const auto admit = [&](const detail::FramesInfo& frames) -> Status {
    RETURN_IF_ERROR(admit_source(source, avatar->rects_, frames));
    ASSIGN_OR_RETURN(avatar->backgrounds_,
                     make_backgrounds(options.background, frames.width, frames.height, rect_count));
    return {};
  };
  ASSIGN_OR_RETURN(auto frames, detail::process_frames(source, rect_count, pool, admit,
                                                       [&](std::int64_t index, const Image& frame) {
                                                         return process(*avatar, index, frame);
                                                       }));
  if (frames.count != rect_count) {
    return make_error(ErrorCode::kInvalidArgument, "{} has {} frames but '{}' has {} rects",
                      frames.origin, frames.count, source.rects_path.string(), rect_count);
  }
  AvatarInfo& info = avatar->info_;
  info.frames_origin = frames.origin;
  info.rects_origin = source.rects_path.string();
  info.width = frames.width;
  info.height = frames.height;
  info.fps = frames.fps;
  for (const auto& face : avatar->faces_) info.face_bytes += face.crop.pixels.capacity();
  info.background_bytes = avatar->backgrounds_->memory_bytes();
  info.load_ms = ms_since(start);
  LOG_INFO("avatar", "{} frames {}x{} from {} ready in {:.0f} ms ({:.1f} MB, backgrounds {})",
           frames.count, info.width, info.height, info.frames_origin, info.load_ms,
           info.memory_bytes() / 1e6, to_string(avatar->backgrounds_->kind()));
  return std::shared_ptr<const Avatar>(std::move(avatar));
}

Result<std::shared_ptr<const Avatar>> Avatar::load(const AvatarSource& source,
                                                   const AvatarOptions& options) {
  auto avatar = AvatarLoader::load(source, options);
  if (!avatar.ok()) return avatar.status().with_context("loading avatar");
  return avatar;
}

Status Avatar::fill_input_tensor(std::size_t index, std::span<float> out) const {
  if (index >= faces_.size()) {
    return make_error(ErrorCode::kInvalidArgument, "frame {} of an avatar with {} frames", index,
                      faces_.size());
  }
  return imaging::fill_input_tensor(roi(index), out, geometry_);
}

std::string Avatar::splice_refusal(const media::JpegSettings& settings, int feather_px) const {
  if (backgrounds_->kind() != BackgroundStoreKind::kJpegSplice) {
    return fmt::format("the background store is '{}', not 'jpeg_splice'",
                       to_string(backgrounds_->kind()));
  }
  const auto background = backgrounds_->splice_background(0);
  if (!background) return "the background store holds no frames";
  if (!same_settings(background->settings(), settings)) {
    return fmt::format("the output JPEG ({}) differs from the stored backgrounds ({})",
                       describe(settings), describe(background->settings()));
  }
  if (feather_px > backgrounds_->face_blend_px()) {
    return fmt::format(
        "the face is blended in over {} px, and the store keeps the original pixels only {} px "
        "inside the face rect (BackgroundStoreOptions::face_blend_px)",
        feather_px, backgrounds_->face_blend_px());
  }
  return {};
}

Result<std::vector<std::uint8_t>> Avatar::render_jpeg(std::size_t index,
                                                      std::span<const float> output,
                                                      const JpegOutputOptions& options) const {
  if (index >= faces_.size()) {
    return make_error(ErrorCode::kInvalidArgument, "frame {} of an avatar with {} frames", index,
                      faces_.size());
  }
  if (const std::string why = splice_refusal(options.settings, options.composite.feather_px);
      !why.empty()) {
    std::call_once(fallback_logged_, [&] {
      LOG_INFO("avatar", "JPEG output: full-frame composite and encode, because {}", why);
    });
    ASSIGN_OR_RETURN(Image frame, render_frame(index, output, options.composite));
    return media::encode_jpeg(frame.view(), options.settings);
  }
  std::call_once(splice_logged_, [&] {
    LOG_INFO("avatar", "JPEG output: spliced into the stored backgrounds ({}, feather {} px)",
             describe(options.settings), options.composite.feather_px);
  });
  const auto background = backgrounds_->splice_background(index);
  if (!background) {
    return make_error(ErrorCode::kNotFound, "background frame {} is not stored", index);
  }
  const imaging::FaceCrop& face = faces_[index];
  ASSIGN_OR_RETURN(Image patch, imaging::make_face_patch(face, output, geometry_));
  return splice_jpeg(*background, patch, face.source_rect, options.composite);
}

Result<Image> Avatar::render_frame(std::size_t index, std::span<const float> output,
                                   const imaging::CompositeOptions& options) const {
  if (index >= faces_.size()) {
    return make_error(ErrorCode::kInvalidArgument, "frame {} of an avatar with {} frames", index,
                      faces_.size());
  }
  ASSIGN_OR_RETURN(Image frame, backgrounds_->frame(index));
  RETURN_IF_ERROR(
      imaging::composite_face(frame.mutable_view(), faces_[index], output, options, geometry_));
  return frame;
}

}  // namespace lipsync::avatar
