// Internal to avatar: streams an avatar's source frames (video or frame folder) to a
// per-frame processor running on a thread pool.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "avatar/avatar.h"
#include "core/thread_pool.h"

namespace lipsync::avatar::detail {

struct FramesInfo {
  std::string origin;  // for messages: "video 'x.mp4' (h264)" / "folder 'd' (frame_%06d.jpg)"
  bool from_video = false;
  int width = 0;
  int height = 0;
  double fps = 0;
  std::int64_t count = 0;
};

// Processes frame `index`; called concurrently for different frames.
using FrameProcessor = std::function<Status(std::int64_t index, const Image& frame)>;
// Sees the frames' size and rate (count still 0) before any frame is processed; an error stops
// the load there.
using FramesCheck = std::function<Status(const FramesInfo& info)>;

// Chooses the folder (when it holds numbered frames) or else the video, then calls `process`
// for every frame on `pool`. `expected_count` (the rect count) is checked against the folder
// before anything is decoded; the caller checks it against a video's count afterwards. Only the
// first source.max_frames frames are used when it is set. `admit` runs once the size and rate
// are known (a folder's first frame is read; a video is opened), before any frame is processed.
// Returns the first error in frame order; errors name the file and the frame.
Result<FramesInfo> process_frames(const AvatarSource& source, std::int64_t expected_count,
                                  ThreadPool& pool, const FramesCheck& admit,
                                  const FrameProcessor& process);

}  // namespace lipsync::avatar::detail
