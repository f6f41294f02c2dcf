// Opening media for reading without letting its contents choose what FFmpeg does. Every input
// is read through our own AVIOContext (memory or one file opened here, the path taken
// literally), probed, and accepted only when the detected demuxer is on the caller's allow-list;
// FFmpeg may open no protocol and no other file or URL from inside it (playlists, concat
// scripts, SDP, image sequences, references in a container). docs/security.md states the
// promise; client bytes and server-configured files each have a policy.
//
//   ASSIGN_OR_RETURN(ffmpeg::Input input, ffmpeg::open_memory_input(bytes, "audio.encoded",
//                                                                   ffmpeg::client_media_policy()));
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "ffmpeg/handles.h"

namespace lipsync::ffmpeg {

struct InputPolicy {
  std::string_view accepted;  // the formats in words, for errors: "WAV, MP3, ..."
  // Demuxer names: an input is accepted when one of its AVInputFormat names is listed.
  std::span<const std::string_view> formats;
  // Decoders FFmpeg may open (also while reading stream info); empty: any.
  std::span<const AVCodecID> codecs;
  // Code for bytes FFmpeg cannot read: the client's fault, or a damaged server file.
  ErrorCode unreadable = ErrorCode::kDataLoss;

  bool allows_format(const AVInputFormat& format) const;
  bool allows_codec(AVCodecID codec) const;
};

// Client bytes (gRPC audio.encoded, the WebSocket upload): the containers users send audio in,
// WAV, MP3, MP4/M4A/MOV, AAC (ADTS), FLAC, Ogg and WebM/Matroska, and audio decoders only.
const InputPolicy& client_media_policy();
// Files the server's operator or the CLI's user names (avatar videos, `render --audio`): the
// client formats plus AVI and MPEG-TS, any decoder.
const InputPolicy& server_file_policy();

// What reading an input has cost so far (tests, fuzzers).
struct InputCounters {
  std::int64_t bytes_read = 0;
};

// Attempts of demuxers to open another file or URL from inside an input, all refused, since the
// process started (also those of nested demuxer contexts, which have no Input of their own).
std::int64_t refused_opens();

// An open input and the reader under it. Move-only.
class Input {
 public:
  struct Source;  // the reader behind the AVIOContext (memory or a file)

  // Opens `source` under `policy`; `origin` names it in errors. `name` is what FFmpeg calls the
  // input: a file's path (the probe weighs its extension) or empty for client bytes.
  static Result<Input> open(std::unique_ptr<Source> source, const std::string& origin,
                            const std::string& name, const InputPolicy& policy);

  Input(Input&&) noexcept;
  Input& operator=(Input&&) noexcept;
  ~Input();

  AVFormatContext* get() const { return format_.get(); }
  AVFormatContext* operator->() const { return format_.get(); }
  const InputPolicy& policy() const { return *policy_; }
  InputCounters counters() const;

 private:
  Input(std::unique_ptr<Source> source, const InputPolicy& policy);

  std::unique_ptr<Source> source_;  // declared first: destroyed after the contexts using it
  struct IoDeleter {
    void operator()(AVIOContext* io) const;
  };
  std::unique_ptr<AVIOContext, IoDeleter> io_;
  InputFormatPtr format_;
  const InputPolicy* policy_;
};

// Reads in-memory bytes (which must outlive the Input); `origin` names them in errors.
Result<Input> open_memory_input(std::span<const std::byte> bytes, const std::string& origin,
                                const InputPolicy& policy);

// Reads a file; errors name it. NOT_FOUND when it does not exist.
Result<Input> open_file_input(const std::filesystem::path& path, const InputPolicy& policy);

// A server-configured file (server_file_policy), with its stream info read.
Result<Input> open_input(const std::filesystem::path& path);

// Reads the stream info (FFmpeg decodes a few packets of each stream to learn its parameters).
Status find_stream_info(Input& input, const std::string& origin);

}  // namespace lipsync::ffmpeg
