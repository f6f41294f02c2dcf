// Where tests find golden data and generated models. CTest sets the environment variables;
// running a test binary by hand falls back to the paths the build configured.
#pragma once

#include <filesystem>

namespace lipsync::testing {

std::filesystem::path reference_dir();    // ../shared/reference
std::filesystem::path test_models_dir();  // <build>/models
std::filesystem::path temp_dir();         // a fresh folder per call, under the system temp dir

}  // namespace lipsync::testing
