#include "media/jpeg_entropy.h"

#include <bit>
#include <cstring>

#include "media/jpeg_libjpeg.h"

namespace lipsync::media::jpeg {
namespace {

constexpr int kBlockCoefficients = 64;

// Extends `value` of `size` bits to a signed coefficient difference (ITU T.81 §F.2.2.1).
int extend(std::uint32_t value, int size) {
  if (size == 0) return 0;
  return value < (1u << (size - 1)) ? static_cast<int>(value) - (1 << size) + 1
                                    : static_cast<int>(value);
}

std::uint64_t load_big_endian(const std::uint8_t* p) {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  return __builtin_bswap64(word);
}

void store_big_endian(std::uint64_t word, std::uint8_t* p) {
  word = __builtin_bswap64(word);
  std::memcpy(p, &word, sizeof(word));
}

bool has_ff_byte(std::uint64_t word) {  // a byte 0xFF is a zero byte of ~word
  std::uint64_t inverted = ~word;
  return ((inverted - 0x0101010101010101ULL) & ~inverted & 0x8080808080808080ULL) != 0;
}

int decode_symbol(BitReader& reader, const HuffmanTable& table) {
  int length = 0;
  int symbol = table.decode(reader.window16(), &length);
  if (symbol >= 0) reader.skip(length);
  return symbol;
}

void put_dc_difference(BitWriter& writer, const HuffmanTable& table, int difference) {
  int magnitude = difference < 0 ? -difference : difference;
  int size = magnitude == 0 ? 0 : std::bit_width(static_cast<unsigned>(magnitude));
  writer.put(table.code(size), table.length(size));
  if (size > 0) {
    unsigned bits = difference < 0 ? static_cast<unsigned>(difference - 1) : difference;
    writer.put(bits & ((1u << size) - 1), size);
  }
}

// Skips the 63 AC coefficients of one block (one table look-up per coefficient code); false on
// an invalid code.
bool skip_ac(BitReader& reader, const HuffmanTable& table) {
  for (int k = 1; k < kBlockCoefficients;) {
    std::uint32_t window = reader.window16();
    std::uint16_t entry = table.ac_skip(window);
    if (entry == 0) {  // a long code: decode it
      int length = 0;
      int symbol = table.decode(window, &length);
      if (symbol < 0) return false;
      reader.skip(length + (symbol & 15));
      k += (symbol >> 4) + 1;
      continue;
    }
    reader.skip(entry & 0xFF);
    int advance = (entry >> 8) & 0x7F;
    if (advance == 0) break;  // end of block
    k += advance;
  }
  return true;
}

// Reads and copies the 63 AC coefficients of one block; false on an invalid code.
bool transcode_ac(BitReader& reader, BitWriter& writer, const HuffmanTable& table) {
  for (int k = 1; k < kBlockCoefficients;) {
    int symbol = decode_symbol(reader, table);
    if (symbol < 0) return false;
    int run = symbol >> 4;
    int size = symbol & 15;
    std::uint32_t bits = reader.read(size);
    writer.put(table.code(symbol), table.length(symbol));
    writer.put(bits, size);
    if (size == 0 && run != 15) break;  // end of block
    k += run + 1;
  }
  return true;
}

}  // namespace

HuffmanTable::HuffmanTable(const std::uint8_t* bits, const std::uint8_t* values) {
  max_code_.fill(-1);
  int code = 0;
  int index = 0;
  for (int length = 1; length <= 16; ++length) {
    value_offset_[length] = index - code;
    for (int i = 0; i < bits[length]; ++i, ++index, ++code) {
      int symbol = values[index];
      values_[index] = static_cast<std::uint8_t>(symbol);
      code_[symbol] = static_cast<std::uint16_t>(code);
      length_[symbol] = static_cast<std::uint8_t>(length);
      if (length <= kLookaheadBits) {
        int shift = kLookaheadBits - length;
        int run = symbol >> 4;
        int size = symbol & 15;
        int advance = size == 0 && run != 15 ? 0 : run + 1;  // end of block : coefficients
        for (int fill = 0; fill < (1 << shift); ++fill) {
          lookahead_[(code << shift) | fill] = static_cast<std::uint16_t>((length << 8) | symbol);
          ac_skip_[(code << shift) | fill] =
              static_cast<std::uint16_t>(kSkipValid | (advance << 8) | (length + size));
        }
      }
    }
    if (bits[length] > 0) max_code_[length] = code - 1;
    code <<= 1;
  }
}

int HuffmanTable::decode_long(std::uint32_t window, int* length) const {
  for (int l = kLookaheadBits + 1; l <= 16; ++l) {
    auto code = static_cast<std::int32_t>(window >> (16 - l));
    if (code <= max_code_[l]) {
      *length = l;
      return values_[value_offset_[l] + code];
    }
  }
  return -1;
}

Result<EntropyLayout> make_entropy_layout(const JpegSettings& settings) {
  auto compressor = make_compressor();
  jpeg_compress_struct* cinfo = &compressor->cinfo;
  LIPSYNC_JPEG_GUARD(compressor->error, "reading libjpeg's Huffman tables")
  configure(cinfo, 16, 16, settings);
  EntropyLayout layout;
  for (int c = 0; c < 3; ++c) {
    const jpeg_component_info& component = cinfo->comp_info[c];
    const JHUFF_TBL* dc = cinfo->dc_huff_tbl_ptrs[component.dc_tbl_no];
    const JHUFF_TBL* ac = cinfo->ac_huff_tbl_ptrs[component.ac_tbl_no];
    layout.dc_tables.emplace_back(dc->bits, dc->huffval);
    layout.ac_tables.emplace_back(ac->bits, ac->huffval);
    int blocks = component.h_samp_factor * component.v_samp_factor;  // interleaved MCU, T.81 §A.2.3
    for (int b = 0; b < blocks; ++b) {
      layout.block_component[layout.blocks_per_mcu++] = static_cast<std::uint8_t>(c);
    }
  }
  return layout;
}

BitReader::BitReader(std::span<const std::uint8_t> data, BitPosition start)
    : data_(data), next_(start.byte) {
  fill();
  skip(start.bit);
}

void BitReader::fill() {
  if (next_ + 8 <= data_.size()) {  // up to seven bytes at once when none is 0xFF
    std::uint64_t word = load_big_endian(data_.data() + next_);
    int bytes = std::min(7, (64 - count_) / 8);
    std::uint64_t fresh = word >> (64 - 8 * bytes);
    if (!has_ff_byte(fresh)) {  // the bytes above `fresh` are zero, never 0xFF
      for (int b = 0; b < bytes; ++b) {
        offsets_[(loaded_ + b) & 15] = static_cast<std::uint32_t>(next_ + b);
      }
      buffer_ = (buffer_ << (8 * bytes)) | fresh;
      count_ += 8 * bytes;
      loaded_ += bytes;
      next_ += bytes;
    }
  }
  while (count_ <= 56) {
    std::uint8_t byte = 0;
    offsets_[loaded_ & 15] = static_cast<std::uint32_t>(next_);
    if (next_ < data_.size()) {
      byte = data_[next_];
      if (byte != 0xFF) {
        ++next_;
      } else if (next_ + 1 < data_.size() && data_[next_ + 1] == 0) {
        next_ += 2;  // stuffed 0xFF 0x00
      } else {
        byte = 0;  // a marker: the data ends here, feed zeros
      }
    }
    buffer_ = (buffer_ << 8) | byte;
    count_ += 8;
    ++loaded_;
  }
}

BitPosition BitReader::position() const {
  if (count_ == 0) return {static_cast<std::uint32_t>(next_), 0};  // next byte not loaded yet
  std::uint64_t consumed = loaded_ * 8 - static_cast<std::uint64_t>(count_);
  return {offsets_[(consumed / 8) & 15], static_cast<std::uint8_t>(consumed % 8)};
}

void BitWriter::pad_with_ones() {
  if (count_ > 0) put((1u << (8 - count_)) - 1, 8 - count_);
}

void BitWriter::append_bytes(std::span<const std::uint8_t> bytes) {
  reserve(bytes.size());
  std::memcpy(out_->data() + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

void BitWriter::copy_bits(std::span<const std::uint8_t> data, BitPosition from, BitPosition to) {
  std::size_t i = from.byte;
  if (i == to.byte) {
    int n = to.bit - from.bit;
    put((data[i] >> (8 - to.bit)) & ((1u << n) - 1), n);
    return;
  }
  int first = 8 - from.bit;  // the rest of the first byte
  put(data[i] & ((1u << first) - 1), first);
  i += data[i] == 0xFF ? 2 : 1;
  reserve(2 * (to.byte - i) + 2);  // worst case: every byte needs stuffing
  std::uint8_t* out = out_->data();
  std::uint64_t buffer = buffer_;  // locals: the byte stores below may alias members
  std::size_t size = size_;
  while (i < to.byte) {  // whole bytes, shifted right by the pending bit count
    if (i + 8 <= to.byte) {  // eight at a time while neither side needs stuffing
      std::uint64_t word = load_big_endian(data.data() + i);
      std::uint64_t shifted = count_ == 0 ? word : (buffer << (64 - count_)) | (word >> count_);
      if (!has_ff_byte(word) && !has_ff_byte(shifted)) {
        store_big_endian(shifted, out + size);
        size += 8;
        buffer = word;
        i += 8;
        continue;
      }
    }
    std::uint8_t byte = data[i];
    i += byte == 0xFF ? 2 : 1;  // skip the stuffed zero
    buffer = (buffer << 8) | byte;
    auto shifted = static_cast<std::uint8_t>(buffer >> count_);
    out[size++] = shifted;
    if (shifted == 0xFF) out[size++] = 0;
  }
  buffer_ = buffer;
  size_ = size;
  if (to.bit > 0) put(data[to.byte] >> (8 - to.bit), to.bit);
}

Status transcode_mcu(BitReader& reader, BitWriter* writer, const EntropyLayout& layout,
                     DcPredictors* read_dc, DcPredictors* write_dc) {
  for (int b = 0; b < layout.blocks_per_mcu; ++b) {
    int component = layout.block_component[b];
    const HuffmanTable& dc_table = layout.dc_tables[component];
    int size = decode_symbol(reader, dc_table);
    if (size < 0 || size > 11) return make_error(ErrorCode::kDataLoss, "invalid DC Huffman code");
    int value = (*read_dc)[component] + extend(reader.read(size), size);
    (*read_dc)[component] = static_cast<std::int16_t>(value);
    if (writer != nullptr) {
      put_dc_difference(*writer, dc_table, value - (*write_dc)[component]);
    }
    (*write_dc)[component] = static_cast<std::int16_t>(value);
    const HuffmanTable& ac_table = layout.ac_tables[component];
    bool valid = writer != nullptr ? transcode_ac(reader, *writer, ac_table)
                                   : skip_ac(reader, ac_table);
    if (!valid) return make_error(ErrorCode::kDataLoss, "invalid AC Huffman code");
  }
  return {};
}

Result<RowSegments> find_row_segments(std::span<const std::uint8_t> jpeg, int expected_rows) {
  RowSegments rows;
  std::size_t i = 2;  // after SOI
  if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) {
    return make_error(ErrorCode::kDataLoss, "not a JPEG (no SOI marker)");
  }
  while (rows.header_bytes == 0) {  // marker segments up to and including SOS
    if (i + 4 > jpeg.size() || jpeg[i] != 0xFF) {
      return make_error(ErrorCode::kDataLoss, "JPEG header is truncated at byte {}", i);
    }
    std::uint8_t marker = jpeg[i + 1];
    std::size_t length = (static_cast<std::size_t>(jpeg[i + 2]) << 8) | jpeg[i + 3];
    i += 2 + length;
    if (marker == 0xDA) rows.header_bytes = i;
  }
  rows.begin.push_back(static_cast<std::uint32_t>(i));
  for (; i + 1 < jpeg.size(); ++i) {
    const void* hit = std::memchr(jpeg.data() + i, 0xFF, jpeg.size() - 1 - i);
    if (hit == nullptr) break;
    i = static_cast<const std::uint8_t*>(hit) - jpeg.data();
    std::uint8_t marker = jpeg[i + 1];
    if (marker == 0x00) {
      ++i;
      continue;
    }
    rows.end.push_back(static_cast<std::uint32_t>(i));
    if (marker == 0xD9) break;  // EOI
    if (marker < 0xD0 || marker > 0xD7) {
      return make_error(ErrorCode::kDataLoss, "unexpected marker 0xFF{:02X} in scan data", marker);
    }
    ++i;
    rows.begin.push_back(static_cast<std::uint32_t>(i + 1));
  }
  if (rows.end.size() != rows.begin.size() || static_cast<int>(rows.end.size()) != expected_rows) {
    return make_error(ErrorCode::kDataLoss, "JPEG has {} restart rows, expected {}",
                      rows.end.size(), expected_rows);
  }
  return rows;
}

}  // namespace lipsync::media::jpeg
