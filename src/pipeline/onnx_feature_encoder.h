// The audio encoder (pipeline.md §2) as an ONNX model behind audio::FeatureEncoder:
// [B, 1, 80, 16] mel windows -> [B, 512] features, one ORT run per call (callers batch).
//
//   ASSIGN_OR_RETURN(auto encoder, OnnxFeatureEncoder::create("encoder.onnx", {}));
//   ASSIGN_OR_RETURN(audio::ClipFeatures clip, audio::extract_clip_features(mel, *encoder));
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "audio/audio_features.h"
#include "core/status.h"
#include "runtime/session.h"

namespace lipsync::pipeline {

// The encoder's I/O contract (pipeline.md §2): [B, 1, 80, 16] in, [B, 512] out, any names.
std::vector<runtime::TensorSpec> encoder_inputs();
std::vector<runtime::TensorSpec> encoder_outputs();

class OnnxFeatureEncoder : public audio::FeatureEncoder {
 public:
  // Loads the model and checks its single input is [B,1,80,16] and output [B,512] (any names).
  // On CUDA the first run of each batch shape costs seconds, so runs of fewer windows are padded
  // to `padded_batch` (default there: audio::kDefaultEncoderBatch) and one run is made at load;
  // on the CPU nothing is padded unless `padded_batch` says so. A model with a fixed batch F
  // (an export without a dynamic batch axis) runs the windows F at a time, the last run padded.
  static Result<std::unique_ptr<OnnxFeatureEncoder>> create(
      const std::filesystem::path& model, const runtime::SessionOptions& options,
      std::optional<std::size_t> padded_batch = std::nullopt);

  Result<std::vector<float>> encode(std::span<const float> windows, std::size_t count) override;

  const runtime::Session& session() const { return *session_; }

 private:
  OnnxFeatureEncoder(std::unique_ptr<runtime::Session> session, std::size_t padded_batch,
                     std::size_t fixed_batch)
      : session_(std::move(session)), padded_batch_(padded_batch), fixed_batch_(fixed_batch) {}

  // One run of `run_count` windows: `count` given, the rest copies of the last one; returns
  // the features of the `count` given windows.
  Result<std::vector<float>> run_padded(std::span<const float> windows, std::size_t count,
                                        std::size_t run_count);

  std::unique_ptr<runtime::Session> session_;
  std::size_t padded_batch_;  // 0: no padding
  std::size_t fixed_batch_;   // the model's fixed batch dimension; 0: dynamic
};

}  // namespace lipsync::pipeline
