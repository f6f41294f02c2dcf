#include "core/npy.h"

#include <charconv>
#include <cstring>
#include <fstream>
#include <numeric>
#include <optional>
#include <string_view>

namespace lipsync {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

Result<NpyDtype> parse_descr(const std::string& descr, const std::string& origin) {
  if (descr == "<f4" || descr == "f4") return NpyDtype::kFloat32;
  if (descr == "<f8" || descr == "f8") return NpyDtype::kFloat64;
  if (descr == "|u1" || descr == "u1" || descr == "<u1") return NpyDtype::kUint8;
  return make_error(ErrorCode::kInvalidArgument,
                    "{}: unsupported dtype '{}' (supported: <f4, <f8, |u1)", origin, descr);
}

const char* descr_of(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return "<f4";
    case NpyDtype::kFloat64:
      return "<f8";
    case NpyDtype::kUint8:
      return "|u1";
  }
  return "?";
}

// numpy refuses longer headers too (numpy.lib.format, max_header_size = 10000): a real header
// is ~120 bytes; a long one only costs parsing time.
constexpr std::size_t kMaxHeaderBytes = 10000;

// The value after `'key':` in the header's dict literal, up to the end of the header; empty
// when the key is missing.
std::string_view value_of(std::string_view header, std::string_view key) {
  const std::size_t at = header.find(key);
  if (at == std::string_view::npos) return {};
  std::string_view rest = header.substr(at + key.size());
  const std::size_t colon = rest.find_first_not_of(" \t");
  if (colon == std::string_view::npos || rest[colon] != ':') return {};
  rest.remove_prefix(colon + 1);
  const std::size_t start = rest.find_first_not_of(" \t");
  return start == std::string_view::npos ? std::string_view() : rest.substr(start);
}

// "(3, 4)" (the start of the shape value) -> {3, 4}; false when malformed.
bool parse_shape(std::string_view value, std::vector<std::size_t>* shape) {
  if (value.empty() || value.front() != '(') return false;
  const std::size_t close = value.find(')');
  if (close == std::string_view::npos) return false;
  std::string_view dims = value.substr(1, close - 1);
  shape->clear();
  while (!dims.empty()) {
    const std::size_t comma = dims.find(',');
    std::string_view dim = dims.substr(0, comma);
    dims = comma == std::string_view::npos ? std::string_view() : dims.substr(comma + 1);
    const std::size_t first = dim.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;  // "(5,)" and "()"
    dim = dim.substr(first, dim.find_last_not_of(" \t") - first + 1);
    std::size_t size = 0;
    const auto [end, error] = std::from_chars(dim.data(), dim.data() + dim.size(), size);
    if (error != std::errc() || end != dim.data() + dim.size()) return false;
    shape->push_back(size);
  }
  return true;
}

// The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
Status parse_header(std::string_view header, const std::string& origin, NpyArray* out) {
  const std::string_view descr = value_of(header, "'descr'");
  const std::size_t descr_end = descr.size() > 1 ? descr.find('\'', 1) : std::string_view::npos;
  if (descr.empty() || descr.front() != '\'' || descr_end == std::string_view::npos) {
    return make_error(ErrorCode::kDataLoss, "{}: npy header has no 'descr'", origin);
  }
  ASSIGN_OR_RETURN(out->dtype, parse_descr(std::string(descr.substr(1, descr_end - 1)), origin));
  const std::string_view order = value_of(header, "'fortran_order'");
  if (order.substr(0, 4) != "True" && order.substr(0, 5) != "False") {
    return make_error(ErrorCode::kDataLoss, "{}: npy header has no 'fortran_order'", origin);
  }
  out->fortran_order = order.substr(0, 4) == "True";
  const std::string_view shape = value_of(header, "'shape'");
  if (shape.empty())
    return make_error(ErrorCode::kDataLoss, "{}: npy header has no 'shape'", origin);
  if (!parse_shape(shape, &out->shape)) {
    return make_error(ErrorCode::kDataLoss, "{}: bad npy shape '{}'", origin,
                      shape.substr(0, shape.find(')') + 1));
  }
  return {};
}

// Bytes of the array's data; none when the shape's product overflows.
std::optional<std::size_t> data_size(const NpyArray& array) {
  std::size_t bytes = dtype_size(array.dtype);
  for (std::size_t dim : array.shape) {
    if (__builtin_mul_overflow(bytes, dim, &bytes)) return std::nullopt;
  }
  return bytes;
}

template <typename From, typename To>
To convert_at(const std::byte* bytes, std::size_t index) {
  From v;
  std::memcpy(&v, bytes + index * sizeof(From), sizeof(From));
  return static_cast<To>(v);
}

template <typename T>
T element_at(const NpyArray& a, std::size_t index) {
  switch (a.dtype) {
    case NpyDtype::kFloat32:
      return convert_at<float, T>(a.bytes.data(), index);
    case NpyDtype::kFloat64:
      return convert_at<double, T>(a.bytes.data(), index);
    case NpyDtype::kUint8:
      return convert_at<std::uint8_t, T>(a.bytes.data(), index);
  }
  return T{};
}

template <typename T>
Status write_typed(const std::filesystem::path& path, std::span<const T> data,
                   const std::vector<std::size_t>& shape, NpyDtype dtype) {
  const std::size_t count =
      std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
  if (count != data.size()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: {} elements do not fill shape of {}",
                      path.string(), data.size(), count);
  }
  std::string dims;
  for (std::size_t d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}",
                                   descr_of(dtype), dims);
  // Pad so that magic + version + length + header is a multiple of 64, ending in '\n'.
  const std::size_t preamble = kMagicSize + 2 + 2;
  header.append(64 - (preamble + header.size() + 1) % 64, ' ');
  header.push_back('\n');
  std::ofstream file(path, std::ios::binary);
  if (!file) return make_error(ErrorCode::kNotFound, "cannot open '{}' for writing", path.string());
  const std::uint16_t header_len = static_cast<std::uint16_t>(header.size());
  file.write(kMagic, kMagicSize);
  file.put(1);
  file.put(0);
  file.put(static_cast<char>(header_len & 0xff));
  file.put(static_cast<char>(header_len >> 8));
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  file.write(reinterpret_cast<const char*>(data.data()),
             static_cast<std::streamsize>(data.size_bytes()));
  if (!file) return make_error(ErrorCode::kInternal, "write to '{}' failed", path.string());
  return {};
}

}  // namespace

std::size_t dtype_size(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return 4;
    case NpyDtype::kFloat64:
      return 8;
    case NpyDtype::kUint8:
      return 1;
  }
  return 0;
}

std::size_t NpyArray::element_count() const {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

template <typename T>
std::vector<T> NpyArray::to_c_order() const {
  const std::size_t n = element_count();
  std::vector<T> out(n);
  if (!fortran_order || shape.size() < 2) {
    for (std::size_t i = 0; i < n; ++i) out[i] = element_at<T>(*this, i);
    return out;
  }
  // Fortran order: the first index varies fastest in the file.
  std::vector<std::size_t> index(shape.size(), 0);
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t f = 0;
    for (std::size_t d = shape.size(); d-- > 0;) f = f * shape[d] + index[d];
    out[c] = element_at<T>(*this, f);
    for (std::size_t d = shape.size(); d-- > 0;) {  // advance the C-order index
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

template std::vector<float> NpyArray::to_c_order<float>() const;
template std::vector<double> NpyArray::to_c_order<double>() const;
template std::vector<std::uint8_t> NpyArray::to_c_order<std::uint8_t>() const;

Result<NpyArray> parse_npy(std::span<const std::byte> image, const std::string& origin) {
  if (image.size() < kMagicSize + 4 || std::memcmp(image.data(), kMagic, kMagicSize) != 0) {
    return make_error(ErrorCode::kDataLoss, "{}: not a .npy file (bad magic)", origin);
  }
  const auto major = static_cast<unsigned>(image[kMagicSize]);
  std::size_t header_len = 0;
  std::size_t offset = 0;
  if (major == 1) {
    header_len = static_cast<std::size_t>(image[8]) | (static_cast<std::size_t>(image[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (image.size() < 12) return make_error(ErrorCode::kDataLoss, "{}: truncated header", origin);
    for (int i = 3; i >= 0; --i)
      header_len = (header_len << 8) | static_cast<std::size_t>(image[8 + i]);
    offset = 12;
  } else {
    return make_error(ErrorCode::kInvalidArgument, "{}: unsupported npy version {}", origin, major);
  }
  if (header_len > kMaxHeaderBytes) {
    return make_error(ErrorCode::kDataLoss, "{}: npy header of {} bytes (at most {})", origin,
                      header_len, kMaxHeaderBytes);
  }
  if (offset + header_len > image.size()) {
    return make_error(ErrorCode::kDataLoss, "{}: truncated npy header", origin);
  }
  NpyArray array;
  const std::string_view header(reinterpret_cast<const char*>(image.data() + offset), header_len);
  RETURN_IF_ERROR(parse_header(header, origin, &array));
  const std::optional<std::size_t> data_bytes = data_size(array);
  const std::size_t data_offset = offset + header_len;
  if (!data_bytes || image.size() - data_offset < *data_bytes) {
    return make_error(ErrorCode::kDataLoss, "{}: data truncated ({} bytes, the shape needs {})",
                      origin, image.size() - data_offset,
                      data_bytes ? std::to_string(*data_bytes) : std::string("more"));
  }
  array.bytes.assign(image.begin() + static_cast<std::ptrdiff_t>(data_offset),
                     image.begin() + static_cast<std::ptrdiff_t>(data_offset + *data_bytes));
  return array;
}

Result<NpyArray> read_npy(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return make_error(ErrorCode::kNotFound, "cannot open '{}'", path.string());
  std::vector<char> raw((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto bytes = std::as_bytes(std::span<const char>(raw));
  return parse_npy(bytes, path.string());
}

Status write_npy(const std::filesystem::path& path, std::span<const float> data,
                 const std::vector<std::size_t>& shape) {
  return write_typed(path, data, shape, NpyDtype::kFloat32);
}
Status write_npy(const std::filesystem::path& path, std::span<const double> data,
                 const std::vector<std::size_t>& shape) {
  return write_typed(path, data, shape, NpyDtype::kFloat64);
}
Status write_npy(const std::filesystem::path& path, std::span<const std::uint8_t> data,
                 const std::vector<std::size_t>& shape) {
  return write_typed(path, data, shape, NpyDtype::kUint8);
}

}  // namespace lipsync
