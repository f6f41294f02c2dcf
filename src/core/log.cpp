#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>

namespace lipsync::log {
namespace {

Level initial_level() {
  const char* env = std::getenv("LIPSYNC_LOG_LEVEL");
  Level parsed = Level::kInfo;
  if (env != nullptr && parse_level(env, &parsed)) return parsed;
  return Level::kInfo;
}

std::atomic<Level>& current_level() {
  static std::atomic<Level> level{initial_level()};
  return level;
}

spdlog::logger& sink_logger() {
  // Logs go to stderr so that stdout stays free for command output (JSON, progress).
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("lipsync");
    l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%L%$ %v");
    l->set_level(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

void set_level(Level level) { current_level().store(level); }
Level level() { return current_level().load(std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level* out) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"trace", Level::kTrace}, {"debug", Level::kDebug}, {"info", Level::kInfo},
      {"warn", Level::kWarn},   {"error", Level::kError}, {"off", Level::kOff}};
  for (const auto& [name, value] : kNames) {
    if (text == name) {
      *out = value;
      return true;
    }
  }
  return false;
}

void write(Level level, std::string_view module, std::string_view message) {
  sink_logger().log(to_spdlog(level), "[{}] {}", module, message);
}

}  // namespace lipsync::log
