// The GStreamer implementation of webrtc/webrtc_peer.h (built when LIPSYNC_WITH_WEBRTC).
//
//   appsrc (image/jpeg) ! jpegdec ! videoconvert ! x264enc ! h264 constrained-baseline
//     ! rtph264pay ! webrtcbin
//   appsrc (F32 16 kHz mono) ! audioconvert ! audioresample ! opusenc ! rtpopuspay ! webrtcbin
//
// webrtcbin holds the payloaders' buffers at its sink pads until the session is negotiated; the
// appsrcs then drop their oldest buffers (leaky), so a peer that is not yet connected or falls
// behind costs a bounded amount of memory and never blocks the live session's thread.
//
// Why one file of ~500 lines: the pipeline's construction, the negotiation and ICE callbacks and
// the push/stop paths all work on the same GObject state (the pipeline, webrtcbin, the appsrcs)
// through GLib signal closures; split apart, they would share a header of raw GStreamer pointers,
// which webrtc_peer.h exists to keep out of every other file.
#include "webrtc/webrtc_peer.h"

#define GST_USE_UNSTABLE_API  // webrtc's headers warn without it
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "core/log.h"

namespace lipsync::webrtc {
namespace {

// A key frame every 2 s at 25 fps: a browser that joins or loses packets waits at most that.
constexpr int kKeyFrameInterval = 50;
constexpr int kVideoKbps = 1500;
constexpr int kAudioBitsPerSecond = 32000;
// Buffers an appsrc keeps for a peer that does not take them (not yet connected, too slow):
// 200 ms, then the oldest go (more would reach the browser as a stale burst on connecting).
constexpr guint64 kQueuedBuffers = 5;

std::once_flag init_once;
bool init_ok = false;
std::string init_error;

void init_gstreamer() {
  std::call_once(init_once, [] {
    GError* error = nullptr;
    init_ok = gst_init_check(nullptr, nullptr, &error);
    if (!init_ok) {
      init_error = error != nullptr ? error->message : "gst_init_check failed";
      if (error != nullptr) g_error_free(error);
      return;
    }
    // The elements a peer needs, with the Debian package that has each.
    const std::pair<const char*, const char*> needed[] = {
        {"webrtcbin", "gstreamer1.0-plugins-bad"},
        {"nicesrc", "gstreamer1.0-nice"},
        {"x264enc", "gstreamer1.0-plugins-ugly"},
        {"jpegdec", "gstreamer1.0-plugins-good"},
        {"rtph264pay", "gstreamer1.0-plugins-good"},
        {"rtpopuspay", "gstreamer1.0-plugins-good"},
        {"opusenc", "gstreamer1.0-plugins-base"},
        {"videoconvert", "gstreamer1.0-plugins-base"},
        {"audioresample", "gstreamer1.0-plugins-base"},
        {"appsrc", "gstreamer1.0-plugins-base"}};
    for (const auto& [element, package] : needed) {
      GstElementFactory* factory = gst_element_factory_find(element);
      if (factory == nullptr) {
        init_ok = false;
        init_error =
            fmt::format("the GStreamer element '{}' is missing: install {}", element, package);
        return;
      }
      gst_object_unref(factory);
    }
  });
}

const char* state_name(GstWebRTCPeerConnectionState state) {
  switch (state) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
      return "connecting";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      return "connected";
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      return "failed";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
      return "closed";
  }
  return "connecting";
}

// The error of a webrtcbin promise's reply, if it has one.
std::string promise_error(GstPromise* promise) {
  if (gst_promise_wait(promise) != GST_PROMISE_RESULT_REPLIED) return "no reply from webrtcbin";
  const GstStructure* reply = gst_promise_get_reply(promise);
  if (reply == nullptr || !gst_structure_has_field(reply, "error")) return {};
  GError* error = nullptr;
  gst_structure_get(reply, "error", G_TYPE_ERROR, &error, nullptr);
  std::string text = error != nullptr ? error->message : "an error";
  if (error != nullptr) g_error_free(error);
  return text;
}

}  // namespace

bool available() {
  init_gstreamer();
  return init_ok;
}

std::string unavailable_reason() {
  init_gstreamer();
  return init_ok ? std::string() : init_error;
}

struct Peer::Impl {
  PeerCallbacks callbacks;
  GstElement* pipeline = nullptr;
  GstElement* webrtc = nullptr;
  GstElement* video_src = nullptr;
  GstElement* audio_src = nullptr;

  std::atomic<int> pads_with_caps{0};
  std::atomic<bool> offered{false};
  std::atomic<bool> closing{false};
  std::atomic<std::int64_t> frames_in{0};
  std::atomic<std::int64_t> video_packets{0};
  std::atomic<std::int64_t> audio_packets{0};

  std::mutex time_mutex;
  bool have_base = false;
  GstClockTime base_running_time = 0;
  std::int64_t first_pts_ms = 0;
  std::string last_state;

  ~Impl() {
    closing = true;
    if (pipeline != nullptr) {
      gst_element_set_state(pipeline, GST_STATE_NULL);
      GstBus* bus = gst_element_get_bus(pipeline);
      gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
      gst_object_unref(bus);
    }
    if (webrtc != nullptr) gst_object_unref(webrtc);
    if (video_src != nullptr) gst_object_unref(video_src);
    if (audio_src != nullptr) gst_object_unref(audio_src);
    if (pipeline != nullptr) gst_object_unref(pipeline);
  }

  void state(const std::string& name) {
    {
      std::lock_guard lock(time_mutex);
      if (name == last_state) return;
      last_state = name;
    }
    if (!closing && callbacks.on_state) callbacks.on_state(name);
  }

  // Once the audio and the video pad of webrtcbin know their caps, the offer can name the
  // codecs as they are (H.264 profile and level, Opus parameters).
  void caps_arrived() {
    if (pads_with_caps.fetch_add(1) + 1 != 2 || offered.exchange(true)) return;
    GstPromise* promise = gst_promise_new_with_change_func(
        [](GstPromise* done, gpointer self) { static_cast<Impl*>(self)->offer_created(done); },
        this, nullptr);
    g_signal_emit_by_name(webrtc, "create-offer", nullptr, promise);
  }

  void offer_created(GstPromise* promise) {
    const GstStructure* reply = gst_promise_get_reply(promise);
    GstWebRTCSessionDescription* offer = nullptr;
    if (reply != nullptr) {
      gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
    }
    gst_promise_unref(promise);
    if (offer == nullptr) {
      LOG_ERROR("webrtc", "webrtcbin made no offer");
      state("failed");
      return;
    }
    g_signal_emit_by_name(webrtc, "set-local-description", offer, nullptr);
    gchar* text = gst_sdp_message_as_text(offer->sdp);
    const std::string sdp = text;
    g_free(text);
    gst_webrtc_session_description_free(offer);
    if (!closing && callbacks.on_offer) callbacks.on_offer(sdp);
  }
};

namespace {

GstElement* make(GstElement* pipeline, const char* factory, const char* name = nullptr) {
  GstElement* element = gst_element_factory_make(factory, name);
  if (element != nullptr) gst_bin_add(GST_BIN(pipeline), element);
  return element;
}

GstElement* capsfilter(GstElement* pipeline, const char* caps_text) {
  GstElement* filter = make(pipeline, "capsfilter");
  GstCaps* caps = gst_caps_from_string(caps_text);
  g_object_set(filter, "caps", caps, nullptr);
  gst_caps_unref(caps);
  return filter;
}

void count_packets(GstElement* payloader, std::atomic<std::int64_t>* counter) {
  GstPad* pad = gst_element_get_static_pad(payloader, "src");
  gst_pad_add_probe(
      pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
      [](GstPad*, GstPadProbeInfo* info, gpointer data) {
        auto* n = static_cast<std::atomic<std::int64_t>*>(data);
        if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
          *n += gst_buffer_list_length(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
        } else {
          *n += 1;
        }
        return GST_PAD_PROBE_OK;
      },
      counter, nullptr);
  gst_object_unref(pad);
}

// Links the payloader's chain into a new webrtcbin sink pad, sending only; watches for caps.
Status link_to_webrtc(Peer::Impl& impl, GstElement* last) {
  GstPad* src = gst_element_get_static_pad(last, "src");
  GstPad* sink = gst_element_request_pad_simple(impl.webrtc, "sink_%u");
  const bool linked = sink != nullptr && gst_pad_link(src, sink) == GST_PAD_LINK_OK;
  if (linked) {
    GstWebRTCRTPTransceiver* transceiver = nullptr;
    g_object_get(sink, "transceiver", &transceiver, nullptr);
    if (transceiver != nullptr) {
      g_object_set(transceiver, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                   nullptr);
      gst_object_unref(transceiver);
    }
    gst_pad_add_probe(
        sink, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
        [](GstPad* pad, GstPadProbeInfo* info, gpointer data) {
          GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
          if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
          GstCaps* caps = nullptr;
          gst_event_parse_caps(event, &caps);
          const GstStructure* s = gst_caps_get_structure(caps, 0);
          // H.264's first caps may precede the SPS that gives its profile: wait for that.
          const char* encoding = gst_structure_get_string(s, "encoding-name");
          if (encoding != nullptr && std::strcmp(encoding, "H264") == 0 &&
              !gst_structure_has_field(s, "profile-level-id")) {
            return GST_PAD_PROBE_OK;
          }
          // The offer names these caps (the pad's own are set only after this probe).
          GstWebRTCRTPTransceiver* transceiver = nullptr;
          g_object_get(pad, "transceiver", &transceiver, nullptr);
          if (transceiver != nullptr) {
            g_object_set(transceiver, "codec-preferences", caps, nullptr);
            gst_object_unref(transceiver);
          }
          static_cast<Peer::Impl*>(data)->caps_arrived();
          return GST_PAD_PROBE_REMOVE;
        },
        &impl, nullptr);
  }
  gst_object_unref(src);
  if (sink != nullptr) gst_object_unref(sink);
  if (!linked) return make_error(ErrorCode::kInternal, "could not link a stream into webrtcbin");
  return {};
}

GstElement* appsrc(GstElement* pipeline, const std::string& caps_text) {
  GstElement* src = make(pipeline, "appsrc");
  GstCaps* caps = gst_caps_from_string(caps_text.c_str());
  g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, "is-live", TRUE, "do-timestamp", FALSE,
               "block", FALSE, "max-buffers", kQueuedBuffers, "max-bytes", guint64{0}, nullptr);
  gst_util_set_object_arg(G_OBJECT(src), "leaky-type", "downstream");
  gst_caps_unref(caps);
  return static_cast<GstElement*>(gst_object_ref(src));
}

GstElement* rtp_queue(GstElement* pipeline) {
  GstElement* queue = make(pipeline, "queue");
  g_object_set(queue, "max-size-buffers", guint(200), "max-size-bytes", guint(0), "max-size-time",
               guint64(0), nullptr);
  gst_util_set_object_arg(G_OBJECT(queue), "leaky", "downstream");
  return queue;
}

GstBusSyncReply on_bus(GstBus*, GstMessage* message, gpointer data) {
  auto* impl = static_cast<Peer::Impl*>(data);
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    GError* error = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(message, &error, &debug);
    LOG_ERROR("webrtc", "{}: {} ({})", GST_OBJECT_NAME(GST_MESSAGE_SRC(message)),
              error != nullptr ? error->message : "error", debug != nullptr ? debug : "");
    if (error != nullptr) g_error_free(error);
    g_free(debug);
    impl->state("failed");
  }
  return GST_BUS_DROP;
}

}  // namespace

Peer::Peer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Peer::~Peer() = default;

Result<std::unique_ptr<Peer>> Peer::create(int width, int height, const IceOptions& ice,
                                           PeerCallbacks callbacks) {
  if (!available()) {
    return make_error(ErrorCode::kFailedPrecondition, "WebRTC is off: {}", unavailable_reason());
  }
  RETURN_IF_ERROR(check(ice));
  if (width <= 0 || height <= 0 || width % 2 != 0 || height % 2 != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "H.264 needs an even frame size; the avatar's is {}x{}", width, height);
  }
  auto impl = std::make_unique<Impl>();
  impl->callbacks = std::move(callbacks);
  Impl& p = *impl;
  p.pipeline = gst_pipeline_new("webrtc-peer");
  gst_object_ref_sink(p.pipeline);
  GstElement* webrtc = make(p.pipeline, "webrtcbin");
  p.webrtc = static_cast<GstElement*>(gst_object_ref(webrtc));
  // One ICE transport for audio and video: one UDP port per peer, what a firewall rule expects.
  gst_util_set_object_arg(G_OBJECT(webrtc), "bundle-policy", "max-bundle");
  if (!ice.stun_servers.empty()) {
    g_object_set(webrtc, "stun-server", ice.stun_servers.front().c_str(), nullptr);
  }
  for (const auto& url : ice.turn_servers) {
    gboolean added = FALSE;
    g_signal_emit_by_name(webrtc, "add-turn-server", url.c_str(), &added);
    if (!added) LOG_WARN("webrtc", "webrtcbin refused the TURN server '{}'", url);
  }
  if (ice.min_port != 0 || ice.max_port != 0) {
    GstWebRTCICE* agent = nullptr;
    g_object_get(webrtc, "ice-agent", &agent, nullptr);
    if (agent == nullptr ||
        g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "min-rtp-port") == nullptr) {
      if (agent != nullptr) gst_object_unref(agent);
      return make_error(ErrorCode::kFailedPrecondition,
                        "this GStreamer's ICE agent has no port range (needs 1.20 or later)");
    }
    g_object_set(agent, "min-rtp-port", guint(ice.min_port), "max-rtp-port",
                 guint(ice.max_port == 0 ? 65535 : ice.max_port), nullptr);
    gst_object_unref(agent);
  }

  p.video_src = appsrc(p.pipeline,
                       fmt::format("image/jpeg,width={},height={},framerate=25/1", width, height));
  GstElement* jpegdec = make(p.pipeline, "jpegdec");
  GstElement* convert = make(p.pipeline, "videoconvert");
  GstElement* raw = capsfilter(p.pipeline, "video/x-raw,format=I420");
  GstElement* x264 = make(p.pipeline, "x264enc");
  GstElement* h264 = capsfilter(p.pipeline, "video/x-h264,profile=constrained-baseline");
  GstElement* vpay = make(p.pipeline, "rtph264pay");
  GstElement* vcaps = capsfilter(
      p.pipeline, "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000");
  GstElement* audio_src = p.audio_src =
      appsrc(p.pipeline, "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved");
  GstElement* aconvert = make(p.pipeline, "audioconvert");
  GstElement* resample = make(p.pipeline, "audioresample");
  GstElement* opus = make(p.pipeline, "opusenc");
  GstElement* apay = make(p.pipeline, "rtpopuspay");
  GstElement* acaps = capsfilter(
      p.pipeline, "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000");
  for (GstElement* e : {jpegdec, convert, x264, vpay, aconvert, resample, opus, apay}) {
    if (e == nullptr)
      return make_error(ErrorCode::kFailedPrecondition, "a GStreamer element is missing");
  }
  gst_util_set_object_arg(G_OBJECT(x264), "tune", "zerolatency");
  gst_util_set_object_arg(G_OBJECT(x264), "speed-preset", "ultrafast");
  g_object_set(x264, "key-int-max", guint(kKeyFrameInterval), "bitrate", guint(kVideoKbps),
               "threads", guint(1), nullptr);
  // SPS/PPS with every key frame (a browser that starts late can decode), one frame per packet
  // group without waiting for more.
  g_object_set(vpay, "config-interval", -1, nullptr);
  gst_util_set_object_arg(G_OBJECT(vpay), "aggregate-mode", "zero-latency");
  g_object_set(opus, "bitrate", kAudioBitsPerSecond, nullptr);
  gst_util_set_object_arg(G_OBJECT(opus), "audio-type", "voice");

  if (!gst_element_link_many(p.video_src, jpegdec, convert, raw, x264, h264, vpay, vcaps,
                             nullptr) ||
      !gst_element_link_many(audio_src, aconvert, resample, opus, apay, acaps, nullptr)) {
    return make_error(ErrorCode::kInternal, "could not link the WebRTC pipeline");
  }
  // Each stream's RTP reaches webrtcbin through a queue of its own: the encoders' threads never
  // wait on the transport (DTLS, ICE), which takes the newest packets when it falls behind.
  GstElement* vqueue = rtp_queue(p.pipeline);
  GstElement* aqueue = rtp_queue(p.pipeline);
  if (!gst_element_link(vcaps, vqueue) || !gst_element_link(acaps, aqueue)) {
    return make_error(ErrorCode::kInternal, "could not link the WebRTC pipeline");
  }
  RETURN_IF_ERROR(link_to_webrtc(p, vqueue));
  RETURN_IF_ERROR(link_to_webrtc(p, aqueue));
  count_packets(vpay, &p.video_packets);
  count_packets(apay, &p.audio_packets);

  g_signal_connect(webrtc, "on-ice-candidate",
                   G_CALLBACK(+[](GstElement*, guint mline, gchar* candidate, gpointer self) {
                     auto* impl = static_cast<Impl*>(self);
                     if (!impl->closing && impl->callbacks.on_candidate) {
                       impl->callbacks.on_candidate(static_cast<int>(mline), candidate);
                     }
                   }),
                   &p);
  g_signal_connect(webrtc, "notify::connection-state",
                   G_CALLBACK(+[](GstElement* element, GParamSpec*, gpointer self) {
                     GstWebRTCPeerConnectionState state{};
                     g_object_get(element, "connection-state", &state, nullptr);
                     static_cast<Impl*>(self)->state(state_name(state));
                   }),
                   &p);
  GstBus* bus = gst_element_get_bus(p.pipeline);
  gst_bus_set_sync_handler(bus, on_bus, &p, nullptr);
  gst_object_unref(bus);

  if (gst_element_set_state(p.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    return make_error(ErrorCode::kInternal, "the WebRTC pipeline did not start");
  }
  return std::unique_ptr<Peer>(new Peer(std::move(impl)));
}

Status Peer::set_answer(const std::string& sdp) {
  GstSDPMessage* message = nullptr;
  gst_sdp_message_new_from_text(sdp.c_str(), &message);
  if (message == nullptr || gst_sdp_message_medias_len(message) == 0) {
    if (message != nullptr) gst_sdp_message_free(message);
    return make_error(ErrorCode::kInvalidArgument,
                      "the answer is not SDP with media lines (m=...): send the browser's "
                      "RTCSessionDescription.sdp of type \"answer\"");
  }
  bool video = false;
  bool audio = false;
  for (guint i = 0; i < gst_sdp_message_medias_len(message); ++i) {
    const GstSDPMedia* media = gst_sdp_message_get_media(message, i);
    const char* kind = gst_sdp_media_get_media(media);
    const bool accepted = gst_sdp_media_get_port(media) != 0;
    if (kind != nullptr && std::strcmp(kind, "video") == 0) video = video || accepted;
    if (kind != nullptr && std::strcmp(kind, "audio") == 0) audio = audio || accepted;
  }
  if (!video || !audio) {
    gst_sdp_message_free(message);
    return make_error(ErrorCode::kInvalidArgument,
                      "the answer has no accepted {} m-line: the browser refused the offer's {} "
                      "(H.264 video and Opus audio are needed)",
                      video ? "audio" : "video", video ? "audio" : "video");
  }
  if (!impl_->offered) {
    gst_sdp_message_free(message);
    return make_error(ErrorCode::kFailedPrecondition, "no offer was made yet to answer");
  }
  GstWebRTCSessionDescription* answer =
      gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, message);
  GstPromise* promise = gst_promise_new();
  g_signal_emit_by_name(impl_->webrtc, "set-remote-description", answer, promise);
  const std::string error = promise_error(promise);
  gst_promise_unref(promise);
  gst_webrtc_session_description_free(answer);
  if (!error.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "webrtcbin refused the answer: {}", error);
  }
  return {};
}

Status Peer::add_candidate(int mline_index, const std::string& candidate) {
  if (candidate.empty()) return {};  // the end of the browser's candidates
  if (mline_index < 0 || mline_index > 1 || !candidate.starts_with("candidate:") ||
      candidate.size() > 1024 || candidate.find_first_of("\r\n") != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "an ICE candidate must be one 'candidate:...' line for m-line 0 or 1");
  }
  g_signal_emit_by_name(impl_->webrtc, "add-ice-candidate", guint(mline_index), candidate.c_str());
  return {};
}

void Peer::push(const live::LiveFrame& frame) {
  if (!frame.jpeg || !frame.pcm) return;
  Impl& p = *impl_;
  GstClockTime pts = 0;
  {
    std::lock_guard lock(p.time_mutex);
    if (!p.have_base) {
      // The first frame plays now: running time of the pipeline; later ones at their offset.
      GstClock* clock = gst_element_get_clock(p.pipeline);
      if (clock == nullptr) return;  // not playing yet
      p.base_running_time = gst_clock_get_time(clock) - gst_element_get_base_time(p.pipeline);
      gst_object_unref(clock);
      p.first_pts_ms = frame.pts_ms;
      p.have_base = true;
    }
    if (frame.pts_ms < p.first_pts_ms) return;
    pts = p.base_running_time + GstClockTime(frame.pts_ms - p.first_pts_ms) * GST_MSECOND;
  }
  constexpr GstClockTime kFrame = 40 * GST_MSECOND;
  // The JPEG is shared with every other watcher: wrapped, not copied.
  auto* jpeg = new live::Jpeg(frame.jpeg);
  GstBuffer* video = gst_buffer_new_wrapped_full(
      GST_MEMORY_FLAG_READONLY, const_cast<std::uint8_t*>((*jpeg)->data()), (*jpeg)->size(), 0,
      (*jpeg)->size(), jpeg, [](gpointer held) { delete static_cast<live::Jpeg*>(held); });
  GST_BUFFER_PTS(video) = pts;
  GST_BUFFER_DURATION(video) = kFrame;
  auto* pcm = new std::shared_ptr<const std::vector<float>>(frame.pcm);
  const std::size_t bytes = (*pcm)->size() * sizeof(float);
  GstBuffer* audio = gst_buffer_new_wrapped_full(
      GST_MEMORY_FLAG_READONLY, const_cast<float*>((*pcm)->data()), bytes, 0, bytes, pcm,
      [](gpointer held) { delete static_cast<std::shared_ptr<const std::vector<float>>*>(held); });
  GST_BUFFER_PTS(audio) = pts;
  GST_BUFFER_DURATION(audio) = kFrame;
  gst_app_src_push_buffer(GST_APP_SRC(p.video_src), video);  // takes the buffer
  gst_app_src_push_buffer(GST_APP_SRC(p.audio_src), audio);
  ++p.frames_in;
}

PeerStats Peer::stats() const {
  return PeerStats{.frames_in = impl_->frames_in.load(),
                   .video_packets = impl_->video_packets.load(),
                   .audio_packets = impl_->audio_packets.load()};
}

}  // namespace lipsync::webrtc
