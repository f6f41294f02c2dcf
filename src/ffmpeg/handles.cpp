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

FramePtr make_frame() {
  return FramePtr(av_frame_alloc());
}
PacketPtr make_packet() {
  return PacketPtr(av_packet_alloc());
}

}  // namespace lipsync::ffmpeg
