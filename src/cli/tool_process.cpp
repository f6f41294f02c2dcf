#include "cli/tool_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace lipsync::cli {
namespace {

std::atomic<pid_t> running_tool{0};

}  // namespace

void terminate_running_tool() {
  if (const pid_t pid = running_tool.load(); pid > 0) ::kill(pid, SIGTERM);
}

Result<int> run_tool(const std::vector<std::string>& argv) {
  if (argv.empty()) return make_error(ErrorCode::kInvalidArgument, "no tool to run");
  std::vector<std::string> args = argv;
  std::vector<char*> pointers;
  for (auto& a : args) pointers.push_back(a.data());
  pointers.push_back(nullptr);
  // The child gets an empty signal mask and the default actions for the signals an
  // InterruptCleanup blocks here, so that Ctrl-C and SIGTERM reach it as usual.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int spawned =
      posix_spawnp(&pid, pointers[0], nullptr, &attributes, pointers.data(), environ);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    return make_error(ErrorCode::kFailedPrecondition, "cannot start '{}': {}", argv[0],
                      std::strerror(spawned));
  }
  running_tool = pid;
  int status = 0;
  int waited = 0;
  while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  running_tool = 0;
  if (waited < 0) {
    return make_error(ErrorCode::kInternal, "waiting for '{}': {}", argv[0], std::strerror(errno));
  }
  if (WIFSIGNALED(status)) {
    return make_error(ErrorCode::kInternal, "'{}' was killed by signal {} ({})", argv[0],
                      WTERMSIG(status), strsignal(WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

std::filesystem::path executable_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path{} : exe.parent_path();
}

}  // namespace lipsync::cli
