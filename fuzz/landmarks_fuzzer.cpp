// `.lms` landmark files (110 lines "x y") and the crop rect computed from them.
#include <cstddef>
#include <cstdint>

#include "imaging/crop_rects.h"
#include "memory_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static lipsync::fuzz::MemoryFile file("0.lms");
  auto landmarks = lipsync::imaging::read_landmarks(file.write(data, size));
  if (landmarks.ok()) (void)lipsync::imaging::rect_from_landmarks(*landmarks);
  return 0;
}
