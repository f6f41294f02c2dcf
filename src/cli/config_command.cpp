// `lipsync config check FILE`: validates a server configuration as `serve` would use it
// (cli/config_check.h). `lipsync config docs`: prints the configuration reference
// (docs/configuration.md) from the schema.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "cli/config_check.h"
#include "core/config.h"
#include "core/config_reference.h"

namespace lipsync::cli {
namespace {

struct CheckArgs {
  std::string path;
  bool quick = false;
};

std::string listen_text(const std::string& host, int port) {
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == 0 ? shown + ":any free port" : fmt::format("{}:{}", shown, port);
}

int run_check(const CheckArgs& args) {
  auto config = load_config(args.path);
  if (!config.ok()) {
    fmt::print(stderr, "error: {}\n", config.status().message());
    return 1;
  }
  for (const auto& warning : config->warnings) fmt::print(stderr, "warning: {}\n", warning);
  const CheckReport report = check_config(*config, {.load_models = !args.quick});
  for (const auto& note : report.notes) fmt::print("  {}\n", note);
  for (const auto& warning : report.warnings) fmt::print(stderr, "warning: {}\n", warning);
  for (const auto& error : report.errors) fmt::print(stderr, "error: {}\n", error);
  if (!report.errors.empty()) {
    fmt::print(stderr, "{}: {} problem(s): serve would fail or not serve every model\n", args.path,
               report.errors.size());
    return 1;
  }
  const ServerSection& s = config->server;
  fmt::print("{}: ok, {} model(s), gRPC on {}, HTTP {}\n", args.path, config->models.size(),
             listen_text(s.grpc_bind_host(), s.grpc_port),
             s.http_enabled ? "on " + listen_text(s.http_bind_host(), s.http_port) : "off");
  return 0;
}

void add(CLI::App& app, Action* action) {
  auto& config = subcommand_group(app, "config", "Configuration tools");
  auto args = std::make_shared<CheckArgs>();
  auto* check = config.add_subcommand(
      "check", "Check a server YAML file as serve would use it: keys, files, models, ports");
  check->add_option("file", args->path, "YAML configuration file")->required();
  check->add_flag("--quick", args->quick,
                  "only check that files exist; do not open models and avatars");
  check->callback([action, args] { *action = [args] { return run_check(*args); }; });
  auto* docs = config.add_subcommand(
      "docs", "Print the configuration reference (docs/configuration.md) in Markdown");
  docs->callback([action] {
    *action = [] {
      fmt::print("{}", config_reference_markdown());
      return 0;
    };
  });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
