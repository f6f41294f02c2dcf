#include "pipeline/onnx_feature_encoder.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/log.h"

namespace lipsync::pipeline {

using audio::kFeatureSize;
using audio::kMelBins;
using audio::kWindowFrames;
using audio::kWindowSize;

std::vector<runtime::TensorSpec> encoder_inputs() {
  // ref: pipeline.md §2: input `mel_spectrogram` [B,1,80,16], output `audio_features` [B,512];
  // any single input/output name is accepted, the shapes are checked.
  const auto bins = static_cast<int64_t>(kMelBins);
  const auto frames = static_cast<int64_t>(kWindowFrames);
  return {{"", {-1, 1, bins, frames}}};
}

std::vector<runtime::TensorSpec> encoder_outputs() {
  return {{"", {-1, static_cast<int64_t>(kFeatureSize)}}};
}

Result<std::unique_ptr<OnnxFeatureEncoder>> OnnxFeatureEncoder::create(
    const std::filesystem::path& model, const runtime::SessionOptions& options,
    std::optional<std::size_t> padded_batch) {
  // The encoder runs through Session::run (host memory in and out), which CUDA graphs do not
  // serve; they are for the UNet's batches.
  runtime::SessionOptions encoder_options = options;
  encoder_options.cuda_graph = false;
  ASSIGN_OR_RETURN(auto session, runtime::Session::create(model, encoder_options, encoder_inputs(),
                                                          encoder_outputs()));
  const bool cuda = session->provider() == ExecutionProvider::kCuda;
  const int64_t fixed = std::max<int64_t>(0, session->inputs()[0].shape[0]);
  // A fixed-batch model runs that many windows at a time: its runs are one shape already.
  const std::size_t pad =
      fixed > 0 ? 0 : padded_batch.value_or(cuda ? audio::kDefaultEncoderBatch : 0);
  if (fixed > 0) {
    LOG_INFO("pipeline",
             "audio encoder '{}' has a fixed batch of {}: windows run {} at a time (export with "
             "a dynamic batch axis to run them all at once)",
             model.string(), fixed, fixed);
  }
  std::unique_ptr<OnnxFeatureEncoder> encoder(
      new OnnxFeatureEncoder(std::move(session), pad, static_cast<std::size_t>(fixed)));
  // Warm-up: the first run of the padded (or fixed) shape happens now, not in a request.
  if (pad > 0 || (cuda && fixed > 0)) {
    const std::vector<float> silence(kWindowSize, -4.0f);
    RETURN_IF_ERROR(encoder->encode(silence, 1).status());
  }
  return encoder;
}

Result<std::vector<float>> OnnxFeatureEncoder::encode(std::span<const float> windows,
                                                      std::size_t count) {
  if (count == 0 || windows.size() != count * kWindowSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio encoder: {} values for {} windows of [1, 80, 16]", windows.size(),
                      count);
  }
  if (fixed_batch_ == 0) return run_padded(windows, count, std::max(count, padded_batch_));
  std::vector<float> features;  // a fixed-batch model: runs of exactly fixed_batch_ windows
  features.reserve(count * kFeatureSize);
  for (std::size_t first = 0; first < count; first += fixed_batch_) {
    const std::size_t n = std::min(fixed_batch_, count - first);
    ASSIGN_OR_RETURN(auto chunk, run_padded(windows.subspan(first * kWindowSize, n * kWindowSize),
                                            n, fixed_batch_));
    features.insert(features.end(), chunk.begin(), chunk.end());
  }
  return features;
}

Result<std::vector<float>> OnnxFeatureEncoder::run_padded(std::span<const float> windows,
                                                          std::size_t count,
                                                          std::size_t run_count) {
  std::vector<float> padded;
  std::span<const float> input = windows;
  if (count < run_count) {  // pad with copies of the last window; their features are dropped
    padded.assign(windows.begin(), windows.end());
    padded.reserve(run_count * kWindowSize);
    for (std::size_t k = count; k < run_count; ++k) {
      padded.insert(padded.end(), windows.end() - static_cast<std::ptrdiff_t>(kWindowSize),
                    windows.end());
    }
    input = padded;
  }
  const std::array<std::span<const float>, 1> inputs{input};
  ASSIGN_OR_RETURN(auto outputs, session_->run(inputs, static_cast<int64_t>(run_count)));
  if (outputs.size() != 1 || outputs[0].size() != run_count * kFeatureSize) {
    return make_error(ErrorCode::kInternal, "audio encoder '{}' returned {} values for {} windows",
                      session_->model_path().string(), outputs.empty() ? 0 : outputs[0].size(),
                      run_count);
  }
  outputs[0].resize(count * kFeatureSize);
  return std::move(outputs[0]);
}

}  // namespace lipsync::pipeline
