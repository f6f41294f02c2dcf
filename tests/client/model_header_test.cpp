// Every lipsync.v1 call of the clients names its avatar in x-lipsync-model, which a cluster's
// proxy hashes on (docs/deployment.md): a recording server on port 0 stands in for the proxy and
// answers each call with an error once it has noted the header (or its absence).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <vector>

#include "client/client.h"
#include "client/live_client.h"
#include "proto/lipsync_v1.grpc.pb.h"

namespace lipsync::client {
namespace {

constexpr const char* kNoHeader = "(no x-lipsync-model)";

// Notes each call's x-lipsync-model by method name; refuses every call.
class RecordingService final : public v1::LipSync::Service {
 public:
  grpc::Status Render(grpc::ServerContext* context, const v1::RenderRequest*,
                      v1::RenderResponse*) override {
    return record("Render", *context);
  }
  grpc::Status RenderStream(grpc::ServerContext* context, const v1::RenderRequest*,
                            grpc::ServerWriter<v1::RenderResponse>*) override {
    return record("RenderStream", *context);
  }
  grpc::Status Session(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<v1::RenderResponse, v1::SessionRequest>*) override {
    return record("Session", *context);
  }
  grpc::Status Live(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::LiveEvent, v1::LiveRequest>*) override {
    return record("Live", *context);
  }

  std::vector<std::string> headers(const std::string& method) {
    std::lock_guard lock(mutex_);
    return headers_[method];
  }

 private:
  grpc::Status record(const std::string& method, const grpc::ServerContext& context) {
    const auto& metadata = context.client_metadata();
    const auto it = metadata.find("x-lipsync-model");
    std::lock_guard lock(mutex_);
    headers_[method].push_back(
        it == metadata.end() ? kNoHeader : std::string(it->second.data(), it->second.size()));
    return {grpc::StatusCode::FAILED_PRECONDITION, "the recording service serves nothing"};
  }

  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> headers_;
};

class ModelHeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  RecordingService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ModelHeaderTest, EveryLiveSessionNamesItsAvatar) {
  const std::vector<float> clip(16000, 0.1f);
  auto report = run_live(clip, {.server = address(), .model_id = "avatar-7", .sessions = 2});
  EXPECT_FALSE(report.ok());  // the recording service refuses every call
  EXPECT_EQ(service_.headers("Live"), (std::vector<std::string>{"avatar-7", "avatar-7"}));
}

TEST_F(ModelHeaderTest, EveryNativeRenderCallNamesItsAvatar) {
  const std::vector<float> clip(16000, 0.1f);
  const std::map<ClientApi, std::string> methods = {{ClientApi::kNative, "Render"},
                                                    {ClientApi::kNativeStream, "RenderStream"},
                                                    {ClientApi::kNativeSession, "Session"}};
  for (const auto& [api, method] : methods) {
    auto report = run_client(clip, {.api = api, .server = address(), .model_id = "avatar-7"});
    if (report.ok()) {
      EXPECT_EQ(report->failed, 1) << method;  // the recording service refuses every call
    }
    EXPECT_EQ(service_.headers(method), std::vector<std::string>{"avatar-7"}) << method;
  }
}

}  // namespace
}  // namespace lipsync::client
