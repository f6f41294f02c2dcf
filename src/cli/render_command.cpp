// `lipsync render`: speech to a finished MP4 (or a folder of JPEGs) through the same pipeline
// as the server. With no arguments it renders the demo this build generated.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <span>
#include <thread>

#include "audio/audio_decoder.h"
#include "audio/mel_spectrogram.h"
#include "cli/commands.h"
#include "cli/demo_data.h"
#include "cli/interrupt.h"
#include "cli/progress_bar.h"
#include "cli/render_output.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/thread_pool.h"
#include "core/timeline.h"
#include "pipeline/batch_window.h"
#include "pipeline/clip_plan.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/onnx_feature_encoder.h"
#include "pipeline/scheduler.h"
#include "registry/model_registry.h"

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;

// `lipsync render` with no -o; its folder is made on demand (see make_default_output_folder).
constexpr std::string_view kDefaultOutput = "out/demo.mp4";

struct RenderOptions {
  std::string audio;
  std::string config;
  std::string model;
  std::string avatar_dir;
  std::string video;
  std::string frames;
  std::string rects;
  std::string unet;
  std::string encoder;
  std::string output{kDefaultOutput};
  std::string sequence = "ping_pong";
  std::int64_t start_frame = 0;
  int batch = 0;  // 0: kCudaDefaultMaxBatch on CUDA, kCpuDefaultMaxBatch on the CPU
  int threads = 0;
  bool cuda = false;
  int device = 0;
  int crf = 18;
  std::string preset = "veryfast";
  int jpeg_quality = 90;
  std::string frame_format = "jpg";
  int feather_px = 0;
  std::string background_store = "auto";
  int num_frames = 0;
  bool accept_any_fps = false;
  bool accept_rects_outside_frame = false;
  std::string progress = "auto";
};

// The source's flags over the model's configuration (which may allow already).
void apply_source_flags(const RenderOptions& o, ModelConfig& m) {
  if (o.num_frames > 0) m.num_frames = o.num_frames;
  m.accept_any_fps = m.accept_any_fps || o.accept_any_fps;
  m.accept_rects_outside_frame = m.accept_rects_outside_frame || o.accept_rects_outside_frame;
}

// Fills in the demo (installed, or the one this build made) for whatever was not given.
// The default output's folder is made here so that `lipsync render` alone works from any folder;
// a folder the user names must exist (a typo should not create folders).
Status apply_demo_defaults(RenderOptions& o) {
  const bool own_model =
      !o.config.empty() || !o.avatar_dir.empty() || !o.video.empty() || !o.frames.empty();
  if (!o.audio.empty() && own_model) return {};
  ASSIGN_OR_RETURN(const DemoData demo, find_demo_data());
  if (o.audio.empty()) o.audio = demo.speech.string();
  if (own_model) return {};
  o.video = demo.video.string();
  o.rects = demo.rects.string();
  if (o.unet.empty()) o.unet = demo.unet.string();
  if (o.encoder.empty()) o.encoder = demo.encoder.string();
  return {};
}

// The registry words a failed load for a server's operator ("fix models.<id> in the server's
// configuration"); render's model comes from its flags, so it says the reason alone.
Result<pipeline::ClipModel> acquire_model(registry::ModelRegistry& registry,
                                          const std::string& model_id) {
  auto model = pipeline::acquire_clip_model(registry, model_id);
  if (model.ok()) return model;
  const auto info = registry.info(model_id);
  if (info.ok() && info->state == registry::ModelState::kFailed)
    return make_error(model.status().code(), "cannot load the model: {}", info->failure_reason);
  return model.status();
}

Status make_default_output_folder(const RenderOptions& o) {
  if (o.output != kDefaultOutput) return {};
  const fs::path folder = fs::path(kDefaultOutput).parent_path();
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot make the output folder '{}' here: {}: run from a writable folder "
                      "or give -o",
                      folder.string(), ec.message());
  }
  return {};
}

// An avatar folder: frames in `frames/` (or the folder itself), a video, and crop rects; a
// package from `lipsync import` also holds unet.onnx (and encoder.onnx, see render()).
void discover_avatar(const fs::path& dir, ModelConfig& m) {
  std::error_code ec;
  if (fs::is_regular_file(dir / "unet.onnx", ec)) m.model_path = dir / "unet.onnx";
  m.background_dir = fs::is_directory(dir / "frames", ec) ? dir / "frames" : dir;
  for (const char* name : {"crop_rects.json", "crop_rectangles.json", "landmarks"}) {
    if (m.crop_rects_path.empty() && fs::exists(dir / name, ec)) m.crop_rects_path = dir / name;
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto ext = entry.path().extension();
    if (m.source_video.empty() &&
        (ext == ".mp4" || ext == ".mov" || ext == ".mkv" || ext == ".webm" || ext == ".avi")) {
      m.source_video = entry.path();
    }
  }
}

Result<ModelConfig> model_config(const RenderOptions& o, Config& config) {
  if (!o.config.empty()) {
    if (o.model.empty())
      return make_error(ErrorCode::kInvalidArgument, "--config needs --model ID");
    ASSIGN_OR_RETURN(config, load_config(o.config));
    const auto it = config.models.find(o.model);
    if (it == config.models.end()) {
      return make_error(ErrorCode::kNotFound, "model '{}' is not configured in '{}'", o.model,
                        o.config);
    }
    ModelConfig m = it->second;
    if (!o.unet.empty()) m.model_path = o.unet;
    apply_source_flags(o, m);
    return m;
  }
  ModelConfig m;
  m.model_id = "render";
  if (!o.avatar_dir.empty()) discover_avatar(o.avatar_dir, m);
  if (!o.video.empty()) m.source_video = o.video;
  if (!o.frames.empty()) m.background_dir = o.frames;
  if (!o.rects.empty()) m.crop_rects_path = o.rects;
  if (!o.unet.empty()) m.model_path = o.unet;
  apply_source_flags(o, m);
  if (m.model_path.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--unet is required (or an --avatar folder holding unet.onnx)");
  }
  if (m.crop_rects_path.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "no crop rects: pass --rects or an --avatar "
                      "folder with crop_rects.json, crop_rectangles.json or landmarks/");
  }
  return m;
}

runtime::SessionOptions session_options(const RenderOptions& o, const Config& config) {
  runtime::SessionOverrides flags;
  if (o.cuda) {
    flags.provider = ExecutionProvider::kCuda;
    flags.device_id = o.device;
  }
  if (o.threads > 0) flags.intra_op_threads = o.threads;
  return runtime::session_options_from(config.runtime, flags);
}

// --start-frame is the first source frame of a wrap clip (any integer, taken modulo the
// avatar's frames); a ping-pong clip starts where the reference renderer starts.
std::int64_t sequence_start(imaging::SequenceMode mode, std::int64_t start_frame,
                            std::int64_t frame_count) {
  if (mode != imaging::SequenceMode::kWrap) return 0;
  return imaging::source_frame_index(mode, 0, frame_count, start_frame);
}

void print_summary(const std::string& output, const pipeline::ClipStats& stats, double seconds) {
  fmt::print(
      "{}: {} frames ({:.2f} s of video) rendered in {:.2f} s, {:.1f} frames/s "
      "(audio {:.0f} ms, UNet {:.0f} ms of which the first batch {:.0f} ms, compositing "
      "{:.0f} ms)\n",
      output, stats.frames, timeline::frames_to_seconds(stats.frames), seconds,
      stats.frames / seconds, stats.audio_ms, stats.totals.inference_ms,
      stats.first_batch_inference_ms, stats.totals.composite_ms);
}

// The MP4 carries the original audio (its own stream, cut to the video's n + 2 frames,
// pipeline.md §2); a .npy of samples has no stream, so its 16 kHz samples are encoded.
RenderOutputOptions output_options(const RenderOptions& o, std::span<const float> samples) {
  RenderOutputOptions options{.crf = o.crf,
                              .preset = o.preset,
                              .jpeg_quality = o.jpeg_quality,
                              .png_frames = o.frame_format == "png"};
  if (fs::path(o.audio).extension() == ".npy") {
    options.samples_16k = samples;
  } else {
    options.audio_file = o.audio;
  }
  return options;
}

Status render(RenderOptions o) {
  // Before any thread starts: Ctrl-C then removes the unfinished output (cli/interrupt.h).
  InterruptCleanup interrupt;
  RETURN_IF_ERROR(apply_demo_defaults(o));
  Config config;
  ASSIGN_OR_RETURN(ModelConfig model_config_value, model_config(o, config));
  if (o.encoder.empty()) o.encoder = config.runtime.audio_encoder_path.string();
  std::error_code ec;
  if (o.encoder.empty() && !o.avatar_dir.empty() &&
      fs::is_regular_file(fs::path(o.avatar_dir) / "encoder.onnx", ec)) {
    o.encoder = (fs::path(o.avatar_dir) / "encoder.onnx").string();
  }
  if (o.encoder.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--encoder is required (or an --avatar folder holding encoder.onnx)");
  }
  ASSIGN_OR_RETURN(const imaging::SequenceMode sequence, imaging::parse_sequence_mode(o.sequence));
  avatar::AvatarOptions avatar_options;
  ASSIGN_OR_RETURN(avatar_options.background.kind,
                   avatar::parse_background_store_kind(o.background_store));
  avatar_options.background.face_blend_px = o.feather_px;  // kept for --feather's blend
  // The output is said wrong now, not after the models and the avatar have loaded.
  RETURN_IF_ERROR(make_default_output_folder(o));
  RETURN_IF_ERROR(RenderOutput::check(o.output, output_options(o, {})));
  ASSIGN_OR_RETURN(const ProgressMode progress, parse_progress_mode(o.progress));

  ProgressBar bar(progress);
  bar.step(fmt::format("reading the audio '{}'", o.audio));
  ASSIGN_OR_RETURN(auto samples, audio::load_audio(o.audio));
  const auto sessions = session_options(o, config);
  bar.step("loading the audio encoder");
  ASSIGN_OR_RETURN(auto encoder, pipeline::OnnxFeatureEncoder::create(o.encoder, sessions));
  ASSIGN_OR_RETURN(auto mel, audio::MelAnalyzer::create());
  // The server's pipeline over the one model: a registry holding it, a scheduler of its
  // batches (nothing else to wait for: no queue delay) and the clip's plan.
  const bool cuda = sessions.provider == ExecutionProvider::kCuda;
  if (o.batch == 0) o.batch = cuda ? kCudaDefaultMaxBatch : kCpuDefaultMaxBatch;
  const PipelineSection batching{.max_batch = o.batch, .max_queue_delay_ms = 0};
  registry::ModelRegistry registry(
      {}, pipeline::lipsync_model_loader(
              {.session = sessions,
               .avatar = avatar_options,
               .warm_up_batch_sizes = pipeline::executor_options(batching, cuda).batch_sizes,
               // One clip: each size's first run takes its memory once either way.
               .reserve_run_memory = false}));
  RETURN_IF_ERROR(registry.add_model(model_config_value));
  ThreadPool pool;
  // The encoder runs on the model's executor, as the server's does.
  pipeline::Scheduler scheduler(registry, batching, &pool, {}, encoder.get());
  const std::string& model_id = model_config_value.model_id;
  bar.step("loading the UNet and the avatar's frames");
  ASSIGN_OR_RETURN(const pipeline::ClipModel model, acquire_model(registry, model_id));
  pipeline::ClipSpec spec{.model_id = model_id,
                          .sequence = sequence,
                          .start_frame = sequence_start(sequence, o.start_frame, model.frame_count),
                          .composite = {.feather_px = o.feather_px}};
  bar.step("computing the audio features");
  ASSIGN_OR_RETURN(
      const pipeline::ClipPlan plan,
      pipeline::plan_clip(std::move(spec), samples, *mel, *scheduler.encoder(), registry));

  ASSIGN_OR_RETURN(std::shared_ptr<RenderOutput> output,
                   RenderOutput::open(o.output, output_options(o, samples)));
  interrupt.set([output] { output->abandon(); });  // holds it while the handler may run
  bar.frames(0, plan.frame_count());  // the frames' clock starts: rate and ETA count from here
  ASSIGN_OR_RETURN(const pipeline::ClipStats stats,
                   pipeline::render_clip(
                       scheduler, plan, batching,
                       [&](std::int64_t i, const Image& frame) { return output->write(i, frame); },
                       [&](std::int64_t done, std::int64_t total) { bar.frames(done, total); }));
  RETURN_IF_ERROR(output->commit());
  print_summary(o.output, stats, bar.seconds());
  return {};
}

void add(CLI::App& app, Action* action) {
  auto o = std::make_shared<RenderOptions>();
  auto* cmd = app.add_subcommand(
      "render",
      "Speech to lip-synced video (MP4 with sound, or JPEG frames); no arguments: the demo");
  cmd->add_option("--audio", o->audio,
                  "speech: any audio file FFmpeg reads, or a .npy of 16 kHz samples");
  cmd->add_option("--config", o->config, "server YAML to take the model from (with --model)");
  cmd->add_option("--model", o->model, "model id in --config");
  cmd->add_option("--avatar", o->avatar_dir,
                  "avatar folder: frames/ or a video, and crop_rects.json; unet.onnx and "
                  "encoder.onnx when --unet/--encoder are not given (`lipsync import` makes one)");
  cmd->add_option("--video", o->video, "the avatar's source video");
  cmd->add_option("--frames", o->frames, "the avatar's frame folder");
  cmd->add_option("--rects", o->rects,
                  "crop_rects.json, crop_rectangles.json or a landmarks folder");
  cmd->add_option(
         "--num-frames", o->num_frames,
         "use only the first N source frames and rects (0: all; as models.<id>.num_frames)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--accept-any-fps", o->accept_any_fps,
                "use a source video that is not 25 fps frame by frame (refused otherwise)");
  cmd->add_flag("--accept-rects-outside-frame", o->accept_rects_outside_frame,
                "use rects crossing the frame border, clipped (refused otherwise)");
  cmd->add_option("--unet", o->unet, "the person's SyncTalk_2D UNet (ONNX)");
  cmd->add_option("--encoder", o->encoder, "the audio encoder (ONNX)");
  cmd->add_option("-o,--output", o->output, "OUT.mp4, or OUT_DIR/ for JPEG frames")
      ->capture_default_str();
  cmd->add_option("--sequence", o->sequence, "source frame order: ping_pong | wrap")
      ->capture_default_str();
  cmd->add_option("--start-frame", o->start_frame, "first source frame (wrap)")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch,
                  fmt::format("frames per UNet run (default {} with --cuda, else {}: on the CPU a "
                              "larger batch needs more memory, not less time)",
                              kCudaDefaultMaxBatch, kCpuDefaultMaxBatch))
      ->check(CLI::Range(1, 256));
  cmd->add_option("--threads", o->threads, "inference threads (CPU); 0 = default")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--cuda", o->cuda, "run the models on CUDA");
  cmd->add_option("--device", o->device, "CUDA device")->check(CLI::NonNegativeNumber);
  cmd->add_option("--crf", o->crf, "H.264 quality, 0 (lossless) .. 51")
      ->check(CLI::Range(0, 51))
      ->capture_default_str();
  cmd->add_option("--preset", o->preset, "x264 preset")->capture_default_str();
  cmd->add_option("--jpeg-quality", o->jpeg_quality, "JPEG frames quality")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_option("--frame-format", o->frame_format,
                  "frames of a folder output: jpg (--jpeg-quality) | png (lossless)")
      ->check(CLI::IsMember({"jpg", "png"}))
      ->capture_default_str();
  cmd->add_option("--feather", o->feather_px,
                  "blend the pasted face over N pixels (0 = reference hard paste)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--progress", o->progress,
                  "progress on stderr (steps, then percent, frames/s, elapsed, ETA): auto (on a "
                  "terminal) | always | never")
      ->capture_default_str();
  cmd->add_option("--background-store", o->background_store,
                  "where source frames are kept: auto (raw pixels up to 2 GiB, else jpeg) | raw "
                  "| jpeg | jpeg_splice")
      ->capture_default_str();
  cmd->callback([action, o] { *action = status_action([o] { return render(*o); }); });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
