// `lipsync web-client`: renders an audio file through the server's browser WebSocket
// (/ws/render) as the page does, checks the frames (order, count) and prints JSON timings:
// time to the first frame, total, frames/s and frame inter-arrival gaps, median and spread
// over --repeat runs.
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "client/client.h"
#include "client/percentile.h"
#include "client/web_client.h"

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct WebClientOptions {
  std::string server = "127.0.0.1:8080";  // the HTTP port
  client::WebRenderRequest request;
  fs::path audio;
  int repeat = 1;
  fs::path save_dir;  // frames of the last run as frame_%06d.jpg
};

Result<std::vector<std::uint8_t>> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open audio file '{}'", path.string());
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

Status parse_server(const std::string& server, client::WebRenderRequest& request) {
  const auto colon = server.rfind(':');
  if (colon == std::string::npos || colon + 1 == server.size())
    return make_error(ErrorCode::kInvalidArgument, "--server '{}' is not HOST:PORT", server);
  request.host = server.substr(0, colon);
  char* end = nullptr;
  request.port = static_cast<int>(std::strtol(server.c_str() + colon + 1, &end, 10));
  if (*end != '\0' || request.port <= 0 || request.port > 65535)
    return make_error(ErrorCode::kInvalidArgument, "--server '{}': bad port", server);
  return {};
}

Status save_frame(const fs::path& dir, const client::WebFrame& frame) {
  const fs::path path = dir / fmt::format("frame_{:06d}.jpg", frame.index);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(frame.jpeg.data()),
            static_cast<std::streamsize>(frame.jpeg.size()));
  if (!out) return make_error(ErrorCode::kUnavailable, "cannot write '{}'", path.string());
  return {};
}

json spread(const std::vector<double>& values) {
  return {{"median", client::percentile(values, 50)},
          {"min", client::percentile(values, 0)},
          {"max", client::percentile(values, 100)}};
}

json gaps(const client::WebRenderStats& stats) {
  std::vector<double> gap;
  for (std::size_t i = 1; i < stats.arrival_ms.size(); ++i)
    gap.push_back(stats.arrival_ms[i] - stats.arrival_ms[i - 1]);
  return {{"p50", client::percentile(gap, 50)},
          {"p95", client::percentile(gap, 95)},
          {"max", client::percentile(gap, 100)}};
}

Status run(WebClientOptions options) {
  RETURN_IF_ERROR(parse_server(options.server, options.request));
  ASSIGN_OR_RETURN(const std::vector<std::uint8_t> audio, read_file(options.audio));
  if (!options.save_dir.empty()) fs::create_directories(options.save_dir);
  std::vector<double> first, total, fps;
  json runs = json::array();
  for (int r = 0; r < options.repeat; ++r) {
    const bool save = !options.save_dir.empty() && r + 1 == options.repeat;
    ASSIGN_OR_RETURN(
        const client::WebRenderStats stats,
        client::render_over_websocket(options.request, audio, [&](const client::WebFrame& frame) {
          return save ? save_frame(options.save_dir, frame) : Status{};
        }));
    first.push_back(stats.first_frame_ms);
    total.push_back(stats.total_ms);
    fps.push_back(stats.frames / (stats.total_ms / 1000.0));
    runs.push_back({{"frames", stats.frames},
                    {"size", fmt::format("{}x{}", stats.width, stats.height)},
                    {"first_frame_ms", stats.first_frame_ms},
                    {"total_ms", stats.total_ms},
                    {"server_ms", stats.server_ms},
                    {"gap_ms", gaps(stats)}});
  }
  const char* commit = std::getenv("LIPSYNC_COMMIT");
  const json report{{"tool", "web-client"},
                    {"commit", commit != nullptr ? commit : "unknown"},
                    {"server", options.server},
                    {"model", options.request.model_id},
                    {"audio", options.audio.string()},
                    {"first_frame_ms", spread(first)},
                    {"total_ms", spread(total)},
                    {"frames_per_s", spread(fps)},
                    {"runs", runs}};
  fmt::print("{}\n", report.dump(2));
  return {};
}

void add(CLI::App& app, Action* action) {
  auto options = std::make_shared<WebClientOptions>();
  auto* cmd = app.add_subcommand(
      "web-client", "Render audio through the server's browser WebSocket (/ws/render), timed");
  cmd->add_option("--server", options->server, "the server's HTTP HOST:PORT")
      ->capture_default_str();
  cmd->add_option("--model", options->request.model_id, "model id")->required();
  cmd->add_option("--audio", options->audio, "audio file (any format FFmpeg reads)")->required();
  cmd->add_option("--sequence", options->request.sequence, "ping_pong | wrap (server default)");
  cmd->add_option("--start-frame", options->request.start_frame, "sequence position of frame 0")
      ->capture_default_str();
  cmd->add_option("--repeat", options->repeat, "runs (median and spread)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--save", options->save_dir, "write the last run's frames here");
  cmd->callback(
      [action, options] { *action = status_action([options] { return run(*options); }); });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
