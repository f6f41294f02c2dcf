#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "core/config.h"

namespace lipsync::cli {
namespace {

struct CheckOptions {
  std::string path;
};

int check_config(const CheckOptions& options) {
  auto config = load_config(options.path);
  if (!config.ok()) {
    fmt::print(stderr, "error: {}\n", config.status().message());
    return 1;
  }
  for (const auto& warning : config->warnings) fmt::print(stderr, "warning: {}\n", warning);
  fmt::print("{}: ok, {} model(s), gRPC port {}, HTTP port {}\n", options.path,
             config->models.size(), config->server.grpc_port, config->server.http_port);
  for (const auto& [id, model] : config->models) {
    fmt::print("  {}: {}\n", id, model.model_path.string());
  }
  return 0;
}

}  // namespace

void add_config_command(CLI::App& app, Action* action) {
  auto* config = app.add_subcommand("config", "Configuration tools");
  config->require_subcommand(1);
  auto options = std::make_shared<CheckOptions>();
  auto* check = config->add_subcommand("check", "Validate a server YAML file");
  check->add_option("file", options->path, "YAML configuration file")->required();
  check->callback([action, options] { *action = [options] { return check_config(*options); }; });
}

}  // namespace lipsync::cli
