// Runs a helper tool (the Python export of `lipsync import`) as a child process, its output
// going to this process's stdout and stderr. posix_spawn, not system(): no shell parses the
// arguments, so paths with spaces or quotes pass as they are.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::cli {

// argv[0] is the program (an absolute path, or a name looked up on PATH). Returns its exit
// code; errors: it could not be started, or it was killed by a signal. The tool starts with
// no signal blocked (whatever this process blocks, e.g. under cli/interrupt.h).
Result<int> run_tool(const std::vector<std::string>& argv);

// Sends SIGTERM to the tool run_tool is waiting for, if any (from an interrupt's cleanup: the
// tool must not go on writing into what the cleanup removes).
void terminate_running_tool();

// The folder of the running executable (/proc/self/exe), or empty if unknown.
std::filesystem::path executable_dir();

}  // namespace lipsync::cli
