// `lipsync client --server HOST:PORT --model ID --audio FILE [--batch 25] [--concurrency 1,4]
// [--requests M] [--visual-frames --video V --rects R] [--save DIR] [--start-frame S] [--json]
// [--native [--stream | --session [--chunk-ms 40] [--realtime]] [--send-encoded]]
// [--live [--sessions N] [--interrupt-after S] [--idle-before S] [--idle-after S]]`: an end-to-end
// test and load client. By default it sends compat-API (compat-api.md) InferBatchComposite
// requests as the older clients did; with --native each request sends the clip's audio only to
// the native API (lipsync.v1 Render, RenderStream with --stream, or Session with --session: PCM
// chunks, optionally paced at 1x) and gets the whole clip's frames. It prints, per concurrency
// level, the server's mean stage times, client-side latency percentiles, frames/s and errors.
// With --live it opens live sessions (lipsync.v1 Live) instead and prints one block of their
// first-frame, speech-to-mouth and interrupt-to-idle times (client/live_client.h).
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

#include "audio/audio_decoder.h"
#include "avatar/avatar.h"
#include "cli/commands.h"
#include "client/client.h"
#include "client/live_client.h"
#include "core/log.h"

namespace lipsync::cli {
namespace {

struct ClientFlags {
  client::ClientOptions base;
  std::string audio;
  std::vector<int> concurrency{1};
  bool visual_frames = false;
  std::string video;
  std::string rects;
  std::string save;
  bool json = false;
  bool native = false;
  bool stream = false;
  bool session = false;
  bool send_encoded = false;
  bool live = false;
  client::LiveClientOptions live_options;
  std::string service_config;  // file with a gRPC service config (retry policy)
};

// --service-config FILE -> its JSON text, checked here so a typo is named before any call.
Status load_service_config(const std::string& path, client::ClientOptions& o) {
  if (path.empty()) return {};
  std::ifstream in(path);
  if (!in)
    return make_error(ErrorCode::kInvalidArgument, "--service-config '{}' cannot be read", path);
  std::string text(std::istreambuf_iterator<char>(in), {});
  if (!nlohmann::json::accept(text))
    return make_error(ErrorCode::kInvalidArgument,
                      "--service-config '{}' is not JSON (see deploy/grpc/service_config.json)",
                      path);
  o.service_config_json = std::move(text);
  return {};
}

// Session and RenderStream report when the first frames came.
bool streams(client::ClientApi api) {
  return api == client::ClientApi::kNativeStream || api == client::ClientApi::kNativeSession;
}

std::string_view api_name(client::ClientApi api) {
  switch (api) {
    case client::ClientApi::kCompat:
      return "compat.InferBatchComposite";
    case client::ClientApi::kNative:
      return "native.Render";
    case client::ClientApi::kNativeStream:
      return "native.RenderStream";
    case client::ClientApi::kNativeSession:
      return "native.Session";
  }
  return "";
}

struct Run {
  int concurrency = 0;
  client::ClientReport report;
};

void print_table(const std::vector<Run>& runs, const client::ClientOptions& o) {
  const std::string batch = o.api == client::ClientApi::kCompat
                                ? fmt::format("batch {}", o.batch_size)
                                : std::string("whole clip");
  std::cout << fmt::format("server {}  model {}  {}  {}  requests {}\n", o.server, o.model_id,
                           api_name(o.api), batch, o.requests);
  std::cout << fmt::format("{:>11} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
                           "concurrency", "frames/s", "errors", "p50 ms", "p95 ms", "p99 ms",
                           "mean ms", "infer ms", "comp ms", "audio ms", "total ms");
  for (const Run& run : runs) {
    const auto& r = run.report;
    std::cout << fmt::format(
        "{:>11} {:>8.1f} {:>7} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} "
        "{:>9.1f}\n",
        run.concurrency, r.frames_per_s, r.failed, r.latency_p50_ms, r.latency_p95_ms,
        r.latency_p99_ms, r.latency_mean_ms, r.mean_stage.inference_ms, r.mean_stage.composite_ms,
        r.mean_stage.audio_processing_ms, r.mean_stage.total_ms);
    if (streams(o.api)) {
      const client::FirstMessageStages& f = r.first_message_p50;
      std::cout << fmt::format(
          "{:>11} first frames after p50 {:.1f} ms, p95 {:.1f} ms; their message's server times "
          "p50: audio {:.1f}, queue {:.1f}, prepare {:.1f}, inference {:.1f}, composite {:.1f}, "
          "since the call arrived {:.1f} ms\n",
          "", r.first_frame_p50_ms, r.first_frame_p95_ms, f.audio_ms, f.queue_ms, f.prepare_ms,
          f.inference_ms, f.composite_ms, f.total_ms);
    }
    if (r.lateness_frames > 0) {
      std::cout << fmt::format(
          "{:>11} lateness over {} frames: p50 {:.1f} ms, p95 {:.1f} ms, p99 {:.1f} ms, max "
          "{:.1f} ms; {} of {} sessions kept pace (p99 <= {:.0f} ms)\n",
          "", r.lateness_frames, r.lateness_p50_ms, r.lateness_p95_ms, r.lateness_p99_ms,
          r.lateness_max_ms, r.sessions_kept_pace, r.requests, client::kKeptPaceLatenessMs);
    }
    for (const auto& error : r.errors) std::cout << "  error: " << error << "\n";
  }
  std::cout << "(ms columns after the percentiles: client mean latency, then the server's mean "
               "inference, composite, audio processing and total time)\n";
}

nlohmann::json to_json(const std::vector<Run>& runs, const client::ClientOptions& o) {
  nlohmann::json out = {{"server", o.server},
                        {"model", o.model_id},
                        {"api", api_name(o.api)},
                        {"batch_size", o.batch_size},
                        {"requests", o.requests},
                        {"visual_frames", o.avatar != nullptr},
                        {"runs", nlohmann::json::array()}};
  for (const Run& run : runs) {
    const auto& r = run.report;
    out["runs"].push_back({{"concurrency", run.concurrency},
                           {"succeeded", r.succeeded},
                           {"failed", r.failed},
                           {"errors", r.errors},
                           {"frames", r.frames},
                           {"wall_s", r.wall_s},
                           {"frames_per_s", r.frames_per_s},
                           {"latency_ms",
                            {{"mean", r.latency_mean_ms},
                             {"p50", r.latency_p50_ms},
                             {"p95", r.latency_p95_ms},
                             {"p99", r.latency_p99_ms}}},
                           {"server_mean_ms",
                            {{"inference", r.mean_stage.inference_ms},
                             {"composite", r.mean_stage.composite_ms},
                             {"audio_processing", r.mean_stage.audio_processing_ms},
                             {"total", r.mean_stage.total_ms}}}});
    if (streams(o.api)) {
      out["runs"].back()["first_frame_ms"] = {{"p50", r.first_frame_p50_ms},
                                              {"p95", r.first_frame_p95_ms}};
      const client::FirstMessageStages& f = r.first_message_p50;
      out["runs"].back()["first_message_server_p50_ms"] = {
          {"audio", f.audio_ms},         {"queue", f.queue_ms},         {"prepare", f.prepare_ms},
          {"inference", f.inference_ms}, {"composite", f.composite_ms}, {"total", f.total_ms}};
    }
    if (r.lateness_frames > 0) {
      out["runs"].back()["lateness_ms"] = {{"frames", r.lateness_frames},
                                           {"p50", r.lateness_p50_ms},
                                           {"p95", r.lateness_p95_ms},
                                           {"p99", r.lateness_p99_ms},
                                           {"max", r.lateness_max_ms}};
      out["runs"].back()["sessions"] = r.requests;
      out["runs"].back()["sessions_kept_pace"] = r.sessions_kept_pace;
    }
  }
  return out;
}

Status load_avatar(const ClientFlags& f, client::ClientOptions& o) {
  if (!f.visual_frames) return {};
  if (f.video.empty() || f.rects.empty())
    return make_error(ErrorCode::kInvalidArgument, "--visual-frames needs --video and --rects");
  ASSIGN_OR_RETURN(o.avatar, avatar::Avatar::load({.video_path = f.video, .rects_path = f.rects}));
  LOG_INFO("client", "avatar '{}': {} frames for visual_frames", f.video, o.avatar->frame_count());
  return {};
}

// --native/--stream/--session/--send-encoded -> the API and, with --send-encoded, the file's
// bytes.
Status choose_api(const ClientFlags& f, client::ClientOptions& o) {
  if ((f.stream || f.session || f.send_encoded) && !f.native) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--stream, --session and --send-encoded need --native");
  }
  if (f.stream && f.session)
    return make_error(ErrorCode::kInvalidArgument, "--stream and --session exclude each other");
  if (f.session && f.send_encoded)
    return make_error(ErrorCode::kInvalidArgument, "--session sends PCM, not --send-encoded");
  if (f.native && f.visual_frames)
    return make_error(ErrorCode::kInvalidArgument, "--visual-frames is for the compat API only");
  if (!f.native) return {};
  o.api = f.session  ? client::ClientApi::kNativeSession
          : f.stream ? client::ClientApi::kNativeStream
                     : client::ClientApi::kNative;
  if (!f.send_encoded) return {};
  std::ifstream in(f.audio, std::ios::binary);
  if (!in) return make_error(ErrorCode::kInvalidArgument, "--audio '{}' cannot be read", f.audio);
  o.encoded_audio.assign(std::istreambuf_iterator<char>(in), {});
  return {};
}

nlohmann::json figure_json(const client::LiveFigure& f) {
  return {{"p50", f.p50}, {"p95", f.p95}, {"max", f.max}, {"n", f.count}};
}

nlohmann::json live_json(const client::LiveReport& report, const client::LiveClientOptions& o) {
  nlohmann::json out = {
      {"server", o.server},
      {"model", o.model_id},
      {"sessions", report.sessions.size()},
      {"failed", report.failed},
      {"first_frame_ms", figure_json(report.first_frame_ms)},
      {"speech_to_mouth_ms", figure_json(report.speech_to_mouth_ms)},
      {"speech_to_mouth_over_lookahead_ms", figure_json(report.speech_to_mouth_over_lookahead_ms)},
      {"interrupt_to_idle_ms", figure_json(report.interrupt_to_idle_ms)},
      {"max_frame_gap_ms", figure_json(report.max_frame_gap_ms)},
      {"per_session", nlohmann::json::array()}};
  for (const auto& s : report.sessions) {
    out["per_session"].push_back({{"session", s.session},
                                  {"lookahead_ms", s.lookahead_ms},
                                  {"first_frame_ms", s.first_frame_ms},
                                  {"speech_to_mouth_ms", s.speech_to_mouth_ms},
                                  {"interrupt_to_idle_ms", s.interrupt_to_idle_ms},
                                  {"frames", s.frames},
                                  {"idle_frames", s.idle_frames},
                                  {"speech_frames", s.speech_frames},
                                  {"missing_frames", s.missing_frames},
                                  {"max_frame_gap_ms", s.max_frame_gap_ms},
                                  {"error", s.error}});
  }
  return out;
}

// --live: sessions on the native Live RPC, the clip spoken into each at 1x.
Status run_live(const ClientFlags& f, std::span<const float> clip) {
  if (f.native || f.visual_frames || !f.save.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--live opens live sessions of its own: drop --native, --visual-frames and "
                      "--save");
  }
  client::LiveClientOptions o = f.live_options;
  o.server = f.base.server;
  o.model_id = f.base.model_id;
  o.connect_timeout_ms = f.base.connect_timeout_ms;
  o.chunk_ms = f.base.chunk_ms;
  LOG_INFO("client", "{} live session(s) on '{}' (model '{}')", o.sessions, o.server, o.model_id);
  ASSIGN_OR_RETURN(const client::LiveReport report, client::run_live(clip, o));
  if (f.json) {
    std::cout << live_json(report, o).dump(2) << "\n";
  } else {
    std::cout << client::format_live_report(report, o);
  }
  if (report.failed > 0)
    return make_error(ErrorCode::kInternal, "{} live session(s) failed", report.failed);
  return {};
}

Status run(const ClientFlags& f) {
  auto clip = audio::load_audio(f.audio);
  if (!clip.ok()) return clip.status().with_context(fmt::format("--audio '{}'", f.audio));
  if (clip->empty())
    return make_error(ErrorCode::kInvalidArgument, "--audio '{}' has no samples", f.audio);
  if (f.live) return run_live(f, *clip);
  client::ClientOptions o = f.base;
  o.save_dir = f.save;
  RETURN_IF_ERROR(choose_api(f, o));
  RETURN_IF_ERROR(load_avatar(f, o));
  RETURN_IF_ERROR(load_service_config(f.service_config, o));
  std::vector<Run> runs;
  for (int concurrency : f.concurrency) {
    o.concurrency = concurrency;
    LOG_INFO("client", "{} {} request(s) to '{}' (model '{}'), concurrency {}", o.requests,
             api_name(o.api), o.server, o.model_id, concurrency);
    ASSIGN_OR_RETURN(auto report, client::run_client(*clip, o));
    runs.push_back({concurrency, std::move(report)});
  }
  if (f.json) {
    std::cout << to_json(runs, o).dump(2) << "\n";
  } else {
    print_table(runs, o);
  }
  for (const Run& r : runs) {
    if (r.report.failed > 0)
      return make_error(ErrorCode::kInternal, "{} request(s) failed", r.report.failed);
  }
  return {};
}

void add(CLI::App& app, Action* action) {
  auto f = std::make_shared<ClientFlags>();
  auto* cmd = app.add_subcommand("client",
                                 "End-to-end test and load client for the compat and native APIs");
  cmd->add_option("--server", f->base.server, "server address HOST:PORT")->required();
  cmd->add_option("--model", f->base.model_id, "model id on the server")->required();
  cmd->add_option("--audio", f->audio, "audio file (any FFmpeg format or .npy)")->required();
  cmd->add_option("--batch", f->base.batch_size, "frames per request")
      ->default_val(25)
      ->check(CLI::Range(1, 32));
  cmd->add_option("--concurrency", f->concurrency,
                  "concurrent workers; a list (1,4) runs each level in turn")
      ->delimiter(',')
      ->default_str("1")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--requests", f->base.requests, "requests in total per level")
      ->default_val(1)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--start-frame", f->base.start_frame, "start frame of the first request")
      ->default_val(0);
  cmd->add_flag("--visual-frames", f->visual_frames,
                "send visual_frames built from --video/--rects, as the older clients did");
  cmd->add_option("--video", f->video, "avatar video for --visual-frames");
  cmd->add_option("--rects", f->rects, "avatar crop rects for --visual-frames");
  cmd->add_option("--save", f->save, "write the returned frames as DIR/frame_%06d.jpg");
  cmd->add_option("--connect-timeout-ms", f->base.connect_timeout_ms,
                  "how long to wait for the server")
      ->default_val(5000)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--service-config", f->service_config,
                  "gRPC service config JSON for the channel, e.g. the retry policy of "
                  "deploy/grpc/service_config.json (a cluster behind a proxy)");
  cmd->add_flag("--json", f->json, "print JSON instead of the table");
  cmd->add_flag("--live", f->live,
                "live sessions (lipsync.v1 Live): open, watch idle, speak the audio at 1x, then "
                "print first frame, speech to mouth and interrupt to idle");
  cmd->add_option("--sessions", f->live_options.sessions, "with --live: sessions at once")
      ->default_val(1)
      ->check(CLI::Range(1, 256));
  cmd->add_option("--idle-before", f->live_options.idle_before_s,
                  "with --live: seconds of idle before the speech")
      ->default_val(1.0)
      ->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--idle-after", f->live_options.idle_after_s,
                  "with --live: seconds of idle after the speech")
      ->default_val(1.0)
      ->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--interrupt-after", f->live_options.interrupt_after_s,
                  "with --live: interrupt this many seconds into the speech (0: never)")
      ->default_val(0.0)
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_flag("--native", f->native,
                "native API (lipsync.v1 Render): each request sends the clip's audio only and "
                "gets all its frames");
  cmd->add_flag("--stream", f->stream, "with --native: RenderStream, frames as batches finish");
  cmd->add_flag("--session", f->session,
                "with --native: Session, the audio sent as PCM chunks (--chunk-ms), frames back as "
                "their audio arrives");
  cmd->add_option("--chunk-ms", f->base.chunk_ms, "with --session: milliseconds of audio per chunk")
      ->default_val(40)
      ->check(CLI::Range(1, 60000));
  cmd->add_flag("--realtime", f->base.realtime,
                "with --session: send each chunk when its audio would have been recorded (1x)");
  cmd->add_flag("--send-encoded", f->send_encoded,
                "with --native: send the audio file's bytes (the server decodes them) instead of "
                "16 kHz PCM");
  cmd->callback([action, f] { *action = status_action([f] { return run(*f); }); });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
