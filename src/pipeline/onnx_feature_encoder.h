// The audio encoder (pipeline.md §2) as an ONNX model behind audio::FeatureEncoder:
// [B, 1, 80, 16] mel windows -> [B, 512] features, one ORT run per call (callers batch).
//
//   ASSIGN_OR_RETURN(auto encoder, OnnxFeatureEncoder::create("encoder.onnx", {}));
//   ASSIGN_OR_RETURN(audio::ClipFeatures clip, audio::extract_clip_features(mel, *encoder));
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "audio/audio_features.h"
#include "core/status.h"
#include "runtime/session.h"

namespace lipsync::pipeline {

class OnnxFeatureEncoder : public audio::FeatureEncoder {
 public:
  // Loads the model and checks its single input is [B,1,80,16] and output [B,512] (any names).
  static Result<std::unique_ptr<OnnxFeatureEncoder>> create(const std::filesystem::path& model,
                                                            const runtime::SessionOptions& options);

  Result<std::vector<float>> encode(std::span<const float> windows, std::size_t count) override;

  const runtime::Session& session() const { return *session_; }

 private:
  explicit OnnxFeatureEncoder(std::unique_ptr<runtime::Session> session)
      : session_(std::move(session)) {}

  std::unique_ptr<runtime::Session> session_;
};

}  // namespace lipsync::pipeline
