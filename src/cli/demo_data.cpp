#include "cli/demo_data.h"

#include <system_error>
#include <vector>

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;

// Relative to the binary's folder, set by src/cli/CMakeLists.txt: the installed layout, then
// the build tree's (its demo and models folders).
struct Layout {
  fs::path demo;
  fs::path models;
};

std::vector<Layout> layouts(const fs::path& bin_dir) {
  return {{bin_dir / LIPSYNC_INSTALLED_DEMO_FROM_BIN, bin_dir / LIPSYNC_INSTALLED_DEMO_FROM_BIN},
          {bin_dir / LIPSYNC_BUILD_DEMO_FROM_BIN, bin_dir / LIPSYNC_BUILD_MODELS_FROM_BIN}};
}

DemoData demo_in(const Layout& layout) {
  return {.speech = layout.demo / "speech.wav",
          .video = layout.demo / "avatar.mp4",
          .rects = layout.demo / "crop_rects.json",
          .unet = layout.models / "demo_unet.onnx",
          .encoder = layout.models / "demo_encoder.onnx"};
}

bool complete(const DemoData& d) {
  std::error_code ec;
  for (const fs::path* file : {&d.speech, &d.video, &d.rects, &d.unet, &d.encoder}) {
    if (!fs::is_regular_file(*file, ec)) return false;
  }
  return true;
}

}  // namespace

Result<DemoData> find_demo_data(const fs::path& executable) {
  std::error_code ec;
  const fs::path binary = executable.empty() ? fs::read_symlink("/proc/self/exe", ec) : executable;
  if (binary.empty()) {
    return make_error(ErrorCode::kNotFound,
                      "cannot find this program's own path to look for "
                      "the demo: pass --audio, --unet, --encoder and "
                      "--avatar (or --video and --rects)");
  }
  std::string looked_in;
  for (const Layout& layout : layouts(binary.parent_path())) {
    const DemoData demo = demo_in(layout);
    if (complete(demo)) return demo;
    looked_in += (looked_in.empty() ? "'" : ", '") + layout.demo.lexically_normal().string() + "'";
  }
  return make_error(ErrorCode::kNotFound,
                    "the demo (speech.wav, avatar.mp4, crop_rects.json, demo_unet.onnx, "
                    "demo_encoder.onnx) is not installed beside this binary (looked in {}): "
                    "reinstall lipsync, or pass --audio, --unet, --encoder and --avatar",
                    looked_in);
}

}  // namespace lipsync::cli
