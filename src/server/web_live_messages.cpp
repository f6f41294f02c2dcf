#include "server/web_live_messages.h"

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

namespace lipsync::server {
namespace {

using nlohmann::json;

Result<int> integer_field(const json& message, const char* name, int low, int high, int fallback) {
  const auto it = message.find(name);
  if (it == message.end()) return fallback;
  if (!it->is_number_integer() || *it < low || *it > high) {
    return make_error(ErrorCode::kInvalidArgument, "\"{}\" must be an integer in {}..{}", name, low,
                      high);
  }
  return it->get<int>();
}

Result<std::string> string_field(const json& message, const char* name) {
  const auto it = message.find(name);
  if (it == message.end()) return std::string();
  if (!it->is_string())
    return make_error(ErrorCode::kInvalidArgument, "\"{}\" must be a string", name);
  return it->get<std::string>();
}

// Whether `name` is the JSON boolean true. (json::value(name, false) throws for any other type:
// {"interrupt": 1} ended the connection.)
bool flag_set(const json& message, const char* name) {
  const auto it = message.find(name);
  return it != message.end() && it->is_boolean() && it->get<bool>();
}

// The fields of a message with a "type" (WebRTC signalling, docs/api.md "WebRTC").
LiveCommand webrtc_command(const json& message) {
  using Kind = LiveCommand::Kind;
  LiveCommand command{.kind = Kind::kWebRtcRefused};
  const json& type = message["type"];
  if (!type.is_string()) {
    command.problem = make_error(ErrorCode::kInvalidArgument, "\"type\" must be a string");
  } else if (type == "webrtc-start") {
    command.kind = Kind::kWebRtcStart;
  } else if (type == "webrtc-stop") {
    command.kind = Kind::kWebRtcStop;
  } else if (type == "webrtc-answer") {
    command.kind = Kind::kWebRtcAnswer;
    const auto sdp = message.find("sdp");
    if (sdp != message.end() && sdp->is_string()) {
      command.sdp = sdp->get<std::string>();
    } else {
      command.problem = make_error(ErrorCode::kInvalidArgument,
                                   "a webrtc-answer needs \"sdp\": the answer's SDP text");
    }
  } else if (type == "webrtc-candidate") {
    command.kind = Kind::kWebRtcCandidate;
    const auto candidate = message.find("candidate");
    const auto index = message.find("sdpMLineIndex");
    if (candidate != message.end() && candidate->is_string() && index != message.end() &&
        index->is_number_integer()) {
      command.candidate = candidate->get<std::string>();
      command.sdp_mline_index = index->get<int>();
    } else {
      command.problem = make_error(ErrorCode::kInvalidArgument,
                                   "a webrtc-candidate needs \"candidate\" (text) and "
                                   "\"sdpMLineIndex\" (integer)");
    }
  } else {
    command.problem = make_error(ErrorCode::kInvalidArgument,
                                 "unknown \"type\": use webrtc-start, webrtc-answer, "
                                 "webrtc-candidate or webrtc-stop");
  }
  return command;
}

}  // namespace

Result<LiveOpening> parse_live_opening(const http::WebSocketMessage& message) {
  const json request =
      message.binary ? json() : json::parse(message.data, nullptr, /*allow_exceptions=*/false);
  if (!request.is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the first message must be JSON text such as {{\"model\": \"ID\"}} or "
                      "{{\"join\": \"SESSION\"}}");
  }
  LiveOpening opening;
  ASSIGN_OR_RETURN(opening.join, string_field(request, "join"));
  ASSIGN_OR_RETURN(const std::string format, string_field(request, "format"));
  if (format == "f32") {
    opening.format = PcmFormat::kF32;
  } else if (!format.empty() && format != "s16") {
    return make_error(ErrorCode::kInvalidArgument,
                      "\"format\" '{}' is unknown: use \"s16\" (16-bit) or \"f32\" (float) "
                      "little-endian PCM",
                      format.substr(0, 32));
  }
  ASSIGN_OR_RETURN(opening.sample_rate_hz,
                   integer_field(request, "sample_rate", 8000, 192000, timeline::kSampleRateHz));
  ASSIGN_OR_RETURN(opening.channels, integer_field(request, "channels", 1, 8, 1));
  if (!opening.join.empty()) return opening;

  LiveRequest open;
  ASSIGN_OR_RETURN(open.model_id, string_field(request, "model"));
  if (open.model_id.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "\"model\" (a model id) or \"join\" (a session id) is required");
  }
  ASSIGN_OR_RETURN(const std::string idle, string_field(request, "idle"));
  if (!idle.empty()) {
    ASSIGN_OR_RETURN(open.idle, live::parse_idle_mode(idle));
  }
  if (const auto it = request.find("silence_threshold_dbfs"); it != request.end()) {
    if (!it->is_number() || *it > 0 || *it < -200) {
      return make_error(ErrorCode::kInvalidArgument,
                        "\"silence_threshold_dbfs\" must be a number in -200..0 (e.g. -45)");
    }
    open.speech.silence_threshold_dbfs = it->get<double>();
  }
  opening.open = std::move(open);
  return opening;
}

Result<LiveCommand> parse_live_command(std::string_view text) {
  const json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (message.is_object() && message.contains("type")) return webrtc_command(message);
  if (message.is_object() && flag_set(message, "interrupt"))
    return LiveCommand{.kind = LiveCommand::Kind::kInterrupt};
  if (message.is_object() && flag_set(message, "end"))
    return LiveCommand{.kind = LiveCommand::Kind::kEnd};
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown message: send {{\"interrupt\": true}}, {{\"end\": true}} or "
                    "binary audio");
}

Result<std::vector<float>> live_pcm_samples(std::string_view bytes, PcmFormat format,
                                            int channels) {
  const std::size_t width = format == PcmFormat::kS16 ? 2 : 4;
  if (bytes.size() % (width * static_cast<std::size_t>(channels)) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} bytes of audio is not a whole number of {}-channel {} samples",
                      bytes.size(), channels, format == PcmFormat::kS16 ? "s16" : "f32");
  }
  std::vector<float> samples(bytes.size() / width);
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const unsigned char* p = data + i * width;
    if (format == PcmFormat::kS16) {
      const auto value = static_cast<std::int16_t>(p[0] | (p[1] << 8));
      samples[i] = static_cast<float>(value) / 32768.0f;
    } else {
      const std::uint32_t bits = p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24);
      std::memcpy(&samples[i], &bits, sizeof bits);
    }
  }
  return samples;
}

}  // namespace lipsync::server
