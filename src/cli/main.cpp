// The `lipsync` binary: wires the registered subcommands; each lives in its own file.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/log.h"
#include "ffmpeg/log.h"

namespace lipsync::cli {

std::vector<AddCommand>& registered_commands() {
  static std::vector<AddCommand> commands;
  return commands;
}

Action status_action(std::function<Status()> run) {
  return [run = std::move(run)] {
    const Status status = run();
    if (status.ok()) return 0;
    fmt::print(stderr, "error: {}\n", status.message());
    return 1;
  };
}

CLI::App& subcommand_group(CLI::App& app, const std::string& name, const std::string& description) {
  for (CLI::App* existing : app.get_subcommands({})) {
    if (existing->get_name() == name) return *existing;
  }
  CLI::App* group = app.add_subcommand(name, description);
  group->require_subcommand(1);
  return *group;
}

}  // namespace lipsync::cli

int main(int argc, char** argv) {
  CLI::App app{"lipsync: speech to lip-synced video of a chosen person (SyncTalk_2D models)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lipsync 0.1.0");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->envname("LIPSYNC_LOG_LEVEL")
      ->capture_default_str();

  lipsync::cli::Action action;
  for (auto add : lipsync::cli::registered_commands()) add(app, &action);

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
  lipsync::ffmpeg::route_log_to_facade();
  return action ? action() : 0;
}
