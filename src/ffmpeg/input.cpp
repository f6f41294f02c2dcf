#include "ffmpeg/input.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

extern "C" {
#include <libavutil/mem.h>
}

namespace lipsync::ffmpeg {

// The bytes under an input. Read and seek follow AVIOContext's callback contract.
struct Input::Source {
  virtual ~Source() = default;
  virtual int read(std::uint8_t* buffer, int size) = 0;
  virtual std::int64_t size() const = 0;
  virtual std::int64_t seek(std::int64_t target) = 0;  // to an absolute position

  static int read_packet(void* opaque, std::uint8_t* buffer, int size) {
    auto* self = static_cast<Source*>(opaque);
    const int count = self->read(buffer, size);
    if (count > 0) self->counters.bytes_read += count;
    return count;
  }

  static std::int64_t seek_packet(void* opaque, std::int64_t offset, int whence) {
    auto* self = static_cast<Source*>(opaque);
    if (whence & AVSEEK_SIZE) return self->size();
    std::int64_t target = offset;
    if ((whence & ~AVSEEK_FORCE) == SEEK_CUR) target += self->position;
    if ((whence & ~AVSEEK_FORCE) == SEEK_END) target += self->size();
    if (target < 0 || target > self->size()) return AVERROR(EINVAL);
    const std::int64_t reached = self->seek(target);
    if (reached >= 0) self->position = reached;
    return reached;
  }

  std::int64_t position = 0;
  InputCounters counters;
};

namespace {

constexpr int kIoBufferBytes = 64 * 1024;

constexpr std::array<std::string_view, 7> kClientFormats = {"wav",  "mp3", "mov",     "aac",
                                                            "flac", "ogg", "matroska"};
constexpr std::array<std::string_view, 9> kFileFormats = {"wav", "mp3",      "mov", "aac",   "flac",
                                                          "ogg", "matroska", "avi", "mpegts"};
// What phones, browsers (MediaRecorder: Opus in WebM/Ogg) and audio tools write.
constexpr std::array<AVCodecID, 22> kClientCodecs = {
    AV_CODEC_ID_PCM_U8,        AV_CODEC_ID_PCM_S16LE, AV_CODEC_ID_PCM_S16BE, AV_CODEC_ID_PCM_S24LE,
    AV_CODEC_ID_PCM_S24BE,     AV_CODEC_ID_PCM_S32LE, AV_CODEC_ID_PCM_S32BE, AV_CODEC_ID_PCM_F32LE,
    AV_CODEC_ID_PCM_F32BE,     AV_CODEC_ID_PCM_F64LE, AV_CODEC_ID_PCM_F64BE, AV_CODEC_ID_PCM_ALAW,
    AV_CODEC_ID_PCM_MULAW,     AV_CODEC_ID_ADPCM_MS,  AV_CODEC_ID_MP2,       AV_CODEC_ID_MP3,
    AV_CODEC_ID_ADPCM_IMA_WAV, AV_CODEC_ID_AAC,       AV_CODEC_ID_FLAC,      AV_CODEC_ID_VORBIS,
    AV_CODEC_ID_OPUS,          AV_CODEC_ID_ALAC};

class MemorySource final : public Input::Source {
 public:
  explicit MemorySource(std::span<const std::byte> data) : data_(data) {}

  int read(std::uint8_t* buffer, int size) override {
    const auto left = data_.size() - static_cast<std::size_t>(position);
    const std::size_t count = std::min(left, static_cast<std::size_t>(size));
    if (count == 0) return AVERROR_EOF;
    std::memcpy(buffer, data_.data() + position, count);
    position += static_cast<std::int64_t>(count);
    return static_cast<int>(count);
  }
  std::int64_t size() const override { return static_cast<std::int64_t>(data_.size()); }
  std::int64_t seek(std::int64_t target) override { return target; }

 private:
  std::span<const std::byte> data_;
};

// One regular file, opened by path with no URL parsing: "concat:a|b" or "http://x" are names.
class FileSource final : public Input::Source {
 public:
  static Result<std::unique_ptr<Input::Source>> open(const std::filesystem::path& path) {
    std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
    if (!file) {
      const ErrorCode code = errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kDataLoss;
      return make_error(code, "cannot open '{}': {}", path.string(), std::strerror(errno));
    }
    struct stat info {};
    if (fstat(fileno(file.get()), &info) != 0 || !S_ISREG(info.st_mode)) {
      return make_error(ErrorCode::kInvalidArgument, "'{}' is not a regular file", path.string());
    }
    return std::unique_ptr<Input::Source>(new FileSource(std::move(file), info.st_size));
  }

  int read(std::uint8_t* buffer, int size) override {
    const std::size_t count = std::fread(buffer, 1, static_cast<std::size_t>(size), file_.get());
    if (count == 0) return std::ferror(file_.get()) ? AVERROR(EIO) : AVERROR_EOF;
    position += static_cast<std::int64_t>(count);
    return static_cast<int>(count);
  }
  std::int64_t size() const override { return size_; }
  std::int64_t seek(std::int64_t target) override {
    return fseeko(file_.get(), target, SEEK_SET) == 0 ? target : AVERROR(errno);
  }

 private:
  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  FileSource(std::unique_ptr<std::FILE, Closer> file, std::int64_t size)
      : file_(std::move(file)), size_(size) {}

  std::unique_ptr<std::FILE, Closer> file_;
  std::int64_t size_;
};

std::atomic<std::int64_t> refused_open_count{0};

// AVFormatContext::io_open for every input: demuxers that follow references (playlists, concat
// scripts, image sequences, MOV data references) get nothing. The main input is already open.
int refuse_open(AVFormatContext*, AVIOContext**, const char*, int, AVDictionary**) {
  refused_open_count.fetch_add(1, std::memory_order_relaxed);
  return AVERROR(EPERM);
}

std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

// Every decoder of an allowed codec (FFmpeg checks decoder names, several may share a codec).
std::string decoder_names(const InputPolicy& policy) {
  std::string out;
  void* it = nullptr;
  while (const AVCodec* codec = av_codec_iterate(&it)) {
    if (!av_codec_is_decoder(codec) || !policy.allows_codec(codec->id)) continue;
    if (!out.empty()) out += ',';
    out += codec->name;
  }
  return out;
}

bool set_string(char** field, const std::string& value) {
  *field = av_strdup(value.c_str());
  return *field != nullptr;
}

Status out_of_memory() {
  return make_error(ErrorCode::kResourceExhausted, "out of memory");
}

// FFmpeg's probe over the first bytes (each demuxer's probe reads only the buffer); the winner
// must be on the allow-list.
Result<const AVInputFormat*> probe(AVIOContext* io, const std::string& origin,
                                   const std::string& name, const InputPolicy& policy) {
  const AVInputFormat* format = nullptr;
  const int rc = av_probe_input_buffer2(io, &format, name.c_str(), nullptr, 0, 0);
  if (rc < 0 || format == nullptr) {
    return Status(policy.unreadable, fmt::format("cannot open {}: {} (accepted formats: {})",
                                                 origin, error_string(rc), policy.accepted));
  }
  if (!policy.allows_format(*format)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} is '{}' ({}), which is not accepted here: send {}", origin, format->name,
                      format->long_name, policy.accepted);
  }
  return format;
}

}  // namespace

bool InputPolicy::allows_format(const AVInputFormat& format) const {
  std::string_view names = format.name;
  while (!names.empty()) {
    const std::size_t comma = names.find(',');
    const std::string_view name = names.substr(0, comma);
    if (std::find(formats.begin(), formats.end(), name) != formats.end()) return true;
    names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
  }
  return false;
}

bool InputPolicy::allows_codec(AVCodecID codec) const {
  return codecs.empty() || std::find(codecs.begin(), codecs.end(), codec) != codecs.end();
}

const InputPolicy& client_media_policy() {
  static const InputPolicy policy{
      .accepted = "WAV, MP3, MP4/M4A/MOV, AAC (ADTS), FLAC, Ogg or WebM/Matroska audio",
      .formats = kClientFormats,
      .codecs = kClientCodecs,
      .unreadable = ErrorCode::kInvalidArgument};
  return policy;
}

const InputPolicy& server_file_policy() {
  static const InputPolicy policy{
      .accepted = "WAV, MP3, MP4/M4A/MOV, AAC (ADTS), FLAC, Ogg, WebM/Matroska, AVI or MPEG-TS",
      .formats = kFileFormats,
      .codecs = {},
      .unreadable = ErrorCode::kDataLoss};
  return policy;
}

void Input::IoDeleter::operator()(AVIOContext* io) const {
  av_freep(&io->buffer);  // FFmpeg may have replaced the buffer it was given
  avio_context_free(&io);
}

Input::Input(std::unique_ptr<Source> source, const InputPolicy& policy)
    : source_(std::move(source)), policy_(&policy) {}
Input::Input(Input&&) noexcept = default;
Input& Input::operator=(Input&&) noexcept = default;
Input::~Input() = default;

std::int64_t refused_opens() {
  return refused_open_count.load(std::memory_order_relaxed);
}

InputCounters Input::counters() const {
  return source_->counters;
}

Result<Input> Input::open(std::unique_ptr<Source> source, const std::string& origin,
                          const std::string& name, const InputPolicy& policy) {
  Input input(std::move(source), policy);
  auto* buffer = static_cast<std::uint8_t*>(av_malloc(kIoBufferBytes));
  if (buffer == nullptr) return out_of_memory();
  input.io_.reset(avio_alloc_context(buffer, kIoBufferBytes, 0, input.source_.get(),
                                     &Source::read_packet, nullptr, &Source::seek_packet));
  if (!input.io_) {
    av_free(buffer);
    return out_of_memory();
  }
  ASSIGN_OR_RETURN(const AVInputFormat* format, probe(input.io_.get(), origin, name, policy));

  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) return out_of_memory();
  raw->pb = input.io_.get();
  raw->io_open = &refuse_open;
  // FFmpeg's own checks as well: the demuxer, no protocol at all (an empty list, not "any"),
  // and the decoders find_stream_info may open.
  bool set = set_string(&raw->format_whitelist, join(policy.formats)) &&
             set_string(&raw->protocol_whitelist, "");
  if (set && !policy.codecs.empty()) set = set_string(&raw->codec_whitelist, decoder_names(policy));
  if (!set) {
    avformat_free_context(raw);
    return out_of_memory();
  }
  const int rc = avformat_open_input(&raw, name.c_str(), format, nullptr);  // frees on failure
  if (rc < 0) return Status(policy.unreadable, "cannot open " + origin + ": " + error_string(rc));
  input.format_.reset(raw);
  return input;
}

Result<Input> open_memory_input(std::span<const std::byte> bytes, const std::string& origin,
                                const InputPolicy& policy) {
  if (bytes.empty()) return make_error(ErrorCode::kInvalidArgument, "{}: no bytes", origin);
  return Input::open(std::make_unique<MemorySource>(bytes), origin, "", policy);
}

Result<Input> open_file_input(const std::filesystem::path& path, const InputPolicy& policy) {
  ASSIGN_OR_RETURN(std::unique_ptr<Input::Source> source, FileSource::open(path));
  return Input::open(std::move(source), "'" + path.string() + "'", path.string(), policy);
}

Status find_stream_info(Input& input, const std::string& origin) {
  const int rc = avformat_find_stream_info(input.get(), nullptr);
  if (rc < 0) {
    return Status(input.policy().unreadable,
                  "cannot read streams of " + origin + ": " + error_string(rc));
  }
  return {};
}

Result<Input> open_input(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(Input input, open_file_input(path, server_file_policy()));
  RETURN_IF_ERROR(find_stream_info(input, "'" + path.string() + "'"));
  return input;
}

}  // namespace lipsync::ffmpeg
