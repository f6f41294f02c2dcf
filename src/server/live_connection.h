// One client's connection to a live session (live_hub.h), whatever carries it: the WebSocket
// /ws/live (web_live.cpp) or the native Live RPC (native_live.cpp). Speech in, frames out:
// - speech (any rate and channels, interleaved) is queued and turned into 16 kHz mono frames on a
//   worker thread, so that an interrupt acts at once, not after the speech sent before it;
// - frames go out on a sender thread from a short queue that drops the oldest, so a slow client
//   loses old frames and never stalls the session.
// Module-internal: included by src/server only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "audio/audio_decoder.h"
#include "core/bounded_queue.h"
#include "core/status.h"
#include "live/live_session.h"

namespace lipsync::server {

// Frames waiting for a slow client; older ones are dropped (a live view wants the newest).
inline constexpr std::size_t kQueuedFramesPerClient = 8;
// Speech messages waiting for the worker; more blocks the caller, which is the back-pressure a
// client sending faster than real time feels.
inline constexpr std::size_t kQueuedSpeechMessages = 100;

// The speech a connection sends: its rate and channels (interleaved).
struct SpeechFormat {
  int sample_rate_hz = 16000;
  int channels = 1;
};
// 8000..192000 Hz, 1..8 channels; `rate_field`/`channels_field` name them in the error.
Status check(const SpeechFormat& format, std::string_view rate_field,
             std::string_view channels_field);

struct LiveConnectionCallbacks {
  // Each frame of the session, on the session's thread; must not block. Returns the frame to
  // queue for `send` (possibly changed), or none. Unset: every frame as it is.
  std::function<std::optional<live::LiveFrame>(const live::LiveFrame&)> filter;
  // One queued frame, on the sender thread. False: the client is gone; nothing more is sent.
  std::function<bool(const live::LiveFrame&)> send;
  // A refused message (the session goes on), on the worker's or the caller's thread.
  std::function<void(const Status&)> report;
};

class LiveConnection {
 public:
  LiveConnection(std::shared_ptr<live::Session> session, SpeechFormat format,
                 LiveConnectionCallbacks callbacks);
  ~LiveConnection();  // stops watching, joins the sender and the worker
  LiveConnection(const LiveConnection&) = delete;
  LiveConnection& operator=(const LiveConnection&) = delete;

  // Watches the session from its next frame on; starts the sender and the worker.
  Status start();

  // Interleaved samples in the connection's format, queued for the worker (blocks while
  // kQueuedSpeechMessages wait).
  void speak(std::vector<float> samples);
  // The speech so far is complete: its last frames are shown now.
  void end_speech();
  // Drops the speech not yet shown, queued here or in the session; idle resumes at once.
  void interrupt();
  // False once `send` said the client is gone.
  bool sending() const { return !frames_.closed(); }

  live::Session& session() { return *session_; }

 private:
  struct SpeechInput {
    std::vector<float> samples;  // interleaved, at the connection's rate
    bool end = false;
    std::uint64_t generation = 0;  // interrupts before it was queued
  };

  void send_frames();
  void take_speech();
  Status push_speech(const std::vector<float>& samples);  // with speech_mutex_ held
  Status finish_speech();                                 // with speech_mutex_ held
  Status reset_converter();

  const std::shared_ptr<live::Session> session_;
  const SpeechFormat format_;
  const LiveConnectionCallbacks callbacks_;
  BoundedQueue<live::LiveFrame> frames_;
  BoundedQueue<SpeechInput> speech_;
  std::mutex speech_mutex_;  // held by the worker while it turns one input into frames
  // Interrupts so far: written under speech_mutex_ by interrupt(), read by speak() and
  // end_speech() (the caller's thread, the same one as interrupt()'s) and by the worker under
  // speech_mutex_.
  std::uint64_t generation_ = 0;
  std::optional<audio::PcmStreamConverter> converter_;  // used under speech_mutex_
  std::thread sender_;
  std::thread speaker_;
  int watcher_ = 0;
};

}  // namespace lipsync::server
