// Crop rectangles as JSON (crop_rects.json arrays, crop_rectangles.json objects).
#include <cstddef>
#include <cstdint>

#include "imaging/crop_rects.h"
#include "memory_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static lipsync::fuzz::MemoryFile file("crop_rects.json");
  auto rects = lipsync::imaging::read_rects_json(file.write(data, size));
  if (rects.ok()) (void)lipsync::imaging::rect_stats(*rects);
  return 0;
}
