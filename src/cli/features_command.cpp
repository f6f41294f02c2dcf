// `lipsync features AUDIO`: the audio front-end's stages as .npy files, for inspection and
// comparison with other implementations (pipeline.md §1-3).
#include <fmt/format.h>

#include <memory>

#include "audio/audio_decoder.h"
#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "cli/commands.h"
#include "core/npy.h"
#include "pipeline/onnx_feature_encoder.h"

namespace lipsync::cli {
namespace {

struct FeaturesOptions {
  std::string audio;
  std::string mel;       // [M, 80] float64
  std::string windows;   // [n, 1, 80, 16] float32
  std::string features;  // F_pad [n+2, 512] float32
  std::string tensors;   // [n+2, 32, 16, 16] float32
  std::string encoder;
  int threads = 0;
};

Status write_encoded(const FeaturesOptions& options, const audio::MelSpectrogram& mel) {
  const runtime::SessionOptions session_options =
      runtime::session_options_from({}, {.intra_op_threads = options.threads});
  ASSIGN_OR_RETURN(auto encoder,
                   pipeline::OnnxFeatureEncoder::create(options.encoder, session_options));
  ASSIGN_OR_RETURN(audio::ClipFeatures clip, audio::extract_clip_features(mel, *encoder));
  const std::size_t rows = clip.padded_rows();
  if (!options.features.empty()) {
    RETURN_IF_ERROR(write_npy(options.features, clip.padded_features, {rows, audio::kFeatureSize}));
  }
  if (!options.tensors.empty()) {
    RETURN_IF_ERROR(write_npy(options.tensors, audio::clip_frame_tensors(clip),
                              {clip.frame_count(), 32, 16, 16}));
  }
  fmt::print("features: {} windows, F_pad [{}, {}], {} frame tensors [32, 16, 16]\n",
             clip.window_count, rows, audio::kFeatureSize, clip.frame_count());
  return Status::ok_status();
}

Status run_features(const FeaturesOptions& options) {
  if ((!options.features.empty() || !options.tensors.empty()) && options.encoder.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--features and --tensors need --encoder");
  }
  ASSIGN_OR_RETURN(std::vector<float> samples, audio::load_audio(options.audio));
  ASSIGN_OR_RETURN(auto analyzer, audio::MelAnalyzer::create());
  ASSIGN_OR_RETURN(audio::MelSpectrogram mel, analyzer->compute(samples));
  fmt::print("{}: {} samples ({:.2f} s at 16 kHz), mel [{}, {}]\n", options.audio, samples.size(),
             static_cast<double>(samples.size()) / audio::kSampleRateHz, mel.frame_count,
             audio::kMelBins);
  if (!options.mel.empty()) {
    RETURN_IF_ERROR(write_npy(options.mel, mel.values, {mel.frame_count, audio::kMelBins}));
  }
  if (!options.windows.empty()) {
    ASSIGN_OR_RETURN(std::vector<float> windows, audio::clip_windows(mel));
    const std::size_t count = windows.size() / audio::kWindowSize;
    RETURN_IF_ERROR(write_npy(options.windows, windows, {count, 1, audio::kMelBins, 16}));
  }
  if (!options.encoder.empty()) RETURN_IF_ERROR(write_encoded(options, mel));
  return Status::ok_status();
}

void add(CLI::App& app, Action* action) {
  auto options = std::make_shared<FeaturesOptions>();
  auto* cmd = app.add_subcommand(
      "features", "Decode audio and write the mel, encoder windows, features and tensors as .npy");
  cmd->add_option("audio", options->audio,
                  "audio file (any FFmpeg format) or .npy of 16 kHz samples")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--mel", options->mel, "normalised mel [M, 80] float64 .npy");
  cmd->add_option("--windows", options->windows, "encoder windows [n, 1, 80, 16] .npy");
  cmd->add_option("--features", options->features, "F_pad [n+2, 512] .npy (needs --encoder)");
  cmd->add_option("--tensors", options->tensors,
                  "frame tensors [n+2, 32, 16, 16] .npy (needs --encoder)");
  cmd->add_option("--encoder", options->encoder, "audio encoder ONNX file")
      ->check(CLI::ExistingFile);
  cmd->add_option("--threads", options->threads, "ORT intra-op threads (0 = ORT default)")
      ->capture_default_str();
  cmd->callback([action, options] {
    *action = status_action([options] { return run_features(*options); });
  });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
