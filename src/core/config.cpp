#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace lipsync {
namespace {

// Walks one YAML mapping, reading typed keys and remembering which were used, so that the
// unknown ones can be reported by their full dotted path.
class Section {
 public:
  Section(const YAML::Node& node, std::string path, const std::filesystem::path& file,
          std::vector<std::string>* warnings)
      : node_(node), path_(std::move(path)), file_(file), warnings_(warnings) {}

  template <typename T>
  Status read(const std::string& key, T* out) {
    used_.insert(key);
    if (!node_ || node_.IsNull()) return {};
    if (!node_.IsMap()) {
      return make_error(ErrorCode::kInvalidArgument, "{}: key '{}': must be a mapping",
                        file_.string(), path_);
    }
    const YAML::Node value = node_[key];
    if (!value || value.IsNull()) return {};
    try {
      *out = value.as<T>();
    } catch (const YAML::Exception&) {
      return error(key, fmt::format("cannot read '{}' as {}", YAML::Dump(value), type_name<T>()));
    }
    return {};
  }

  Status read_int(const std::string& key, int* out, int min, int max) {
    RETURN_IF_ERROR(read(key, out));
    if (*out < min || *out > max) {
      return error(key, fmt::format("{} is out of range [{}, {}]", *out, min, max));
    }
    return {};
  }

  template <typename E>
  Status read_enum(const std::string& key, E* out,
                   std::initializer_list<std::pair<const char*, E>> names) {
    std::string text;
    RETURN_IF_ERROR(read(key, &text));
    if (text.empty()) return {};
    std::string allowed;
    for (const auto& [name, value] : names) {
      if (text == name) {
        *out = value;
        return {};
      }
      allowed += allowed.empty() ? name : std::string(", ") + name;
    }
    return error(key, fmt::format("'{}' is not one of: {}", text, allowed));
  }

  Section child(const std::string& key) {
    used_.insert(key);
    YAML::Node sub = is_map() ? YAML::Node(node_[key]) : YAML::Node();
    return Section(sub, join(key), file_, warnings_);
  }

  // A missing key yields an invalid ("zombie") node, on which IsMap() throws.
  bool is_map() const { return node_.IsDefined() && node_.IsMap(); }

  bool has(const std::string& key) const {
    return is_map() && static_cast<bool>(node_[key]);
  }
  const YAML::Node& node() const { return node_; }
  bool present() const { return node_.IsDefined() && !node_.IsNull(); }
  std::string join(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  Status error(const std::string& key, const std::string& problem) const {
    return make_error(ErrorCode::kInvalidArgument, "{}: key '{}': {}", file_.string(), join(key),
                      problem);
  }

  void warn(const std::string& problem) const {
    warnings_->push_back(fmt::format("{}: {}", file_.string(), problem));
  }

  // Records a warning for each key that no read() asked for.
  void warn_unknown() const {
    if (!is_map()) return;
    for (const auto& item : node_) {
      const auto key = item.first.as<std::string>();
      if (!used_.count(key)) {
        warnings_->push_back(fmt::format("{}: unknown key '{}' ignored", file_.string(), join(key)));
      }
    }
  }

 private:
  template <typename T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, int>) return "an integer";
    if constexpr (std::is_same_v<T, double>) return "a number";
    if constexpr (std::is_same_v<T, bool>) return "true/false";
    return "a string";
  }

  const YAML::Node node_;
  std::string path_;
  const std::filesystem::path& file_;
  std::vector<std::string>* warnings_;
  std::set<std::string> used_;
};

// `server.port` is ":50053" in the older config; plain numbers are accepted too.
Status read_port(Section& s, const std::string& key, int* port) {
  std::string text;
  RETURN_IF_ERROR(s.read(key, &text));
  if (text.empty()) return {};
  const auto colon = text.rfind(':');
  const std::string digits = colon == std::string::npos ? text : text.substr(colon + 1);
  try {
    std::size_t used = 0;
    const int value = std::stoi(digits, &used);
    if (used != digits.size() || value < 0 || value > 65535) throw std::out_of_range("port");
    *port = value;
  } catch (const std::exception&) {
    return s.error(key, fmt::format("'{}' is not a port (0-65535, optionally ':PORT')", text));
  }
  return {};
}

std::filesystem::path resolve(const std::filesystem::path& root, const std::string& value) {
  if (value.empty()) return {};
  std::filesystem::path p(value);
  return p.is_relative() && !root.empty() ? root / p : p;
}

Status read_path(Section& s, const std::string& key, const std::filesystem::path& root,
                 std::filesystem::path* out) {
  std::string text;
  RETURN_IF_ERROR(s.read(key, &text));
  if (!text.empty()) *out = resolve(root, text);
  return {};
}

// preferred_gpu must name a device models are placed on (GpuPlacement in registry); on the CPU
// it does not apply.
Status check_preferred_gpu(Section& s, const Config& c, const ModelConfig& m) {
  if (!m.preferred_gpu.has_value()) return {};
  if (c.runtime.execution_provider != ExecutionProvider::kCuda) {
    s.warn(fmt::format("key '{}' ({}) ignored: onnx.execution_provider is cpu",
                       s.join("preferred_gpu"), *m.preferred_gpu));
    return {};
  }
  const int first = c.gpus.count > 0 ? 0 : c.runtime.device_id;
  const int last = c.gpus.count > 0 ? c.gpus.count - 1 : c.runtime.device_id;
  if (*m.preferred_gpu < first || *m.preferred_gpu > last) {
    return s.error("preferred_gpu",
                   fmt::format("GPU {} is not configured (gpus.count {}: devices {}..{})",
                               *m.preferred_gpu, c.gpus.count, first, last));
  }
  return {};
}

Status read_model(Section s, const std::string& id, const Config& c, ModelConfig* m) {
  const std::filesystem::path& root = c.models_root;
  m->model_id = id;
  RETURN_IF_ERROR(read_path(s, "model_path", root, &m->model_path));
  RETURN_IF_ERROR(read_path(s, "background_dir", root, &m->background_dir));
  RETURN_IF_ERROR(read_path(s, "source_video", root, &m->source_video));
  RETURN_IF_ERROR(read_path(s, "crop_rects_path", root, &m->crop_rects_path));
  RETURN_IF_ERROR(s.read_int("num_frames", &m->num_frames, 0, 10'000'000));
  RETURN_IF_ERROR(s.read("preload_backgrounds", &m->preload_backgrounds));
  RETURN_IF_ERROR(s.read("preload_model", &m->preload_model));
  if (s.has("preferred_gpu")) {  // absent means automatic (the older server read it as GPU 0)
    int gpu = -1;
    RETURN_IF_ERROR(s.read_int("preferred_gpu", &gpu, -1, 1024));
    if (gpu >= 0) m->preferred_gpu = gpu;
  }
  RETURN_IF_ERROR(check_preferred_gpu(s, c, *m));
  if (s.has("preload_backgrounds") && !m->preload_backgrounds && m->preload_model) {
    s.warn(fmt::format("key '{}' (false) has no effect with preload_model: true: backgrounds are "
                       "part of the model and load with it",
                       s.join("preload_backgrounds")));
  }
  if (m->model_path.empty()) return s.error("model_path", "is required");
  if (m->background_dir.empty() && m->source_video.empty()) {
    return s.error("background_dir", "one of background_dir or source_video is required");
  }
  s.warn_unknown();
  return {};
}

// The gpus section places models on CUDA devices; say so when it cannot apply.
void warn_inapplicable_gpus(Section& gpus, Section& onnx, const Config& c) {
  const bool cuda = c.runtime.execution_provider == ExecutionProvider::kCuda;
  if (!cuda && c.gpus.count > 0) {
    gpus.warn(fmt::format("key 'gpus.count' ({}) ignored: onnx.execution_provider is cpu, models "
                          "run on the CPU (gpu_id -1)",
                          c.gpus.count));
  }
  if (!cuda && gpus.has("assignment_strategy")) {
    gpus.warn("key 'gpus.assignment_strategy' ignored: onnx.execution_provider is cpu");
  }
  for (const char* key : {"cuda_nhwc", "cuda_graph"}) {
    if (!cuda && onnx.has(key)) {
      onnx.warn(fmt::format("key 'onnx.{}' ignored: onnx.execution_provider is cpu", key));
    }
  }
  if (cuda && c.gpus.count > 0 && onnx.has("device_id")) {
    onnx.warn(fmt::format("key 'onnx.device_id' ignored: gpus.count places models on devices "
                          "0..{}",
                          c.gpus.count - 1));
  }
}

Status read_sections(Section& top, Config* c) {
  std::string root;
  RETURN_IF_ERROR(top.read("models_root", &root));
  const auto config_dir = c->source_file.parent_path();
  c->models_root = resolve(config_dir, root.empty() ? "." : root);

  Section server = top.child("server");
  RETURN_IF_ERROR(server.read("host", &c->server.listen_host));
  RETURN_IF_ERROR(read_port(server, "port", &c->server.grpc_port));
  RETURN_IF_ERROR(read_port(server, "http_port", &c->server.http_port));
  RETURN_IF_ERROR(server.read_int("max_message_size_mb", &c->server.max_message_size_mb, 64, 4096));
  server.warn_unknown();

  Section gpus = top.child("gpus");
  RETURN_IF_ERROR(gpus.read_int("count", &c->gpus.count, 0, 64));
  RETURN_IF_ERROR(gpus.read_enum("assignment_strategy", &c->gpus.assignment_strategy,
                                 {{"round-robin", GpuAssignment::kRoundRobin},
                                  {"least-loaded", GpuAssignment::kLeastLoaded}}));
  gpus.warn_unknown();

  Section cap = top.child("capacity");
  RETURN_IF_ERROR(cap.read_int("max_models", &c->capacity.max_models, 1, 100000));
  RETURN_IF_ERROR(cap.read("max_memory_gb", &c->capacity.max_memory_gb));
  if (c->capacity.max_memory_gb < 0) return cap.error("max_memory_gb", "must be >= 0");
  RETURN_IF_ERROR(cap.read_enum("eviction_policy", &c->capacity.eviction_policy,
                                {{"lru", EvictionPolicy::kLru}, {"lfu", EvictionPolicy::kLfu}}));
  RETURN_IF_ERROR(cap.read_int("idle_timeout_minutes", &c->capacity.idle_timeout_minutes, 0,
                               1'000'000));
  RETURN_IF_ERROR(cap.read_int("drain_wait_ms", &c->capacity.drain_wait_ms, 0, 3'600'000));
  cap.warn_unknown();

  Section onnx = top.child("onnx");
  RETURN_IF_ERROR(onnx.read_int("intra_op_threads", &c->runtime.intra_op_threads, 0, 1024));
  RETURN_IF_ERROR(onnx.read_enum("execution_provider", &c->runtime.execution_provider,
                                 {{"cpu", ExecutionProvider::kCpu}, {"cuda", ExecutionProvider::kCuda}}));
  RETURN_IF_ERROR(onnx.read_int("device_id", &c->runtime.device_id, 0, 1024));
  RETURN_IF_ERROR(read_path(onnx, "cuda_ep_library", config_dir, &c->runtime.cuda_ep_library));
  RETURN_IF_ERROR(onnx.read("cuda_nhwc", &c->runtime.cuda_nhwc));
  RETURN_IF_ERROR(onnx.read("cuda_graph", &c->runtime.cuda_graph));
  RETURN_IF_ERROR(read_path(onnx, "audio_encoder_path", c->models_root,
                            &c->runtime.audio_encoder_path));
  onnx.warn_unknown();
  warn_inapplicable_gpus(gpus, onnx, *c);

  Section pipe = top.child("pipeline");
  RETURN_IF_ERROR(pipe.read_int("max_batch", &c->pipeline.max_batch, 1, 256));
  RETURN_IF_ERROR(pipe.read_int("max_queue_delay_ms", &c->pipeline.max_queue_delay_ms, 0, 10000));
  RETURN_IF_ERROR(pipe.read_int("max_queue_depth", &c->pipeline.max_queue_depth, 1, 100000));
  pipe.warn_unknown();

  Section out = top.child("output");
  RETURN_IF_ERROR(out.read_enum("format", &c->output.format,
                                {{"jpeg", OutputFormat::kJpeg}, {"raw", OutputFormat::kRaw}}));
  RETURN_IF_ERROR(out.read_int("jpeg_quality", &c->output.jpeg_quality, 1, 100));
  RETURN_IF_ERROR(out.read_enum("chroma_subsampling", &c->output.chroma_subsampling,
                                {{"420", ChromaSubsampling::k420}, {"444", ChromaSubsampling::k444}}));
  out.warn_unknown();

  Section models = top.child("models");
  if (models.present()) {
    if (!models.is_map()) return top.error("models", "must be a mapping of model ids");
    for (const auto& item : models.node()) {
      const auto id = item.first.as<std::string>();
      if (!item.second.IsMap()) return models.error(id, "must be a mapping");
      ModelConfig m;
      RETURN_IF_ERROR(read_model(models.child(id), id, *c, &m));
      c->models.emplace(id, std::move(m));
    }
  }
  top.warn_unknown();
  return {};
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
  if (root.IsNull()) return config;  // an empty file is the default configuration
  if (!root.IsMap()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: top level must be a mapping",
                      origin.string());
  }
  Section top(root, "", config.source_file, &config.warnings);
  try {
    RETURN_IF_ERROR(read_sections(top, &config));
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::kInvalidArgument, "{}: line {}: {}", origin.string(),
                      e.mark.line + 1, e.msg);
  }
  return config;
}

Result<Config> load_config(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) return make_error(ErrorCode::kNotFound, "cannot open config file '{}'", path.string());
  std::stringstream text;
  text << file.rdbuf();
  return parse_config(text.str(), path);
}

}  // namespace lipsync
