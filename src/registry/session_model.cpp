#include "registry/session_model.h"

#include <filesystem>

namespace lipsync::registry {

SessionModel::SessionModel(std::unique_ptr<runtime::Session> session, int64_t memory_bytes)
    : session_(std::move(session)), memory_bytes_(memory_bytes) {}

Loader session_loader(runtime::SessionOptions options, std::vector<runtime::TensorSpec> inputs,
                      std::vector<runtime::TensorSpec> outputs) {
  return [options = std::move(options), inputs = std::move(inputs), outputs = std::move(outputs)](
             const ModelConfig& config,
             const LoadTarget& target) -> Result<std::shared_ptr<LoadedModel>> {
    runtime::SessionOptions placed = options;
    if (target.gpu_id >= 0) placed.device_id = target.gpu_id;
    ASSIGN_OR_RETURN(auto session,
                     runtime::Session::create(config.model_path, placed, inputs, outputs));
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(config.model_path, ec);
    return std::shared_ptr<LoadedModel>(
        std::make_shared<SessionModel>(std::move(session), ec ? 0 : static_cast<int64_t>(bytes)));
  };
}

}  // namespace lipsync::registry
