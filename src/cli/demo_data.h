// Where `lipsync render` with no arguments finds the demo: the folder `cmake --install` and the
// .deb write (PREFIX/share/lipsync/demo), or the build tree that made this binary. Both are
// found relative to the binary, so an installed or unpacked copy runs from anywhere and no
// build-tree path is compiled in.
#pragma once

#include <filesystem>

#include "core/status.h"

namespace lipsync::cli {

struct DemoData {
  std::filesystem::path speech;   // speech.wav
  std::filesystem::path video;    // avatar.mp4
  std::filesystem::path rects;    // crop_rects.json
  std::filesystem::path unet;     // demo_unet.onnx
  std::filesystem::path encoder;  // demo_encoder.onnx
};

// The demo beside `executable` (default: this process's binary). NOT_FOUND names the folders
// looked in and what to pass instead.
Result<DemoData> find_demo_data(const std::filesystem::path& executable = {});

}  // namespace lipsync::cli
