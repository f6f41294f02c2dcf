// Runs the `lipsync` binary as a child process for end-to-end tests of its subcommands.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lipsync::testing {

struct RunResult {
  int exit_code = -1;
  std::string stdout_text;  // stdout alone (where the benchmarks print their JSON)
  std::string output;       // stdout, then stderr
};

// Runs `lipsync --log-level warn ARGS...`, its output captured in files under `dir`.
RunResult run_cli(std::vector<std::string> args, const std::filesystem::path& dir);

// Runs any program (argv[0] a path), its output captured in files under `dir`.
RunResult run_program(std::vector<std::string> argv, const std::filesystem::path& dir);

// Starts `lipsync --log-level warn ARGS...` without waiting (to signal it: interrupt tests);
// stdout and stderr go to `log`. Returns its process id, or -1 if it could not start.
int start_cli(std::vector<std::string> args, const std::filesystem::path& log);

}  // namespace lipsync::testing
