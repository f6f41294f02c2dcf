// `lipsync config check FILE`: validates a server configuration.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "core/config.h"

namespace lipsync::cli {
namespace {

int check_config(const std::string& path) {
  auto config = load_config(path);
  if (!config.ok()) {
    fmt::print(stderr, "error: {}\n", config.status().message());
    return 1;
  }
  for (const auto& warning : config->warnings) fmt::print(stderr, "warning: {}\n", warning);
  fmt::print("{}: ok, {} model(s), gRPC port {}, HTTP port {}\n", path, config->models.size(),
             config->server.grpc_port, config->server.http_port);
  for (const auto& [id, model] : config->models) {
    fmt::print("  {}: {}\n", id, model.model_path.string());
  }
  return 0;
}

void add(CLI::App& app, Action* action) {
  auto& config = subcommand_group(app, "config", "Configuration tools");
  auto path = std::make_shared<std::string>();
  auto* check = config.add_subcommand("check", "Validate a server YAML file");
  check->add_option("file", *path, "YAML configuration file")->required();
  check->callback([action, path] { *action = [path] { return check_config(*path); }; });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
