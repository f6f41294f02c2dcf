// Internal to the media module: bit-level access to baseline JPEG entropy-coded data, enough to
// splice inside an MCU row. A restart marker resets the DC predictors, so an MCU row is coded
// independently; inside a row, MCUs can be moved bit-exactly as long as the DC difference of
// each component's first block is recoded against its new predecessor (ITU T.81 §F.1.2.1).
// Huffman codes follow ITU T.81 Annex C/F; the tables come from libjpeg (jpeg_entropy.cpp).
#pragma once

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
  int decode(std::uint32_t window, int* length) const;

 private:
  static constexpr int kLookaheadBits = 9;
  std::array<std::uint16_t, 256> code_{};
  std::array<std::uint8_t, 256> length_{};
  std::array<std::uint16_t, 1 << kLookaheadBits> lookahead_{};  // (length << 8) | symbol
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

  std::uint32_t read(int n);  // n in 0..16
  std::uint32_t window16();   // the next 16 bits, not consumed
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
  explicit BitWriter(std::vector<std::uint8_t>* out) : out_(out) {}

  void put(std::uint32_t bits, int n);  // n in 0..24
  void pad_with_ones();                 // to a byte boundary, as libjpeg does before a marker
  void append_bytes(std::span<const std::uint8_t> bytes);  // only on a byte boundary
  void copy_bits(BitReader& reader, std::uint64_t n);

 private:
  void emit(std::uint8_t byte) {
    out_->push_back(byte);
    if (byte == 0xFF) out_->push_back(0);  // byte stuffing, T.81 §F.1.2.3
  }

  std::vector<std::uint8_t>* out_;
  std::uint64_t buffer_ = 0;
  int count_ = 0;
};

// Reads one MCU. `read_dc` holds the predictors the source was coded with; when `writer` is set
// the MCU is re-emitted with DC differences against `write_dc`. Both end at the MCU's DC values.
Status transcode_mcu(BitReader& reader, BitWriter* writer, const EntropyLayout& layout,
                     DcPredictors* read_dc, DcPredictors* write_dc);

// Unstuffed bits between two positions of the same stuffed data (from <= to).
std::uint64_t bits_between(std::span<const std::uint8_t> data, BitPosition from, BitPosition to);

// Byte ranges of a baseline JPEG with a restart marker after every MCU row.
struct RowSegments {
  std::size_t header_bytes = 0;  // SOI .. end of the SOS segment
  std::vector<std::uint32_t> begin;  // first entropy byte of row i
  std::vector<std::uint32_t> end;    // the marker (RSTn or EOI, 2 bytes) after row i
};

// Finds the rows; fails if the file does not have exactly `expected_rows` of them.
Result<RowSegments> find_row_segments(std::span<const std::uint8_t> jpeg, int expected_rows);

}  // namespace lipsync::media::jpeg
