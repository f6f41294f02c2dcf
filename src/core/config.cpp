// The YAML parser: walks the file against the schema (config_schema.h), then resolves relative
// paths and checks what involves several keys.
#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/client_text.h"
#include "core/config_schema.h"
#include "core/model_id.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;

// The walk's state: what was read, and which keys the file gave (some checks depend on it).
struct Parse {
  const fs::path& file;
  Config& config;
  std::set<std::string> given;  // "server.port", "models.a.preferred_gpu", ...

  Status error(const std::string& key, const std::string& problem) const {
    return make_error(ErrorCode::kInvalidArgument, "{}: key '{}': {}", file.string(), key, problem);
  }
  void warn(const std::string& text) {
    config.warnings.push_back(fmt::format("{}: {}", file.string(), text));
  }
};

const char* node_kind(const YAML::Node& node) {
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "a value";
}

// One key from its YAML value; `path` is the key as the file spells it ("models.a.num_frames").
Status set_key(Parse& p, const ConfigKey& key, const std::string& path, const YAML::Node& value,
               ModelConfig& model) {
  if (value.IsNull()) return {};  // `key:` with nothing: the default
  if (!value.IsScalar()) {
    return p.error(
        path, fmt::format("must be one value ({}), not {}", key.type_text(), node_kind(value)));
  }
  ConfigTarget target{p.config, model};
  const Status status = key.set(target, value.Scalar());
  if (!status.ok()) return p.error(path, status.message());
  p.given.insert(path);
  return {};
}

bool is_section(const std::string& name) {
  for (const ConfigKey& key : config_keys()) {
    if (!key.is_model_key() && key.section() == name) return true;
  }
  return false;
}

Status read_section(Parse& p, const std::string& section, const YAML::Node& node) {
  if (node.IsNull()) return {};
  if (!node.IsMap()) return p.error(section, "must be a mapping");
  ModelConfig unused;
  for (const auto& item : node) {
    const std::string path = section + "." + item.first.as<std::string>();
    const ConfigKey* key = find_config_key(path);
    if (key == nullptr) {
      p.warn(fmt::format("unknown key '{}' ignored", path));
      continue;
    }
    RETURN_IF_ERROR(set_key(p, *key, path, item.second, unused));
  }
  return {};
}

Status read_model(Parse& p, const std::string& id, const YAML::Node& node) {
  // Ids reach logs, metrics labels and answers: the id rule (core/model_id.h) holds for
  // configured ids as for requested ones.
  if (Status valid = check_model_id(id, "the model id"); !valid.ok())
    return p.error("models." + client_text(id, 32), valid.message());
  const std::string prefix = "models." + id + ".";
  if (!node.IsMap()) return p.error("models." + id, "must be a mapping of the model's keys");
  ModelConfig model;
  model.model_id = id;
  for (const auto& item : node) {
    const std::string name = item.first.as<std::string>();
    const ConfigKey* key = find_config_key(std::string(kModelKeyPrefix) + name);
    if (key == nullptr) {
      p.warn(fmt::format("unknown key '{}' ignored", prefix + name));
      continue;
    }
    RETURN_IF_ERROR(set_key(p, *key, prefix + name, item.second, model));
  }
  if (!p.given.count(prefix + "required"))
    model.required = model.preload_model || model.preload_backgrounds;
  p.config.models.emplace(id, std::move(model));
  return {};
}

Status read_models(Parse& p, const YAML::Node& node) {
  if (node.IsNull()) return {};
  if (!node.IsMap()) return p.error("models", "must be a mapping of model ids");
  for (const auto& item : node)
    RETURN_IF_ERROR(read_model(p, item.first.as<std::string>(), item.second));
  return {};
}

Status read_top(Parse& p, const YAML::Node& root) {
  ModelConfig unused;
  for (const auto& item : root) {
    const std::string name = item.first.as<std::string>();
    if (name == "models") {
      RETURN_IF_ERROR(read_models(p, item.second));
    } else if (const ConfigKey* key = find_config_key(name)) {
      RETURN_IF_ERROR(set_key(p, *key, name, item.second, unused));
    } else if (is_section(name)) {
      RETURN_IF_ERROR(read_section(p, name, item.second));
    } else {
      p.warn(fmt::format("unknown key '{}' ignored", name));
    }
  }
  return {};
}

fs::path resolve(const fs::path& root, const fs::path& value) {
  if (value.empty()) return {};
  return value.is_relative() && !root.empty() ? root / value : value;
}

// models_root is relative to the file; every other path to models_root or to the file.
void resolve_paths(Config& c) {
  const fs::path config_dir = c.source_file.parent_path();
  c.models_root = resolve(config_dir, c.models_root.empty() ? fs::path(".") : c.models_root);
  ModelConfig unused;
  for (const ConfigKey& key : config_keys()) {
    if (key.type != KeyType::kPath || key.path == "models_root") continue;
    const fs::path& base = key.base == PathBase::kModelsRoot ? c.models_root : config_dir;
    if (!key.is_model_key()) {
      ConfigTarget target{c, unused};
      key.path_field(target) = resolve(base, key.path_field(target));
      continue;
    }
    for (auto& [id, model] : c.models) {
      ConfigTarget target{c, model};
      key.path_field(target) = resolve(base, key.path_field(target));
    }
  }
}

// The gpus section and the CUDA keys place models on CUDA devices; say so when they cannot.
void warn_inapplicable_gpus(Parse& p) {
  const Config& c = p.config;
  const bool cuda = c.runtime.execution_provider == ExecutionProvider::kCuda;
  if (!cuda && c.gpus.count > 0) {
    p.warn(
        fmt::format("key 'gpus.count' ({}) ignored: onnx.execution_provider is cpu, models "
                    "run on the CPU (gpu_id -1)",
                    c.gpus.count));
  }
  for (const char* key :
       {"gpus.assignment_strategy", "onnx.cuda_nhwc", "onnx.cuda_graph", "onnx.cuda_options",
        "onnx.cuda_share_sessions", "onnx.cuda_reserve_run_memory"}) {
    if (!cuda && p.given.count(key))
      p.warn(fmt::format("key '{}' ignored: onnx.execution_provider is cpu", key));
  }
  if (cuda && c.gpus.count > 0 && p.given.count("onnx.device_id")) {
    p.warn(fmt::format("key 'onnx.device_id' ignored: gpus.count places models on devices 0..{}",
                       c.gpus.count - 1));
  }
}

// preferred_gpu must name a device models are placed on (GpuPlacement in registry); on the CPU
// it does not apply.
Status check_preferred_gpu(Parse& p, const ModelConfig& m) {
  if (!m.preferred_gpu.has_value()) return {};
  const std::string key = "models." + m.model_id + ".preferred_gpu";
  const Config& c = p.config;
  if (c.runtime.execution_provider != ExecutionProvider::kCuda) {
    p.warn(fmt::format("key '{}' ({}) ignored: onnx.execution_provider is cpu", key,
                       *m.preferred_gpu));
    return {};
  }
  const int first = c.gpus.count > 0 ? 0 : c.runtime.device_id;
  const int last = c.gpus.count > 0 ? c.gpus.count - 1 : c.runtime.device_id;
  if (*m.preferred_gpu < first || *m.preferred_gpu > last) {
    return p.error(key, fmt::format("GPU {} is not configured (gpus.count {}: devices {}..{})",
                                    *m.preferred_gpu, c.gpus.count, first, last));
  }
  return {};
}

Status check_model(Parse& p, const ModelConfig& m) {
  const std::string prefix = "models." + m.model_id + ".";
  RETURN_IF_ERROR(check_preferred_gpu(p, m));
  if (p.given.count(prefix + "preload_backgrounds") && !m.preload_backgrounds && m.preload_model) {
    p.warn(
        fmt::format("key '{}preload_backgrounds' (false) has no effect with preload_model: "
                    "true: backgrounds are part of the model and load with it",
                    prefix));
  }
  if (m.model_path.empty()) return p.error(prefix + "model_path", "is required");
  if (m.background_dir.empty() && m.source_video.empty()) {
    return p.error(prefix + "background_dir", "one of background_dir or source_video is required");
  }
  return {};
}

// Both servers on one port of one address cannot work; port 0 (any free one) never collides.
Status check_listen_addresses(Parse& p) {
  const ServerSection& s = p.config.server;
  if (!s.http_enabled || s.grpc_port == 0 || s.grpc_port != s.http_port) return {};
  auto every_interface = [](const std::string& host) { return host == "0.0.0.0" || host == "::"; };
  const std::string& grpc = s.grpc_bind_host();
  const std::string& http = s.http_bind_host();
  if (grpc != http && !every_interface(grpc) && !every_interface(http)) return {};
  return p.error("server.http_port",
                 fmt::format("port {} is server.port's too: give HTTP another port (or set "
                             "server.http_enabled: false)",
                             s.http_port));
}

// ICE's local ports: max_port 0 means up to 65535.
Status check_webrtc_ports(Parse& p) {
  const WebRtcSection& w = p.config.webrtc;
  if (w.max_port == 0 || w.min_port <= w.max_port) return {};
  return p.error("webrtc.min_port",
                 fmt::format("{} is above webrtc.max_port {}: the range is min_port..max_port",
                             w.min_port, w.max_port));
}

Status check(Parse& p) {
  warn_inapplicable_gpus(p);
  RETURN_IF_ERROR(check_webrtc_ports(p));
  for (const auto& [id, model] : p.config.models) RETURN_IF_ERROR(check_model(p, model));
  return check_listen_addresses(p);
}

}  // namespace

Result<Config> parse_config(const std::string& yaml_text, const std::filesystem::path& origin) {
  Config config;
  config.source_file = origin;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::kInvalidArgument, "{}: line {}: YAML syntax error: {}",
                      origin.string(), e.mark.line + 1, e.msg);
  }
  Parse parse{origin, config, {}};
  if (!root.IsNull() && !root.IsMap()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: top level must be a mapping of keys",
                      origin.string());
  }
  try {
    if (!root.IsNull()) RETURN_IF_ERROR(read_top(parse, root));
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::kInvalidArgument, "{}: line {}: {}", origin.string(),
                      e.mark.line + 1, e.msg);
  }
  resolve_paths(config);
  if (!parse.given.count("pipeline.max_batch") &&
      config.runtime.execution_provider == ExecutionProvider::kCpu)
    config.pipeline.max_batch = kCpuDefaultMaxBatch;
  RETURN_IF_ERROR(check(parse));
  return config;
}

Result<Config> load_config(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) {
    return make_error(ErrorCode::kNotFound,
                      "cannot open config file '{}': check the path (examples/server.yaml is a "
                      "starting point)",
                      path.string());
  }
  std::stringstream text;
  text << file.rdbuf();
  return parse_config(text.str(), path);
}

}  // namespace lipsync
