// Internal to module `core`: what the files of the configuration schema share. The builders
// (config_schema.cpp) turn a typed field of Config or ModelConfig into a ConfigKey with its
// parse/show functions; each config_schema_<section>.cpp lists the keys of one or two sections
// with them, and config_schema.cpp joins the lists in the order config_keys() returns (and
// docs/configuration.md shows). Included only by src/core/config_schema*.cpp.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/config_schema.h"

// Field accessors: captureless lambdas, so that the table reads as key -> field.
#define TOP(member)               \
  [](ConfigTarget & t) -> auto& { \
    return t.config.member;       \
  }
#define MODEL(member)             \
  [](ConfigTarget & t) -> auto& { \
    return t.model.member;        \
  }

namespace lipsync::schema {

template <typename T>
using Field = T& (*)(ConfigTarget&);

// A value the key does not accept. The error names the problem only; the parser adds the file
// and the key.
Status problem(std::string text);
ConfigKey make_key(std::string path, KeyType type, std::string meaning, std::string example);

ConfigKey integer(std::string path, Field<int> field, int min, int max, std::string meaning,
                  std::string example);
// preferred_gpu: absent or -1 = automatic.
ConfigKey optional_integer(std::string path, Field<std::optional<int>> field, int min, int max,
                           std::string meaning, std::string example);
ConfigKey number(std::string path, Field<double> field, double min, double max, std::string meaning,
                 std::string example);
ConfigKey boolean(std::string path, Field<bool> field, std::string meaning, std::string example);
ConfigKey path_key(std::string path, Field<std::filesystem::path> field, PathBase base,
                   FileRole role, std::string meaning, std::string example);
ConfigKey address(std::string path, Field<std::string> field, std::string meaning,
                  std::string example);
ConfigKey listen(std::string path, Field<std::string> host, Field<int> port, std::string meaning,
                 std::string example);
// A comma-separated list of text items (spaces around them dropped); "" is the empty list.
ConfigKey list(std::string path, Field<std::vector<std::string>> field, std::string meaning,
               std::string example);
// A comma-separated list of integers in [min, max], each at most once; "" is the empty list.
ConfigKey integer_list(std::string path, Field<std::vector<int>> field, int min, int max,
                       std::string meaning, std::string example);

template <typename E>
ConfigKey choice(std::string path, Field<E> field, std::vector<std::pair<std::string, E>> names,
                 std::string meaning, std::string example) {
  ConfigKey key =
      make_key(std::move(path), KeyType::kChoice, std::move(meaning), std::move(example));
  for (const auto& [name, value] : names) key.choices.push_back(name);
  key.set = [field, names, allowed = key.choices](ConfigTarget& t,
                                                  const std::string& text) -> Status {
    for (const auto& [name, value] : names) {
      if (text == name) {
        field(t) = value;
        return {};
      }
    }
    return problem(fmt::format("'{}' is not one of: {}", text, fmt::join(allowed, ", ")));
  };
  key.show = [field, names](ConfigTarget& t) {
    for (const auto& [name, value] : names) {
      if (field(t) == value) return name;
    }
    return std::string();
  };
  return key;
}

// The sections' keys, in the order config_keys() lists them.
std::vector<ConfigKey> server_keys();               // config_schema_server.cpp
std::vector<ConfigKey> gpu_and_capacity_keys();     // config_schema_runtime.cpp
std::vector<ConfigKey> onnx_keys();                 // config_schema_runtime.cpp
std::vector<ConfigKey> pipeline_and_output_keys();  // config_schema_pipeline.cpp
std::vector<ConfigKey> webrtc_keys();               // config_schema_live.cpp
std::vector<ConfigKey> live_keys();                 // config_schema_live.cpp
std::vector<ConfigKey> model_keys();                // config_schema_models.cpp

}  // namespace lipsync::schema
