// The `lipsync` binary: wires the subcommands; each lives in its own file.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"lipsync: speech to lip-synced video of a chosen person (SyncTalk_2D models)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lipsync 0.1.0");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->envname("LIPSYNC_LOG_LEVEL")
      ->capture_default_str();

  lipsync::cli::Action action;
  lipsync::cli::add_config_command(app, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  lipsync::log::Level level;
  if (!lipsync::log::parse_level(log_level, &level)) {
    fmt::print(stderr, "error: --log-level '{}' is not one of trace|debug|info|warn|error|off\n",
               log_level);
    return 2;
  }
  lipsync::log::set_level(level);
  return action ? action() : 0;
}
