#include "core/config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "core/config_reference.h"
#include "core/config_schema.h"
#include "core/key_values.h"

namespace lipsync {
namespace {

constexpr const char* kOlderConfig = R"(
server:
  port: ":50053"
  max_message_size_mb: 100
gpus:
  count: 1
  assignment_strategy: least-loaded
capacity:
  max_models: 4
  max_memory_gb: 12.5
  eviction_policy: lfu
  idle_timeout_minutes: 30
onnx:
  intra_op_threads: 4
output:
  format: jpeg
  jpeg_quality: 80
models_root: /data/models
models:
  alice:
    model_path: alice/unet.onnx
    background_dir: alice/frames
    source_video: /videos/alice.mp4
    crop_rects_path: alice/crop_rects.json
    num_frames: 523
    preload_backgrounds: true
    preload_model: true
    preferred_gpu: 0
  bob:
    model_path: bob/unet.onnx
    source_video: bob/video.mp4
)";

TEST(Config, ReadsTheOlderServersKeys) {
  auto c = parse_config(kOlderConfig, "server.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->server.grpc_port, 50053);
  EXPECT_EQ(c->gpus.assignment_strategy, GpuAssignment::kLeastLoaded);
  EXPECT_EQ(c->capacity.max_models, 4);
  EXPECT_DOUBLE_EQ(c->capacity.max_memory_gb, 12.5);
  EXPECT_EQ(c->capacity.eviction_policy, EvictionPolicy::kLfu);
  EXPECT_EQ(c->runtime.intra_op_threads, 4);
  EXPECT_EQ(c->output.jpeg_quality, 80);
  ASSERT_EQ(c->models.size(), 2u);
  const auto& alice = c->models.at("alice");
  EXPECT_EQ(alice.model_path, "/data/models/alice/unet.onnx");  // relative joins models_root
  EXPECT_EQ(alice.source_video, "/videos/alice.mp4");           // absolute stays
  EXPECT_EQ(alice.num_frames, 523);
  EXPECT_TRUE(alice.preload_model);
  EXPECT_EQ(alice.preferred_gpu, 0);
  // A missing preferred_gpu means automatic (the older server read it as GPU 0).
  EXPECT_FALSE(c->models.at("bob").preferred_gpu.has_value());
  EXPECT_TRUE(alice.preload_backgrounds);
  EXPECT_EQ(c->capacity.idle_timeout_minutes, 30);
  EXPECT_EQ(c->capacity.drain_wait_ms, 5000);  // default
  EXPECT_EQ(c->gpus.count, 1);
}

// The GPU keys work with the CUDA provider; on the CPU each one is a warning saying why.
TEST(Config, GpuKeysWarnOnTheCpuOnly) {
  auto cpu = parse_config(kOlderConfig, "server.yaml");
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  ASSERT_EQ(cpu->warnings.size(), 3u);
  EXPECT_NE(cpu->warnings[0].find("'gpus.count' (1) ignored: onnx.execution_provider is cpu"),
            std::string::npos)
      << cpu->warnings[0];
  EXPECT_NE(cpu->warnings[1].find("'gpus.assignment_strategy' ignored"), std::string::npos);
  EXPECT_NE(cpu->warnings[2].find("'models.alice.preferred_gpu' (0) ignored"), std::string::npos)
      << cpu->warnings[2];

  std::string text = kOlderConfig;
  const std::string onnx = "onnx:\n";
  text.insert(text.find(onnx) + onnx.size(), "  execution_provider: cuda\n");
  auto cuda = parse_config(text, "server.yaml");
  ASSERT_TRUE(cuda.ok()) << cuda.status().to_string();
  EXPECT_TRUE(cuda->warnings.empty()) << cuda->warnings.front();
  EXPECT_EQ(cuda->runtime.execution_provider, ExecutionProvider::kCuda);
}

TEST(Config, DeviceIdIsIgnoredWhenGpusCountPlacesModels) {
  auto c =
      parse_config("gpus: {count: 2}\nonnx: {execution_provider: cuda, device_id: 1}\n", "s.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_NE(c->warnings[0].find("'onnx.device_id' ignored"), std::string::npos);
}

TEST(Config, PreloadBackgroundsFalseWithPreloadModelIsAWarning) {
  auto c = parse_config(
      "capacity: {drain_wait_ms: 250}\nmodels:\n  a: {model_path: u.onnx, source_video: v.mp4, "
      "preload_model: true, preload_backgrounds: false}\n",
      "s.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->capacity.drain_wait_ms, 250);
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_NE(c->warnings[0].find("'models.a.preload_backgrounds' (false) has no effect"),
            std::string::npos)
      << c->warnings[0];
}

TEST(Config, DefaultsAndEmptyFile) {
  auto c = parse_config("", "empty.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->server.grpc_port, 50053);
  EXPECT_GE(c->server.max_message_size_mb, 64);
  EXPECT_EQ(c->output.jpeg_quality, 75);
  EXPECT_EQ(c->runtime.execution_provider, ExecutionProvider::kCpu);
}

TEST(Config, MaxBatchDefaultsToFourOnTheCpuAnd25OnCuda) {
  auto cpu = parse_config("", "empty.yaml");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->pipeline.max_batch, kCpuDefaultMaxBatch);
  EXPECT_EQ(kCpuDefaultMaxBatch, 4);
  auto cuda = parse_config("onnx: {execution_provider: cuda}\n", "s.yaml");
  ASSERT_TRUE(cuda.ok());
  EXPECT_EQ(cuda->pipeline.max_batch, 25);
  for (const char* provider : {"cpu", "cuda"}) {
    auto given = parse_config(
        fmt::format("onnx: {{execution_provider: {}}}\npipeline: {{max_batch: 25}}\n", provider),
        "s.yaml");
    ASSERT_TRUE(given.ok());
    EXPECT_EQ(given->pipeline.max_batch, 25) << provider;
  }
}

TEST(KeyValues, ParseIntoAMapAndNameTheFirstMalformedItem) {
  auto parsed = parse_key_values({"a=1", "b=x=y", "a=2"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, (std::map<std::string, std::string>{{"a", "2"}, {"b", "x=y"}}));
  for (const char* item : {"a", "=1", "a="}) {
    auto bad = parse_key_values({"ok=1", item, "b"});
    ASSERT_FALSE(bad.ok()) << item;
    EXPECT_EQ(bad.status().message(), fmt::format("'{}' is not KEY=VALUE", item));
  }
}

TEST(Config, CudaOptionsAreKeyValueItems) {
  auto cuda = parse_config(
      "onnx: {execution_provider: cuda, cuda_options: \"arena_extend_strategy=kSameAsRequested, "
      "cudnn_conv_use_max_workspace=0\"}\n",
      "s.yaml");
  ASSERT_TRUE(cuda.ok()) << cuda.status().to_string();
  EXPECT_EQ(cuda->runtime.cuda_options,
            (std::vector<std::string>{"arena_extend_strategy=kSameAsRequested",
                                      "cudnn_conv_use_max_workspace=0"}));
  for (const char* item : {"fuse_conv_bias", "=1", "fuse_conv_bias="}) {
    auto bad = parse_config(
        fmt::format("onnx: {{execution_provider: cuda, cuda_options: \"a=b, {}\"}}\n", item),
        "bad.yaml");
    ASSERT_FALSE(bad.ok()) << item;
    EXPECT_NE(bad.status().message().find("onnx.cuda_options"), std::string::npos)
        << bad.status().message();
    EXPECT_NE(bad.status().message().find(fmt::format("'{}' is not KEY=VALUE", item)),
              std::string::npos)
        << bad.status().message();
  }
}

// Shared sessions are off by default and apply with either convolution layout (docs/gpu.md).
TEST(Config, SharedSessionsAreOffByDefaultAndTakeEitherLayout) {
  auto defaults = parse_config("", "empty.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->runtime.cuda_share_sessions);
  for (const char* nhwc : {"true", "false"}) {
    auto shared = parse_config(fmt::format("onnx: {{execution_provider: cuda, cuda_nhwc: {}, "
                                           "cuda_share_sessions: true}}\n",
                                           nhwc),
                               "s.yaml");
    ASSERT_TRUE(shared.ok()) << shared.status().to_string();
    EXPECT_TRUE(shared->runtime.cuda_share_sessions);
  }
}

// A CUDA model reserves its runs' memory at load unless told not to; on the CPU the key only warns.
TEST(Config, ReservingTheRunsMemoryIsOnByDefaultAndACudaKey) {
  auto defaults = parse_config("", "empty.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->runtime.cuda_reserve_run_memory);
  auto off = parse_config("onnx: {execution_provider: cuda, cuda_reserve_run_memory: false}\n",
                          "off.yaml");
  ASSERT_TRUE(off.ok()) << off.status().to_string();
  EXPECT_FALSE(off->runtime.cuda_reserve_run_memory);
  auto cpu = parse_config("onnx: {cuda_reserve_run_memory: false}\n", "cpu.yaml");
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  bool warned = false;
  for (const auto& warning : cpu->warnings)
    warned |= warning.find("'onnx.cuda_reserve_run_memory' ignored") != std::string::npos;
  EXPECT_TRUE(warned);
  EXPECT_FALSE(parse_config("onnx: {cuda_reserve_run_memory: 3}\n", "bad.yaml").ok());
}

TEST(Config, CudaLayoutAndGraphKeys) {
  auto defaults = parse_config("", "empty.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->runtime.cuda_nhwc);
  EXPECT_FALSE(defaults->runtime.cuda_graph);
  auto cuda = parse_config("onnx: {execution_provider: cuda, cuda_nhwc: false, cuda_graph: true}\n",
                           "s.yaml");
  ASSERT_TRUE(cuda.ok()) << cuda.status().to_string();
  EXPECT_FALSE(cuda->runtime.cuda_nhwc);
  EXPECT_TRUE(cuda->runtime.cuda_graph);
  EXPECT_TRUE(cuda->warnings.empty());
  auto cpu = parse_config("onnx: {cuda_graph: true}\n", "s.yaml");
  ASSERT_TRUE(cpu.ok());
  ASSERT_EQ(cpu->warnings.size(), 1u);
  EXPECT_NE(cpu->warnings[0].find("'onnx.cuda_graph' ignored"), std::string::npos)
      << cpu->warnings[0];
  auto bad = parse_config("onnx: {cuda_graph: sometimes}\n", "bad.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("onnx.cuda_graph"), std::string::npos)
      << bad.status().message();
}

TEST(Config, RelativeModelsRootIsRelativeToTheFile) {
  auto c =
      parse_config("models_root: assets\nmodels:\n  a: {model_path: u.onnx, source_video: v.mp4}\n",
                   "/etc/lipsync/server.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->models.at("a").model_path, "/etc/lipsync/assets/u.onnx");
}

TEST(Config, UnknownKeysAreWarningsNamingThePath) {
  auto c = parse_config("server:\n  port: 1\n  colour: blue\nfoo: 1\n", "s.yaml");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->warnings.size(), 2u);
  EXPECT_NE(c->warnings[0].find("server.colour"), std::string::npos);
  EXPECT_NE(c->warnings[1].find("'foo'"), std::string::npos);
}

struct BadCase {
  const char* yaml;
  const char* expected_fragment;
};

class ConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrors, NameFileKeyAndProblem) {
  auto c = parse_config(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("bad.yaml"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find(GetParam().expected_fragment), std::string::npos)
      << c.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigErrors,
    ::testing::Values(BadCase{"server:\n  port: ':http'\n", "server.port"},
                      BadCase{"output:\n  jpeg_quality: 101\n", "output.jpeg_quality"},
                      BadCase{"output:\n  jpeg_quality: high\n", "output.jpeg_quality"},
                      BadCase{"capacity:\n  eviction_policy: random\n", "lru, lfu"},
                      BadCase{"capacity:\n  drain_wait_ms: -1\n", "capacity.drain_wait_ms"},
                      BadCase{"gpus: {count: 2}\nonnx: {execution_provider: cuda}\nmodels:\n"
                              "  a: {model_path: u.onnx, source_video: v.mp4, preferred_gpu: 2}\n",
                              "models.a.preferred_gpu': GPU 2 is not configured"},
                      BadCase{"onnx: {execution_provider: cuda, device_id: 1}\nmodels:\n"
                              "  a: {model_path: u.onnx, source_video: v.mp4, preferred_gpu: 0}\n",
                              "devices 1..1"},
                      BadCase{"server:\n  max_message_size_mb: 4\n", "max_message_size_mb"},
                      BadCase{"models:\n  a:\n    source_video: v.mp4\n", "models.a.model_path"},
                      BadCase{"models:\n  a:\n    model_path: u.onnx\n", "models.a.background_dir"},
                      BadCase{"server:\n  port: 70000\n", "server.port"},
                      BadCase{"server:\n  port: \"::1:5\"\n", "IPv6 address in brackets"},
                      BadCase{"server:\n  host: example.org\n", "'example.org' is not an IP"},
                      BadCase{"server:\n  port: [1, 2]\n", "must be one value"},
                      BadCase{"server:\n  port: 9000\n  http_port: 9000\n",
                              "port 9000 is server.port's too"},
                      BadCase{"server: [1, 2\n", "line"},
                      BadCase{"server: 5\n", "must be a mapping"},
                      BadCase{"- 1\n- 2\n", "top level"},
                      BadCase{"models:\n  'a b': {model_path: u.onnx, source_video: v.mp4}\n",
                              "models.a b': the model id 'a b' has ' ' at byte 1"},
                      BadCase{"server: {ws_idle_timeout_ms: 0}\n", "server.ws_idle_timeout_ms"},
                      BadCase{"server: {shutdown_grace_ms: -5}\n", "server.shutdown_grace_ms"}));

TEST(Config, NetworkLimitsShutdownGraceAndRequiredModels) {
  auto defaults = parse_config("", "empty.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->server.ws_first_message_timeout_ms, 10'000);
  EXPECT_EQ(defaults->server.ws_idle_timeout_ms, 60'000);
  EXPECT_EQ(defaults->server.max_connections_per_client, 16);
  EXPECT_EQ(defaults->server.max_websocket_connections, 32);
  EXPECT_EQ(defaults->server.shutdown_grace_ms, 5'000);
  auto c = parse_config(
      "server: {http_request_timeout_ms: 2000, ws_first_message_timeout_ms: 500, "
      "ws_idle_timeout_ms: 9000, max_websocket_connections: 4, max_connections_per_client: 0, "
      "shutdown_grace_ms: 1500}\n"
      "models:\n"
      "  pre: {model_path: u.onnx, source_video: v.mp4, preload_model: true}\n"
      "  lazy: {model_path: u.onnx, source_video: v.mp4}\n"
      "  must: {model_path: u.onnx, source_video: v.mp4, required: true}\n"
      "  optional: {model_path: u.onnx, source_video: v.mp4, preload_model: true, "
      "required: false}\n",
      "s.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->warnings.empty());
  EXPECT_EQ(c->server.http_request_timeout_ms, 2000);
  EXPECT_EQ(c->server.ws_first_message_timeout_ms, 500);
  EXPECT_EQ(c->server.ws_idle_timeout_ms, 9000);
  EXPECT_EQ(c->server.max_websocket_connections, 4);
  EXPECT_EQ(c->server.max_connections_per_client, 0);
  EXPECT_EQ(c->server.shutdown_grace_ms, 1500);
  EXPECT_TRUE(c->models.at("pre").required);
  EXPECT_FALSE(c->models.at("lazy").required);
  EXPECT_TRUE(c->models.at("must").required);
  EXPECT_FALSE(c->models.at("optional").required);
}

// The bind host is honoured: `server.port: "127.0.0.1:N"` listens there, not everywhere.
TEST(Config, ListenAddressesKeepTheirHost) {
  auto c = parse_config(
      "server:\n  host: 10.0.0.7\n  port: \"127.0.0.1:50100\"\n  http_port: \"[::1]:0\"\n",
      "s.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->server.grpc_bind_host(), "127.0.0.1");
  EXPECT_EQ(c->server.grpc_port, 50100);
  EXPECT_EQ(c->server.http_bind_host(), "::1");
  EXPECT_EQ(c->server.http_port, 0);  // any free port
  auto defaults = parse_config("server:\n  host: 10.0.0.7\n  port: \":50053\"\n", "s.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->server.grpc_bind_host(), "10.0.0.7");  // server.host for both
  EXPECT_EQ(defaults->server.http_bind_host(), "10.0.0.7");
}

// One rule: HTTP is on at 8080 unless http_enabled says otherwise; 0 is any free port.
TEST(Config, HttpDefaultsAreOneRule) {
  auto c = parse_config("", "s.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->server.http_enabled);
  EXPECT_EQ(c->server.http_port, 8080);
  EXPECT_EQ(find_config_key("server.http_port")->default_value(), "8080");
  EXPECT_EQ(find_config_key("server.http_enabled")->default_value(), "true");
  auto off = parse_config("server: {http_enabled: false, http_port: 50053}\n", "s.yaml");
  ASSERT_TRUE(off.ok()) << off.status().to_string();  // no clash with gRPC when HTTP is off
  EXPECT_FALSE(off->server.http_enabled);
}

// Every key's example is a valid value for it, and every key says what it means. The examples
// are read with CUDA on two devices, where every key applies.
TEST(ConfigSchema, EveryExampleParsesAndEveryKeyIsDocumented) {
  for (const ConfigKey& key : config_keys()) {
    SCOPED_TRACE(key.path);
    EXPECT_FALSE(key.meaning.empty());
    EXPECT_FALSE(key.example.empty());
    std::map<std::string, std::map<std::string, std::string>> sections = {
        {"gpus", {{"count", "2"}}}, {"onnx", {{"execution_provider", "cuda"}}}};
    std::string yaml = "models:\n  m:\n    model_path: u.onnx\n    source_video: v.mp4\n";
    if (key.is_model_key()) {
      yaml += "    " + key.name() + ": " + key.example + "\n";
    } else if (key.section().empty()) {
      yaml += key.name() + ": " + key.example + "\n";
    } else {
      sections[key.section()][key.name()] = key.example;
    }
    for (const auto& [section, values] : sections) {
      yaml += section + ":\n";
      for (const auto& [name, value] : values) yaml += "  " + name + ": " + value + "\n";
    }
    auto c = parse_config(yaml, "s.yaml");
    EXPECT_TRUE(c.ok()) << c.status().to_string() << "\n" << yaml;
  }
}

TEST(ConfigSchema, ModelKeysAreFoundUnderTheirGenericPath) {
  ASSERT_NE(find_config_key("models.<id>.model_path"), nullptr);
  EXPECT_EQ(find_config_key("models.<id>.model_path")->role, FileRole::kUnet);
  EXPECT_EQ(find_config_key("onnx.audio_encoder_path")->role, FileRole::kAudioEncoder);
  EXPECT_EQ(find_config_key("server.nope"), nullptr);
}

TEST(ConfigReference, TheMinimalExampleParsesWithoutWarnings) {
  auto c = parse_config(std::string(kMinimalConfigExample), "/srv/lipsync/server.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->warnings.empty());
  EXPECT_EQ(c->models.at("alice").model_path, "/srv/lipsync/alice/unet.onnx");
}

// docs/configuration.md is the generated reference, byte for byte; a failure shows the first
// line that differs.
TEST(ConfigReference, TheCommittedDocsAreTheGeneratedOnes) {
  std::ifstream file(LIPSYNC_CONFIGURATION_DOC);
  ASSERT_TRUE(file) << "cannot read " LIPSYNC_CONFIGURATION_DOC;
  std::stringstream committed_text;
  committed_text << file.rdbuf();
  std::istringstream committed(committed_text.str());
  std::istringstream generated(config_reference_markdown());
  std::string want, have;
  for (int line = 1; std::getline(generated, want); ++line) {
    const bool more = static_cast<bool>(std::getline(committed, have));
    ASSERT_TRUE(more && have == want)
        << LIPSYNC_CONFIGURATION_DOC ":" << line << " is not what the schema generates:\n"
        << "  file:   " << (more ? have : "(end of file)") << "\n  schema: " << want
        << "\nRegenerate it: lipsync config docs > docs/configuration.md";
  }
  EXPECT_FALSE(std::getline(committed, have)) << "the file goes on after the reference: " << have;
}

TEST(Config, MissingFileIsNotFound) {
  auto c = load_config("/nonexistent/lipsync.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace lipsync

namespace lipsync {
namespace {

TEST(Config, WebRtcKeysReadListsAndPortRanges) {
  auto c = parse_config(
      "webrtc:\n  stun_servers: \"stun://a.example:3478, stun://b.example:19302\"\n"
      "  turn_servers: \"turn://u:p@t.example:3478\"\n  min_port: 40000\n  max_port: 40099\n"
      "  max_peers: 3\n",
      "server.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->webrtc.stun_servers,
            (std::vector<std::string>{"stun://a.example:3478", "stun://b.example:19302"}));
  EXPECT_EQ(c->webrtc.turn_servers, std::vector<std::string>{"turn://u:p@t.example:3478"});
  EXPECT_EQ(c->webrtc.min_port, 40000);
  EXPECT_EQ(c->webrtc.max_peers, 3);
  EXPECT_TRUE(c->webrtc.enabled);

  EXPECT_TRUE(parse_config("webrtc:\n  min_port: 40000\n", "server.yaml").ok());  // ..65535
  auto reversed = parse_config("webrtc:\n  min_port: 40100\n  max_port: 40000\n", "server.yaml");
  ASSERT_FALSE(reversed.ok());
  EXPECT_NE(reversed.status().message().find("webrtc.min_port"), std::string::npos)
      << reversed.status().message();
  auto empty = parse_config("webrtc:\n  stun_servers: \"\"\n", "server.yaml");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->webrtc.stun_servers.empty());
}

TEST(Config, CudaBatchSizesAreReadSortedAndChecked) {
  auto unset = parse_config("server:\n  port: 50053\n", "server.yaml");
  ASSERT_TRUE(unset.ok()) << unset.status().to_string();
  EXPECT_TRUE(unset->pipeline.cuda_batch_sizes.empty());
  auto sizes = parse_config("pipeline:\n  cuda_batch_sizes: \"16, 1,4\"\n", "server.yaml");
  ASSERT_TRUE(sizes.ok()) << sizes.status().to_string();
  EXPECT_EQ(sizes->pipeline.cuda_batch_sizes, (std::vector<int>{1, 4, 16}));
  for (const char* bad : {"\"0, 4\"", "\"4, 4\"", "\"1, x\"", "\"300\""}) {
    auto refused =
        parse_config(std::string("pipeline:\n  cuda_batch_sizes: ") + bad + "\n", "server.yaml");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("pipeline.cuda_batch_sizes"), std::string::npos)
        << refused.status().message();
  }
}

TEST(Config, LiveJitterBufferIsReadAndBounded) {
  auto unset = parse_config("server:\n  port: 50053\n", "server.yaml");
  ASSERT_TRUE(unset.ok()) << unset.status().to_string();
  EXPECT_EQ(unset->live.max_jitter_buffer_ms, 200);
  auto off = parse_config("live:\n  max_jitter_buffer_ms: 0\n", "server.yaml");
  ASSERT_TRUE(off.ok()) << off.status().to_string();
  EXPECT_EQ(off->live.max_jitter_buffer_ms, 0);
  for (const char* bad : {"2001", "-1"}) {
    auto refused =
        parse_config(std::string("live:\n  max_jitter_buffer_ms: ") + bad + "\n", "server.yaml");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("live.max_jitter_buffer_ms"), std::string::npos)
        << refused.status().message();
  }
}

TEST(Config, LiveLeadFramesIsReadAndBounded) {
  auto unset = parse_config("server:\n  port: 50053\n", "server.yaml");
  ASSERT_TRUE(unset.ok()) << unset.status().to_string();
  EXPECT_EQ(unset->live.lead_frames, 2);
  auto one = parse_config("live:\n  lead_frames: 1\n", "server.yaml");
  ASSERT_TRUE(one.ok()) << one.status().to_string();
  EXPECT_EQ(one->live.lead_frames, 1);
  for (const char* bad : {"0", "51", "-1"}) {
    auto refused = parse_config(std::string("live:\n  lead_frames: ") + bad + "\n", "server.yaml");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("live.lead_frames"), std::string::npos)
        << refused.status().message();
  }
}

}  // namespace
}  // namespace lipsync
