// Reader and writer for NumPy .npy files (format 1.0/2.0), dtypes f4, f8, u1, in C or
// Fortran order. Used for golden files and debugging dumps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync {

enum class NpyDtype { kFloat32, kFloat64, kUint8 };

std::size_t dtype_size(NpyDtype dtype);

struct NpyArray {
  NpyDtype dtype = NpyDtype::kFloat32;
  std::vector<std::size_t> shape;
  bool fortran_order = false;
  std::vector<std::byte> bytes;  // little-endian, in the file's order

  std::size_t element_count() const;

  // Elements converted to T (f4/f8/u1 -> T) and rearranged to C (row-major) order.
  template <typename T>
  std::vector<T> to_c_order() const;
};

Result<NpyArray> read_npy(const std::filesystem::path& path);
// Parses an in-memory .npy image; `origin` names it in error messages.
Result<NpyArray> parse_npy(std::span<const std::byte> image, const std::string& origin);

// Writes C-order data of the given shape. The element count must match the shape.
Status write_npy(const std::filesystem::path& path, std::span<const float> data,
                 const std::vector<std::size_t>& shape);
Status write_npy(const std::filesystem::path& path, std::span<const double> data,
                 const std::vector<std::size_t>& shape);
Status write_npy(const std::filesystem::path& path, std::span<const std::uint8_t> data,
                 const std::vector<std::size_t>& shape);

extern template std::vector<float> NpyArray::to_c_order<float>() const;
extern template std::vector<double> NpyArray::to_c_order<double>() const;
extern template std::vector<std::uint8_t> NpyArray::to_c_order<std::uint8_t>() const;

}  // namespace lipsync
