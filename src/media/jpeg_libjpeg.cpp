#include "media/jpeg_libjpeg.h"

#include <algorithm>

#include "core/log.h"

namespace lipsync::media::jpeg {
namespace {

constexpr std::size_t kInitialOutputBytes = 64 * 1024;

[[noreturn]] void error_exit(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

void output_message(j_common_ptr cinfo) {  // warnings: to the log, never to stderr
  char message[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, message);
  LOG_DEBUG("media", "libjpeg: {}", message);
}

void install_error_manager(ErrorManager* error) {
  jpeg_std_error(&error->pub);
  error->pub.error_exit = error_exit;
  error->pub.output_message = output_message;
  error->message[0] = '\0';
}

void init_destination(j_compress_ptr cinfo) {
  auto* dest = reinterpret_cast<VectorDestination*>(cinfo->dest);
  dest->out->resize(std::max(dest->out->capacity(), kInitialOutputBytes));
  dest->pub.next_output_byte = dest->out->data();
  dest->pub.free_in_buffer = dest->out->size();
}

boolean empty_output_buffer(j_compress_ptr cinfo) {  // called when the buffer is full
  auto* dest = reinterpret_cast<VectorDestination*>(cinfo->dest);
  std::size_t used = dest->out->size();
  dest->out->resize(used * 2);
  dest->pub.next_output_byte = dest->out->data() + used;
  dest->pub.free_in_buffer = dest->out->size() - used;
  return TRUE;
}

void term_destination(j_compress_ptr cinfo) {
  auto* dest = reinterpret_cast<VectorDestination*>(cinfo->dest);
  dest->out->resize(dest->out->size() - dest->pub.free_in_buffer);
}

}  // namespace

CompressState::CompressState() {
  install_error_manager(&error);
  cinfo.err = &error.pub;
  jpeg_create_compress(&cinfo);  // allocation failure here is fatal, as for any new
  destination.pub.init_destination = init_destination;
  destination.pub.empty_output_buffer = empty_output_buffer;
  destination.pub.term_destination = term_destination;
  destination.out = nullptr;
  cinfo.dest = &destination.pub;
}

CompressState::~CompressState() { jpeg_destroy_compress(&cinfo); }

DecompressState::DecompressState() {
  install_error_manager(&error);
  cinfo.err = &error.pub;
  jpeg_create_decompress(&cinfo);
}

DecompressState::~DecompressState() { jpeg_destroy_decompress(&cinfo); }

Compressor make_compressor() { return std::make_unique<CompressState>(); }
Decompressor make_decompressor() { return std::make_unique<DecompressState>(); }

void configure(jpeg_compress_struct* cinfo, int width, int height, const JpegSettings& settings) {
  cinfo->image_width = static_cast<JDIMENSION>(width);
  cinfo->image_height = static_cast<JDIMENSION>(height);
  cinfo->input_components = 3;
  cinfo->in_color_space = JCS_EXT_BGR;
  jpeg_set_defaults(cinfo);  // YCbCr, standard Huffman tables, ISLOW DCT, no smoothing
  jpeg_set_quality(cinfo, settings.quality, TRUE);  // TRUE: baseline-compatible tables
  int luma_factor = settings.subsampling == ChromaSubsampling::k420 ? 2 : 1;
  cinfo->comp_info[0].h_samp_factor = luma_factor;
  cinfo->comp_info[0].v_samp_factor = luma_factor;
  for (int c = 1; c < 3; ++c) {
    cinfo->comp_info[c].h_samp_factor = 1;
    cinfo->comp_info[c].v_samp_factor = 1;
  }
  cinfo->optimize_coding = FALSE;
  cinfo->restart_in_rows = 1;  // an RST marker after every MCU row: rows code independently
}

Status encode(CompressState& state, ImageView bgr, const JpegSettings& settings,
              std::vector<std::uint8_t>* out) {
  jpeg_compress_struct* cinfo = &state.cinfo;
  out->clear();
  state.destination.out = out;
  if (setjmp(state.error.jump) != 0) {
    jpeg_abort_compress(cinfo);
    return make_error(ErrorCode::kInternal, "encoding a {}x{} JPEG: libjpeg: {}", bgr.width,
                      bgr.height, state.error.message);
  }
  configure(cinfo, bgr.width, bgr.height, settings);
  jpeg_start_compress(cinfo, TRUE);
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(bgr.row(static_cast<int>(cinfo->next_scanline)));
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return {};
}

}  // namespace lipsync::media::jpeg
