// The table of keys is long by nature (one entry per key, with its user-facing text); the
// helpers above it turn a typed field into the entry's parse/show functions.
#include "core/config_schema.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "core/key_values.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;

template <typename T>
using Field = T& (*)(ConfigTarget&);

std::string format_number(double value) {
  return value == std::floor(value) && std::abs(value) < 1e15
             ? fmt::format("{}", static_cast<long long>(value))
             : fmt::format("{}", value);
}

Status problem(std::string text) {
  return Status(ErrorCode::kInvalidArgument, std::move(text));
}

std::optional<long long> parse_integer(const std::string& text) {
  long long value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
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

// preferred_gpu: absent or -1 = automatic.
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

// A comma-separated list of text items (spaces around them dropped); "" is the empty list.
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

// A comma-separated list of integers in [min, max], each at most once; "" is the empty list.
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

// Field accessors: captureless lambdas, so that the table reads as key -> field.
#define TOP(member)               \
  [](ConfigTarget & t) -> auto& { \
    return t.config.member;       \
  }
#define MODEL(member)             \
  [](ConfigTarget & t) -> auto& { \
    return t.model.member;        \
  }

std::vector<ConfigKey> server_keys() {
  return {
      address("server.host", TOP(server.listen_host),
              "Address both servers listen on, unless `server.port` or `server.http_port` name "
              "their own host. `127.0.0.1`: this machine only.",
              "127.0.0.1"),
      listen("server.port", TOP(server.grpc_host), TOP(server.grpc_port),
             "gRPC port (compat and `lipsync.v1` APIs), optionally with the host to listen on "
             "(`HOST:PORT`, `[IPV6]:PORT`; the older server's `:PORT` works). 0: any free port, "
             "logged at start. `lipsync serve --port` overrides the port.",
             "\"127.0.0.1:50053\""),
      boolean("server.http_enabled", TOP(server.http_enabled),
              "Serve HTTP: the web page (`/`), `/ws/render`, `/health/live`, `/health/ready` and "
              "`/metrics`. `lipsync serve --no-http` turns it off; `--http-port` turns it on.",
              "false"),
      listen("server.http_port", TOP(server.http_host), TOP(server.http_port),
             "HTTP port, optionally with the host to listen on, as `server.port`. 0: any free "
             "port, logged at start. `lipsync serve --http-port` overrides the port.",
             "\"127.0.0.1:8080\""),
      integer("server.max_message_size_mb", TOP(server.max_message_size_mb), 64, 4096,
              "Largest gRPC message either way, in MiB. A compat batch of 25 frames with visual "
              "frames is about 61.5 MB, hence at least 64.",
              "128"),
      integer("server.http_request_timeout_ms", TOP(server.http_request_timeout_ms), 100, 3600000,
              "An HTTP request (and a keep-alive connection's next one) must arrive whole within "
              "this many ms, or the connection is closed (slow clients cannot hold it).",
              "10000"),
      integer("server.ws_first_message_timeout_ms", TOP(server.ws_first_message_timeout_ms), 100,
              3600000,
              "A `/ws/render` client must send its job within this many ms of the upgrade, or "
              "it is closed (policy violation), so idle sockets cannot fill the slots.",
              "5000"),
      integer("server.ws_idle_timeout_ms", TOP(server.ws_idle_timeout_ms), 100, 86400000,
              "A WebSocket with no message either way for this many ms is closed.", "120000"),
      integer("server.max_websocket_connections", TOP(server.max_websocket_connections), 1, 100000,
              "`/ws/render` connections open at once; one more is answered 503.", "64"),
      integer("server.max_connections_per_client", TOP(server.max_connections_per_client), 0,
              100000,
              "HTTP and WebSocket connections open at once from one remote address; one more is "
              "answered 429. 0: no limit (e.g. behind a proxy that is the only address).",
              "0"),
      integer("server.shutdown_drain_ms", TOP(server.shutdown_drain_ms), 0, 600000,
              "On SIGTERM/SIGINT `/health/ready` answers 503 and calls are still served for "
              "this many ms before the server stops accepting them: the time a proxy's health "
              "checks need to stop sending here (HAProxy of `deploy/`: 2 s; "
              "docs/deployment.md). 0: stop accepting at once (one machine, or Kubernetes, "
              "whose `preStop` hook waits instead).",
              "3000"),
      integer("server.shutdown_grace_ms", TOP(server.shutdown_grace_ms), 0, 600000,
              "On SIGTERM/SIGINT `/health/ready` answers 503 at once; calls in flight get this "
              "many ms to finish (and their answers up to 500 ms of it to be read before the "
              "connections close), then are cancelled and WebSocket clients get a close frame "
              "with the reason.",
              "10000"),
  };
}

std::vector<ConfigKey> gpu_and_capacity_keys() {
  return {
      integer("gpus.count", TOP(gpus.count), 0, 64,
              "With `onnx.execution_provider: cuda`, models are placed on CUDA devices "
              "0..count-1 (0: on `onnx.device_id` alone). Ignored, with a warning, on the CPU.",
              "2"),
      choice<GpuAssignment>("gpus.assignment_strategy", TOP(gpus.assignment_strategy),
                            {{"round-robin", GpuAssignment::kRoundRobin},
                             {"least-loaded", GpuAssignment::kLeastLoaded}},
                            "How a load picks its device when neither the request nor the "
                            "model's `preferred_gpu` names one: in turn, or the device with the "
                            "fewest models (then fewest bytes).",
                            "least-loaded"),
      integer("capacity.max_models", TOP(capacity.max_models), 1, 100000,
              "Models loaded at once; loading one more evicts one by `eviction_policy` (idle "
              "models first).",
              "4"),
      number("capacity.max_memory_gb", TOP(capacity.max_memory_gb), 0, 1e6,
             "Host memory budget in GB for loaded models; 0: no budget. A model counts its "
             "avatar caches (face crops and backgrounds, see `lipsync avatar inspect`), its "
             "UNet file size and, on the CPU, the arena of its UNet's activations after one batch "
             "at load (the full UNet at batch 4: 1.07 GB, about 80% of what it really takes), "
             "and stays counted while a request still uses it after eviction.",
             "12"),
      choice<EvictionPolicy>("capacity.eviction_policy", TOP(capacity.eviction_policy),
                             {{"lru", EvictionPolicy::kLru}, {"lfu", EvictionPolicy::kLfu}},
                             "Which model to evict: least recently used, or fewest uses since "
                             "it was configured (ties: least recent).",
                             "lfu"),
      integer("capacity.idle_timeout_minutes", TOP(capacity.idle_timeout_minutes), 0, 1000000,
              "Unload models unused this long (checked every 30 s; a model in use is never "
              "unloaded). 0: never.",
              "30"),
      integer("capacity.drain_wait_ms", TOP(capacity.drain_wait_ms), 0, 3600000,
              "A load over `max_memory_gb` because evicted models are still in use waits this "
              "long for them to be released, then fails with RESOURCE_EXHAUSTED.",
              "10000"),
  };
}

// `onnx.cuda_options`: a list of KEY=VALUE items, each checked for its form (the CUDA execution
// provider checks the keys and values themselves when a session is made).
ConfigKey cuda_options_key() {
  ConfigKey key = list(
      "onnx.cuda_options", TOP(runtime.cuda_options),
      "CUDA: more options of ONNX Runtime's CUDA execution provider, KEY=VALUE, comma-separated "
      "(`lipsync bench model --cuda-option` tries them). `fuse_conv_bias=0` turns off the fused "
      "convolutions that are on by default with `cuda_nhwc`.",
      "\"arena_extend_strategy=kSameAsRequested, cudnn_conv_use_max_workspace=0\"");
  key.set = [set = key.set](ConfigTarget& t, const std::string& text) -> Status {
    RETURN_IF_ERROR(set(t, text));
    const auto parsed = parse_key_values(t.config.runtime.cuda_options);
    if (parsed.ok()) return {};
    return problem(parsed.status().message() +
                   " (a CUDA execution provider option, e.g. cudnn_conv_use_max_workspace=0)");
  };
  return key;
}

std::vector<ConfigKey> onnx_keys() {
  return {
      choice<ExecutionProvider>(
          "onnx.execution_provider", TOP(runtime.execution_provider),
          {{"cpu", ExecutionProvider::kCpu}, {"cuda", ExecutionProvider::kCuda}},
          "Where the models run. `cuda` needs the CUDA execution provider "
          "libraries (`scripts/setup.sh --cuda`), CUDA 13 and cuDNN 9.",
          "cuda"),
      integer("onnx.intra_op_threads", TOP(runtime.intra_op_threads), 0, 1024,
              "Threads of one model run on the CPU; 0: ONNX Runtime's default (one per core).",
              "8"),
      integer("onnx.device_id", TOP(runtime.device_id), 0, 1024,
              "CUDA device of every model when `gpus.count` is 0.", "1"),
      path_key("onnx.cuda_ep_library", TOP(runtime.cuda_ep_library), PathBase::kConfigFolder,
               FileRole::kCudaLibrary,
               "The CUDA execution provider library; empty: `libonnxruntime_providers_cuda.so` "
               "beside the ONNX Runtime library lipsync loaded. Relative to this file.",
               "/opt/onnxruntime/lib/libonnxruntime_providers_cuda.so"),
      boolean("onnx.cuda_nhwc", TOP(runtime.cuda_nhwc),
              "CUDA: convolutions in NHWC layout, with cuDNN's fused convolution + bias (faster "
              "on tensor cores: docs/performance.md). false: NCHW convolutions, unfused.",
              "false"),
      boolean("onnx.cuda_graph", TOP(runtime.cuda_graph),
              "CUDA: replay a CUDA graph per batch size for the UNet instead of launching every "
              "kernel.",
              "true"),
      boolean("onnx.cuda_share_sessions", TOP(runtime.cuda_share_sessions),
              "CUDA: UNets that differ only in their weights (every person's SyncTalk_2D UNet) "
              "share ONNX Runtime sessions on a device, each model binding its own weights at "
              "every run: a model after the first of its architecture costs its weights in GPU "
              "memory and loads in about a second. Needs `cuda_nhwc: false` (NHWC shared sessions "
              "do not match the model's own closely enough on a GPU), so its convolutions run "
              "unfused: 1.8x the UNet's time per batch on an H100, for many models with few "
              "sessions each, not many live sessions (docs/gpu.md). Off, each model has sessions "
              "of its own (and CUDA graphs, with `cuda_graph`).",
              "true"),
      cuda_options_key(),
      path_key("onnx.audio_encoder_path", TOP(runtime.audio_encoder_path), PathBase::kModelsRoot,
               FileRole::kAudioEncoder,
               "The audio encoder (ONNX: mel windows [B,1,80,16] to features [B,512]), shared by "
               "every model. Required to serve.",
               "encoder.onnx"),
  };
}

std::vector<ConfigKey> pipeline_and_output_keys() {
  ConfigKey max_batch = integer(
      "pipeline.max_batch", TOP(pipeline.max_batch), 1, 256,
      "Most frames per UNet run; requests for one model are batched together up to it. On the "
      "CPU a larger batch needs more memory without running faster (the full UNet: 1.5 GB at 4, "
      "about 10 GB at 25).",
      "32");
  max_batch.default_text = "25 (CUDA), 4 (CPU)";
  ConfigKey batch_sizes = integer_list(
      "pipeline.cuda_batch_sizes", TOP(pipeline.cuda_batch_sizes), 1, 256,
      "CUDA: the batch sizes a GPU runs, comma-separated; a batch runs at the smallest that "
      "holds it (a batch of 3 as 4), and `max_batch` is always one (larger sizes are dropped). "
      "Each size is an ORT session of its own per model, warmed up at load: fewer sizes load "
      "faster and take less GPU memory (each size's arena grows to what its runs take; the "
      "full test UNet on an H100: ~2.6 GB for 25), more pad less. Ignored on the CPU, where a "
      "batch runs at its own size.",
      "\"1, 4, 25\"");
  batch_sizes.default_text = "1, 2, 4, 8, 16, 25, 32 (capped by max_batch)";
  return {
      std::move(max_batch),
      integer("pipeline.max_queue_delay_ms", TOP(pipeline.max_queue_delay_ms), 0, 10000,
              "How long a batch waits for more requests of its model before it runs.", "2"),
      integer("pipeline.max_queue_depth", TOP(pipeline.max_queue_depth), 1, 100000,
              "Pending requests per model; one more is refused with RESOURCE_EXHAUSTED.", "128"),
      std::move(batch_sizes),
      choice<OutputFormat>("output.format", TOP(output.format),
                           {{"jpeg", OutputFormat::kJpeg}, {"raw", OutputFormat::kRaw}},
                           "Compat API frames: JPEG, or raw BGR bytes.", "raw"),
      integer("output.jpeg_quality", TOP(output.jpeg_quality), 1, 100,
              "JPEG quality of served frames.", "90"),
      choice<ChromaSubsampling>(
          "output.chroma_subsampling", TOP(output.chroma_subsampling),
          {{"420", ChromaSubsampling::k420}, {"444", ChromaSubsampling::k444}},
          "JPEG chroma subsampling of served frames.", "\"444\""),
  };
}

std::vector<ConfigKey> webrtc_keys() {
  return {
      boolean("webrtc.enabled", TOP(webrtc.enabled),
              "Offer live sessions over WebRTC (H.264 + Opus) when the build has GStreamer; "
              "the page falls back to JPEG frames over `/ws/live` when off.",
              "false"),
      list("webrtc.stun_servers", TOP(webrtc.stun_servers),
           "STUN servers, comma-separated `stun://HOST:PORT`; the server learns its public "
           "address from the first that answers (it asks each in order every 60 s with a STUN "
           "Binding request: one that is down is skipped). The page gets the whole list for "
           "its own `RTCPeerConnection`. Empty: host candidates only (same network, or a port "
           "range forwarded to this machine).",
           "\"stun://stun.example.org:3478\""),
      list("webrtc.turn_servers", TOP(webrtc.turn_servers),
           "TURN relays, comma-separated `turn://USER:PASSWORD@HOST:PORT` (or `turns://` over "
           "TLS); media goes through them when no direct path works (symmetric NAT).",
           "\"turn://lipsync:secret@turn.example.org:3478\""),
      integer("webrtc.min_port", TOP(webrtc.min_port), 0, 65535,
              "Lowest local UDP port ICE uses; 0: any. One port per viewer (audio and video "
              "are bundled).",
              "40000"),
      integer("webrtc.max_port", TOP(webrtc.max_port), 0, 65535,
              "Highest local UDP port ICE uses; 0: 65535. Open `min_port`..`max_port` UDP "
              "in the firewall.",
              "40099"),
      integer("webrtc.max_peers", TOP(webrtc.max_peers), 0, 10000,
              "WebRTC viewers at once on this server (each encodes H.264 on a CPU core); one "
              "more is answered RESOURCE_EXHAUSTED and keeps the JPEG stream.",
              "32"),
  };
}

std::vector<ConfigKey> live_keys() {
  return {
      integer("live.lead_frames", TOP(live.lead_frames), 1, 50,
              "A live session submits each frame for rendering this many frame periods (40 ms) "
              "before it is due and shows it when due: the time the renderer has per frame, and "
              "part of speech-to-mouth latency (the first speech frame is the first one not yet "
              "planned when the audio arrives; idle frames already rendered are planned one "
              "period later, so speech starting on them has one period less). 1 suits a GPU "
              "that renders a batch well within 40 ms (40 ms less latency); 2 leaves room for a "
              "busy GPU or the CPU; 3 also absorbs audio 40 ms late from an utterance's start "
              "without a jitter buffer. A session more than this many frames behind the clock "
              "skips frames to catch up.",
              "1"),
      integer("live.max_jitter_buffer_ms", TOP(live.max_jitter_buffer_ms), 0, 2000,
              "A live session measures how late speech audio arrives against its own pace; a "
              "new utterance's first frame waits for the lateness of the last four utterances "
              "(less what the lead absorbs where it starts, in whole frames), at most this "
              "long, so that audio as late leaves no gap in it (docs/api.md). 0: speech never "
              "waits (a network that delays chunks then shows idle frames inside utterances).",
              "120"),
  };
}

std::vector<ConfigKey> model_keys() {
  std::vector<ConfigKey> keys{
      path_key("models.<id>.model_path", MODEL(model_path), PathBase::kModelsRoot, FileRole::kUnet,
               "The person's SyncTalk_2D UNet (ONNX: `input` [B,6,320,320] and `audio` "
               "[B,32,16,16] to `output` [B,3,320,320]). Required.",
               "alice/unet.onnx"),
      path_key("models.<id>.background_dir", MODEL(background_dir), PathBase::kModelsRoot,
               FileRole::kFrameFolder,
               "Folder of the avatar's numbered frames (`frame_000000.jpg`, ...). This or "
               "`source_video` is required; the frames win when the folder has any.",
               "alice/frames"),
      path_key("models.<id>.source_video", MODEL(source_video), PathBase::kModelsRoot,
               FileRole::kVideo, "The avatar's video (25 fps), decoded at load.",
               "alice/video.mp4"),
      path_key("models.<id>.crop_rects_path", MODEL(crop_rects_path), PathBase::kModelsRoot,
               FileRole::kCropRects,
               "The face rectangle of every frame: `crop_rects.json`, `crop_rectangles.json` or "
               "a folder of `.lms` landmark files. One per frame.",
               "alice/crop_rects.json"),
      integer("models.<id>.num_frames", MODEL(num_frames), 0, 10000000,
              "Use only the first N frames (and rects); 0: all.", "500"),
      boolean("models.<id>.accept_any_fps", MODEL(accept_any_fps),
              "Use a `source_video` that is not 25 fps as it is (its frame k plays at 40·k ms, "
              "so the person moves at another speed); otherwise it is refused at load with the "
              "ffmpeg command that converts it.",
              "true"),
      boolean("models.<id>.accept_rects_outside_frame", MODEL(accept_rects_outside_frame),
              "Use rects that cross the frame border (clipped: the mouth is pasted clipped); "
              "otherwise they are refused at load (often rects of a video of another size).",
              "true"),
      boolean("models.<id>.preload_model", MODEL(preload_model),
              "Load at start (`lipsync serve --no-preload` skips it); otherwise on first use.",
              "true"),
      boolean("models.<id>.preload_backgrounds", MODEL(preload_backgrounds),
              "As `preload_model` (the backgrounds are part of the model); kept for the older "
              "configuration.",
              "true"),
      optional_integer("models.<id>.preferred_gpu", MODEL(preferred_gpu), -1, 1024,
                       "CUDA device for this model; -1 or absent: by "
                       "`gpus.assignment_strategy`. Must be one of the configured devices.",
                       "1"),
  };
  ConfigKey required = boolean(
      "models.<id>.required", MODEL(required),
      "`/health/ready` answers 503 while this model has failed to load. Set `false` for a model "
      "whose failure should not take the server out of a load balancer.",
      "false");
  required.default_text = "true when `preload_model` or `preload_backgrounds`, else false";
  keys.push_back(std::move(required));
  return keys;
}

#undef TOP
#undef MODEL

std::vector<ConfigKey> all_keys() {
  ConfigKey root = path_key(
      "models_root", [](ConfigTarget & t) -> auto& { return t.config.models_root; },
      PathBase::kConfigFolder, FileRole::kNone,
      "Folder that relative model and encoder paths join onto; itself relative to this file.",
      "/srv/lipsync/models");
  root.default_text = "the folder of this file";
  std::vector<ConfigKey> keys{std::move(root)};
  for (auto part : {server_keys(), gpu_and_capacity_keys(), onnx_keys(), pipeline_and_output_keys(),
                    webrtc_keys(), live_keys(), model_keys()}) {
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
