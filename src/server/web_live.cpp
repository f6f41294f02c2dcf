#include "server/web_live.h"

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audio/audio_decoder.h"
#include "core/log.h"
#include "core/timeline.h"
#include "server/live_connection.h"
#include "server/web_live_messages.h"
#include "webrtc/stun_chooser.h"
#include "webrtc/webrtc_peer.h"

namespace lipsync::server {
namespace {

using nlohmann::json;

// While WebRTC plays, a {"type": "frame"} notice at every utterance change and this often.
constexpr std::int64_t kFrameNoticeEvery = 25;
// One binary message of speech: 1 MiB is 32 s of 16 kHz 16-bit mono.
constexpr std::size_t kMaxLiveMessageBytes = std::size_t{1} << 20;

webrtc::IceOptions ice_options(const WebRtcSection& config) {
  return {.stun_servers = config.stun_servers,
          .turn_servers = config.turn_servers,
          .min_port = config.min_port,
          .max_port = config.max_port};
}

// The hello's "ice_servers": the page's RTCPeerConnection `iceServers`. TURN credentials are
// the configured ones: every page that may watch a session gets them (docs/configuration.md).
json browser_ice_servers(const WebRtcSection& config) {
  json servers = json::array();
  for (const auto& server : webrtc::browser_ice_servers(ice_options(config))) {
    json entry = {{"urls", server.urls}};
    if (!server.username.empty()) entry["username"] = server.username;
    if (!server.credential.empty()) entry["credential"] = server.credential;
    servers.push_back(std::move(entry));
  }
  return servers;
}

// One WebSocket's connection to a session: the shared LiveConnection (speech in, frames out),
// the messages of the protocol, and the browser's WebRTC stream when it asks for one.
class WebLiveConnection {
 public:
  WebLiveConnection(http::WebSocketConnection& ws, std::shared_ptr<live::Session> session,
                    const LiveOpening& opening, LiveHub& hub, const WebRtcSection& webrtc,
                    const webrtc::StunChooser& stun)
      : ws_(ws),
        hub_(hub),
        webrtc_config_(webrtc),
        stun_(stun),
        opening_(opening),
        connection_(std::move(session),
                    {.sample_rate_hz = opening.sample_rate_hz, .channels = opening.channels},
                    {.filter = [this](const live::LiveFrame& frame) { return filter(frame); },
                     .send = [this](const live::LiveFrame& frame) { return send(frame); },
                     .report = [this](const Status& status) { report(status); }}) {}

  Status start() { return connection_.start(); }

  ~WebLiveConnection() {
    stop_webrtc();
    // connection_ goes next: it stops watching before the peer and this object's state go.
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
  // Every frame of the session, on its thread: to the WebRTC peer, and what this socket sends.
  std::optional<live::LiveFrame> filter(const live::LiveFrame& frame) {
    if (auto peer = current_peer()) peer->push(frame);
    const std::int64_t last_utterance = last_utterance_;
    last_utterance_ = frame.utterance;
    // A browser that plays the WebRTC stream needs no JPEGs; before it connects (the page's
    // poster and first frames) and after it fails they go on.
    if (!webrtc_playing_) return frame;
    if (frame.utterance != last_utterance || frame.index % kFrameNoticeEvery == 0) {
      // The page still learns idle/speech at once, and the WebSocket stays busy (idle timeout).
      live::LiveFrame notice = frame;
      notice.jpeg = nullptr;
      return notice;
    }
    return std::nullopt;
  }

  Status queue_speech(const std::string& bytes) {
    ASSIGN_OR_RETURN(std::vector<float> samples,
                     live_pcm_samples(bytes, opening_.format, opening_.channels));
    connection_.speak(std::move(samples));
    return {};
  }

  Status command(const std::string& text) {
    ASSIGN_OR_RETURN(const LiveCommand parsed, parse_live_command(text));
    if (parsed.kind == LiveCommand::Kind::kInterrupt) {
      connection_.interrupt();
      return {};
    }
    if (parsed.kind == LiveCommand::Kind::kEnd) {
      connection_.end_speech();
      return {};
    }
    if (const Status done = webrtc_command(parsed); !done.ok()) {
      (void)ws_.send_text(json{{"type", "webrtc-error"}, {"error", done.to_string()}}.dump());
      LOG_INFO("live", "WebRTC message refused: {}", done.to_string());
    }
    return {};
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
    webrtc::IceOptions ice = ice_options(webrtc_config_);
    ice.stun_servers.clear();  // webrtcbin takes one: the first that answers (stun_chooser.h)
    if (std::string stun = stun_.current(); !stun.empty()) ice.stun_servers.push_back(stun);
    auto peer = webrtc::Peer::create(connection_.session().width(), connection_.session().height(),
                                     ice, std::move(callbacks));
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

  void report(const Status& status) {
    LOG_INFO("live", "client message refused: {}", status.to_string());
    (void)ws_.send_text(json{{"error", status.to_string()}}.dump());
  }

  bool send(const live::LiveFrame& frame) {
    if (!frame.jpeg) {  // while WebRTC plays: the frame's numbers, no picture
      return ws_
          .send_text(json{{"type", "frame"},
                          {"index", frame.index},
                          {"pts_ms", frame.pts_ms},
                          {"utterance", frame.utterance}}
                         .dump())
          .ok();
    }
    const auto header = live_frame_header(frame);
    message_.assign(header.begin(), header.end());
    message_.insert(message_.end(), frame.jpeg->begin(), frame.jpeg->end());
    return ws_.send_binary(message_).ok();
  }

  http::WebSocketConnection& ws_;
  LiveHub& hub_;
  const WebRtcSection& webrtc_config_;
  const webrtc::StunChooser& stun_;
  std::mutex peer_mutex_;
  std::shared_ptr<webrtc::Peer> peer_;       // the browser's WebRTC stream, when it asked for one
  std::atomic<bool> webrtc_playing_{false};  // its connection is up: no JPEGs
  std::int64_t last_utterance_ = 0;          // of the last frame filtered (the session's thread)
  std::vector<std::uint8_t> message_;        // the sender thread's frame message
  const LiveOpening opening_;
  LiveConnection connection_;  // last: it stops (unwatches, joins) before the state above goes
};

// Whether a page should ask for WebRTC on this server.
bool webrtc_offered(const Config& config) {
  return config.webrtc.enabled && webrtc::available();
}

void handle_live(const ServiceContext& context, LiveHub& hub, const webrtc::StunChooser& stun,
                 http::WebSocketConnection& ws) {
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
    WebLiveConnection connection(ws, session, *opening, hub, context.config->webrtc, stun);
    Status started = connection.start();
    if (started.ok()) {
      started = ws.send_text(json{{"session", id},
                                  {"width", session->width()},
                                  {"height", session->height()},
                                  {"fps", timeline::kFramesPerSecond},
                                  {"lookahead_ms", timeline::kLookaheadMs},
                                  {"lead_frames", session->lead_frames()},
                                  {"webrtc", webrtc_offered(*context.config)},
                                  {"ice_servers", browser_ice_servers(context.config->webrtc)}}
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
  RETURN_IF_ERROR(webrtc::check(ice_options(config)));
  if (!config.enabled) {
    LOG_INFO("live",
             "WebRTC is off (webrtc.enabled: false): pages watch live sessions as JPEG "
             "frames over /ws/live");
  } else if (!webrtc::available()) {
    LOG_WARN("live", "WebRTC is off: {}; pages watch live sessions as JPEG frames over /ws/live",
             webrtc::unavailable_reason());
  } else {
    LOG_INFO("live",
             "WebRTC on: STUN {} server(s) (peers use the first that answers), TURN {} "
             "server(s), UDP ports {}",
             config.stun_servers.size(), config.turn_servers.size(),
             config.min_port == 0 ? std::string("any")
                                  : fmt::format("{}-{}", config.min_port, config.max_port));
  }
  // Probes the STUN servers only where peers will use them.
  auto stun = std::make_shared<const webrtc::StunChooser>(
      webrtc_offered(*context.config) ? config.stun_servers : std::vector<std::string>());
  websockets["/ws/live"] = {
      .handler = [context, &hub,
                  stun](http::WebSocketConnection& ws) { handle_live(context, hub, *stun, ws); },
      .max_message_bytes = kMaxLiveMessageBytes};
  return {};
}

}  // namespace lipsync::server
