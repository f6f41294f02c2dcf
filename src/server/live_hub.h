// The server's live sessions (live/live_session.h) by id, with what sessions of one model share:
// the renderer (one handle of the model, so it is not evicted while a session runs) and the
// idle frames. Module-internal: included by src/server only.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "live/idle_frames.h"
#include "live/live_session.h"
#include "live/scheduler_renderer.h"
#include "live/speech_track.h"
#include "server/service_context.h"

namespace lipsync::server {

// At most this many live sessions per server (each has a pacing thread).
inline constexpr std::size_t kMaxLiveSessions = 64;

struct LiveRequest {
  std::string model_id;
  live::IdleMode idle = live::IdleMode::kSilentModel;
  live::SpeechOptions speech;
  live::LiveOptions options;
};

// A session id as LiveHub::open makes them (32 hex digits); refused before any lookup when it
// is empty, longer than 64 or not letters and digits (INVALID_ARGUMENT).
Status check_session_id(std::string_view id);

class LiveHub {
 public:
  explicit LiveHub(ServiceContext context) : context_(context) {}
  ~LiveHub();  // closes every session

  // Opens a session (loading its model if needed); the caller holds one connection to it.
  Result<std::pair<std::string, std::shared_ptr<live::Session>>> open(const LiveRequest& request);
  // Another connection to session `id`: INVALID_ARGUMENT (check_session_id), NOT_FOUND.
  Result<std::shared_ptr<live::Session>> join(const std::string& id);
  // A connection to `id` ended; the last one closes the session.
  void leave(const std::string& id);

  std::size_t sessions() const;

  // A WebRTC viewer's slot: false when `max` are taken. give_webrtc_peer() frees one.
  bool take_webrtc_peer(int max);
  void give_webrtc_peer();
  int webrtc_peers() const { return webrtc_peers_; }

 private:
  struct Entry {
    std::shared_ptr<live::Session> session;
    std::string model_id;
    int connections = 0;
  };
  Result<std::shared_ptr<live::SchedulerRenderer>> renderer(const std::string& model_id);
  std::shared_ptr<live::IdleFrames> idle_frames(const std::string& model_id, live::IdleMode mode,
                                                const std::vector<float>& silence);
  // A session ended: one log line and the live_* stage histograms of the metrics.
  void record_closed(const std::string& id, const live::LiveStats& stats, std::size_t open) const;

  ServiceContext context_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> sessions_;
  std::map<std::string, std::weak_ptr<live::SchedulerRenderer>> renderers_;
  std::map<std::pair<std::string, live::IdleMode>, std::weak_ptr<live::IdleFrames>> idle_;
  std::uint64_t next_id_ = 1;
  std::atomic<int> webrtc_peers_{0};
};

}  // namespace lipsync::server
