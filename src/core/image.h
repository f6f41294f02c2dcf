// Plain 8-bit interleaved images (BGR unless a name says otherwise) shared by the modules.
// No OpenCV or FFmpeg types: modules convert at their borders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lipsync {

struct ImageView {  // read-only, non-owning
  const std::uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 3;
  std::size_t stride = 0;  // bytes per row

  const std::uint8_t* row(int y) const { return data + static_cast<std::size_t>(y) * stride; }
};

struct MutableImageView {  // writable, non-owning
  std::uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 3;
  std::size_t stride = 0;

  std::uint8_t* row(int y) const { return data + static_cast<std::size_t>(y) * stride; }
  operator ImageView() const { return {data, width, height, channels, stride}; }  // NOLINT
};

// An owning, tightly packed image.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 3;
  std::vector<std::uint8_t> pixels;

  Image() = default;
  Image(int w, int h, int c = 3)
      : width(w), height(h), channels(c), pixels(static_cast<std::size_t>(w) * h * c) {}

  std::size_t stride() const { return static_cast<std::size_t>(width) * channels; }
  bool empty() const { return pixels.empty(); }
  ImageView view() const { return {pixels.data(), width, height, channels, stride()}; }
  MutableImageView mutable_view() { return {pixels.data(), width, height, channels, stride()}; }
};

// JPEG chroma subsampling: the server's `output.chroma_subsampling` and the JPEG codec's setting.
enum class ChromaSubsampling {
  k420,  // 2x2 chroma: MCU 16x16 pixels (the older server's output)
  k444,  // full chroma: MCU 8x8 pixels
};

// A rectangle in pixels, ends exclusive ([x1, x2) × [y1, y2)), as in crop_rects.json.
struct Rect {
  int x1 = 0;
  int y1 = 0;
  int x2 = 0;
  int y2 = 0;

  int width() const { return x2 - x1; }
  int height() const { return y2 - y1; }
  bool empty() const { return x2 <= x1 || y2 <= y1; }
  bool operator==(const Rect&) const = default;
};

}  // namespace lipsync
