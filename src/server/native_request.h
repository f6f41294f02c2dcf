// The fields of a lipsync.v1 request turned into the pipeline's types (sequence mode, output
// settings, the audio as 16 kHz mono samples), each refusing what is wrong with a message that
// names the field. Module-internal: used by native_service.cpp.
#pragma once

#include <optional>
#include <vector>

#include "audio/audio_decoder.h"
#include "core/config.h"
#include "core/status.h"
#include "imaging/frame_sequence.h"
#include "media/jpeg_codec.h"
#include "proto/lipsync_v1.pb.h"

namespace lipsync::server {

// Longest audio one native request may carry: 30 min = 45 000 frames.
inline constexpr double kMaxNativeAudioSeconds = 1800.0;

// The request's frame order; unspecified is ping-pong, as offline.
Result<imaging::SequenceMode> sequence_mode(v1::SequenceMode mode);

// The JPEG settings of the requested output, or none for raw BGR; unset fields take the
// server's configured output.
Result<std::optional<media::JpegSettings>> output_settings(const v1::OutputOptions& options,
                                                           const OutputSection& configured);

// The request's audio as 16 kHz mono samples. Whatever is wrong with it is the client's
// (kInvalidArgument, or kResourceExhausted over the length limit), named by its field.
Result<std::vector<float>> request_samples(const v1::AudioInput& input);

}  // namespace lipsync::server
