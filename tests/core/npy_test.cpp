#include "core/npy.h"

#include <gtest/gtest.h>

#include "support/test_paths.h"

namespace lipsync {
namespace {

TEST(Npy, RoundTripsEachDtype) {
  const auto dir = testing::temp_dir();
  const std::vector<float> f = {1.5f, -2.f, 3.25f, 0.f, 5.f, 6.f};
  const std::vector<double> d = {1e-9, 2.0, -3.5};
  const std::vector<std::uint8_t> u = {0, 7, 255, 128};
  ASSERT_TRUE(write_npy(dir / "f.npy", f, {2, 3}).ok());
  ASSERT_TRUE(write_npy(dir / "d.npy", d, {3}).ok());
  ASSERT_TRUE(write_npy(dir / "u.npy", u, {2, 1, 2}).ok());

  auto rf = read_npy(dir / "f.npy");
  ASSERT_TRUE(rf.ok()) << rf.status().to_string();
  EXPECT_EQ(rf->dtype, NpyDtype::kFloat32);
  EXPECT_EQ(rf->shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(rf->to_c_order<float>(), f);
  auto rd = read_npy(dir / "d.npy");
  ASSERT_TRUE(rd.ok());
  EXPECT_EQ(rd->shape, (std::vector<std::size_t>{3}));
  EXPECT_EQ(rd->to_c_order<double>(), d);
  auto ru = read_npy(dir / "u.npy");
  ASSERT_TRUE(ru.ok());
  EXPECT_EQ(ru->to_c_order<std::uint8_t>(), u);
}

TEST(Npy, RejectsShapeMismatchOnWrite) {
  const std::vector<float> f = {1, 2, 3};
  EXPECT_EQ(write_npy(testing::temp_dir() / "x.npy", f, {2, 2}).code(),
            ErrorCode::kInvalidArgument);
}

// Builds a .npy image by hand so that Fortran order is tested without the golden files.
std::vector<std::byte> fortran_image(const std::vector<double>& column_major) {
  std::string header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header.push_back('\n');
  std::string image = "\x93NUMPY";
  image += '\x01';
  image += '\x00';
  image += static_cast<char>(header.size());
  image += '\x00';
  image += header;
  image.append(reinterpret_cast<const char*>(column_major.data()), column_major.size() * 8);
  auto bytes = std::as_bytes(std::span(image));
  return {bytes.begin(), bytes.end()};
}

TEST(Npy, ConvertsFortranOrderToCOrder) {
  // Matrix [[1,2,3],[4,5,6]] stored column by column.
  auto image = fortran_image({1, 4, 2, 5, 3, 6});
  auto a = parse_npy(image, "mem");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE(a->fortran_order);
  EXPECT_EQ(a->to_c_order<double>(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(a->to_c_order<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(Npy, RejectsCorruptAndTruncatedFiles) {
  auto image = fortran_image({1, 4, 2, 5, 3, 6});
  image.resize(image.size() - 8);
  auto truncated = parse_npy(image, "short.npy");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), ErrorCode::kDataLoss);
  EXPECT_NE(truncated.status().message().find("short.npy"), std::string::npos);
  std::vector<std::byte> junk(40, std::byte{'x'});
  EXPECT_FALSE(parse_npy(junk, "junk").ok());
  EXPECT_EQ(read_npy("/nonexistent/file.npy").status().code(), ErrorCode::kNotFound);
}

TEST(Npy, ReadsGoldenFortranFileLikeItsFloat64Twin) {
  const auto dir = testing::reference_dir() / "audio";
  auto f32 = read_npy(dir / "sanders_mel_normalized.npy");
  auto f64 = read_npy(dir / "sanders_mel_normalized_f64.npy");
  ASSERT_TRUE(f32.ok()) << f32.status().to_string();
  ASSERT_TRUE(f64.ok()) << f64.status().to_string();
  EXPECT_TRUE(f32->fortran_order);
  EXPECT_EQ(f32->shape, (std::vector<std::size_t>{1674, 80}));
  const auto a = f32->to_c_order<double>();
  const auto b = f64->to_c_order<double>();
  ASSERT_EQ(a.size(), b.size());
  double max_diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, std::abs(a[i] - b[i]));
  EXPECT_LT(max_diff, 1e-6);
  // mel_windows/frame_1.npy is C-order rows 3..18 of the f64 mel (floor(3.2) = 3).
  auto window = read_npy(dir / "mel_windows" / "frame_1.npy");
  ASSERT_TRUE(window.ok());
  const auto w = window->to_c_order<double>();
  for (std::size_t r = 0; r < 16; ++r) {
    for (std::size_t c = 0; c < 80; ++c) ASSERT_EQ(w[r * 80 + c], b[(3 + r) * 80 + c]);
  }
}

// A version-1 .npy image with `header` (padded as numpy does) and `data` after it.
std::string npy_image(std::string header, const std::string& data) {
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header.push_back('\n');
  std::string image("\x93NUMPY\x01\x00", 8);
  image.push_back(static_cast<char>(header.size() & 0xff));
  image.push_back(static_cast<char>(header.size() >> 8));
  return image + header + data;
}

Result<NpyArray> parse(const std::string& image) {
  return parse_npy(std::as_bytes(std::span(image.data(), image.size())), "test.npy");
}

// Found reviewing the parser for its fuzz target: a shape whose product overflows size_t matched 16
// bytes of data, and the Fortran-order walk then read far outside them.
TEST(Npy, ShapesWhoseSizeOverflowsAreRefused) {
  const std::string data(16, '\0');
  auto r = parse(npy_image(
      "{'descr': '<f4', 'fortran_order': True, 'shape': (4611686018427387905, 4), }", data));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("data truncated"), std::string::npos) << r.status().message();
  auto fine = parse(npy_image("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data));
  ASSERT_TRUE(fine.ok()) << fine.status().to_string();
  EXPECT_EQ(fine->to_c_order<float>().size(), 4u);
}

TEST(Npy, HeadersAreParsedWithoutBacktracking) {
  // Long values parse in linear time (no std::regex recursion); over numpy's 10 000-byte
  // header limit the file is refused before parsing.
  const std::string long_descr = "{'descr': '" + std::string(9000, 'x') + "', }";
  auto r = parse(npy_image(long_descr, ""));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unsupported dtype"), std::string::npos);
  auto huge = parse(npy_image("{'descr': '<f4', " + std::string(20000, ' ') + "}", ""));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("at most 10000"), std::string::npos)
      << huge.status().message();
  for (const char* shape : {"(2, x)", "(2, 3", "[2]", "(-1,)"}) {
    auto bad = parse(npy_image(
        std::string("{'descr': '<f4', 'fortran_order': False, 'shape': ") + shape + ", }", ""));
    EXPECT_FALSE(bad.ok()) << shape;
  }
  auto scalar = parse(npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                                std::string("\0\0\x80?", 4)));
  ASSERT_TRUE(scalar.ok()) << scalar.status().to_string();
  EXPECT_EQ(scalar->to_c_order<float>(), std::vector<float>{1.0f});
}

}  // namespace
}  // namespace lipsync
