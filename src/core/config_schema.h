// The configuration's one schema: every key with its type, default, meaning, example and
// validation, bound to its field of Config. The YAML parser (config.cpp), `lipsync config
// check` and docs/configuration.md (config_reference.cpp) all come from this table, so they
// cannot drift apart. Defaults are the initializers in config.h, shown through the table.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace lipsync {

enum class KeyType {
  kInteger,
  kNumber,
  kBoolean,
  kChoice,
  kPath,
  kAddress,        // an IP address of this machine
  kListenAddress,  // "[HOST:]PORT"
  kList,           // comma-separated text items
};

// Where a relative path value is joined on.
enum class PathBase { kConfigFolder, kModelsRoot };

// What `lipsync config check` opens a path key as.
enum class FileRole { kNone, kUnet, kAudioEncoder, kFrameFolder, kVideo, kCropRects, kCudaLibrary };

// The fields a key writes: the whole configuration, and for keys under models.<id> that
// model's entry.
struct ConfigTarget {
  Config& config;
  ModelConfig& model;
};

struct ConfigKey {
  std::string path;  // "server.port"; keys of a model: "models.<id>.model_path"
  KeyType type;
  std::string meaning;
  std::string example;  // a YAML value
  double min = 0;       // kInteger, kNumber: the accepted range
  double max = 0;
  std::vector<std::string> choices;  // kChoice
  PathBase base = PathBase::kModelsRoot;
  FileRole role = FileRole::kNone;
  std::string default_text;  // set where the default is not a value ("the file's folder")

  // Parses a YAML scalar, validates and stores it. The error names the problem only; the
  // parser adds the file and the key.
  std::function<Status(ConfigTarget&, const std::string& text)> set;
  // The current value as YAML text ("" for an empty path).
  std::function<std::string(ConfigTarget&)> show;
  // kPath: the field itself (relative paths are resolved after parsing; config check opens it).
  std::function<std::filesystem::path&(ConfigTarget&)> path_field;

  bool is_model_key() const;
  std::string section() const;  // "server"; "" for top-level keys; "models" for model keys
  std::string name() const;     // the last part: "port"
  // "integer 1..256", "one of: lru, lfu", "[HOST:]PORT", ...
  std::string type_text() const;
  // The default, from a default-constructed Config / ModelConfig.
  std::string default_value() const;
};

inline constexpr std::string_view kModelKeyPrefix = "models.<id>.";

const std::vector<ConfigKey>& config_keys();
// The key at `path` ("server.port", or "models.<id>.num_frames"); null if there is none.
const ConfigKey* find_config_key(std::string_view path);

// "[HOST:]PORT", ":PORT", "[IPV6]:PORT" or "PORT" -> host ("" when not given) and port.
struct ListenAddress {
  std::string host;
  int port = 0;
};
Result<ListenAddress> parse_listen_address(const std::string& text);
// An IPv4 or IPv6 address literal (no host names: the servers bind addresses).
bool is_ip_address(const std::string& text);

}  // namespace lipsync
