// `lipsync config check` on the demo's configuration and on each mistake it must catch (issue
// 18): missing UNet, encoder or video, no onnx.audio_encoder_path, a UNet with the wrong inputs,
// a bind address that is not this machine's, a host that is not an address, one port for both
// servers, a port in use. Each is exit code 1 (0 for warnings) and a message naming the key.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "run_cli.h"
#include "support/test_paths.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;
using testing::RunResult;

const fs::path kDemo = LIPSYNC_DEMO_DIR;

struct DemoConfig {
  std::string server = "  port: \"127.0.0.1:0\"\n  http_port: 0\n";
  std::string encoder = (testing::test_models_dir() / "demo_encoder.onnx").string();
  std::string unet = (testing::test_models_dir() / "demo_unet.onnx").string();
  std::string video = (kDemo / "avatar.mp4").string();
  std::string rects = (kDemo / "crop_rects.json").string();

  std::string yaml() const {
    std::string text = "server:\n" + server;
    if (!encoder.empty()) text += "onnx:\n  audio_encoder_path: " + encoder + "\n";
    return text + "models:\n  demo:\n    model_path: " + unet + "\n    source_video: " + video +
           "\n    crop_rects_path: " + rects + "\n";
  }
};

class ConfigCheckTest : public ::testing::Test {
 protected:
  RunResult check(const DemoConfig& config, std::vector<std::string> flags = {}) {
    const fs::path file = dir_ / "server.yaml";
    std::ofstream(file) << config.yaml();
    std::vector<std::string> args{"config", "check", file.string()};
    args.insert(args.end(), flags.begin(), flags.end());
    return run_cli(args, dir_);
  }
  // Exit code 1 and `fragment` in the output.
  void expect_problem(const DemoConfig& config, const std::string& fragment) {
    const RunResult result = check(config);
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find(fragment), std::string::npos) << result.output;
  }

  fs::path dir_ = testing::temp_dir();
};

TEST_F(ConfigCheckTest, TheDemoConfigurationIsOk) {
  const RunResult result = check({});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("models.demo: loads: "), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("onnx.audio_encoder_path: '"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("ok, 1 model(s), gRPC on 127.0.0.1:any free port, HTTP on "
                               "0.0.0.0:any free port"),
            std::string::npos)
      << result.output;
}

TEST_F(ConfigCheckTest, MissingFilesNameTheKey) {
  DemoConfig unet;
  unet.unet = (dir_ / "nope.onnx").string();
  expect_problem(unet, "error: models.demo.model_path: '" + unet.unet + "' does not exist");
  DemoConfig encoder;
  encoder.encoder = (dir_ / "no_encoder.onnx").string();
  expect_problem(encoder,
                 "error: onnx.audio_encoder_path: '" + encoder.encoder + "' does not exist");
  DemoConfig video;
  video.video = (dir_ / "nope.mp4").string();
  expect_problem(video, "error: models.demo.source_video: '" + video.video + "' does not exist");
  DemoConfig rects;
  rects.rects = (dir_ / "nope.json").string();
  expect_problem(rects, "error: models.demo.crop_rects_path: '");
}

TEST_F(ConfigCheckTest, TheEncoderIsRequiredToServe) {
  DemoConfig config;
  config.encoder.clear();
  expect_problem(config, "error: onnx.audio_encoder_path: missing, and serve needs it");
}

// The files exist, but they are not what the keys say: opened, their shapes are checked.
TEST_F(ConfigCheckTest, ModelsAreOpenedAndTheirShapesChecked) {
  DemoConfig swapped;
  swapped.unet = swapped.encoder;
  expect_problem(swapped, "error: models.demo: ");
  const RunResult quick = check(swapped, {"--quick"});  // files exist: --quick does not open them
  EXPECT_EQ(quick.exit_code, 0) << quick.output;

  DemoConfig not_onnx;
  not_onnx.encoder = (dir_ / "encoder.onnx").string();
  std::ofstream(not_onnx.encoder) << "not a model";
  expect_problem(not_onnx, "error: onnx.audio_encoder_path: ");
}

TEST_F(ConfigCheckTest, BindAddresses) {
  DemoConfig elsewhere;  // TEST-NET-1 (RFC 5737): never an address of this machine
  elsewhere.server = "  port: \"192.0.2.1:50053\"\n  http_port: 0\n";
  expect_problem(elsewhere, "error: server.port: 192.0.2.1 is not an address of this machine");

  DemoConfig name;
  name.server = "  http_port: \"localhost:8080\"\n";
  expect_problem(name, "key 'server.http_port': 'localhost' in 'localhost:8080' is not an IP");

  DemoConfig same;
  same.server = "  port: 18123\n  http_port: \"127.0.0.1:18123\"\n";
  expect_problem(same, "key 'server.http_port': port 18123 is server.port's too");
  same.server += "  http_enabled: false\n";
  EXPECT_EQ(check(same).exit_code, 0);
}

TEST_F(ConfigCheckTest, APortInUseIsAWarning) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t size = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  const int port = ntohs(address.sin_port);
  DemoConfig config;
  config.server = fmt::format("  port: \"127.0.0.1:{}\"\n  http_enabled: false\n", port);
  const RunResult result = check(config, {"--quick"});
  ::close(fd);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(
      result.output.find(fmt::format("warning: server.port: 127.0.0.1:{} is in use now", port)),
      std::string::npos)
      << result.output;
}

TEST_F(ConfigCheckTest, UnknownKeysWarnAndBadValuesFail) {
  DemoConfig unknown;
  unknown.server += "  colour: blue\n";
  const RunResult result = check(unknown, {"--quick"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("warning: "), std::string::npos);
  EXPECT_NE(result.output.find("unknown key 'server.colour' ignored"), std::string::npos);

  DemoConfig bad;
  bad.server = "  max_message_size_mb: 10\n";
  expect_problem(bad, "key 'server.max_message_size_mb': 10 is out of range [64, 4096]");
}

// The installed reference cannot drift from the schema: `config docs` prints it.
TEST_F(ConfigCheckTest, DocsCommandPrintsTheReference) {
  const RunResult result = run_cli({"config", "docs"}, dir_);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(result.stdout_text.starts_with("# Configuration\n")) << result.stdout_text;
  EXPECT_NE(result.stdout_text.find("| `server.port` |"), std::string::npos);
}

}  // namespace
}  // namespace lipsync
