#include "avatar/avatar_frames.h"

#include <atomic>
#include <exception>
#include <future>
#include <mutex>
#include <vector>

#include "core/guard.h"
#include "core/log.h"
#include "core/timeline.h"
#include "media/image_file.h"
#include "media/image_folder.h"
#include "media/video_decoder.h"

namespace lipsync::avatar::detail {
namespace {

namespace fs = std::filesystem;

Status first_error(std::vector<Status>& statuses) {
  for (Status& status : statuses) {
    if (!status.ok()) return status;
  }
  return {};
}

Status check_size(const Image& frame, const FramesInfo& info, const fs::path& file) {
  if (frame.width == info.width && frame.height == info.height) return {};
  return make_error(ErrorCode::kInvalidArgument, "'{}' is {}x{}, the first frame is {}x{}",
                    file.string(), frame.width, frame.height, info.width, info.height);
}

Status count_mismatch(const std::string& origin, std::int64_t frames, std::int64_t rects) {
  return make_error(ErrorCode::kInvalidArgument, "{} has {} frames but there are {} rects", origin,
                    frames, rects);
}

Result<FramesInfo> process_folder(media::FrameFolder folder, std::int64_t expected_count,
                                  std::int64_t max_frames, ThreadPool& pool,
                                  const FramesCheck& admit, const FrameProcessor& process) {
  if (max_frames > 0 && std::ssize(folder.files) > max_frames) {
    folder.files.resize(static_cast<std::size_t>(max_frames));
  }
  FramesInfo info{fmt::format("folder '{}' ({})", folder.dir.string(), folder.pattern), false};
  info.count = static_cast<std::int64_t>(folder.files.size());
  info.fps = timeline::kFramesPerSecond;  // an image folder has no rate of its own
  if (info.count != expected_count) return count_mismatch(info.origin, info.count, expected_count);
  auto first = media::read_image(folder.files[0]);
  if (!first.ok()) return first.status().with_context("frame 0");
  info.width = first->width;
  info.height = first->height;
  info.count = 0;
  RETURN_IF_ERROR(admit(info));
  info.count = static_cast<std::int64_t>(folder.files.size());
  std::vector<Status> statuses(folder.files.size());
  pool.parallel_for(folder.files.size(), [&](std::size_t i) {
    // A worker never lets an exception escape (style.md: errors are values at module borders).
    statuses[i] = guard({}, [&]() -> Status {
                    ASSIGN_OR_RETURN(Image frame, i == 0 ? Result<Image>(std::move(*first))
                                                         : media::read_image(folder.files[i]));
                    RETURN_IF_ERROR(check_size(frame, info, folder.files[i]));
                    return process(static_cast<std::int64_t>(i), frame);
                  }).with_context(fmt::format("frame {}", i));
  });
  RETURN_IF_ERROR(first_error(statuses));
  return info;
}

// Recycles decoded frame buffers: a fresh multi-megabyte buffer per frame costs page faults and
// zero-filling that took a third of the load time.
class FrameRecycler {
 public:
  Image take() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return {};
    Image image = std::move(free_.back());
    free_.pop_back();
    return image;
  }
  void give_back(Image&& image) {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(image));
  }

 private:
  std::mutex mutex_;
  std::vector<Image> free_;
};

Status write_frame_file(const fs::path& dir, std::int64_t index, const Image& frame) {
  if (dir.empty()) return {};
  return media::write_image(dir / media::frame_file_name(index), frame.view());
}

Result<FramesInfo> process_video(const AvatarSource& source, ThreadPool& pool,
                                 const FramesCheck& admit, const FrameProcessor& process) {
  ASSIGN_OR_RETURN(auto decoder, media::VideoDecoder::open(source.video_path));
  const media::VideoInfo& video = decoder.info();
  FramesInfo info{fmt::format("video '{}' ({})", video.path, video.codec),
                  true,
                  video.width,
                  video.height,
                  video.fps,
                  0};
  RETURN_IF_ERROR(admit(info));
  if (!source.write_frames_dir.empty()) {
    std::error_code ec;
    fs::create_directories(source.write_frames_dir, ec);
    if (ec) {
      return make_error(ErrorCode::kNotFound, "cannot create '{}': {}",
                        source.write_frames_dir.string(), ec.message());
    }
  }
  std::vector<std::future<Status>> pending;
  std::atomic<bool> failed{false};
  Status decode_status;
  FrameRecycler recycler;
  while (!failed.load()) {
    if (source.max_frames > 0 && decoder.frames_decoded() >= source.max_frames) break;
    auto got = decoder.next_decoded();
    if (!got.ok()) decode_status = got.status();
    if (!got.ok() || !*got) break;
    const std::int64_t index = decoder.frames_decoded() - 1;
    // Converted to BGR on the pool, not here: at 1080p the conversion takes longer than the
    // (threaded) decoding, and on this thread it made the load as slow as one core.
    pending.push_back(pool.submit([&, index, decoded = std::move(**got)]() mutable -> Status {
      // The task object lives as long as its future: the decoder's buffer and the pixels go
      // back when the task ends, not when its future is read.
      const media::DecodedFrame frame = std::move(decoded);
      Image owned = recycler.take();
      Status status =
          guard({},
                [&]() -> Status {  // a worker never lets an exception escape
                  RETURN_IF_ERROR(frame.to_bgr(&owned));
                  RETURN_IF_ERROR(check_size(owned, info, source.video_path));
                  RETURN_IF_ERROR(process(index, owned));
                  return write_frame_file(source.write_frames_dir, index, owned);
                })
              .with_context(fmt::format("frame {} of '{}'", index, source.video_path.string()));
      recycler.give_back(std::move(owned));
      if (!status.ok()) failed = true;
      return status;
    }));
  }
  std::vector<Status> statuses;
  for (auto& future : pending) statuses.push_back(future.get());
  RETURN_IF_ERROR(first_error(statuses));
  RETURN_IF_ERROR(decode_status);
  info.count = decoder.frames_decoded();
  if (info.count == 0) {
    return make_error(ErrorCode::kDataLoss, "'{}': no frame could be decoded",
                      source.video_path.string());
  }
  return info;
}

}  // namespace

Result<FramesInfo> process_frames(const AvatarSource& source, std::int64_t expected_count,
                                  ThreadPool& pool, const FramesCheck& admit,
                                  const FrameProcessor& process) {
  if (!source.frames_dir.empty()) {
    auto folder = media::scan_frame_folder(source.frames_dir);
    if (folder.ok()) {
      return process_folder(std::move(*folder), expected_count, source.max_frames, pool, admit,
                            process);
    }
    if (folder.status().code() != ErrorCode::kNotFound || source.video_path.empty()) {
      return folder.status();
    }
    LOG_INFO("avatar", "{}; decoding '{}' instead", folder.status().message(),
             source.video_path.string());
  }
  if (source.video_path.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "no frames: give a frame folder or a video");
  }
  return process_video(source, pool, admit, process);
}

}  // namespace lipsync::avatar::detail
