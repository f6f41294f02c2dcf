// The server's YAML configuration through the parser and its validation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = lipsync::parse_config(text, "/fuzz/server.yaml");
  (void)config;
  return 0;
}
