#include "cli/config_check.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/config_schema.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/onnx_feature_encoder.h"
#include "runtime/session.h"

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;

// 0 when `host:port` can be bound now, else errno (EADDRNOTAVAIL: not this machine's address;
// EADDRINUSE: taken; EACCES: a privileged port).
int try_bind(const std::string& host, int port) {
  sockaddr_storage address{};
  socklen_t size = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    size = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    size = sizeof(sockaddr_in6);
  } else {
    return EINVAL;
  }
  const int fd = ::socket(address.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return errno;
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  const int result = ::bind(fd, reinterpret_cast<sockaddr*>(&address), size) == 0 ? 0 : errno;
  ::close(fd);
  return result;
}

void check_listen(const char* key, const std::string& host, int port, CheckReport& report) {
  const std::string where = fmt::format("{}:{}", host, port);
  const int error = try_bind(host, port);
  if (error == 0) {
    report.notes.push_back(fmt::format("{}: {} can be bound", key, where));
  } else if (error == EADDRINUSE) {
    report.warnings.push_back(
        fmt::format("{}: {} is in use now (a server already running?): "
                    "serve will fail to listen until it is free",
                    key, where));
  } else if (error == EADDRNOTAVAIL) {
    report.errors.push_back(
        fmt::format("{}: {} is not an address of this machine: use one of "
                    "its addresses, 127.0.0.1 or 0.0.0.0",
                    key, host));
  } else if (error == EACCES) {
    report.errors.push_back(
        fmt::format("{}: port {} needs root (ports below 1024): use a port "
                    "of 1024 or more",
                    key, port));
  } else {
    report.errors.push_back(
        fmt::format("{}: cannot listen on {}: {}", key, where, std::strerror(error)));
  }
}

void check_server(const ServerSection& server, CheckReport& report) {
  if (server.grpc_port != 0) {
    check_listen("server.port", server.grpc_bind_host(), server.grpc_port, report);
  }
  if (server.http_enabled && server.http_port != 0) {
    check_listen("server.http_port", server.http_bind_host(), server.http_port, report);
  }
}

// Every path key the schema marks as a file or folder: it exists (a folder when it should be).
// A missing background_dir is not an error when source_video exists: the server falls back.
bool check_files(const Config& config, const ModelConfig* model, CheckReport& report) {
  bool all_there = true;
  Config copy = config;
  ModelConfig model_copy = model != nullptr ? *model : ModelConfig{};
  ConfigTarget target{copy, model_copy};
  for (const ConfigKey& key : config_keys()) {
    if (key.role == FileRole::kNone || key.is_model_key() != (model != nullptr)) continue;
    const fs::path& path = key.path_field(target);
    if (path.empty()) continue;
    const std::string name =
        model != nullptr ? fmt::format("models.{}.{}", model->model_id, key.name()) : key.path;
    std::error_code ec;
    const bool folder = key.role == FileRole::kFrameFolder;
    const bool ok = folder                             ? fs::is_directory(path, ec)
                    : key.role == FileRole::kCropRects ? fs::exists(path, ec)  // or landmarks/
                                                       : fs::is_regular_file(path, ec);
    if (ok) continue;
    if (folder && !model_copy.source_video.empty()) {
      report.warnings.push_back(
          fmt::format("{}: folder '{}' does not exist: frames come from "
                      "source_video",
                      name, path.string()));
      continue;
    }
    all_there = false;
    report.errors.push_back(fmt::format(
        "{}: '{}' does not exist: fix the path (relative paths join onto models_root '{}')", name,
        path.string(), config.models_root.string()));
  }
  return all_there;
}

void check_encoder(const Config& config, CheckReport& report) {
  const fs::path& path = config.runtime.audio_encoder_path;
  if (path.empty()) {
    report.errors.push_back(
        "onnx.audio_encoder_path: missing, and serve needs it: set it to the audio encoder ONNX "
        "(mel windows [B,1,80,16] to features [B,512])");
    return;
  }
  auto encoder =
      pipeline::OnnxFeatureEncoder::create(path, runtime::session_options_from(config.runtime));
  if (!encoder.ok()) {
    report.errors.push_back(fmt::format("onnx.audio_encoder_path: {}", encoder.status().message()));
    return;
  }
  report.notes.push_back(
      fmt::format("onnx.audio_encoder_path: '{}' opens ({})", path.string(),
                  config.runtime.execution_provider == ExecutionProvider::kCuda ? "CUDA" : "CPU"));
}

// Loads the model as the server's loader does, but on the CPU: the UNet's shapes do not depend
// on the device, and a check should not hold GPU memory.
void check_model_loads(const ModelConfig& model, CheckReport& report) {
  pipeline::LoadOptions options;
  options.session = runtime::SessionOptions{};
  auto loaded = pipeline::LipSyncModel::load(model, options);
  if (!loaded.ok()) {
    report.errors.push_back(
        fmt::format("models.{}: {}", model.model_id, loaded.status().message()));
    return;
  }
  const auto& info = (*loaded)->avatar().info();
  report.notes.push_back(fmt::format("models.{}: loads: {} frames {}x{} from {}, rects from {}",
                                     model.model_id, (*loaded)->avatar().frame_count(), info.width,
                                     info.height, info.frames_origin, info.rects_origin));
}

}  // namespace

CheckReport check_config(const Config& config, const CheckOptions& options) {
  CheckReport report;
  check_server(config.server, report);
  const bool files_there = check_files(config, nullptr, report);
  if (config.runtime.audio_encoder_path.empty() || (options.load_models && files_there))
    check_encoder(config, report);
  if (config.models.empty()) {
    report.warnings.push_back("models: none configured: the server would serve nothing");
  }
  for (const auto& [id, model] : config.models) {
    if (check_files(config, &model, report) && options.load_models)
      check_model_loads(model, report);
  }
  return report;
}

}  // namespace lipsync::cli
