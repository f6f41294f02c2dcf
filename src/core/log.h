// One logging facade for the whole project (spdlog underneath, not exposed).
// Every line carries a module tag; arguments are not evaluated when the level is filtered.
//
//   LOG_INFO("registry", "model '{}' ready in {:.1f} ms", id, ms);
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace lipsync::log {

enum class Level { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

void set_level(Level level);
Level level();
inline bool enabled(Level l) { return l >= level() && l != Level::kOff; }

// Parses "trace|debug|info|warn|error|off"; returns false on anything else.
bool parse_level(std::string_view text, Level* out);

void write(Level level, std::string_view module, std::string_view message);

}  // namespace lipsync::log

#define LIPSYNC_LOG(lvl, module, ...)                                             \
  do {                                                                            \
    if (::lipsync::log::enabled(lvl)) {                                           \
      ::lipsync::log::write(lvl, module, ::fmt::format(__VA_ARGS__));             \
    }                                                                             \
  } while (0)

#define LOG_TRACE(module, ...) LIPSYNC_LOG(::lipsync::log::Level::kTrace, module, __VA_ARGS__)
#define LOG_DEBUG(module, ...) LIPSYNC_LOG(::lipsync::log::Level::kDebug, module, __VA_ARGS__)
#define LOG_INFO(module, ...) LIPSYNC_LOG(::lipsync::log::Level::kInfo, module, __VA_ARGS__)
#define LOG_WARN(module, ...) LIPSYNC_LOG(::lipsync::log::Level::kWarn, module, __VA_ARGS__)
#define LOG_ERROR(module, ...) LIPSYNC_LOG(::lipsync::log::Level::kError, module, __VA_ARGS__)
