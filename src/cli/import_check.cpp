#include "cli/import_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/npy.h"
#include "pipeline/lipsync_model.h"
#include "runtime/session.h"

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;

// Differences seen with random weights (synctalk_export.py's samples, batch 2): float32 about
// 1e-6, float16 about 2e-3 on the UNet's sigmoid outputs. The bounds leave room for trained
// weights without letting a wrong graph through (a wrong one differs by 1e-1 and more).
constexpr double kFloat32Tolerance = 1e-4;
constexpr double kFloat16Tolerance = 2e-2;

struct Sample {
  std::vector<float> values;
  std::size_t batch = 0;
};

Result<Sample> read_sample(const fs::path& path) {
  ASSIGN_OR_RETURN(NpyArray array, read_npy(path));
  if (array.shape.empty() || array.shape[0] == 0) {
    return make_error(ErrorCode::kDataLoss, "'{}': an empty check sample", path.string());
  }
  return Sample{array.to_c_order<float>(), array.shape[0]};
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  double worst = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  }
  return std::isnan(worst) ? INFINITY : worst;
}

// Runs `file` on the named samples and compares output 0 with `expected_name`.
Result<ExportCheck> check_one(const fs::path& package, const fs::path& check_dir,
                              const std::string& file, std::vector<runtime::TensorSpec> inputs,
                              std::vector<runtime::TensorSpec> outputs,
                              const std::vector<std::string>& input_names,
                              const std::string& expected_name, double tolerance) {
  ASSIGN_OR_RETURN(auto session, runtime::Session::create(package / file, {}, inputs, outputs));
  // Shapes alone would do for serving (torch's default names are recognised); the export
  // itself must give the names docs/models.md documents.
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (session->inputs()[i].name != inputs[i].name) {
      return make_error(ErrorCode::kInternal, "'{}': input '{}' is named '{}'", file,
                        inputs[i].name, session->inputs()[i].name);
    }
  }
  if (session->outputs()[0].name != outputs[0].name) {
    return make_error(ErrorCode::kInternal, "'{}': output '{}' is named '{}'", file,
                      outputs[0].name, session->outputs()[0].name);
  }
  std::vector<Sample> samples;
  for (const auto& name : input_names) {
    ASSIGN_OR_RETURN(Sample sample, read_sample(check_dir / name));
    samples.push_back(std::move(sample));
  }
  ASSIGN_OR_RETURN(Sample expected, read_sample(check_dir / expected_name));
  std::vector<std::span<const float>> spans;
  for (const auto& sample : samples) spans.emplace_back(sample.values);
  ASSIGN_OR_RETURN(auto produced, session->run(spans, static_cast<int64_t>(expected.batch)));
  ExportCheck check{file, expected.batch, max_abs_diff(produced[0], expected.values), tolerance};
  if (!(check.max_abs_diff <= tolerance)) {
    return make_error(ErrorCode::kInternal,
                      "'{}' differs from PyTorch by up to {:.3g} on {} samples (tolerance {:.3g}): "
                      "the export is wrong",
                      (package / file).string(), check.max_abs_diff, check.samples, tolerance);
  }
  return check;
}

}  // namespace

Result<std::vector<ExportCheck>> check_exports(const fs::path& package, const fs::path& check_dir,
                                               bool encoder) {
  const auto& geometry = imaging::kSyncTalk328;
  const std::vector<std::string> unet_samples = {"unet_input.npy", "unet_audio.npy"};
  std::vector<ExportCheck> checks;
  for (const auto& [file, tolerance] : {std::pair{"unet.onnx", kFloat32Tolerance},
                                        std::pair{"unet_fp16.onnx", kFloat16Tolerance}}) {
    ASSIGN_OR_RETURN(
        auto check,
        check_one(package, check_dir, file, pipeline::unet_inputs(geometry),
                  pipeline::unet_outputs(geometry), unet_samples, "unet_output.npy", tolerance));
    checks.push_back(std::move(check));
  }
  if (encoder) {
    ASSIGN_OR_RETURN(auto expected, read_sample(check_dir / "encoder_output.npy"));
    const float largest = *std::max_element(expected.values.begin(), expected.values.end());
    // Features are unbounded (ReLU): the tolerance scales with them.
    ASSIGN_OR_RETURN(
        auto check,
        check_one(package, check_dir, "encoder.onnx", {{"mel_spectrogram", {-1, 1, 80, 16}}},
                  {{"audio_features", {-1, 512}}}, {"encoder_input.npy"}, "encoder_output.npy",
                  kFloat32Tolerance * std::max(1.0f, largest)));
    checks.push_back(std::move(check));
  }
  return checks;
}

}  // namespace lipsync::cli
