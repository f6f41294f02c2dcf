#include "server/live_connection.h"

#include "core/log.h"
#include "core/timeline.h"

namespace lipsync::server {

Status check(const SpeechFormat& format, std::string_view rate_field,
             std::string_view channels_field) {
  if (format.sample_rate_hz < 8000 || format.sample_rate_hz > 192000) {
    return make_error(ErrorCode::kInvalidArgument, "{} {} is outside 8000..192000 Hz", rate_field,
                      format.sample_rate_hz);
  }
  if (format.channels < 1 || format.channels > 8) {
    return make_error(ErrorCode::kInvalidArgument, "{} {} is outside 1..8", channels_field,
                      format.channels);
  }
  return {};
}

LiveConnection::LiveConnection(std::shared_ptr<live::Session> session, SpeechFormat format,
                               LiveConnectionCallbacks callbacks)
    : session_(std::move(session)),
      format_(format),
      callbacks_(std::move(callbacks)),
      frames_("live frames", kQueuedFramesPerClient, FullPolicy::kDropOldest),
      speech_("live speech", kQueuedSpeechMessages, FullPolicy::kBlock) {}

LiveConnection::~LiveConnection() {
  if (watcher_ != 0) session_->unwatch(watcher_);
  frames_.close();
  speech_.close();
  if (sender_.joinable()) sender_.join();
  if (speaker_.joinable()) speaker_.join();
}

Status LiveConnection::start() {
  RETURN_IF_ERROR(reset_converter());
  sender_ = std::thread([this] { send_frames(); });
  speaker_ = std::thread([this] { take_speech(); });
  watcher_ = session_->watch([this](const live::LiveFrame& frame) {
    if (!callbacks_.filter) {
      frames_.push(frame);
    } else if (auto kept = callbacks_.filter(frame)) {
      frames_.push(std::move(*kept));
    }
  });
  return {};
}

void LiveConnection::speak(std::vector<float> samples) {
  (void)speech_.push(SpeechInput{.samples = std::move(samples), .generation = generation_});
}

void LiveConnection::end_speech() {
  (void)speech_.push(SpeechInput{.end = true, .generation = generation_});
}

// Drops the speech not yet taken, then the session's. A chunk the worker is turning into frames
// is finished first (speech_mutex_); one it popped but has not started is dropped by its
// generation. So nothing sent before the interrupt speaks after it.
void LiveConnection::interrupt() {
  while (speech_.try_pop()) {
  }
  std::lock_guard lock(speech_mutex_);
  ++generation_;  // what the worker popped already but holds no lock for yet is dropped too
  session_->interrupt();
  if (Status reset = reset_converter(); !reset.ok() && callbacks_.report) callbacks_.report(reset);
}

void LiveConnection::send_frames() {
  while (auto frame = frames_.pop()) {
    if (!callbacks_.send(*frame)) {
      frames_.close();  // the client is gone: sending() says so
      return;
    }
  }
}

void LiveConnection::take_speech() {
  while (auto input = speech_.pop()) {
    std::lock_guard lock(speech_mutex_);
    if (input->generation != generation_) continue;  // sent before an interrupt
    const Status taken = input->end ? finish_speech() : push_speech(input->samples);
    if (!taken.ok() && callbacks_.report) callbacks_.report(taken);
  }
}

Status LiveConnection::push_speech(const std::vector<float>& samples) {
  if (!converter_) return session_->push_speech(samples);
  std::vector<float> mono;
  RETURN_IF_ERROR(converter_->push(samples, mono));
  return session_->push_speech(mono);
}

Status LiveConnection::finish_speech() {
  if (converter_) {
    std::vector<float> rest;
    RETURN_IF_ERROR(converter_->flush(rest));
    RETURN_IF_ERROR(session_->push_speech(rest));
    RETURN_IF_ERROR(reset_converter());
  }
  return session_->end_speech();
}

Status LiveConnection::reset_converter() {
  if (format_.sample_rate_hz == timeline::kSampleRateHz && format_.channels == 1) return {};
  ASSIGN_OR_RETURN(auto converter,
                   audio::PcmStreamConverter::create(format_.sample_rate_hz, format_.channels));
  converter_ = std::move(converter);
  return {};
}

}  // namespace lipsync::server
