#include "server/web_render.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "audio/audio_decoder.h"
#include "core/client_text.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/model_id.h"
#include "core/timeline.h"
#include "pipeline/batch_window.h"
#include "pipeline/clip_plan.h"
#include "server/compat_service.h"
#include "server/grpc_status.h"

namespace lipsync::server {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// The first message: which model, how to walk its frames, the client's window.
Result<WebJob> parse_job(const http::WebSocketMessage& message) {
  if (message.binary) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the first message must be JSON text such as {{\"model\": \"ID\"}}, "
                      "the audio comes second");
  }
  return parse_web_job(message.data);
}

// The first message's parse result; a refused (too large) or missing message is answered as
// such before anything parses it.
Result<WebJob> receive_job(http::WebSocketConnection& ws) {
  auto first = ws.receive();
  if (!first.ok()) {
    if (first.status().code() != ErrorCode::kResourceExhausted) return first.status();
    return make_error(ErrorCode::kInvalidArgument,
                      "the first message (the JSON job) is over {} bytes; it names a model, "
                      "e.g. {{\"model\": \"ID\"}}, and the audio comes second",
                      kMaxWebJobBytes);
  }
  return parse_job(*first);
}

// The client's flow control (web_render_protocol.h): with "window": N, frame i is sent only once
// the client said {"played": K} with i < K + N, so that a player holds at most N frames.
struct Window {
  std::int64_t frames = 0;  // 0: no window, frames go as fast as they are rendered
  std::int64_t played = 0;
};

// Waits until frame `index` fits the client's window; UNAVAILABLE once the client left.
Status wait_for_window(http::WebSocketConnection& ws, Window& window, std::int64_t index) {
  while (window.frames > 0 && index >= window.played + window.frames) {
    ASSIGN_OR_RETURN(const http::WebSocketMessage message, ws.receive());
    if (message.binary) {
      return make_error(ErrorCode::kInvalidArgument,
                        "after the audio, only {{\"played\": K}} messages are expected");
    }
    ASSIGN_OR_RETURN(const std::int64_t played, parse_web_played(message.data));
    window.played = std::max(window.played, played);
  }
  return {};
}

Result<std::vector<float>> receive_audio(const ServiceContext& context,
                                         http::WebSocketConnection& ws) {
  auto message = ws.receive();
  if (!message.ok()) {
    if (message.status().code() != ErrorCode::kResourceExhausted) return message.status();
    return make_error(ErrorCode::kResourceExhausted, "audio upload too large: the limit is {} MiB",
                      kMaxWebUploadBytes >> 20);
  }
  if (!message->binary) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the second message must be the audio file's bytes (binary)");
  }
  note_request_bytes(context, message->data.size());
  const std::span bytes(message->data.data(), message->data.size());
  return audio::decode_audio_bytes(std::as_bytes(bytes), "the uploaded audio",
                                   {.max_duration_s = kMaxWebAudioSeconds});
}

// Sends the frames of a batch as the client's window allows; false once the client is gone.
Result<bool> send_batch(http::WebSocketConnection& ws, const pipeline::ClipBatch& batch,
                        Window& window) {
  std::vector<std::uint8_t> message;
  for (std::size_t k = 0; k < batch.count(); ++k) {
    const std::int64_t index = batch.first + static_cast<std::int64_t>(k);
    if (const Status room = wait_for_window(ws, window, index); !room.ok()) {
      if (room.code() == ErrorCode::kUnavailable) return false;
      return room;
    }
    const auto header = frame_header(index);
    const auto jpeg = batch.frame_bytes(k);
    message.assign(header.begin(), header.end());
    message.insert(message.end(), jpeg.begin(), jpeg.end());
    if (!ws.send_binary(message).ok()) return false;
  }
  return true;
}

struct RenderSummary {
  std::string model_id;
  std::int64_t frames = 0;
  bool cancelled = false;
};

Status shutting_down() {
  return make_error(ErrorCode::kUnavailable, "the server is shutting down");
}

Status render(const ServiceContext& context, http::WebSocketConnection& ws,
              RenderSummary& summary) {
  if (context.stopping->load()) return shutting_down();
  ASSIGN_OR_RETURN(WebJob job, receive_job(ws));
  pipeline::ClipSpec spec = std::move(job.spec);
  Window window{.frames = job.window};
  summary.model_id = spec.model_id;
  RETURN_IF_ERROR(context.registry->info(spec.model_id).status());  // before the upload is read
  spec.jpeg = output_jpeg_settings(context.config->output);         // the page shows JPEGs whatever
  ASSIGN_OR_RETURN(const std::vector<float> samples, receive_audio(context, ws));
  ASSIGN_OR_RETURN(const pipeline::ClipPlan plan,
                   pipeline::plan_clip(std::move(spec), samples, *context.mel, *context.encoder,
                                       *context.registry));
  RETURN_IF_ERROR(ws.send_text(json{
      {"frames", plan.frame_count()},
      {"width", plan.model.width},
      {"height", plan.model.height},
      {"fps",
       timeline::kFramesPerSecond}}.dump()));
  // Leaving the loop early (the client left, the server stops) destroys the window, which
  // cancels its batches still queued: they are not rendered.
  const std::atomic<bool>& stopping = *context.stopping;
  pipeline::BatchWindow batches(*context.scheduler, plan, context.config->pipeline.max_batch);
  while (!batches.done()) {
    if (ws.closed()) break;
    if (stopping.load()) return shutting_down();
    auto next = batches.next();
    if (!next.ok() && ws.closed()) break;
    if (!next.ok() && stopping.load()) return shutting_down();
    ASSIGN_OR_RETURN(const pipeline::ClipBatch batch, std::move(next));
    ASSIGN_OR_RETURN(const bool sent, send_batch(ws, batch, window));
    if (!sent) break;
    summary.frames += static_cast<std::int64_t>(batch.count());
  }
  summary.cancelled = summary.frames < plan.frame_count();
  return {};
}

void handle_render(const ServiceContext& context, http::WebSocketConnection& ws) {
  const auto start = Clock::now();
  RenderSummary summary;
  const Status status = render(context, ws, summary);
  const double ms = ms_since(start);
  context.metrics->count_request("web.render", to_string(status.code()));
  if (!status.ok()) {
    LOG_WARN("server", "web render{}: {}",
             summary.model_id.empty() ? "" : fmt::format(" model '{}'", summary.model_id),
             client_text(status.to_string(), 1024));
    (void)ws.send_text(json{{"error", client_error(status)}}.dump());  // fails if the client left
  } else if (summary.cancelled) {
    LOG_INFO("server", "web render model '{}': client left after {} frames", summary.model_id,
             summary.frames);
  } else {
    LOG_INFO("server", "web render model '{}': {} frames in {:.0f} ms", summary.model_id,
             summary.frames, ms);
    (void)ws.send_text(json{{"done", true}, {"frames", summary.frames}, {"ms", ms}}.dump());
  }
}

http::HttpResponse list_models(const registry::ModelRegistry& registry) {
  json models = json::array();
  for (const registry::ModelInfo& info : registry.list()) {
    json model{{"id", info.model_id}, {"state", registry::to_string(info.state)}};
    if (info.state == registry::ModelState::kFailed)
      model["reason"] = redact_paths(info.failure_reason);  // the log has the paths
    models.push_back(std::move(model));
  }
  // The page checks a file against these before uploading it.
  const json limits{{"max_upload_bytes", kMaxWebUploadBytes},
                    {"max_audio_seconds", kMaxWebAudioSeconds}};
  return {200, "application/json", json{{"models", std::move(models)}, {"limits", limits}}.dump()};
}

}  // namespace

Result<WebJob> parse_web_job(std::string_view text) {
  if (text.size() > kMaxWebJobBytes) {  // the route refuses these before they get here
    return make_error(ErrorCode::kInvalidArgument, "the job is over {} bytes", kMaxWebJobBytes);
  }
  const json request = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!request.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "the first message is not a JSON object: {}",
                      client_text(text, 80));
  }
  pipeline::ClipSpec spec;
  const auto model = request.find("model");
  if (model == request.end() || !model->is_string() || model->get<std::string>().empty())
    return make_error(ErrorCode::kInvalidArgument, "\"model\" (a model id string) is required");
  spec.model_id = model->get<std::string>();
  RETURN_IF_ERROR(check_model_id(spec.model_id, "\"model\""));
  if (const auto sequence = request.find("sequence"); sequence != request.end()) {
    if (!sequence->is_string())
      return make_error(ErrorCode::kInvalidArgument, "\"sequence\" must be a string");
    const auto mode = imaging::parse_sequence_mode(sequence->get<std::string>());
    if (!mode.ok()) {
      return make_error(ErrorCode::kInvalidArgument, "\"sequence\" '{}' is not ping_pong|wrap",
                        client_text(sequence->get<std::string>(), 32));
    }
    spec.sequence = *mode;
  }
  if (const auto start = request.find("start_frame"); start != request.end()) {
    if (!start->is_number_integer())
      return make_error(ErrorCode::kInvalidArgument, "\"start_frame\" must be an integer");
    spec.start_frame = start->get<std::int64_t>();
    RETURN_IF_ERROR(pipeline::check_start_frame(spec.start_frame));
  }
  WebJob job{.spec = std::move(spec)};
  if (const auto window = request.find("window"); window != request.end()) {
    if (!window->is_number_integer() || window->get<std::int64_t>() < 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        "\"window\" must be a positive integer (frames the client holds), not {}",
                        client_text(window->dump(), 32));
    }
    job.window = window->get<std::int64_t>();
  }
  return job;
}

Result<std::int64_t> parse_web_played(std::string_view text) {
  const json update = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto played = update.is_object() ? update.find("played") : update.end();
  if (!update.is_object() || played == update.end() || !played->is_number_integer()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "after the audio, only {{\"played\": K}} messages are expected");
  }
  return played->get<std::int64_t>();
}

std::array<std::uint8_t, kFrameHeaderBytes> frame_header(std::int64_t index) {
  const auto put = [](std::uint8_t* out, std::uint32_t value) {
    for (int b = 0; b < 4; ++b) out[b] = static_cast<std::uint8_t>(value >> (8 * b));
  };
  std::array<std::uint8_t, kFrameHeaderBytes> header{};
  put(header.data(), static_cast<std::uint32_t>(index));
  put(header.data() + 4, static_cast<std::uint32_t>(timeline::frame_to_ms(index)));
  return header;
}

void add_web_routes(const ServiceContext& context, http::Routes& routes,
                    http::WebSocketRoutes& websockets) {
  routes["/"] = [](const http::HttpRequest&) {
    return http::HttpResponse{200, "text/html; charset=utf-8", std::string(web_page_html())};
  };
  routes["/api/models"] = [registry = context.registry](const http::HttpRequest&) {
    return list_models(*registry);
  };
  websockets["/ws/render"] = {
      .handler = [context](http::WebSocketConnection& ws) { handle_render(context, ws); },
      .max_message_bytes = kMaxWebUploadBytes,
      .max_first_message_bytes = kMaxWebJobBytes};
}

}  // namespace lipsync::server
