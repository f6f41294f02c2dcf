#include "core/client_text.h"

#include <fmt/format.h>

namespace lipsync {
namespace {

void append_escaped(unsigned char c, std::string& out) {
  switch (c) {
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\\':
      out += "\\\\";
      return;
    default:
      break;
  }
  if (c >= 0x20 && c < 0x7f) {
    out += static_cast<char>(c);
  } else {
    out += fmt::format("\\x{:02x}", c);
  }
}

// A '/' starts a path when nothing word-like precedes it: "at /a/b", "'/a/b'", "(/a/b)", "=/a".
// "http://x/y" and "a/b/c" do not count (the '/' follows a word character or ':').
bool starts_path(std::string_view text, std::size_t i) {
  if (text[i] != '/') return false;
  if (i > 0) {
    const char before = text[i - 1];
    if (before != ' ' && before != '\'' && before != '"' && before != '(' && before != '[' &&
        before != '=' && before != '\t' && before != '\n')
      return false;
  }
  return true;
}

bool ends_path(char c) {
  return c == ' ' || c == '\'' || c == '"' || c == ')' || c == ']' || c == ',' || c == ';' ||
         c == '\n' || c == '\t';
}

}  // namespace

std::string client_text(std::string_view text, std::size_t max_bytes) {
  const std::size_t shown = std::min(text.size(), max_bytes);
  std::string out;
  out.reserve(shown + 16);
  for (std::size_t i = 0; i < shown; ++i) append_escaped(static_cast<unsigned char>(text[i]), out);
  if (shown < text.size()) out += fmt::format("...({} more bytes)", text.size() - shown);
  return out;
}

std::string redact_paths(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (std::size_t i = 0; i < message.size();) {
    if (!starts_path(message, i)) {
      out += message[i++];
      continue;
    }
    std::size_t end = i;
    while (end < message.size() && !ends_path(message[end])) ++end;
    // Trailing sentence punctuation ("... in /a/b.") is not part of the path.
    while (end > i + 1 && (message[end - 1] == '.' || message[end - 1] == ':')) --end;
    std::string_view path = message.substr(i, end - i);
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);  // "/a/b/" names b
    const std::size_t last = path.find_last_of('/');
    // "/x": one component tells nothing about where the server keeps its files.
    out += last == 0 ? path : path.substr(last + 1);
    i = end;
  }
  return out;
}

}  // namespace lipsync
