#include "server/web_live.h"

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audio/audio_decoder.h"
#include "core/bounded_queue.h"
#include "core/log.h"
#include "core/timeline.h"
#include "server/web_live_messages.h"
#include "webrtc/webrtc_peer.h"

namespace lipsync::server {
namespace {

using nlohmann::json;

// While WebRTC plays, a {"type": "frame"} notice at every utterance change and this often.
constexpr std::int64_t kFrameNoticeEvery = 25;
// Frames waiting for a slow client; older ones are dropped (a live view wants the newest).
constexpr std::size_t kQueuedFramesPerClient = 8;
// One binary message of speech: 1 MiB is 32 s of 16 kHz 16-bit mono.
constexpr std::size_t kMaxLiveMessageBytes = std::size_t{1} << 20;

// Speech and "end" from the client, in their order, for the speech worker.
struct SpeechInput {
  std::vector<float> samples;  // interleaved, at the client's rate
  bool end = false;
  std::uint64_t generation = 0;  // interrupts before it was queued
};

// Speech messages waiting for the worker (at most ~10 s of 100 ms chunks); more blocks the
// reader, which is the back-pressure a client sending faster than real time feels.
constexpr std::size_t kQueuedSpeechMessages = 100;

// One connection to a session: its speech input and its frame output. Speech is decoded and
// turned into frames on a worker thread, so that an interrupt is acted on at once, not after
// the speech the client sent before it.
class LiveConnection {
 public:
  LiveConnection(http::WebSocketConnection& ws, std::shared_ptr<live::Session> session,
                 const LiveOpening& opening, LiveHub& hub, const WebRtcSection& webrtc)
      : ws_(ws),
        hub_(hub),
        webrtc_config_(webrtc),
        session_(std::move(session)),
        opening_(opening),
        frames_("live frames", kQueuedFramesPerClient, FullPolicy::kDropOldest),
        speech_("live speech", kQueuedSpeechMessages, FullPolicy::kBlock) {}

  Status start() {
    RETURN_IF_ERROR(reset_converter());
    sender_ = std::thread([this] { send_frames(); });
    speaker_ = std::thread([this] { take_speech(); });
    watcher_ = session_->watch([this](const live::LiveFrame& frame) {
      if (auto peer = current_peer()) peer->push(frame);
      // A browser that plays the WebRTC stream needs no JPEGs; before it connects (the page's
      // poster and first frames) and after it fails they go on.
      if (!webrtc_playing_) {
        frames_.push(frame);
      } else if (frame.utterance != last_utterance_ || frame.index % kFrameNoticeEvery == 0) {
        // The page still learns idle/speech at once, and the WebSocket stays busy (idle timeout).
        live::LiveFrame notice = frame;
        notice.jpeg = nullptr;
        frames_.push(std::move(notice));
      }
      last_utterance_ = frame.utterance;
    });
    return {};
  }

  ~LiveConnection() {
    if (watcher_ != 0) session_->unwatch(watcher_);
    stop_webrtc();
    frames_.close();
    speech_.close();
    if (sender_.joinable()) sender_.join();
    if (speaker_.joinable()) speaker_.join();
  }

  // Reads the client's messages until it leaves or the server stops.
  void serve() {
    while (true) {
      auto message = ws_.receive();
      if (!message.ok()) {
        if (message.status().code() != ErrorCode::kResourceExhausted) return;
        report(make_error(ErrorCode::kResourceExhausted,
                          "an audio message over {} KiB was dropped: send smaller chunks",
                          kMaxLiveMessageBytes >> 10));
        continue;
      }
      const Status handled = message->binary ? queue_speech(message->data) : command(message->data);
      if (!handled.ok()) report(handled);
    }
  }

 private:
  Status queue_speech(const std::string& bytes) {
    ASSIGN_OR_RETURN(std::vector<float> samples,
                     live_pcm_samples(bytes, opening_.format, opening_.channels));
    (void)speech_.push(SpeechInput{.samples = std::move(samples), .generation = generation_});
    return {};
  }

  Status command(const std::string& text) {
    ASSIGN_OR_RETURN(const LiveCommand parsed, parse_live_command(text));
    if (parsed.kind == LiveCommand::Kind::kInterrupt) {
      interrupt();
      return {};
    }
    if (parsed.kind == LiveCommand::Kind::kEnd) {
      (void)speech_.push(SpeechInput{.end = true, .generation = generation_});
      return {};
    }
    if (const Status done = webrtc_command(parsed); !done.ok()) {
      (void)ws_.send_text(json{{"type", "webrtc-error"}, {"error", done.to_string()}}.dump());
      LOG_INFO("live", "WebRTC message refused: {}", done.to_string());
    }
    return {};
  }

  // Drops the speech not yet taken, then the session's. A chunk the worker is turning into
  // frames is finished first (speech_mutex_); one it popped but has not started is dropped by
  // its generation. So nothing sent before the interrupt speaks after it.
  void interrupt() {
    while (speech_.try_pop()) {
    }
    std::lock_guard lock(speech_mutex_);
    ++generation_;  // what the worker popped already but holds no lock for yet is dropped too
    session_->interrupt();
    if (Status reset = reset_converter(); !reset.ok()) report(reset);
  }

  // WebRTC signalling (docs/api.md "WebRTC"): the server offers, the browser answers, ICE
  // candidates trickle both ways.
  Status webrtc_command(const LiveCommand& command) {
    using Kind = LiveCommand::Kind;
    if (command.kind == Kind::kWebRtcRefused) return command.problem;
    if (command.kind == Kind::kWebRtcStart) return start_webrtc();
    if (command.kind == Kind::kWebRtcStop) {
      stop_webrtc();
      return {};
    }
    auto peer = current_peer();
    if (!peer && command.kind == Kind::kWebRtcAnswer) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "no WebRTC offer to answer: send {{\"type\": \"webrtc-start\"}} first");
    }
    if (!peer) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "no WebRTC connection for this candidate: send webrtc-start first");
    }
    RETURN_IF_ERROR(command.problem);
    if (command.kind == Kind::kWebRtcAnswer) return peer->set_answer(command.sdp);
    return peer->add_candidate(command.sdp_mline_index, command.candidate);
  }

  Status start_webrtc() {
    stop_webrtc();  // a page that starts again (reload of its player) replaces its peer
    if (!webrtc_config_.enabled) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "WebRTC is turned off on this server (webrtc.enabled: false)");
    }
    if (!webrtc::available()) {
      return make_error(ErrorCode::kFailedPrecondition, "WebRTC is off on this server: {}",
                        webrtc::unavailable_reason());
    }
    if (!hub_.take_webrtc_peer(webrtc_config_.max_peers)) {
      return make_error(ErrorCode::kResourceExhausted,
                        "{} WebRTC viewers are connected, the most this server takes "
                        "(webrtc.max_peers); the JPEG stream goes on",
                        webrtc_config_.max_peers);
    }
    webrtc::PeerCallbacks callbacks{
        .on_offer =
            [this](const std::string& sdp) {
              (void)ws_.send_text(json{{"type", "webrtc-offer"}, {"sdp", sdp}}.dump());
            },
        .on_candidate =
            [this](int index, const std::string& candidate) {
              (void)ws_.send_text(json{
                  {"type", "webrtc-candidate"}, {"candidate", candidate}, {"sdpMLineIndex", index}}
                                      .dump());
            },
        .on_state =
            [this](const std::string& state) {
              webrtc_playing_ = state == "connected";
              (void)ws_.send_text(json{{"type", "webrtc-state"}, {"state", state}}.dump());
            }};
    const webrtc::IceOptions ice{.stun_servers = webrtc_config_.stun_servers,
                                 .turn_servers = webrtc_config_.turn_servers,
                                 .min_port = webrtc_config_.min_port,
                                 .max_port = webrtc_config_.max_port};
    auto peer =
        webrtc::Peer::create(session_->width(), session_->height(), ice, std::move(callbacks));
    if (!peer.ok()) {
      hub_.give_webrtc_peer();
      return peer.status();
    }
    std::lock_guard lock(peer_mutex_);
    peer_ = std::move(*peer);
    return {};
  }

  void stop_webrtc() {
    std::shared_ptr<webrtc::Peer> peer;
    {
      std::lock_guard lock(peer_mutex_);
      peer.swap(peer_);
    }
    webrtc_playing_ = false;
    if (peer) hub_.give_webrtc_peer();
  }

  std::shared_ptr<webrtc::Peer> current_peer() {
    std::lock_guard lock(peer_mutex_);
    return peer_;
  }

  void take_speech() {
    while (auto input = speech_.pop()) {
      std::lock_guard lock(speech_mutex_);
      if (input->generation != generation_) continue;  // sent before an interrupt
      const Status taken = input->end ? end_speech() : push_speech(input->samples);
      if (!taken.ok()) report(taken);
    }
  }

  Status push_speech(const std::vector<float>& samples) {
    if (!converter_) return session_->push_speech(samples);
    std::vector<float> mono;
    RETURN_IF_ERROR(converter_->push(samples, mono));
    return session_->push_speech(mono);
  }

  Status end_speech() {
    if (converter_) {
      std::vector<float> rest;
      RETURN_IF_ERROR(converter_->flush(rest));
      RETURN_IF_ERROR(session_->push_speech(rest));
      RETURN_IF_ERROR(reset_converter());
    }
    return session_->end_speech();
  }

  Status reset_converter() {
    if (opening_.sample_rate_hz == timeline::kSampleRateHz && opening_.channels == 1) return {};
    ASSIGN_OR_RETURN(auto converter,
                     audio::PcmStreamConverter::create(opening_.sample_rate_hz, opening_.channels));
    converter_ = std::move(converter);
    return {};
  }

  void report(const Status& status) {
    LOG_INFO("live", "client message refused: {}", status.to_string());
    (void)ws_.send_text(json{{"error", status.to_string()}}.dump());
  }

  void send_frames() {
    std::vector<std::uint8_t> message;
    while (auto frame = frames_.pop()) {
      if (!frame->jpeg) {  // while WebRTC plays: the frame's numbers, no picture
        if (!ws_.send_text(json{{"type", "frame"},
                                {"index", frame->index},
                                {"pts_ms", frame->pts_ms},
                                {"utterance", frame->utterance}}
                               .dump())
                 .ok()) {
          return;
        }
        continue;
      }
      const auto header = live_frame_header(*frame);
      message.assign(header.begin(), header.end());
      message.insert(message.end(), frame->jpeg->begin(), frame->jpeg->end());
      if (!ws_.send_binary(message).ok()) return;
    }
  }

  http::WebSocketConnection& ws_;
  LiveHub& hub_;
  const WebRtcSection& webrtc_config_;
  std::shared_ptr<live::Session> session_;
  const LiveOpening opening_;
  BoundedQueue<live::LiveFrame> frames_;
  BoundedQueue<SpeechInput> speech_;
  std::mutex speech_mutex_;  // held by the worker while it turns one input into frames
  // Interrupts so far: written by the reader under speech_mutex_, read by the reader when it
  // queues and by the worker under speech_mutex_.
  std::uint64_t generation_ = 0;
  std::optional<audio::PcmStreamConverter> converter_;  // used under speech_mutex_
  std::thread sender_;
  std::thread speaker_;
  int watcher_ = 0;
  std::mutex peer_mutex_;
  std::shared_ptr<webrtc::Peer> peer_;  // the browser's WebRTC stream, when it asked for one
  std::atomic<bool> webrtc_playing_{false};
  std::int64_t last_utterance_ =
      0;  // of the last frame watched (the session's thread)  // its connection is up: no JPEGs
};

// Whether a page should ask for WebRTC on this server.
bool webrtc_offered(const Config& config) {
  return config.webrtc.enabled && webrtc::available();
}

void handle_live(const ServiceContext& context, LiveHub& hub, http::WebSocketConnection& ws) {
  const auto fail = [&](const Status& status) {
    context.metrics->count_request("web.live", to_string(status.code()));
    LOG_WARN("live", "live session refused: {}", status.to_string());
    (void)ws.send_text(json{{"error", status.to_string()}}.dump());
  };
  auto first = ws.receive();
  if (!first.ok()) return;
  auto opening = parse_live_opening(*first);
  if (!opening.ok()) return fail(opening.status());
  std::string id = opening->join;
  std::shared_ptr<live::Session> session;
  std::string model_id;
  if (opening->open) {
    auto opened = hub.open(*opening->open);
    if (!opened.ok()) return fail(opened.status());
    std::tie(id, session) = std::move(*opened);
    model_id = opening->open->model_id;
  } else {
    auto joined = hub.join(id);
    if (!joined.ok()) return fail(joined.status());
    session = std::move(*joined);
  }
  {
    LiveConnection connection(ws, session, *opening, hub, context.config->webrtc);
    Status started = connection.start();
    if (started.ok()) {
      started = ws.send_text(json{{"session", id},
                                  {"width", session->width()},
                                  {"height", session->height()},
                                  {"fps", timeline::kFramesPerSecond},
                                  {"lookahead_ms", timeline::kLookaheadMs},
                                  {"webrtc", webrtc_offered(*context.config)}}
                                 .dump());
    }
    if (started.ok()) {
      context.metrics->count_request("web.live", "OK");
      connection.serve();
    } else {
      fail(started);
    }
  }
  hub.leave(id);
}

}  // namespace

std::array<std::uint8_t, proto::kLiveFrameHeaderBytes> live_frame_header(const live::LiveFrame& f) {
  const auto put = [](std::uint8_t* out, std::uint32_t value) {
    for (int b = 0; b < 4; ++b) out[b] = static_cast<std::uint8_t>(value >> (8 * b));
  };
  std::array<std::uint8_t, proto::kLiveFrameHeaderBytes> header{};
  put(header.data(), static_cast<std::uint32_t>(f.index));
  put(header.data() + 4, static_cast<std::uint32_t>(f.pts_ms));
  put(header.data() + 8, static_cast<std::uint32_t>(f.utterance));
  return header;
}

Status add_live_routes(const ServiceContext& context, LiveHub& hub,
                       http::WebSocketRoutes& websockets) {
  const WebRtcSection& config = context.config->webrtc;
  RETURN_IF_ERROR(webrtc::check(webrtc::IceOptions{.stun_servers = config.stun_servers,
                                                   .turn_servers = config.turn_servers,
                                                   .min_port = config.min_port,
                                                   .max_port = config.max_port}));
  if (!config.enabled) {
    LOG_INFO("live",
             "WebRTC is off (webrtc.enabled: false): pages watch live sessions as JPEG "
             "frames over /ws/live");
  } else if (!webrtc::available()) {
    LOG_WARN("live", "WebRTC is off: {}; pages watch live sessions as JPEG frames over /ws/live",
             webrtc::unavailable_reason());
  } else {
    LOG_INFO("live", "WebRTC on: STUN {}, TURN {} server(s), UDP ports {}",
             config.stun_servers.empty() ? "none" : config.stun_servers.front(),
             config.turn_servers.size(),
             config.min_port == 0 ? std::string("any")
                                  : fmt::format("{}-{}", config.min_port, config.max_port));
  }
  websockets["/ws/live"] = {
      .handler = [context, &hub](http::WebSocketConnection& ws) { handle_live(context, hub, ws); },
      .max_message_bytes = kMaxLiveMessageBytes};
  return {};
}

}  // namespace lipsync::server
