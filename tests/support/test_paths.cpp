#include "support/test_paths.h"

#include <atomic>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace lipsync::testing {
namespace {

std::filesystem::path from_env(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

std::filesystem::path reference_dir() {
  return from_env("LIPSYNC_REFERENCE_DIR", LIPSYNC_DEFAULT_REFERENCE_DIR);
}

std::filesystem::path test_models_dir() {
  return from_env("LIPSYNC_TEST_MODELS_DIR", LIPSYNC_DEFAULT_TEST_MODELS_DIR);
}

std::filesystem::path temp_dir() {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("lipsync-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace lipsync::testing
