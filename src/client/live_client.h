// The live client (`lipsync client --live`): opens live sessions over the native Live RPC
// (lipsync.v1), watches their idle frames, streams a clip into each at the pace it is spoken,
// optionally interrupts it, and measures what a person talking to the avatar notices: the
// first frame after opening, speech to mouth, interrupt to idle. No gRPC types leak out.
//
//   ASSIGN_OR_RETURN(auto clip, audio::load_audio("speech.wav"));
//   ASSIGN_OR_RETURN(LiveReport report, run_live(clip, {.server = "localhost:50053",
//                                                       .model_id = "demo"}));
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::client {

struct LiveClientOptions {
  std::string server;    // host:port
  std::string model_id;  // the server's model id
  int sessions = 1;      // opened at once, each by a call of its own on a connection of its own
  double idle_before_s = 1.0;  // idle watched before the speech starts
  // Interrupt this long after the first speech was sent; 0: the whole clip is spoken.
  double interrupt_after_s = 0;
  double idle_after_s = 1.0;  // idle watched after the speech ended or was interrupted
  int chunk_ms = 40;          // speech per message, sent when it would have been recorded
  int connect_timeout_ms = 5000;
};

// One session, times in milliseconds on the client's clock; -1 where it did not happen.
struct LiveSessionReport {
  std::string session;
  int width = 0;
  int height = 0;
  double lookahead_ms = 0;
  double first_frame_ms = -1;        // from the call's start to the first frame
  double speech_to_mouth_ms = -1;    // first speech sent -> first speech frame received
  double interrupt_to_idle_ms = -1;  // interrupt sent -> first idle frame received
  std::int64_t frames = 0;
  std::int64_t idle_frames = 0;
  std::int64_t speech_frames = 0;
  std::int64_t missing_frames = 0;  // indexes skipped (dropped for a slow reader, or late)
  double max_frame_gap_ms = 0;      // the longest wait between two frames
  std::string error;                // empty when the session ran to its end
};

// A figure over the sessions that have it.
struct LiveFigure {
  int count = 0;
  double p50 = 0;
  double p95 = 0;
  double max = 0;
};

struct LiveReport {
  std::vector<LiveSessionReport> sessions;
  int failed = 0;
  LiveFigure first_frame_ms;
  LiveFigure speech_to_mouth_ms;
  LiveFigure speech_to_mouth_over_lookahead_ms;  // speech to mouth minus the look-ahead
  LiveFigure interrupt_to_idle_ms;
  LiveFigure max_frame_gap_ms;
};

// Runs options.sessions sessions at once (each: open, idle, the clip at 1x, interrupt or end,
// idle, close) with `clip` (16 kHz mono). Fails on bad options, when the server cannot be
// reached, and when every session failed (with the first session's error).
Result<LiveReport> run_live(std::span<const float> clip, const LiveClientOptions& options);

// The report as one block of `name: value` lines (figures as `p50=.. p95=.. max=.. n=..`).
std::string format_live_report(const LiveReport& report, const LiveClientOptions& options);

}  // namespace lipsync::client
