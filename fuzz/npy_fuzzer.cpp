// `.npy` images (audio clips, golden data, dumps) through the parser and the element access.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto array = lipsync::parse_npy(std::as_bytes(std::span(data, size)), "fuzz.npy");
  if (!array.ok()) return 0;
  const std::size_t count = array->element_count();
  if (count * lipsync::dtype_size(array->dtype) != array->bytes.size()) __builtin_trap();
  const auto values = array->to_c_order<double>();
  if (values.size() != count) __builtin_trap();
  return 0;
}
