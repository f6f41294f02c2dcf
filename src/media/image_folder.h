// A folder of numbered frames (frame_000001.jpg, frame_0001.png, 1.jpg, ...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::media {

struct FrameFolder {
  std::filesystem::path dir;
  std::string pattern;  // the numbering found, printf style: "frame_%06d.jpg", "%d.png"
  std::int64_t first_number = 0;
  std::vector<std::filesystem::path> files;  // in numeric order
};

// Finds the numbered .jpg/.jpeg/.png/.bmp files of `dir`: names are a prefix, a number and an
// extension; the largest group with one prefix and extension wins (others are logged and
// ignored). Numbers must be consecutive. Errors: folder missing, no numbered images, gaps or
// duplicate numbers (named).
Result<FrameFolder> scan_frame_folder(const std::filesystem::path& dir);

// The file name of frame `index` (0-based) written by the avatar tools: frame_%06d.jpg.
std::string frame_file_name(std::int64_t index, const std::string& extension = ".jpg");

}  // namespace lipsync::media
