// Internal to the media module: bit-level access to baseline JPEG entropy-coded data, enough to
// splice inside an MCU row. A restart marker resets the DC predictors, so an MCU row is coded
// independently; inside a row, MCUs can be moved bit-exactly as long as the DC difference of
// each component's first block is recoded against its new predecessor (ITU T.81 §F.1.2.1).
// Huffman codes follow ITU T.81 Annex C/F; the tables come from libjpeg (jpeg_entropy.cpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "media/jpeg_codec.h"

namespace lipsync::media::jpeg {

class HuffmanTable {
 public:
  // bits[1..16]: code counts per length; values: symbols in code order (ITU T.81 §C).
  HuffmanTable(const std::uint8_t* bits, const std::uint8_t* values);

  std::uint16_t code(int symbol) const { return code_[symbol]; }
  int length(int symbol) const { return length_[symbol]; }
  // Decodes from the top of `window` (16 valid bits, MSB first): symbol, or -1 if invalid.
  // For skipping an AC coefficient without its value: 0 if the code is longer than the lookahead,
  // else kSkipValid | (coefficients advanced, 0 = end of block) << 8 | (code + value bits).
  static constexpr std::uint16_t kSkipValid = 0x8000;
  std::uint16_t ac_skip(std::uint32_t window) const {
    return ac_skip_[window >> (16 - kLookaheadBits)];
  }

  int decode(std::uint32_t window, int* length) const {
    std::uint16_t entry = lookahead_[window >> (16 - kLookaheadBits)];
    if (entry == 0) return decode_long(window, length);
    *length = entry >> 8;
    return entry & 0xFF;
  }

 private:
  int decode_long(std::uint32_t window, int* length) const;  // codes over kLookaheadBits

  static constexpr int kLookaheadBits = 9;
  std::array<std::uint16_t, 256> code_{};
  std::array<std::uint8_t, 256> length_{};
  std::array<std::uint16_t, 1 << kLookaheadBits> lookahead_{};  // (length << 8) | symbol
  std::array<std::uint16_t, 1 << kLookaheadBits> ac_skip_{};
  std::array<std::int32_t, 17> max_code_{};                    // -1: no code of that length
  std::array<std::int32_t, 17> value_offset_{};
  std::array<std::uint8_t, 256> values_{};
};

// What one MCU holds, in coding order, and which tables code each component.
struct EntropyLayout {
  int blocks_per_mcu = 0;
  std::array<std::uint8_t, 10> block_component{};
  std::vector<HuffmanTable> dc_tables;  // indexed by component
  std::vector<HuffmanTable> ac_tables;
};

// Builds the layout libjpeg uses for `settings` (its standard Huffman tables).
Result<EntropyLayout> make_entropy_layout(const JpegSettings& settings);

using DcPredictors = std::array<std::int16_t, 3>;

// A point in stuffed entropy-coded data: the byte holding the next bit and how many of its
// bits (MSB first) come before the point.
struct BitPosition {
  std::uint32_t byte = 0;
  std::uint8_t bit = 0;
};

// The coder state at the start of an MCU (or at the end of a row's last MCU).
struct McuMark {
  BitPosition at;
  DcPredictors predictors{};
};

class BitReader {
 public:
  BitReader(std::span<const std::uint8_t> data, BitPosition start);

  std::uint32_t read(int n) {  // n in 0..16
    if (count_ < n) fill();
    count_ -= n;
    return static_cast<std::uint32_t>(buffer_ >> count_) & ((1u << n) - 1);
  }
  std::uint32_t window16() {  // the next 16 bits, not consumed; at least 32 bits stay buffered
    if (count_ < 32) fill();
    return static_cast<std::uint32_t>(buffer_ >> (count_ - 16)) & 0xFFFF;
  }
  void skip(int n) { count_ -= n; }
  BitPosition position() const;

 private:
  void fill();

  std::span<const std::uint8_t> data_;
  std::size_t next_ = 0;  // next stuffed byte to load
  std::uint64_t buffer_ = 0;
  int count_ = 0;  // valid bits in buffer_
  std::uint64_t loaded_ = 0;
  std::array<std::uint32_t, 16> offsets_{};  // stuffed offset of the last loaded bytes
};

class BitWriter {
 public:
  // Appends to *out, which must outlive the writer; finish() trims it to what was written.
  explicit BitWriter(std::vector<std::uint8_t>* out) : out_(out), size_(out->size()) {}

  void put(std::uint32_t bits, int n) {  // n in 0..32, bits < 2^n
    reserve(10);
    buffer_ = (buffer_ << n) | bits;
    count_ += n;
    while (count_ >= 8) {
      count_ -= 8;
      emit(static_cast<std::uint8_t>(buffer_ >> count_));
    }
  }
  void pad_with_ones();  // to a byte boundary, as libjpeg does before a marker
  void append_bytes(std::span<const std::uint8_t> bytes);  // only on a byte boundary
  // Copies the bits between two positions of the same stuffed data (from <= to).
  void copy_bits(std::span<const std::uint8_t> data, BitPosition from, BitPosition to);
  void finish() { out_->resize(size_); }

 private:
  void reserve(std::size_t bytes) {
    if (size_ + bytes > out_->size()) {
      out_->resize(std::max({size_ + bytes, out_->size() * 2, out_->capacity()}));
    }
  }
  void emit(std::uint8_t byte) {  // after reserve()
    std::uint8_t* data = out_->data();
    data[size_++] = byte;
    if (byte == 0xFF) data[size_++] = 0;  // byte stuffing, T.81 §F.1.2.3
  }

  std::vector<std::uint8_t>* out_;
  std::size_t size_;  // bytes written; out_ may be longer (spare room)
  std::uint64_t buffer_ = 0;
  int count_ = 0;  // pending bits, always < 8 between calls
};

// Reads one MCU. `read_dc` holds the predictors the source was coded with; when `writer` is set
// the MCU is re-emitted with DC differences against `write_dc`. Both end at the MCU's DC values.
Status transcode_mcu(BitReader& reader, BitWriter* writer, const EntropyLayout& layout,
                     DcPredictors* read_dc, DcPredictors* write_dc);

// Byte ranges of a baseline JPEG with a restart marker after every MCU row.
struct RowSegments {
  std::size_t header_bytes = 0;  // SOI .. end of the SOS segment
  std::vector<std::uint32_t> begin;  // first entropy byte of row i
  std::vector<std::uint32_t> end;    // the marker (RSTn or EOI, 2 bytes) after row i
};

// Finds the rows; fails if the file does not have exactly `expected_rows` of them.
Result<RowSegments> find_row_segments(std::span<const std::uint8_t> jpeg, int expected_rows);

}  // namespace lipsync::media::jpeg
