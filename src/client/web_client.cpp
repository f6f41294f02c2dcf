#include "client/web_client.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "http/websocket_client.h"
#include "proto/web_render_protocol.h"

namespace lipsync::client {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// "NOT_FOUND: model 'x' ..." -> that code and message; unknown prefixes are INTERNAL.
Status server_error(const std::string& text) {
  for (int c = static_cast<int>(ErrorCode::kInvalidArgument);
       c <= static_cast<int>(ErrorCode::kInternal); ++c) {
    const auto code = static_cast<ErrorCode>(c);
    const std::string prefix = std::string(to_string(code)) + ": ";
    if (text.starts_with(prefix)) return Status(code, "server: " + text.substr(prefix.size()));
  }
  return Status(ErrorCode::kInternal, "server: " + text);
}

Result<json> parse_json(const std::string& text) {
  json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!message.is_object())
    return make_error(ErrorCode::kDataLoss, "the server sent a text that is not JSON: {}", text);
  if (message.contains("error")) return server_error(message.value("error", std::string()));
  return message;
}

std::uint32_t read_u32(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (int b = 0; b < 4; ++b)
    value |= std::uint32_t{static_cast<std::uint8_t>(bytes[at + b])} << (8 * b);
  return value;
}

Status take_frame(const std::string& bytes, WebRenderStats& stats, const WebFrameSink& sink) {
  if (bytes.size() <= proto::kFrameHeaderBytes)
    return make_error(ErrorCode::kDataLoss, "frame message of {} bytes", bytes.size());
  const WebFrame frame{
      .index = read_u32(bytes, 0),
      .timestamp_ms = read_u32(bytes, 4),
      .jpeg = std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size())
                  .subspan(proto::kFrameHeaderBytes)};
  if (frame.index != stats.frames) {
    return make_error(ErrorCode::kDataLoss, "frame {} arrived where frame {} was due", frame.index,
                      stats.frames);
  }
  ++stats.frames;
  return sink ? sink(frame) : Status{};
}

}  // namespace

Result<WebRenderStats> render_over_websocket(const WebRenderRequest& request,
                                             std::span<const std::uint8_t> audio_file,
                                             const WebFrameSink& sink) {
  ASSIGN_OR_RETURN(auto ws,
                   http::WebSocketClient::connect(request.host, request.port, "/ws/render"));
  json settings{{"model", request.model_id}, {"start_frame", request.start_frame}};
  if (!request.sequence.empty()) settings["sequence"] = request.sequence;
  RETURN_IF_ERROR(ws->send_text(settings.dump()));
  const auto sent = Clock::now();
  RETURN_IF_ERROR(ws->send_binary(audio_file));
  WebRenderStats stats;
  std::int64_t announced = -1;
  while (true) {
    ASSIGN_OR_RETURN(const http::WebSocketMessage message, ws->receive());
    if (message.binary) {
      RETURN_IF_ERROR(take_frame(message.data, stats, sink));
      stats.arrival_ms.push_back(ms_since(sent));
      if (stats.frames == 1) stats.first_frame_ms = stats.arrival_ms.back();
      continue;
    }
    ASSIGN_OR_RETURN(const json reply, parse_json(message.data));
    if (!reply.value("done", false)) {  // the announcement
      announced = reply.value("frames", std::int64_t{-1});
      stats.width = reply.value("width", 0);
      stats.height = reply.value("height", 0);
      continue;
    }
    stats.total_ms = ms_since(sent);
    stats.server_ms = reply.value("ms", 0.0);
    if (stats.frames != announced || reply.value("frames", std::int64_t{-1}) != stats.frames) {
      return make_error(ErrorCode::kDataLoss, "{} frames received, {} announced, {} done",
                        stats.frames, announced, reply.value("frames", std::int64_t{-1}));
    }
    (void)ws->close();  // the server closes anyway
    return stats;
  }
}

}  // namespace lipsync::client
