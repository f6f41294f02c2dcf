// A registry model that is one ONNX file in a runtime::Session (the UNet of a ModelConfig).
// Avatar-level loaders (UNet + backgrounds + rects) compose this or write their own Loader.
#pragma once

#include <memory>
#include <vector>

#include "registry/model_registry.h"
#include "runtime/session.h"

namespace lipsync::registry {

class SessionModel : public LoadedModel {
 public:
  SessionModel(std::unique_ptr<runtime::Session> session, int64_t memory_bytes);
  runtime::Session& session() const { return *session_; }
  // The ONNX file's size: the weights dominate a session's host memory.
  int64_t memory_bytes() const override { return memory_bytes_; }

 private:
  std::unique_ptr<runtime::Session> session_;
  int64_t memory_bytes_;
};

// Loads config.model_path with these options and expected inputs/outputs, on the CUDA device
// of the load's LoadTarget when it has one.
Loader session_loader(runtime::SessionOptions options, std::vector<runtime::TensorSpec> inputs,
                      std::vector<runtime::TensorSpec> outputs);

}  // namespace lipsync::registry
