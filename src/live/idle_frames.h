// The frames a live avatar shows while nobody speaks, rendered once per source frame and shared
// by every session of the model: an idle session costs a lookup, not a UNet run, once the
// sequence has gone round once.
//
// Two kinds (IdleMode): the source frame with the mouth the model makes on silence (closed, as
// it looks when the avatar stops speaking), or the source frame untouched (no model run at all).
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "live/live_renderer.h"

namespace lipsync::live {

enum class IdleMode {
  kSilentModel,  // the model run on silence: the mouth closed and in the face's own style
  kSource,       // the source frames untouched
};

std::string_view to_string(IdleMode mode);  // "silent_model" | "source"
Result<IdleMode> parse_idle_mode(std::string_view name);

// Default cache budget: a 523-frame 1080p avatar at ~150 KB per JPEG needs ~80 MB.
inline constexpr std::size_t kDefaultIdleCacheBytes = std::size_t{256} << 20;

class IdleFrames {
 public:
  // `silence`: the UNet audio input of silence (SpeechTrack::silence_features()), used in
  // kSilentModel mode. Once `max_bytes` of finished frames are held, further frames are
  // rendered for each use and not kept.
  IdleFrames(IdleMode mode, std::vector<float> silence,
             std::size_t max_bytes = kDefaultIdleCacheBytes);

  IdleMode mode() const { return mode_; }

  // The idle frame of `source`: cached, in flight for another session, or submitted now.
  // A failed render is not kept: the next call tries again.
  std::shared_future<Result<Jpeg>> frame(std::int64_t source, LiveRenderer& renderer,
                                         TimePoint deadline);

  // Starts the idle frame of `source` ahead of its use, so that it is ready() by then: nothing
  // when it is kept or in flight already, or when the cache is full (a frame that would not be
  // kept is rendered at its use only).
  void prefetch(std::int64_t source, LiveRenderer& renderer, TimePoint deadline);

  // Whether the idle frame of `source` is finished and kept: showing it needs no render time.
  bool ready(std::int64_t source) const;

  std::size_t cached_frames() const;
  std::size_t cached_bytes() const;
  std::int64_t renders() const;  // frames rendered or taken from the avatar (cache misses)

 private:
  struct Entry {
    std::shared_future<Result<Jpeg>> jpeg;
    bool counted = false;  // its bytes are in bytes_
  };
  std::shared_future<Result<Jpeg>> produce(std::int64_t source, LiveRenderer& renderer,
                                           TimePoint deadline);
  void count_finished();
  void keep(std::int64_t source, std::shared_future<Result<Jpeg>> jpeg);  // with mutex_ held

  const IdleMode mode_;
  const std::vector<float> silence_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::map<std::int64_t, Entry> entries_;
  std::vector<std::int64_t> uncounted_;  // entries whose frame may not have finished yet
  std::size_t bytes_ = 0;
  std::int64_t renders_ = 0;
};

}  // namespace lipsync::live
