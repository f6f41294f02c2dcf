// Subcommands register themselves here; main() only wires them. One file per command:
//
//   namespace { void add(CLI::App& app, Action* action) { ... } }
//   LIPSYNC_REGISTER_COMMAND(add);
//
// Commands under a shared parent (`lipsync bench audio`, `lipsync avatar rects`) get the
// parent with subcommand_group(app, "bench", "...").
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::cli {

// A chosen subcommand's action; returns the process exit code.
using Action = std::function<int()>;
using AddCommand = void (*)(CLI::App& app, Action* action);

std::vector<AddCommand>& registered_commands();

struct Registrar {
  explicit Registrar(AddCommand add) { registered_commands().push_back(add); }
};

// An action that runs `run` and turns its Status into the exit code: 0, or 1 after printing
// "error: <message>" to stderr.
Action status_action(std::function<Status()> run);

// Returns the subcommand `name` of `app`, creating it (requiring one child) if needed.
CLI::App& subcommand_group(CLI::App& app, const std::string& name, const std::string& description);

}  // namespace lipsync::cli

#define LIPSYNC_REGISTER_COMMAND(add_function) \
  static const ::lipsync::cli::Registrar LIPSYNC_CONCAT_CMD(registrar_, __LINE__){add_function}
#define LIPSYNC_CONCAT_CMD_INNER(a, b) a##b
#define LIPSYNC_CONCAT_CMD(a, b) LIPSYNC_CONCAT_CMD_INNER(a, b)
