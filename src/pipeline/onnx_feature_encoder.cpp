#include "pipeline/onnx_feature_encoder.h"

#include <array>
#include <cstdint>

namespace lipsync::pipeline {

using audio::kFeatureSize;
using audio::kMelBins;
using audio::kWindowFrames;
using audio::kWindowSize;

Result<std::unique_ptr<OnnxFeatureEncoder>> OnnxFeatureEncoder::create(
    const std::filesystem::path& model, const runtime::SessionOptions& options) {
  // ref: pipeline.md §2: input `mel_spectrogram` [B,1,80,16], output `audio_features` [B,512];
  // any single input/output name is accepted, the shapes are checked.
  const auto bins = static_cast<int64_t>(kMelBins);
  const auto frames = static_cast<int64_t>(kWindowFrames);
  ASSIGN_OR_RETURN(auto session,
                   runtime::Session::create(model, options, {{"", {-1, 1, bins, frames}}},
                                            {{"", {-1, static_cast<int64_t>(kFeatureSize)}}}));
  return std::unique_ptr<OnnxFeatureEncoder>(new OnnxFeatureEncoder(std::move(session)));
}

Result<std::vector<float>> OnnxFeatureEncoder::encode(std::span<const float> windows,
                                                      std::size_t count) {
  if (count == 0 || windows.size() != count * kWindowSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio encoder: {} values for {} windows of [1, 80, 16]", windows.size(),
                      count);
  }
  const std::array<std::span<const float>, 1> inputs{windows};
  ASSIGN_OR_RETURN(auto outputs, session_->run(inputs, static_cast<int64_t>(count)));
  if (outputs.size() != 1 || outputs[0].size() != count * kFeatureSize) {
    return make_error(ErrorCode::kInternal, "audio encoder '{}' returned {} values for {} windows",
                      session_->model_path().string(), outputs.empty() ? 0 : outputs[0].size(),
                      count);
  }
  return std::move(outputs[0]);
}

}  // namespace lipsync::pipeline
