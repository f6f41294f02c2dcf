#include "server/compat_forwarder.h"

namespace lipsync::server {

CompatForwarder::CompatForwarder(const std::string& proxy, int max_message_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  channel_ = grpc::CreateCustomChannel(proxy, grpc::InsecureChannelCredentials(), args);
  stub_ = monolithic::MonolithicService::NewStub(channel_);
}

bool CompatForwarder::forwarded(const grpc::ServerContext& incoming) {
  return incoming.client_metadata().count(kForwardedHeader) > 0;
}

grpc::Status CompatForwarder::forward(grpc::ServerContext& incoming,
                                      const monolithic::CompositeBatchRequest& request,
                                      monolithic::CompositeBatchResponse* response) {
  // FromServerContext propagates the deadline and cancels this call when the caller cancels.
  auto context = grpc::ClientContext::FromServerContext(incoming);
  context->AddMetadata(kModelHeader, request.model_id());
  context->AddMetadata(kForwardedHeader, "1");
  return stub_->InferBatchComposite(context.get(), request, response);
}

}  // namespace lipsync::server
