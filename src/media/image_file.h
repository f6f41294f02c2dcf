// Still images (JPEG, PNG, BMP) read and written in-process with FFmpeg's image codecs.
#pragma once

#include <filesystem>

#include "core/image.h"
#include "core/status.h"

namespace lipsync::media {

// Decodes a .jpg/.jpeg/.png/.bmp file to BGR; errors name the file.
Result<Image> read_image(const std::filesystem::path& path);

struct WriteImageOptions {
  int jpeg_qscale = 2;  // FFmpeg's MJPEG quantiser scale: 2 (best) .. 31 (smallest)
};

// Encodes a BGR image as .png (lossless) or .jpg/.jpeg (4:2:0), chosen by the extension.
Status write_image(const std::filesystem::path& path, ImageView bgr,
                   const WriteImageOptions& options = {});

}  // namespace lipsync::media
