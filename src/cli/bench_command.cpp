// `lipsync bench audio|model|jpeg|avatar`: the flags of each benchmark and a call into the
// `bench` module, which measures and returns the JSON report printed here.
#include <fmt/format.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/audio_bench.h"
#include "bench/avatar_bench.h"
#include "bench/jpeg_bench.h"
#include "bench/model_bench.h"
#include "cli/commands.h"

namespace lipsync::cli {
namespace {

// The build tree's models folder: <build>/src/cli/lipsync -> <build>/models.
std::string default_models_dir() {
  std::error_code error;
  const auto exe = std::filesystem::canonical("/proc/self/exe", error);
  return error ? "models"
               : (exe.parent_path() / ".." / ".." / "models").lexically_normal().string();
}

Status print_json(Result<nlohmann::json> report) {
  if (!report.ok()) return report.status();
  fmt::print("{}\n", report->dump(2));
  return Status::ok_status();
}

// A usage error (bad flag values) exits with 2 before anything runs; a failed run with 1.
Action usage_checked(Status usage, std::function<Status()> run) {
  if (!usage.ok()) {
    return [usage] {
      fmt::print(stderr, "error: {}\n", usage.message());
      return 2;
    };
  }
  return status_action(std::move(run));
}

void add_audio(CLI::App& app, Action* action) {
  auto& group = subcommand_group(app, "bench", "Benchmarks");
  auto options = std::make_shared<bench::BenchAudioOptions>();
  options->models_dir = default_models_dir();
  auto* cmd = group.add_subcommand(
      "audio", "Mel + windows speed on one core, audio encoder time per window on CPU");
  cmd->add_option("--audio", options->audio, "audio file or .npy (default: 20 s synthetic)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--encoder", options->encoders, "encoder ONNX file(s) (default: --models-dir's)");
  cmd->add_option("--models-dir", options->models_dir,
                  "folder with encoder_tiny.onnx, encoder.onnx")
      ->capture_default_str();
  cmd->add_option("--batch", options->batches, "encoder batch sizes, comma separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--iterations", options->iterations, "timed runs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", options->warmup, "untimed runs first")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", options->threads, "ORT intra-op threads for the encoder")
      ->capture_default_str();
  cmd->callback([action, options] {
    *action = status_action([options] { return print_json(bench::bench_audio(*options)); });
  });
}

void add_model(CLI::App& app, Action* action) {
  auto& group = subcommand_group(app, "bench", "Benchmarks");
  auto options = std::make_shared<bench::BenchModelOptions>();
  auto* cmd = group.add_subcommand(
      "model", "Frames per second of the UNet (and encoder) alone, per batch size");
  cmd->add_option("--model", options->model, "UNet ONNX file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--encoder", options->encoder, "audio encoder ONNX file (batch = mel windows)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--batch", options->batches, "batch sizes, comma separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_flag("--cuda", options->cuda, "run on the CUDA execution provider");
  cmd->add_flag("--fp16", options->fp16,
                "require float16 models (precision is detected from the inputs)");
  cmd->add_option("--threads", options->threads, "ORT intra-op threads (0 = ORT default)")
      ->capture_default_str();
  cmd->add_option("--iterations", options->iterations, "timed runs per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", options->warmup, "untimed runs per batch first")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--device-id", options->device_id, "CUDA device ordinal")->capture_default_str();
  cmd->add_option("--concurrency", options->concurrency,
                  "also time this many threads running batches at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--pipelined", options->pipelined,
                "also time batches written, run and read on three threads at once (the server's "
                "way)");
  cmd->add_flag("--execute-only", options->execute_only,
                "time only execute() of one uploaded batch, again and again (the run alone, I/O "
                "already on the device: pipeline.md's anchor)");
  cmd->add_flag("!--no-nhwc", options->cuda_nhwc,
                "CUDA: keep the convolutions in NCHW layout (default: the EP's prefer_nhwc)");
  cmd->add_flag("--cuda-graph", options->cuda_graph,
                "CUDA: execute() replays a CUDA graph per batch size (as onnx.cuda_graph)");
  cmd->add_flag("!--no-upload-in-advance", options->upload_in_advance,
                "--pipelined on CUDA: copy inputs and outputs inside the run instead of before "
                "and after it");
  cmd->add_option(
         "--cuda-option", options->cuda_options,
         "extra CUDA EP option KEY=VALUE (repeatable), e.g. cudnn_conv_algo_search=HEURISTIC")
      ->delimiter(';');
  cmd->add_option("--graph-optimization", options->graph_optimization,
                  "ORT's graph optimization level: disable, basic, extended, all")
      ->capture_default_str()
      ->check(CLI::IsMember({"disable", "basic", "extended", "all"}));
  cmd->add_option("--profile", options->profile,
                  "ORT's profiler: every run and node into PROFILE_unet_<time>.json (and "
                  "_encoder_); on CUDA set CUDA_LAUNCH_BLOCKING=1 for GPU times per node "
                  "(tools/ort_profile_table.py prints the tables)");
  cmd->add_option("--save-outputs", options->save_outputs,
                  "folder: per batch size, the outputs on the seeded random inputs as "
                  "unet_b<batch>.npy (float32), to compare variants");
  cmd->add_option("--cuda-ep-library", options->cuda_ep_library,
                  "libonnxruntime_providers_cuda.so (default: beside libonnxruntime.so)");
  cmd->callback([action, options] {
    *action = status_action([options] { return print_json(bench::bench_model(*options)); });
  });
}

void add_jpeg(CLI::App& app, Action* action) {
  auto& group = subcommand_group(app, "bench", "Benchmarks");
  auto options = std::make_shared<bench::BenchJpegOptions>();
  auto* cmd = group.add_subcommand("jpeg", "JPEG output by splicing vs full encode; store memory");
  cmd->add_option("--iterations", options->iterations, "Timed frames per variant")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", options->warmup, "Untimed frames first")->capture_default_str();
  cmd->add_option("--memory-frames", options->memory_frames, "Avatar frames for the memory test")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--quality", options->quality, "JPEG quality 1-100")->capture_default_str();
  cmd->add_flag("--444", options->subsampling_444, "4:4:4 chroma instead of 4:2:0");
  cmd->add_option("--sizes", options->sizes, "Only these frame sizes: 1280x720, 1920x1080")
      ->delimiter(',');
  cmd->add_option("--jitter", options->jitter_px, "Face rect motion between frames, px")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([action, options] {
    *action = usage_checked(bench::check_jpeg_bench_options(*options),
                            [options] { return print_json(bench::bench_jpeg(*options)); });
  });
}

void add_avatar(CLI::App& app, Action* action) {
  auto& group = subcommand_group(app, "bench", "Benchmarks");
  auto args = std::make_shared<bench::BenchAvatarOptions>();
  auto* cmd = group.add_subcommand("avatar", "Cold load of synthetic video avatars: time, memory");
  cmd->add_option("--sizes", args->sizes, "Frame sizes WIDTHxHEIGHT")->capture_default_str();
  cmd->add_option("--frames", args->frames, "Frames per video")->capture_default_str();
  cmd->add_option("--repeat", args->repeat, "Loads per size (median reported)")
      ->capture_default_str();
  cmd->add_option("--store", args->store, "Background store: raw|jpeg|jpeg_splice")
      ->capture_default_str();
  cmd->add_option("--jpeg-quality", args->jpeg_quality,
                  "JPEG quality of the stored backgrounds and the output JPEGs")
      ->capture_default_str();
  cmd->add_option("--output-frames", args->output_frames,
                  "Also time this many output JPEGs: render_jpeg vs render_frame + encode")
      ->capture_default_str();
  cmd->add_option("--work-dir", args->work_dir, "Where the synthetic videos are cached")
      ->capture_default_str();
  cmd->callback([action, args] {
    *action = usage_checked(bench::check_avatar_bench_options(*args), [args] {
      ASSIGN_OR_RETURN(const std::string report, bench::bench_avatar(*args));
      fmt::print("{}\n", report);
      return Status::ok_status();
    });
  });
}

void add(CLI::App& app, Action* action) {
  add_audio(app, action);
  add_model(app, action);
  add_jpeg(app, action);
  add_avatar(app, action);
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
