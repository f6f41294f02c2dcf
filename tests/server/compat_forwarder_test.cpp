// A cluster replica's forwarding of compat calls (server/compat_forwarder.h, docs/deployment.md
// "Compat clients"), without the proxy: two real servers in-process on port 0, both configured
// with avatar "a", the replica started with forward_to pointing straight at the owner (in a
// cluster it points at HAProxy, which hashes the call onto the owner; tests/cluster covers that).
// Where a call was served is read from each server's registry and /metrics.
#include "server/compat_forwarder.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/monolithic.grpc.pb.h"
#include "server/server.h"
#include "support/http_get.h"
#include "support/synthetic_server_test.h"

namespace lipsync::server {
namespace {

using monolithic::CompositeBatchRequest;
using monolithic::CompositeBatchResponse;
using registry::ModelState;

constexpr int kBatch = 3;
constexpr const char* kServedHere = "lipsync_requests_total{api=\"compat.InferBatchComposite\"";
constexpr const char* kForwardedOk =
    "lipsync_requests_total{api=\"compat.InferBatchComposite.forwarded\",code=\"OK\"} 1";
constexpr const char* kForwardFailed =
    "lipsync_requests_total{api=\"compat.InferBatchComposite.forwarded\",code=\"FAILED\"} 1";

// As the older clients send it: raw audio from 8 frames before the start, (batch+15)·640 long.
CompositeBatchRequest batch_request(const std::string& model) {
  const std::vector<float> pcm = testing::noise(static_cast<std::size_t>(kBatch + 15) * 640);
  CompositeBatchRequest request;
  request.set_model_id(model);
  request.set_batch_size(kBatch);
  request.set_raw_audio(
      std::string(reinterpret_cast<const char*>(pcm.data()), pcm.size() * sizeof(float)));
  return request;
}

// A port on this machine that nothing listens on (bound, then closed).
int closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

class CompatForwarderTest : public testing::SyntheticServerTest {
 protected:
  void SetUp() override {
    owner_ = start(config({"a"}), {.http_port = 0});
    ASSERT_NE(owner_, nullptr);
    start_replica("127.0.0.1:" + std::to_string(owner_->grpc_port()));
  }

  void start_replica(const std::string& forward_to) {
    replica_ = start(config({"a"}), {.http_port = 0, .forward_to = forward_to});
    ASSERT_NE(replica_, nullptr);
  }

  // The call as a compat client sends it to the replica; `forwarded` adds the hop marker.
  CompositeBatchResponse call_replica(const CompositeBatchRequest& request,
                                      bool forwarded = false) {
    auto stub =
        monolithic::MonolithicService::NewStub(testing::local_channel(replica_->grpc_port()));
    grpc::ClientContext context;
    if (forwarded) context.AddMetadata(kForwardedHeader, "1");
    CompositeBatchResponse response;
    EXPECT_TRUE(stub->InferBatchComposite(&context, request, &response).ok());
    return response;
  }

  static ModelState state(Server& server, const std::string& id) {
    auto info = server.registry().info(id);
    EXPECT_TRUE(info.ok()) << info.status().to_string();
    return info.ok() ? info->state : ModelState::kFailed;
  }
  static std::string metrics(Server& server) {
    return testing::http_get(server.http_port(), "/metrics").body;
  }
  static bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }

  std::unique_ptr<Server> owner_;
  std::unique_ptr<Server> replica_;
};

TEST_F(CompatForwarderTest, AnAvatarNotLoadedHereIsRenderedByTheOwner) {
  const CompositeBatchResponse response = call_replica(batch_request("a"));
  EXPECT_TRUE(response.success()) << response.error();
  EXPECT_EQ(response.composited_frames_size(), kBatch);
  EXPECT_EQ(state(*owner_, "a"), ModelState::kReady);
  EXPECT_EQ(state(*replica_, "a"), ModelState::kUnloaded);
  const std::string replica_metrics = metrics(*replica_);
  EXPECT_TRUE(has(replica_metrics, kForwardedOk)) << replica_metrics;
  EXPECT_FALSE(has(replica_metrics, kServedHere)) << replica_metrics;
  EXPECT_TRUE(has(metrics(*owner_), std::string(kServedHere) + ",code=\"OK\"} 1"));
}

TEST_F(CompatForwarderTest, ACallForwardedOnceIsServedWhereItLands) {
  const CompositeBatchResponse response = call_replica(batch_request("a"), /*forwarded=*/true);
  EXPECT_TRUE(response.success()) << response.error();
  EXPECT_EQ(response.composited_frames_size(), kBatch);
  EXPECT_EQ(state(*replica_, "a"), ModelState::kReady);  // loaded here, not sent on
  EXPECT_EQ(state(*owner_, "a"), ModelState::kUnloaded);
  EXPECT_FALSE(has(metrics(*owner_), kServedHere));
  EXPECT_TRUE(has(metrics(*replica_), std::string(kServedHere) + ",code=\"OK\"} 1"));
}

TEST_F(CompatForwarderTest, AnInvalidOrUnknownIdIsAnsweredHereWithoutAHop) {
  // Breaks the id rule (and would make an invalid header); then a well-formed id not configured.
  // The replica checks the rule before the registry look-up; as configured ids follow the rule,
  // the look-up alone would keep the first here too: this pins the answers, not which check.
  for (const std::string& id : {std::string("../a\r\nx-lipsync-forwarded: 1"), std::string("zz")}) {
    const CompositeBatchResponse response = call_replica(batch_request(id));
    EXPECT_FALSE(response.success());
    EXPECT_TRUE(has(response.error(), id == "zz" ? "NOT_FOUND" : "INVALID_ARGUMENT"))
        << response.error();
  }
  const std::string replica_metrics = metrics(*replica_);
  EXPECT_FALSE(has(replica_metrics, "InferBatchComposite.forwarded")) << replica_metrics;
  EXPECT_TRUE(has(replica_metrics, std::string(kServedHere) + ",code=\"INVALID_ARGUMENT\"} 1"));
  EXPECT_TRUE(has(replica_metrics, std::string(kServedHere) + ",code=\"NOT_FOUND\"} 1"));
  EXPECT_FALSE(has(metrics(*owner_), kServedHere));
}

TEST_F(CompatForwarderTest, WhenTheProxyCannotBeReachedTheReplicaServesTheCall) {
  replica_.reset();
  start_replica("127.0.0.1:" + std::to_string(closed_port()));
  const CompositeBatchResponse response = call_replica(batch_request("a"));
  EXPECT_TRUE(response.success()) << response.error();
  EXPECT_EQ(response.composited_frames_size(), kBatch);
  EXPECT_EQ(state(*replica_, "a"), ModelState::kReady);
  EXPECT_TRUE(has(metrics(*replica_), kForwardFailed));
}

}  // namespace
}  // namespace lipsync::server
