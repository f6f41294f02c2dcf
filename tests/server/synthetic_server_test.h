// The base of the server test suites: one synthetic avatar written per suite (kFrames frames),
// configs serving it with the tiny models, and in-process servers on free ports.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "server/server.h"
#include "support/test_paths.h"
#include "synthetic_avatar.h"

namespace lipsync::testing {

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
