// Each subcommand registers itself on the CLI11 app; main() only wires them.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace lipsync::cli {

// A subcommand's action returns the process exit code.
using Action = std::function<int()>;

// Registers `lipsync config check FILE`; sets *action when that subcommand is chosen.
void add_config_command(CLI::App& app, Action* action);

}  // namespace lipsync::cli
