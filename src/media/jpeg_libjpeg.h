// Internal to the media module: move-only owners for libjpeg's compress/decompress structs.
// libjpeg reports fatal errors through error_exit; ours longjmps back to the setjmp in
// LIPSYNC_JPEG_GUARD, which turns the message into a Status (never exit()). Functions that use
// the guard keep only trivially destructible locals alive across libjpeg calls.
#pragma once

#include <csetjmp>
#include <cstdint>
#include <cstdio>  // jpeglib.h needs FILE
#include <memory>
#include <vector>

#include <jpeglib.h>

#include "core/image.h"
#include "core/status.h"
#include "media/jpeg_codec.h"

namespace lipsync::media::jpeg {

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg casts cinfo->err back to ErrorManager*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// Appends compressed bytes to a std::vector that the caller owns (and may reuse).
struct VectorDestination {
  jpeg_destination_mgr pub;  // first member, as above
  std::vector<std::uint8_t>* out;
};

struct CompressState {
  jpeg_compress_struct cinfo;
  ErrorManager error;
  VectorDestination destination;
  CompressState();
  ~CompressState();
  CompressState(const CompressState&) = delete;
  CompressState& operator=(const CompressState&) = delete;
};

struct DecompressState {
  jpeg_decompress_struct cinfo;
  ErrorManager error;
  DecompressState();
  ~DecompressState();
  DecompressState(const DecompressState&) = delete;
  DecompressState& operator=(const DecompressState&) = delete;
};

// Heap-held so that libjpeg's internal pointers stay valid when the owner moves.
using Compressor = std::unique_ptr<CompressState>;
using Decompressor = std::unique_ptr<DecompressState>;

Compressor make_compressor();
Decompressor make_decompressor();

// Sets the splice-compatible parameters for a width x height BGR input (after validation).
// Must run under LIPSYNC_JPEG_GUARD.
void configure(jpeg_compress_struct* cinfo, int width, int height, const JpegSettings& settings);

// Encodes `bgr` into *out (cleared first). Settings must be valid.
Status encode(CompressState& state, ImageView bgr, const JpegSettings& settings,
              std::vector<std::uint8_t>* out);

}  // namespace lipsync::media::jpeg

// Returns a Status built from libjpeg's message when libjpeg raises an error below this line.
#define LIPSYNC_JPEG_GUARD(error_manager, what)                                       \
  if (setjmp((error_manager).jump) != 0) {                                            \
    return ::lipsync::make_error(::lipsync::ErrorCode::kDataLoss, "{}: libjpeg: {}",  \
                                 what, (error_manager).message);                      \
  }
