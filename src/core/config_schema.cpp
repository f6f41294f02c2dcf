// How a key of the schema is made and found: the builders that turn a typed field into a key's
// parse/show functions (used by the section tables, config_schema_<section>.cpp, through
// config_schema_sections.h), the whole table in its order, and the look-ups of config_schema.h.
#include "core/config_schema.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "core/config_schema_sections.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;

// parse_listen_address's errors read as the keys' own.
using schema::problem;

std::string format_number(double value) {
  return value == std::floor(value) && std::abs(value) < 1e15
             ? fmt::format("{}", static_cast<long long>(value))
             : fmt::format("{}", value);
}

std::optional<long long> parse_integer(const std::string& text) {
  long long value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// The items of a comma-separated list, spaces around them dropped, empty items skipped.
std::vector<std::string> split_items(const std::string& text) {
  std::vector<std::string> items;
  std::size_t at = 0;
  while (at <= text.size()) {
    auto comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(at, comma - at);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) items.push_back(std::move(item));
    at = comma + 1;
  }
  return items;
}

}  // namespace

namespace schema {

Status problem(std::string text) {
  return Status(ErrorCode::kInvalidArgument, std::move(text));
}

ConfigKey make_key(std::string path, KeyType type, std::string meaning, std::string example) {
  ConfigKey key;
  key.path = std::move(path);
  key.type = type;
  key.meaning = std::move(meaning);
  key.example = std::move(example);
  return key;
}

ConfigKey integer(std::string path, Field<int> field, int min, int max, std::string meaning,
                  std::string example) {
  ConfigKey key =
      make_key(std::move(path), KeyType::kInteger, std::move(meaning), std::move(example));
  key.min = min;
  key.max = max;
  key.set = [field, min, max](ConfigTarget& t, const std::string& text) -> Status {
    const auto value = parse_integer(text);
    if (!value) return problem(fmt::format("cannot read '{}' as an integer", text));
    if (*value < min || *value > max)
      return problem(fmt::format("{} is out of range [{}, {}]", *value, min, max));
    field(t) = static_cast<int>(*value);
    return {};
  };
  key.show = [field](ConfigTarget& t) { return std::to_string(field(t)); };
  return key;
}

ConfigKey optional_integer(std::string path, Field<std::optional<int>> field, int min, int max,
                           std::string meaning, std::string example) {
  ConfigKey key =
      make_key(std::move(path), KeyType::kInteger, std::move(meaning), std::move(example));
  key.min = min;
  key.max = max;
  key.set = [field, min, max](ConfigTarget& t, const std::string& text) -> Status {
    const auto value = parse_integer(text);
    if (!value) return problem(fmt::format("cannot read '{}' as an integer", text));
    if (*value < min || *value > max)
      return problem(fmt::format("{} is out of range [{}, {}]", *value, min, max));
    field(t) = *value < 0 ? std::nullopt : std::optional<int>(static_cast<int>(*value));
    return {};
  };
  key.show = [field](ConfigTarget& t) { return std::to_string(field(t).value_or(-1)); };
  return key;
}

ConfigKey number(std::string path, Field<double> field, double min, double max, std::string meaning,
                 std::string example) {
  ConfigKey key =
      make_key(std::move(path), KeyType::kNumber, std::move(meaning), std::move(example));
  key.min = min;
  key.max = max;
  key.set = [field, min, max](ConfigTarget& t, const std::string& text) -> Status {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value))
      return problem(fmt::format("cannot read '{}' as a number", text));
    if (value < min || value > max) {
      return problem(fmt::format("{} is out of range [{}, {}]", format_number(value),
                                 format_number(min), format_number(max)));
    }
    field(t) = value;
    return {};
  };
  key.show = [field](ConfigTarget& t) { return format_number(field(t)); };
  return key;
}

ConfigKey boolean(std::string path, Field<bool> field, std::string meaning, std::string example) {
  ConfigKey key =
      make_key(std::move(path), KeyType::kBoolean, std::move(meaning), std::move(example));
  key.set = [field](ConfigTarget& t, const std::string& text) -> Status {
    static const std::vector<std::string> kTrue = {"true", "True", "TRUE", "yes", "on"};
    static const std::vector<std::string> kFalse = {"false", "False", "FALSE", "no", "off"};
    if (std::find(kTrue.begin(), kTrue.end(), text) != kTrue.end()) {
      field(t) = true;
    } else if (std::find(kFalse.begin(), kFalse.end(), text) != kFalse.end()) {
      field(t) = false;
    } else {
      return problem(fmt::format("cannot read '{}' as true/false", text));
    }
    return {};
  };
  key.show = [field](ConfigTarget& t) { return field(t) ? "true" : "false"; };
  return key;
}

ConfigKey path_key(std::string path, Field<fs::path> field, PathBase base, FileRole role,
                   std::string meaning, std::string example) {
  ConfigKey key = make_key(std::move(path), KeyType::kPath, std::move(meaning), std::move(example));
  key.base = base;
  key.role = role;
  key.set = [field](ConfigTarget& t, const std::string& text) -> Status {
    field(t) = text;
    return {};
  };
  key.show = [field](ConfigTarget& t) { return field(t).string(); };
  key.path_field = [field](ConfigTarget& t) -> fs::path& { return field(t); };
  return key;
}

ConfigKey address(std::string path, Field<std::string> field, std::string meaning,
                  std::string example) {
  ConfigKey key =
      make_key(std::move(path), KeyType::kAddress, std::move(meaning), std::move(example));
  key.set = [field](ConfigTarget& t, const std::string& text) -> Status {
    if (!is_ip_address(text)) {
      return problem(
          fmt::format("'{}' is not an IP address: use one of this machine's, "
                      "0.0.0.0 (every IPv4 interface) or :: (every interface)",
                      text));
    }
    field(t) = text;
    return {};
  };
  key.show = [field](ConfigTarget& t) { return field(t); };
  return key;
}

ConfigKey listen(std::string path, Field<std::string> host, Field<int> port, std::string meaning,
                 std::string example) {
  ConfigKey key =
      make_key(std::move(path), KeyType::kListenAddress, std::move(meaning), std::move(example));
  key.min = 0;
  key.max = 65535;
  key.set = [host, port](ConfigTarget& t, const std::string& text) -> Status {
    ASSIGN_OR_RETURN(ListenAddress parsed, parse_listen_address(text));
    host(t) = parsed.host;
    port(t) = parsed.port;
    return {};
  };
  key.show = [host, port](ConfigTarget& t) {
    if (host(t).empty()) return std::to_string(port(t));
    if (host(t).find(':') != std::string::npos) return fmt::format("[{}]:{}", host(t), port(t));
    return fmt::format("{}:{}", host(t), port(t));
  };
  return key;
}

ConfigKey list(std::string path, Field<std::vector<std::string>> field, std::string meaning,
               std::string example) {
  ConfigKey key = make_key(std::move(path), KeyType::kList, std::move(meaning), std::move(example));
  key.set = [field](ConfigTarget& t, const std::string& text) -> Status {
    field(t) = split_items(text);
    return {};
  };
  key.show = [field](ConfigTarget& t) {
    return field(t).empty() ? std::string("\"\"")
                            : fmt::format("\"{}\"", fmt::join(field(t), ", "));
  };
  return key;
}

ConfigKey integer_list(std::string path, Field<std::vector<int>> field, int min, int max,
                       std::string meaning, std::string example) {
  ConfigKey key = make_key(std::move(path), KeyType::kList, std::move(meaning), std::move(example));
  key.min = min;
  key.max = max;
  key.set = [field, min, max](ConfigTarget& t, const std::string& text) -> Status {
    std::vector<int> values;
    for (const std::string& item : split_items(text)) {
      const auto value = parse_integer(item);
      if (!value) return problem(fmt::format("cannot read '{}' as an integer", item));
      if (*value < min || *value > max)
        return problem(fmt::format("{} is out of range [{}, {}]", *value, min, max));
      if (std::find(values.begin(), values.end(), *value) != values.end())
        return problem(fmt::format("{} is listed twice", *value));
      values.push_back(static_cast<int>(*value));
    }
    std::sort(values.begin(), values.end());
    field(t) = std::move(values);
    return {};
  };
  key.show = [field](ConfigTarget& t) {
    return field(t).empty() ? std::string("\"\"")
                            : fmt::format("\"{}\"", fmt::join(field(t), ", "));
  };
  return key;
}

}  // namespace schema

namespace {

std::vector<ConfigKey> all_keys() {
  ConfigKey root = schema::path_key(
      "models_root", [](ConfigTarget & t) -> auto& { return t.config.models_root; },
      PathBase::kConfigFolder, FileRole::kNone,
      "Folder that relative model and encoder paths join onto; itself relative to this file.",
      "/srv/lipsync/models");
  root.default_text = "the folder of this file";
  std::vector<ConfigKey> keys{std::move(root)};
  for (auto part : {schema::server_keys(), schema::gpu_and_capacity_keys(), schema::onnx_keys(),
                    schema::pipeline_and_output_keys(), schema::webrtc_keys(), schema::live_keys(),
                    schema::model_keys()}) {
    for (auto& key : part) keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace

bool ConfigKey::is_model_key() const {
  return path.starts_with(kModelKeyPrefix);
}

std::string ConfigKey::section() const {
  const auto dot = path.find('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

std::string ConfigKey::name() const {
  return path.substr(path.rfind('.') + 1);
}

std::string ConfigKey::type_text() const {
  switch (type) {
    case KeyType::kInteger:
      return fmt::format("integer {}..{}", format_number(min), format_number(max));
    case KeyType::kNumber:
      return fmt::format("number {}..{}", format_number(min), format_number(max));
    case KeyType::kBoolean:
      return "true/false";
    case KeyType::kChoice:
      return fmt::format("one of: {}", fmt::join(choices, ", "));
    case KeyType::kPath:
      return "path";
    case KeyType::kAddress:
      return "IP address";
    case KeyType::kListenAddress:
      return "[HOST:]PORT, port 0..65535";
    case KeyType::kList:
      return "comma-separated list";
  }
  return "";
}

std::string ConfigKey::default_value() const {
  if (!default_text.empty()) return default_text;
  Config config;
  ModelConfig model;
  ConfigTarget target{config, model};
  return show(target);
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = all_keys();
  return keys;
}

const ConfigKey* find_config_key(std::string_view path) {
  for (const ConfigKey& key : config_keys()) {
    if (key.path == path) return &key;
  }
  return nullptr;
}

bool is_ip_address(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

Result<ListenAddress> parse_listen_address(const std::string& text) {
  ListenAddress out;
  std::string port_text = text;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string::npos) return problem(fmt::format("'{}' is not [IPV6]:PORT", text));
    out.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    out.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return problem(
          fmt::format("'{}': write an IPv6 address in brackets, e.g. [::1]:50053", text));
    }
  }
  const auto port = parse_integer(port_text);
  if (!port || *port < 0 || *port > 65535) {
    return problem(fmt::format("'{}' is not a port (0-65535, as PORT, :PORT or HOST:PORT)", text));
  }
  if (!out.host.empty() && !is_ip_address(out.host)) {
    return problem(
        fmt::format("'{}' in '{}' is not an IP address: use one of this machine's, "
                    "0.0.0.0 (every IPv4 interface) or [::] (every interface)",
                    out.host, text));
  }
  out.port = static_cast<int>(*port);
  return out;
}

}  // namespace lipsync
