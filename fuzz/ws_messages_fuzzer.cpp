// The messages browsers send on the WebSocket routes, each input through every parser of them:
// /ws/render's JSON job and {"played": K} (server/web_render.h), /ws/live's opening and control
// messages and its binary speech as PCM (server/web_live_messages.h).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/web_live_messages.h"
#include "server/web_render.h"

namespace {

using lipsync::server::LiveCommand;

// What the parsers promise of what they accept; a broken promise is a finding.
void check_job(std::string_view text) {
  const auto job = lipsync::server::parse_web_job(text);
  if (job.ok() && (job->spec.model_id.empty() || job->window < 0)) std::abort();
}

void check_live(std::string_view text) {
  const auto opening =
      lipsync::server::parse_live_opening({.binary = false, .data = std::string(text)});
  if (opening.ok()) {
    if (opening->open ? opening->open->model_id.empty() : opening->join.empty()) std::abort();
    if (opening->channels < 1 || opening->channels > 8) std::abort();
  }
  const auto command = lipsync::server::parse_live_command(text);
  if (command.ok() && command->kind == LiveCommand::Kind::kWebRtcRefused && command->problem.ok())
    std::abort();
}

// The same bytes as speech: the first byte picks the format and channel count, as an opening
// would.
void check_pcm(std::string_view bytes) {
  if (bytes.empty()) return;
  const auto choice = static_cast<unsigned char>(bytes[0]);
  const auto format =
      choice & 1 ? lipsync::server::PcmFormat::kF32 : lipsync::server::PcmFormat::kS16;
  const int channels = 1 + (choice >> 1) % 8;
  (void)lipsync::server::live_pcm_samples(bytes.substr(1), format, channels);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_job(text);
  (void)lipsync::server::parse_web_played(text);
  check_live(text);
  check_pcm(text);
  return 0;
}
