#include "server/live_hub.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <utility>
#include <vector>

#include "core/client_text.h"
#include "core/log.h"
#include "server/compat_service.h"

namespace lipsync::server {
namespace {

// Unguessable: a session id is all a second connection needs to watch and talk to a session.
std::string random_id() {
  std::random_device device;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", device(), device(), device(), device());
}

}  // namespace

LiveHub::~LiveHub() {
  std::map<std::string, Entry> sessions;
  {
    std::lock_guard lock(mutex_);
    sessions.swap(sessions_);
  }
  for (auto& [id, entry] : sessions) entry.session->close();
}

Result<std::shared_ptr<live::SchedulerRenderer>> LiveHub::renderer(const std::string& model_id) {
  {
    std::lock_guard lock(mutex_);
    if (auto shared = renderers_[model_id].lock()) return shared;
  }
  // Acquiring may load the model (seconds): not under the hub's lock.
  ASSIGN_OR_RETURN(
      auto made, live::SchedulerRenderer::create(*context_.scheduler, *context_.registry, model_id,
                                                 output_jpeg_settings(context_.config->output)));
  std::lock_guard lock(mutex_);
  if (auto raced = renderers_[model_id].lock()) return raced;
  renderers_[model_id] = made;
  return made;
}

std::shared_ptr<live::IdleFrames> LiveHub::idle_frames(const std::string& model_id,
                                                       live::IdleMode mode,
                                                       const std::vector<float>& silence) {
  std::lock_guard lock(mutex_);
  auto& slot = idle_[{model_id, mode}];
  if (auto shared = slot.lock()) return shared;
  auto made = std::make_shared<live::IdleFrames>(mode, silence);
  slot = made;
  return made;
}

Result<std::pair<std::string, std::shared_ptr<live::Session>>> LiveHub::open(
    const LiveRequest& request) {
  if (context_.stopping->load()) {
    return make_error(ErrorCode::kUnavailable, "the server is shutting down");
  }
  {
    std::lock_guard lock(mutex_);
    if (sessions_.size() >= kMaxLiveSessions) {
      return make_error(ErrorCode::kResourceExhausted,
                        "{} live sessions are open, the most this server runs; close one or use "
                        "another replica",
                        kMaxLiveSessions);
    }
  }
  RETURN_IF_ERROR(context_.registry->info(request.model_id).status());
  ASSIGN_OR_RETURN(auto renderer, renderer(request.model_id));
  // The server's analyzer outlives every session: a non-owning shared_ptr.
  const std::shared_ptr<const audio::MelAnalyzer> mel(std::shared_ptr<void>(), context_.mel);
  ASSIGN_OR_RETURN(auto track, live::SpeechTrack::create(mel, *context_.encoder, request.speech));
  auto idle = idle_frames(request.model_id, request.idle, track->silence_features());
  live::LiveOptions options = request.options;
  if (context_.config != nullptr) {
    options.lead_frames = context_.config->live.lead_frames;
    options.max_jitter_buffer =
        std::chrono::milliseconds(context_.config->live.max_jitter_buffer_ms);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<live::Session> session,
                   live::Session::open(renderer, idle, std::move(track), options));
  std::shared_ptr<live::Session> shared = std::move(session);
  std::string id = random_id();
  std::lock_guard lock(mutex_);
  sessions_[id] = Entry{.session = shared, .model_id = request.model_id, .connections = 1};
  LOG_INFO("live", "session {} opened on model '{}' ({} open)", id, request.model_id,
           sessions_.size());
  return std::pair{std::move(id), std::move(shared)};
}

Status check_session_id(std::string_view id) {
  const bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(uint8_t(c));
  });
  if (ok) return {};
  return make_error(ErrorCode::kInvalidArgument,
                    "'{}' is not a live session id: 1..64 letters and digits, as the session's "
                    "opener was told",
                    client_text(id, 64));
}

Result<std::shared_ptr<live::Session>> LiveHub::join(const std::string& id) {
  RETURN_IF_ERROR(check_session_id(id));
  std::lock_guard lock(mutex_);
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return make_error(ErrorCode::kNotFound,
                      "no live session '{}' on this server: it ended, or it is on another "
                      "replica",
                      id.substr(0, 64));
  }
  ++it->second.connections;
  return it->second.session;
}

void LiveHub::leave(const std::string& id) {
  std::shared_ptr<live::Session> closing;
  std::size_t open = 0;
  {
    std::lock_guard lock(mutex_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end() || --it->second.connections > 0) return;
    closing = std::move(it->second.session);
    sessions_.erase(it);
    open = sessions_.size();
  }
  closing->close();
  record_closed(id, closing->stats(), open);
}

void LiveHub::record_closed(const std::string& id, const live::LiveStats& stats,
                            std::size_t open) const {
  LOG_INFO("live",
           "session {} closed ({} open): {} frames ({} speech, {} idle, {} skipped, {} failed), "
           "{} utterances, {} interrupts; first frame {:.0f} ms, latest frame {:.0f} ms late, "
           "audio up to {:.0f} ms late, jitter buffer {:.0f} ms",
           id, open, stats.frames, stats.speech_frames, stats.idle_frames, stats.skipped_frames,
           stats.render_errors, stats.utterances, stats.interrupts, stats.first_frame_ms,
           stats.max_late_ms, stats.audio_late_ms, stats.jitter_buffer_ms);
  if (context_.metrics == nullptr) return;
  http::Metrics& metrics = *context_.metrics;
  // Once per session, in the stage histogram (docs/serving.md): how its frames kept time.
  if (stats.first_frame_ms >= 0) metrics.observe_stage_ms("live_first_frame", stats.first_frame_ms);
  if (stats.frames > 0) metrics.observe_stage_ms("live_max_late", stats.max_late_ms);
  if (stats.last_interrupt_to_idle_ms >= 0)
    metrics.observe_stage_ms("live_interrupt_to_idle", stats.last_interrupt_to_idle_ms);
  if (stats.utterances > 0) {
    metrics.observe_stage_ms("live_audio_late", stats.audio_late_ms);
    metrics.observe_stage_ms("live_jitter_buffer", stats.jitter_buffer_ms);
  }
}

bool LiveHub::take_webrtc_peer(int max) {
  int taken = webrtc_peers_.load();
  do {
    if (taken >= max) return false;
  } while (!webrtc_peers_.compare_exchange_weak(taken, taken + 1));
  return true;
}

void LiveHub::give_webrtc_peer() {
  --webrtc_peers_;
}

std::size_t LiveHub::sessions() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace lipsync::server
