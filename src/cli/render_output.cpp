#include "cli/render_output.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <optional>

#include "core/log.h"
#include "core/timeline.h"
#include "media/image_file.h"
#include "media/image_folder.h"
#include "media/jpeg_codec.h"
#include "media/video_writer.h"

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;

fs::path partial_path(const fs::path& final_path) {
  return fs::path(final_path.string() + fmt::format(".partial-{}", ::getpid()));
}

Status check_parent(const fs::path& path) {
  const fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return make_error(ErrorCode::kNotFound, "cannot write '{}': folder '{}' does not exist",
                      path.string(), parent.string());
  }
  if (::access(parent.c_str(), W_OK) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "cannot write '{}': folder '{}' is not writable",
                      path.string(), parent.string());
  }
  return {};
}

Status abandoned_error(const fs::path& path) {
  return make_error(ErrorCode::kCancelled, "the output '{}' was abandoned", path.string());
}

class Mp4Output : public RenderOutput {
 public:
  Mp4Output(fs::path final_path, RenderOutputOptions options)
      : final_(std::move(final_path)),
        partial_(partial_path(final_)),
        options_(std::move(options)) {}
  ~Mp4Output() override { abandon(); }

  Status write(std::int64_t, const Image& frame) override {
    std::lock_guard lock(mutex_);
    if (abandoned_) return abandoned_error(final_);
    if (!writer_) RETURN_IF_ERROR(open_writer(frame.width, frame.height));
    return writer_->write_frame(frame.view());
  }

  void abandon() override {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
    if (committed_) return;
    std::error_code ec;
    fs::remove(partial_, ec);
  }

  Status commit() override {
    std::lock_guard lock(mutex_);
    if (abandoned_) return abandoned_error(final_);
    if (!writer_) return make_error(ErrorCode::kInvalidArgument, "no frames were rendered");
    RETURN_IF_ERROR(writer_->finish());
    std::error_code ec;
    fs::rename(partial_, final_, ec);
    if (ec) {
      return make_error(ErrorCode::kInternal, "cannot move the video to '{}': {}", final_.string(),
                        ec.message());
    }
    committed_ = true;
    return {};
  }

 private:
  Status open_writer(int width, int height) {
    media::VideoWriterOptions video;
    video.width = width;
    video.height = height;
    video.crf = options_.crf;
    video.preset = options_.preset;
    // VideoWriter names the MP4 format itself, so the partial name needs no extension.
    auto writer = media::VideoWriter::create(partial_, video);
    if (!writer.ok()) return writer.status();
    writer_.emplace(std::move(writer).value());
    if (!options_.audio_file.empty()) {
      ASSIGN_OR_RETURN(const media::AudioTrackInfo audio,
                       writer_->add_audio_file(options_.audio_file));
      LOG_INFO("render", "sound: '{}' ({}) {} as AAC, {} Hz, {} channel(s)",
               options_.audio_file.string(), audio.source_codec,
               audio.copied ? "copied" : "encoded", audio.sample_rate_hz, audio.channels);
    } else if (!options_.samples_16k.empty()) {
      RETURN_IF_ERROR(
          writer_->add_audio(options_.samples_16k, {.sample_rate_hz = timeline::kSampleRateHz}));
    }
    return {};
  }

  fs::path final_;
  fs::path partial_;
  RenderOutputOptions options_;
  std::mutex mutex_;  // abandon() may come from another thread
  std::optional<media::VideoWriter> writer_;
  bool committed_ = false;
  bool abandoned_ = false;
};

// Numbered JPEGs (libjpeg-turbo, the output's quality) or PNGs (lossless).
class FrameFolderOutput : public RenderOutput {
 public:
  FrameFolderOutput(fs::path final_path, int quality, bool png)
      : final_(std::move(final_path)),
        partial_(partial_path(final_)),
        quality_(quality),
        png_(png) {}
  ~FrameFolderOutput() override { abandon(); }

  void abandon() override {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
    if (committed_) return;
    std::error_code ec;
    fs::remove_all(partial_, ec);
  }

  Status write(std::int64_t index, const Image& frame) override {
    if (png_) return write_png(index, frame);
    ASSIGN_OR_RETURN(auto jpeg, media::encode_jpeg(frame.view(), {quality_, {}}));
    std::lock_guard lock(mutex_);
    RETURN_IF_ERROR(create_folder());
    const fs::path file = partial_ / media::frame_file_name(index);
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(jpeg.data()),
              static_cast<std::streamsize>(jpeg.size()));
    if (!out) return make_error(ErrorCode::kInternal, "cannot write '{}'", file.string());
    return {};
  }

  Status commit() override {
    std::lock_guard lock(mutex_);
    if (abandoned_) return abandoned_error(final_);
    if (!created_) return make_error(ErrorCode::kInvalidArgument, "no frames were rendered");
    std::error_code ec;
    if (fs::exists(final_, ec)) fs::remove(final_, ec);  // only an empty folder can be replaced
    fs::rename(partial_, final_, ec);
    if (ec) {
      return make_error(ErrorCode::kInternal, "cannot move the frames to '{}': {}", final_.string(),
                        ec.message());
    }
    committed_ = true;
    return {};
  }

 private:
  // The folder on the first frame; under mutex_, after abandon() an error.
  Status create_folder() {
    if (abandoned_) return abandoned_error(final_);
    if (created_) return {};
    std::error_code ec;
    fs::create_directories(partial_, ec);
    if (ec) {
      return make_error(ErrorCode::kInvalidArgument, "cannot create '{}': {}", partial_.string(),
                        ec.message());
    }
    created_ = true;
    return {};
  }

  // Encoded under the lock: a PNG is written straight to its file, which abandon() removes.
  Status write_png(std::int64_t index, const Image& frame) {
    std::lock_guard lock(mutex_);
    RETURN_IF_ERROR(create_folder());
    return media::write_image(partial_ / media::frame_file_name(index, ".png"), frame.view());
  }

  fs::path final_;
  fs::path partial_;
  int quality_;
  bool png_;
  std::mutex mutex_;  // abandon() may come from another thread
  bool created_ = false;
  bool committed_ = false;
  bool abandoned_ = false;
};

// The output's kind and final path, once the path and settings are checked.
struct Target {
  fs::path final_path;
  bool folder = false;
};

Result<Target> resolve(const fs::path& path, const RenderOutputOptions& options) {
  std::string text = path.string();
  std::error_code ec;
  const bool folder = (!text.empty() && text.back() == '/') || fs::is_directory(path, ec);
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  const fs::path final_path(text);
  RETURN_IF_ERROR(check_parent(final_path));
  if (folder) {
    if (fs::is_directory(final_path, ec) && !fs::is_empty(final_path, ec)) {
      return make_error(ErrorCode::kAlreadyExists,
                        "output folder '{}' is not empty; remove it or name another",
                        final_path.string());
    }
    RETURN_IF_ERROR(media::validate_jpeg_settings({options.jpeg_quality, {}}));
    return Target{final_path, true};
  }
  if (options.png_frames) {
    return make_error(ErrorCode::kInvalidArgument,
                      "output '{}': PNG frames go into a folder: name one ending in '/'", text);
  }
  if (final_path.extension() != ".mp4") {
    return make_error(ErrorCode::kInvalidArgument,
                      "output '{}': name an .mp4 file or a folder ending in '/'", text);
  }
  return Target{final_path, false};
}

}  // namespace

Status RenderOutput::check(const fs::path& path, const RenderOutputOptions& options) {
  return resolve(path, options).status();
}

Result<std::unique_ptr<RenderOutput>> RenderOutput::open(const fs::path& path,
                                                         const RenderOutputOptions& options) {
  ASSIGN_OR_RETURN(Target target, resolve(path, options));
  if (target.folder) {
    return std::unique_ptr<RenderOutput>(
        new FrameFolderOutput(target.final_path, options.jpeg_quality, options.png_frames));
  }
  return std::unique_ptr<RenderOutput>(new Mp4Output(target.final_path, options));
}

}  // namespace lipsync::cli
