#include "server/response_messages.h"

#include "core/timeline.h"

namespace lipsync::server {

Status cancelled() {
  return make_error(ErrorCode::kCancelled, "the client cancelled the call");
}

void add_frames(const pipeline::ClipBatch& batch, std::size_t from, std::size_t to,
                v1::RenderResponse& response) {
  for (std::size_t k = from; k < to; ++k) {
    v1::Frame* frame = response.add_frames();
    const std::int64_t index = batch.first + static_cast<std::int64_t>(k);
    frame->set_index(index);
    frame->set_source_frame(batch.source_frames[k]);
    frame->set_timestamp_ms(timeline::frame_to_ms(index));
    const auto bytes = batch.frame_bytes(k);
    frame->set_data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
}

void add_timings(const pipeline::ClipBatch& batch, v1::StageTimings& timings) {
  timings.set_queue_ms(timings.queue_ms() + batch.result.queue_ms);
  timings.set_prepare_ms(timings.prepare_ms() + batch.result.timings.prepare_ms);
  timings.set_inference_ms(timings.inference_ms() + batch.result.timings.inference_ms);
  timings.set_composite_ms(timings.composite_ms() + batch.result.timings.composite_ms);
}

Status too_large(std::size_t bytes, std::size_t limit, std::string_view what) {
  return make_error(ErrorCode::kResourceExhausted,
                    "{} is {:.1f} MiB, above the server's message limit of {} MiB{}", what,
                    bytes / double(1 << 20), limit >> 20,
                    what == "the response" ? "; use RenderStream for long clips" : "");
}

Result<std::size_t> message_end(const pipeline::ClipBatch& batch, std::size_t from,
                                std::size_t limit) {
  std::size_t bytes = 0;
  std::size_t end = from;
  for (; end < batch.count(); ++end) {
    bytes += batch.frame_bytes(end).size() + 64;  // + the frame's other fields
    if (bytes + kMessageOverheadBytes > limit) break;
  }
  if (end == from) return too_large(batch.frame_bytes(from).size(), limit, "one frame");
  return end;
}

}  // namespace lipsync::server
