// The server's side of issue #19 that is wired on main: /health/ready reflects failed required
// models (the rest of the server's hardening tests wait in wip/harden-server).
#include <gtest/gtest.h>

#include "server/server.h"
#include "support/http_get.h"
#include "support/synthetic_server_test.h"

namespace lipsync::server {
namespace {

class HardeningTest : public testing::SyntheticServerTest {};

// issue #19: /health/ready was 200 while 11 of 14 models had failed to load.
TEST_F(HardeningTest, ReadinessIs503WhileARequiredModelHasFailed) {
  Config c = config({"a", "broken"});
  c.server.http_port = 0;
  c.models["broken"].model_path = *dir_ / "missing.onnx";
  c.models["a"].preload_model = c.models["broken"].preload_model = true;
  c.models["a"].required = c.models["broken"].required = true;  // what preloading implies
  ServerOptions options;
  options.http_port = 0;
  {
    auto server = start(c, options);
    ASSERT_NE(server, nullptr);
    EXPECT_EQ(testing::http_get(server->http_port(), "/health/ready").status, 503);
    EXPECT_EQ(testing::http_get(server->http_port(), "/health/live").status, 200);
  }
  c.models["broken"].required = false;  // an optional model may fail
  auto server = start(c, options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(testing::http_get(server->http_port(), "/health/ready").status, 200);
}

}  // namespace
}  // namespace lipsync::server
