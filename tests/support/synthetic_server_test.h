// The base of the server test suites: one synthetic avatar written per suite (kFrames frames),
// configs serving it with the tiny models, and in-process servers on free ports.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "server/server.h"
#include "support/synthetic_avatar.h"
#include "support/test_paths.h"

namespace lipsync::testing {

// `samples` of uniform noise in [-0.4, 0.4], the same for the same seed.
inline std::vector<float> noise(std::size_t samples, unsigned seed = 5) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-0.4f, 0.4f);
  std::vector<float> clip(samples);
  for (float& v : clip) v = dist(rng);
  return clip;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A channel to a server on this machine, without message size limits.
inline std::shared_ptr<grpc::Channel> local_channel(int port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

class SyntheticServerTest : public ::testing::Test {
 public:
  static constexpr int kFrames = 12;  // frames of the suite's avatar

 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(temp_dir());
    write_synthetic_avatar(*dir_, kFrames);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static Config config(const std::vector<std::string>& ids = {"a", "b"}) {
    return synthetic_config(*dir_, ids);
  }
  // A server for `config` with gRPC on a free port; null (and a test failure) if it fails.
  static std::unique_ptr<server::Server> start(Config config, server::ServerOptions options = {}) {
    options.grpc_port = 0;
    auto server = server::Server::start(config, options);
    EXPECT_TRUE(server.ok()) << server.status().to_string();
    return server.ok() ? std::move(*server) : nullptr;
  }

  static inline std::filesystem::path* dir_ = nullptr;
};

}  // namespace lipsync::testing
