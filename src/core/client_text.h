// What a client sent, made safe to print: in a log line (no forged lines, no terminal escapes,
// bounded length) and in an answer (no server file paths). Every log line or error message that
// carries client text goes through client_text(); every error that leaves the server goes
// through redact_paths().
//
//   LOG_WARN("server", "model '{}': {}", client_text(id), client_text(status.to_string(), 512));
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lipsync {

// Bytes of client text a log line or message shows by default; the rest is counted, not shown.
inline constexpr std::size_t kClientTextBytes = 160;

// Printable ASCII is kept; backslash, control characters (newline, CR, ESC, NUL, DEL) and every
// byte above 0x7F (C1 controls hide there in UTF-8) become escapes (\n, \r, \t, \\, \xNN).
// Longer input is cut at `max_bytes` input bytes and ends "...(N more bytes)".
std::string client_text(std::string_view text, std::size_t max_bytes = kClientTextBytes);

// Replaces every absolute file path in `message` (a '/' that starts a word and is followed by
// another '/') by its last component, so that errors sent to clients name files without
// telling where the server keeps them: "cannot open '/srv/models/a.onnx'" -> "cannot open
// 'a.onnx'". Logs keep the full message.
std::string redact_paths(std::string_view message);

}  // namespace lipsync
