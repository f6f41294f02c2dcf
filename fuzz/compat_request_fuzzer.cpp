// The compat API's InferBatchComposite request (proto/monolithic.proto) as the server checks it
// before it queues work: the protobuf bytes, read_compat_request (ids, batch size, float32
// fields) and the audio checks and tensors of compat_frame_tensors (rate, length, start frames),
// with a stand-in encoder (zeros) where the server runs the audio model.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "pipeline/compat_audio.h"
#include "proto/monolithic.pb.h"
#include "server/compat_service.h"

namespace {

class ZeroEncoder final : public lipsync::audio::FeatureEncoder {
 public:
  lipsync::Result<std::vector<float>> encode(std::span<const float>, std::size_t count) override {
    return std::vector<float>(count * lipsync::audio::kFeatureSize, 0.0f);
  }
};

const lipsync::audio::MelAnalyzer& mel() {
  static const std::unique_ptr<lipsync::audio::MelAnalyzer> analyzer = [] {
    auto created = lipsync::audio::MelAnalyzer::create();
    if (!created.ok()) std::abort();
    return std::move(*created);
  }();
  return *analyzer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Protobuf logs every string field that is not UTF-8 (a refused parse): thousands of lines.
  static google::protobuf::LogHandler* const quiet = google::protobuf::SetLogHandler(nullptr);
  (void)quiet;
  monolithic::CompositeBatchRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto inputs = lipsync::server::read_compat_request(request);
  if (!inputs.ok()) return 0;
  // As CompatService::infer builds it.
  lipsync::pipeline::CompatAudio audio{
      .raw_audio = inputs->raw_audio,
      .sample_rate_hz = request.sample_rate(),
      .legacy_features = inputs->legacy_features,
      .start_frame = request.start_frame_idx(),
      .frame_count = static_cast<std::size_t>(request.batch_size())};
  if (request.has_audio_start_frame()) audio.audio_start_frame = request.audio_start_frame();
  ZeroEncoder encoder;
  const auto tensors = lipsync::pipeline::compat_frame_tensors(audio, mel(), encoder);
  if (tensors.ok() && tensors->size() != audio.frame_count * lipsync::audio::kFrameTensorSize) {
    std::abort();
  }
  return 0;
}
