// A WebRTC receiver for tests: a second webrtcbin that answers the server's offer, as a browser
// does, decodes what arrives (decodebin) and counts decoded video frames and audio buffers.
// Header-only; its test target links GStreamer (PkgConfig::LIPSYNC_GST).
#pragma once

#define GST_USE_UNSTABLE_API
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace lipsync::testing {

class WebRtcReceiver {
 public:
  // Called (from GStreamer's threads) with each local ICE candidate, for the sender.
  std::function<void(int, const std::string&)> on_candidate;

  WebRtcReceiver() {
    gst_init(nullptr, nullptr);
    pipeline_ = gst_pipeline_new("receiver");
    webrtc_ = gst_element_factory_make("webrtcbin", "recv");
    gst_util_set_object_arg(G_OBJECT(webrtc_), "bundle-policy", "max-bundle");
    gst_bin_add(GST_BIN(pipeline_), webrtc_);
    g_signal_connect(webrtc_, "pad-added", G_CALLBACK(on_webrtc_pad), this);
    g_signal_connect(webrtc_, "on-ice-candidate",
                     G_CALLBACK(+[](GstElement*, guint mline, gchar* candidate, gpointer self) {
                       auto* me = static_cast<WebRtcReceiver*>(self);
                       if (me->on_candidate) me->on_candidate(static_cast<int>(mline), candidate);
                     }),
                     this);
    gst_element_set_state(pipeline_, GST_STATE_PLAYING);
  }

  ~WebRtcReceiver() {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
  }

  // Sets the offer, answers it; returns the answer's SDP text ("" on failure).
  std::string answer(const std::string& offer_sdp) {
    GstSDPMessage* sdp = nullptr;
    gst_sdp_message_new_from_text(offer_sdp.c_str(), &sdp);
    if (sdp == nullptr) return {};
    GstWebRTCSessionDescription* offer =
        gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
    GstPromise* promise = gst_promise_new();
    g_signal_emit_by_name(webrtc_, "set-remote-description", offer, promise);
    gst_promise_wait(promise);
    gst_promise_unref(promise);
    gst_webrtc_session_description_free(offer);

    promise = gst_promise_new();
    g_signal_emit_by_name(webrtc_, "create-answer", nullptr, promise);
    gst_promise_wait(promise);
    GstWebRTCSessionDescription* answer = nullptr;
    const GstStructure* reply = gst_promise_get_reply(promise);
    if (reply != nullptr) {
      gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
    }
    gst_promise_unref(promise);
    if (answer == nullptr) return {};
    promise = gst_promise_new();
    g_signal_emit_by_name(webrtc_, "set-local-description", answer, promise);
    gst_promise_wait(promise);
    gst_promise_unref(promise);
    gchar* text = gst_sdp_message_as_text(answer->sdp);
    std::string out = text;
    g_free(text);
    gst_webrtc_session_description_free(answer);
    std::vector<std::pair<int, std::string>> pending;
    {
      std::lock_guard lock(mutex_);
      remote_set_ = true;
      pending.swap(pending_);
    }
    for (const auto& [index, candidate] : pending) add(index, candidate);
    return out;
  }

  // A candidate of the sender; kept until the offer is set.
  void add_candidate(int index, const std::string& candidate) {
    {
      std::lock_guard lock(mutex_);
      if (!remote_set_) {
        pending_.emplace_back(index, candidate);
        return;
      }
    }
    add(index, candidate);
  }

  int video_frames() const { return video_frames_; }
  int audio_buffers() const { return audio_buffers_; }
  int video_width() const { return video_width_; }
  int video_height() const { return video_height_; }

  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) const {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

 private:
  void add(int index, const std::string& candidate) {
    g_signal_emit_by_name(webrtc_, "add-ice-candidate", guint(index), candidate.c_str());
  }

  static void on_webrtc_pad(GstElement*, GstPad* pad, gpointer self) {
    auto* me = static_cast<WebRtcReceiver*>(self);
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
    GstElement* decode = gst_element_factory_make("decodebin", nullptr);
    g_signal_connect(decode, "pad-added", G_CALLBACK(on_decoded_pad), me);
    gst_bin_add(GST_BIN(me->pipeline_), decode);
    gst_element_sync_state_with_parent(decode);
    GstPad* sink = gst_element_get_static_pad(decode, "sink");
    gst_pad_link(pad, sink);
    gst_object_unref(sink);
  }

  static void on_decoded_pad(GstElement*, GstPad* pad, gpointer self) {
    auto* me = static_cast<WebRtcReceiver*>(self);
    GstCaps* caps = gst_pad_get_current_caps(pad);
    if (caps == nullptr) caps = gst_pad_query_caps(pad, nullptr);
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    const bool video = std::strncmp(gst_structure_get_name(s), "video/", 6) == 0;
    gst_caps_unref(caps);
    GstElement* sink = gst_element_factory_make("fakesink", nullptr);
    g_object_set(sink, "sync", FALSE, nullptr);
    gst_bin_add(GST_BIN(me->pipeline_), sink);
    gst_element_sync_state_with_parent(sink);
    GstPad* sink_pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_link(pad, sink_pad);
    gst_pad_add_probe(
        sink_pad, GST_PAD_PROBE_TYPE_BUFFER,
        video ? +[](GstPad* p, GstPadProbeInfo*, gpointer data) {
          auto* r = static_cast<WebRtcReceiver*>(data);
          if (GstCaps* c = gst_pad_get_current_caps(p)) {
            const GstStructure* st = gst_caps_get_structure(c, 0);
            int w = 0, h = 0;
            gst_structure_get_int(st, "width", &w);
            gst_structure_get_int(st, "height", &h);
            r->video_width_ = w;
            r->video_height_ = h;
            gst_caps_unref(c);
          }
          ++r->video_frames_;
          return GST_PAD_PROBE_OK;
        }
              : +[](GstPad*, GstPadProbeInfo*, gpointer data) {
                  ++static_cast<WebRtcReceiver*>(data)->audio_buffers_;
                  return GST_PAD_PROBE_OK;
                },
        me, nullptr);
    gst_object_unref(sink_pad);
  }

  GstElement* pipeline_ = nullptr;
  GstElement* webrtc_ = nullptr;
  std::mutex mutex_;
  bool remote_set_ = false;
  std::vector<std::pair<int, std::string>> pending_;
  std::atomic<int> video_frames_{0};
  std::atomic<int> audio_buffers_{0};
  std::atomic<int> video_width_{0};
  std::atomic<int> video_height_{0};
};

}  // namespace lipsync::testing
