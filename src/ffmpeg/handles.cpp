#include "ffmpeg/handles.h"

extern "C" {
#include <libavutil/error.h>
}

namespace lipsync::ffmpeg {

void OutputFormatDeleter::operator()(AVFormatContext* c) const {
  if (c == nullptr) return;
  if (c->oformat != nullptr && !(c->oformat->flags & AVFMT_NOFILE) && c->pb != nullptr) {
    avio_closep(&c->pb);
  }
  avformat_free_context(c);
}

std::string error_string(int averror) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(averror, text, sizeof(text));
  return text;
}

Status error(ErrorCode code, const std::string& what, int averror) {
  return Status(code, what + ": " + error_string(averror));
}

Result<InputFormatPtr> open_input(const std::string& path) {
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) {
    const ErrorCode code = rc == AVERROR(ENOENT) ? ErrorCode::kNotFound : ErrorCode::kDataLoss;
    return error(code, "cannot open '" + path + "'", rc);
  }
  InputFormatPtr input(raw);
  rc = avformat_find_stream_info(input.get(), nullptr);
  if (rc < 0) return error(ErrorCode::kDataLoss, "cannot read streams of '" + path + "'", rc);
  return input;
}

FramePtr make_frame() { return FramePtr(av_frame_alloc()); }
PacketPtr make_packet() { return PacketPtr(av_packet_alloc()); }

}  // namespace lipsync::ffmpeg
