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

}  // namespace lipsync::testing
