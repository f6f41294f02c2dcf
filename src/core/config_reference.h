// docs/configuration.md, generated from the schema (config_schema.h): `lipsync config docs`
// prints it, and a test compares it with the committed file.
#pragma once

#include <string>
#include <string_view>

namespace lipsync {

std::string config_reference_markdown();

// The smallest configuration that serves one model (shown in the reference; tested to parse).
extern const std::string_view kMinimalConfigExample;

}  // namespace lipsync
