#include "media/jpeg_background.h"

#include <algorithm>
#include <array>
#include <utility>
#include <cstring>
#include <mutex>

#include "core/log.h"
#include "media/jpeg_entropy.h"
#include "media/jpeg_libjpeg.h"

namespace lipsync::media {
namespace {

using jpeg::BitPosition;
using jpeg::BitReader;
using jpeg::BitWriter;
using jpeg::DcPredictors;
using jpeg::EntropyLayout;
using jpeg::McuMark;

int ceil_div(int a, int b) { return (a + b - 1) / b; }

Rect intersect(Rect a, Rect b) {
  Rect r{std::max(a.x1, b.x1), std::max(a.y1, b.y1), std::min(a.x2, b.x2), std::min(a.y2, b.y2)};
  return r.empty() ? Rect{} : r;
}

bool contains(Rect outer, Rect inner) {
  return inner.x1 >= outer.x1 && inner.y1 >= outer.y1 && inner.x2 <= outer.x2 &&
         inner.y2 <= outer.y2;
}

// `rect` clipped to width x height and widened to whole MCUs (the last ones may be partial).
Rect widen_to_mcus(Rect rect, int width, int height, int mcu) {
  rect = intersect(rect, {0, 0, width, height});
  if (rect.empty()) return {};
  return {rect.x1 / mcu * mcu, rect.y1 / mcu * mcu, std::min(ceil_div(rect.x2, mcu) * mcu, width),
          std::min(ceil_div(rect.y2, mcu) * mcu, height)};
}

void copy_pixels(ImageView from, Rect from_area, Rect part, MutableImageView to, Rect to_area) {
  std::size_t bytes = static_cast<std::size_t>(part.width()) * 3;
  for (int y = part.y1; y < part.y2; ++y) {
    const std::uint8_t* src = from.row(y - from_area.y1) + (part.x1 - from_area.x1) * 3;
    std::memcpy(to.row(y - to_area.y1) + (part.x1 - to_area.x1) * 3, src, bytes);
  }
}

// The original pixels of `region` less `hole` (a rect inside it; may be empty), row after row:
// a row crossing the hole keeps its parts left and right of it only. (A plain Image of the
// region would hold the face's pixels too, which every output paints over: ~600 KB per 1080p
// frame.)
class KeptPixels {
 public:
  KeptPixels() = default;
  KeptPixels(ImageView frame, Rect region, Rect hole)
      : region_(region), hole_(hole), bytes_(offset(region.y2)) {
    for (int y = region.y1; y < region.y2; ++y) {
      std::uint8_t* to = bytes_.data() + offset(y);
      for (const auto& [x1, x2] : spans(y)) {
        const std::size_t n = static_cast<std::size_t>(x2 - x1) * 3;
        std::memcpy(to, frame.row(y) + static_cast<std::size_t>(x1) * 3, n);
        to += n;
      }
    }
  }

  // Copies the kept pixels of `part` (inside the region) into `to`, whose pixels cover `to_area`.
  void copy_to(Rect part, MutableImageView to, Rect to_area) const {
    for (int y = part.y1; y < part.y2; ++y) {
      const std::uint8_t* from = bytes_.data() + offset(y);
      for (const auto& [x1, x2] : spans(y)) {
        const int a = std::max(x1, part.x1);
        const int b = std::min(x2, part.x2);
        if (a < b) {
          std::memcpy(to.row(y - to_area.y1) + static_cast<std::size_t>(a - to_area.x1) * 3,
                      from + static_cast<std::size_t>(a - x1) * 3,
                      static_cast<std::size_t>(b - a) * 3);
        }
        from += static_cast<std::size_t>(x2 - x1) * 3;
      }
    }
  }

  Rect hole() const { return hole_; }
  std::size_t capacity() const { return bytes_.capacity(); }

 private:
  bool crosses_hole(int y) const { return !hole_.empty() && y >= hole_.y1 && y < hole_.y2; }

  // Row y's kept spans [x1, x2) in frame coordinates (the second one empty unless it crosses
  // the hole).
  std::array<std::pair<int, int>, 2> spans(int y) const {
    if (!crosses_hole(y)) return {{{region_.x1, region_.x2}, {region_.x2, region_.x2}}};
    return {{{region_.x1, hole_.x1}, {hole_.x2, region_.x2}}};
  }

  // Bytes kept for the region's rows above y.
  std::size_t offset(int y) const {
    const int top = hole_.empty() ? region_.y2 : hole_.y1;
    const int bottom = hole_.empty() ? region_.y2 : hole_.y2;
    const auto rows = static_cast<std::size_t>(std::max(0, y - region_.y1));
    const auto holed = static_cast<std::size_t>(std::clamp(y, top, bottom) - top);
    const auto cut = static_cast<std::size_t>(hole_.empty() ? 0 : hole_.width());
    return 3 * (rows * static_cast<std::size_t>(region_.width()) - holed * cut);
  }

  Rect region_;
  Rect hole_;
  std::vector<std::uint8_t> bytes_;
};

Result<const EntropyLayout*> entropy_layout(ChromaSubsampling subsampling) {
  static const Result<EntropyLayout> k420 = jpeg::make_entropy_layout({75, ChromaSubsampling::k420});
  static const Result<EntropyLayout> k444 = jpeg::make_entropy_layout({75, ChromaSubsampling::k444});
  const Result<EntropyLayout>& layout = subsampling == ChromaSubsampling::k420 ? k420 : k444;
  if (!layout.ok()) return layout.status();
  return &layout.value();
}

void log_decode_fallback_once(Rect area, Rect region) {
  static std::once_flag once;
  std::call_once(once, [&] {
    LOG_WARN("media",
             "JPEG canvas [{},{})x[{},{}) leaves the stored region [{},{})x[{},{}): its pixels are "
             "decoded from the stored JPEG (slow, lossy); pass the union of all crop rects at "
             "creation (logged once)",
             area.x1, area.x2, area.y1, area.y2, region.x1, region.x2, region.y1, region.y2);
  });
}

}  // namespace

struct JpegBackground::State {
  JpegSettings settings;
  int width = 0;
  int height = 0;
  int mcu_px = 0;
  int mcus_per_row = 0;
  int mcu_rows = 0;
  const EntropyLayout* layout = nullptr;  // shared, static
  std::vector<std::uint8_t> jpeg;
  jpeg::RowSegments rows;
  Rect region;      // whole MCUs
  KeptPixels kept;  // the region's original pixels, less the painted rect
  // Coder state at MCU columns [mark_col0, mark_col0 + mark_cols) of each region row (a column
  // equal to mcus_per_row means the row's end), then each region row's end.
  int mark_col0 = 0;
  int mark_cols = 0;
  std::vector<McuMark> marks;
  std::vector<McuMark> row_ends;

  std::span<const std::uint8_t> bytes() const { return jpeg; }
  Status parse_row(int row, int first_col, int count, McuMark* marks_out, McuMark* end) const;
  Status index_region();
  Status row_marks(int row, int c0, int c1, McuMark* at_c0, McuMark* at_c1, McuMark* end) const;
  Status splice_row(int row, int c0, int c1, std::span<const std::uint8_t> band,
                    std::uint32_t band_begin, std::uint32_t band_end, BitWriter& writer) const;
};

// Parses row `row`, recording the coder state at MCU columns [first_col, first_col + count).
Status JpegBackground::State::parse_row(int row, int first_col, int count, McuMark* marks_out,
                                        McuMark* end) const {
  BitReader reader(bytes(), {rows.begin[row], 0});
  DcPredictors dc{};
  DcPredictors unused{};
  for (int col = 0; col <= mcus_per_row; ++col) {
    if (col >= first_col && col < first_col + count) marks_out[col - first_col] = {reader.position(), dc};
    if (col == mcus_per_row) break;
    Status status = jpeg::transcode_mcu(reader, nullptr, *layout, &dc, &unused);
    if (!status.ok()) return status.with_context(fmt::format("MCU row {}, column {}", row, col));
  }
  *end = {reader.position(), dc};
  return {};
}

Status JpegBackground::State::index_region() {
  if (region.empty()) return {};
  int row0 = region.y1 / mcu_px;
  int row1 = ceil_div(region.y2, mcu_px);
  mark_col0 = region.x1 / mcu_px;
  mark_cols = ceil_div(region.x2, mcu_px) - mark_col0 + 1;
  marks.resize(static_cast<std::size_t>(row1 - row0) * mark_cols);
  row_ends.resize(row1 - row0);
  for (int row = row0; row < row1; ++row) {
    RETURN_IF_ERROR(parse_row(row, mark_col0, mark_cols, &marks[(row - row0) * mark_cols],
                              &row_ends[row - row0]));
  }
  return {};
}

Status JpegBackground::State::row_marks(int row, int c0, int c1, McuMark* at_c0, McuMark* at_c1,
                                        McuMark* end) const {
  int row0 = region.y1 / mcu_px;
  int index = row - row0;
  bool indexed = !region.empty() && index >= 0 && index < static_cast<int>(row_ends.size()) &&
                 c0 >= mark_col0 && c1 < mark_col0 + mark_cols;
  if (indexed) {
    *at_c0 = marks[index * mark_cols + (c0 - mark_col0)];
    *at_c1 = marks[index * mark_cols + (c1 - mark_col0)];
    *end = row_ends[index];
    return {};
  }
  McuMark found[2];
  RETURN_IF_ERROR(parse_row(row, c0, 1, &found[0], end));
  RETURN_IF_ERROR(parse_row(row, c1, 1, &found[1], end));
  *at_c0 = found[0];
  *at_c1 = found[1];
  return {};
}

// Writes row `row` with MCUs [c0, c1) taken from `band` (coded from band_begin, predictors 0).
Status JpegBackground::State::splice_row(int row, int c0, int c1, std::span<const std::uint8_t> band,
                                         std::uint32_t band_begin, std::uint32_t band_end,
                                         BitWriter& writer) const {
  if (c0 == 0 && c1 == mcus_per_row) {  // the whole row: the band's bytes as they are
    writer.append_bytes(band.subspan(band_begin, band_end - band_begin));
    return {};
  }
  McuMark at_c0;
  McuMark at_c1;
  McuMark end;
  RETURN_IF_ERROR(row_marks(row, c0, c1, &at_c0, &at_c1, &end));
  // Stored MCUs before c0: whole bytes, then the leading bits of the byte MCU c0 starts in.
  writer.append_bytes(bytes().subspan(rows.begin[row], at_c0.at.byte - rows.begin[row]));
  if (at_c0.at.bit > 0) writer.put(jpeg[at_c0.at.byte] >> (8 - at_c0.at.bit), at_c0.at.bit);
  // New MCUs: the first DC difference of each component is recoded against MCU c0 - 1; the
  // others only need parsing (for the band's last DC values and end) and a bit copy.
  BitReader band_reader(band, {band_begin, 0});
  DcPredictors band_dc{};
  DcPredictors output_dc = at_c0.predictors;
  RETURN_IF_ERROR(jpeg::transcode_mcu(band_reader, &writer, *layout, &band_dc, &output_dc));
  BitPosition band_rest = band_reader.position();
  for (int col = c0 + 1; col < c1; ++col) {
    RETURN_IF_ERROR(jpeg::transcode_mcu(band_reader, nullptr, *layout, &band_dc, &output_dc));
  }
  writer.copy_bits(band, band_rest, band_reader.position());
  if (c1 < mcus_per_row) {  // stored MCU c1 recoded against the new MCU c1 - 1, then the rest
    BitReader stored(bytes(), at_c1.at);
    DcPredictors stored_dc = at_c1.predictors;
    RETURN_IF_ERROR(jpeg::transcode_mcu(stored, &writer, *layout, &stored_dc, &output_dc));
    writer.copy_bits(bytes(), stored.position(), end.at);
  }
  writer.pad_with_ones();
  return {};
}

JpegBackground::JpegBackground(std::unique_ptr<State> state) : state_(std::move(state)) {}
JpegBackground::JpegBackground(JpegBackground&&) noexcept = default;
JpegBackground& JpegBackground::operator=(JpegBackground&&) noexcept = default;
JpegBackground::~JpegBackground() = default;

Result<JpegBackground> JpegBackground::create(ImageView frame_bgr, Rect editable,
                                              const JpegSettings& settings, Rect painted) {
  RETURN_IF_ERROR(validate_jpeg_settings(settings));
  RETURN_IF_ERROR(validate_jpeg_input(frame_bgr));
  auto state = std::make_unique<State>();
  state->settings = settings;
  state->width = frame_bgr.width;
  state->height = frame_bgr.height;
  state->mcu_px = mcu_size_px(settings.subsampling);
  state->mcus_per_row = ceil_div(state->width, state->mcu_px);
  state->mcu_rows = ceil_div(state->height, state->mcu_px);
  ASSIGN_OR_RETURN(state->layout, entropy_layout(settings.subsampling));
  auto compressor = jpeg::make_compressor();
  RETURN_IF_ERROR(jpeg::encode(*compressor, frame_bgr, settings, &state->jpeg));
  state->jpeg.shrink_to_fit();
  ASSIGN_OR_RETURN(state->rows, jpeg::find_row_segments(state->jpeg, state->mcu_rows));
  state->region = widen_to_mcus(editable, state->width, state->height, state->mcu_px);
  if (!state->region.empty()) {
    state->kept = KeptPixels(frame_bgr, state->region, intersect(painted, state->region));
  }
  Status indexed = state->index_region();
  if (!indexed.ok()) return indexed.with_context("indexing the background's MCU rows");
  return JpegBackground(std::move(state));
}

int JpegBackground::width() const { return state_->width; }
int JpegBackground::height() const { return state_->height; }
const JpegSettings& JpegBackground::settings() const { return state_->settings; }
Rect JpegBackground::editable_region() const { return state_->region; }
Rect JpegBackground::painted_region() const { return state_->kept.hole(); }
std::span<const std::uint8_t> JpegBackground::jpeg() const { return state_->jpeg; }

std::size_t JpegBackground::memory_bytes() const {
  const State& s = *state_;
  return sizeof(JpegBackground) + sizeof(State) + s.jpeg.capacity() +
         (s.rows.begin.capacity() + s.rows.end.capacity()) * sizeof(std::uint32_t) +
         s.kept.capacity() +
         (s.marks.capacity() + s.row_ends.capacity()) * sizeof(McuMark);
}

Result<JpegCanvas> JpegBackground::canvas(Rect rect) const {
  const State& s = *state_;
  JpegCanvas canvas;
  canvas.area = widen_to_mcus(rect, s.width, s.height, s.mcu_px);
  if (canvas.area.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "JPEG canvas rect [{},{})x[{},{}) does not overlap the {}x{} frame", rect.x1,
                      rect.x2, rect.y1, rect.y2, s.width, s.height);
  }
  canvas.pixels = Image(canvas.area.width(), canvas.area.height());
  if (!contains(s.region, canvas.area)) {
    log_decode_fallback_once(canvas.area, s.region);
    ASSIGN_OR_RETURN(Image decoded, decode_jpeg(s.jpeg));
    copy_pixels(decoded.view(), {0, 0, s.width, s.height}, canvas.area, canvas.view(), canvas.area);
  }
  Rect stored = intersect(s.region, canvas.area);
  if (!stored.empty()) s.kept.copy_to(stored, canvas.view(), canvas.area);
  return canvas;
}

Result<std::vector<std::uint8_t>> JpegBackground::compose(ImageView patch, int x, int y) const {
  RETURN_IF_ERROR(validate_jpeg_input(patch).with_context("JPEG patch"));
  Rect pasted = intersect({x, y, x + patch.width, y + patch.height}, {0, 0, width(), height()});
  if (pasted.empty()) return std::vector<std::uint8_t>(state_->jpeg);
  ASSIGN_OR_RETURN(JpegCanvas canvas, this->canvas(pasted));
  Rect patch_area{x, y, x + patch.width, y + patch.height};
  copy_pixels(patch, patch_area, pasted, canvas.view(), canvas.area);
  return encode(canvas);
}

Result<std::vector<std::uint8_t>> JpegBackground::encode(const JpegCanvas& canvas) const {
  const State& s = *state_;
  const Rect& area = canvas.area;
  if (area.empty() || area != widen_to_mcus(area, s.width, s.height, s.mcu_px) ||
      canvas.pixels.width != area.width() || canvas.pixels.height != area.height() ||
      canvas.pixels.channels != 3) {
    return make_error(ErrorCode::kInvalidArgument,
                      "JPEG canvas [{},{})x[{},{}) with {}x{} pixels is not a canvas of this "
                      "{}x{} background (use canvas() to make one)",
                      area.x1, area.x2, area.y1, area.y2, canvas.pixels.width,
                      canvas.pixels.height, s.width, s.height);
  }
  int c0 = area.x1 / s.mcu_px;
  int c1 = ceil_div(area.x2, s.mcu_px);
  int r0 = area.y1 / s.mcu_px;
  int r1 = ceil_div(area.y2, s.mcu_px);
  // The canvas encoded alone: same settings, whole MCUs, and where it reaches the frame's
  // right/bottom edge the same edge padding, so its MCUs equal the full encode's bit for bit
  // (DC predictors aside, recoded in splice_row).
  std::vector<std::uint8_t> band;
  auto compressor = jpeg::make_compressor();
  RETURN_IF_ERROR(jpeg::encode(*compressor, canvas.pixels.view(), s.settings, &band));
  ASSIGN_OR_RETURN(jpeg::RowSegments band_rows, jpeg::find_row_segments(band, r1 - r0));
  std::vector<std::uint8_t> out;
  out.reserve(s.jpeg.size() + band.size());
  out.assign(s.jpeg.begin(), s.jpeg.begin() + s.rows.begin[r0]);
  BitWriter writer(&out);  // its spare room is zero-filled once, by resize
  for (int row = r0; row < r1; ++row) {
    Status status = s.splice_row(row, c0, c1, band, band_rows.begin[row - r0],
                                 band_rows.end[row - r0], writer);
    if (!status.ok()) return status.with_context("splicing a JPEG row");
    writer.append_bytes(s.bytes().subspan(s.rows.end[row], 2));  // RSTn (n = row % 8) or EOI
  }
  writer.append_bytes(s.bytes().subspan(s.rows.end[r1 - 1] + 2));
  writer.finish();
  return out;
}

}  // namespace lipsync::media
