#include "imaging/crop_rects.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/test_paths.h"

namespace lipsync::imaging {
namespace {

namespace fs = std::filesystem;

fs::path sanders_dir() {
  return testing::reference_dir() / "avatar" / "sanders";
}

TEST(CropRects, LandmarksGiveTheGoldenRectsForAllFrames) {
  auto from_landmarks = rects_from_landmarks_dir(sanders_dir() / "landmarks");
  ASSERT_TRUE(from_landmarks.ok()) << from_landmarks.status().to_string();
  auto golden = read_rects_json(sanders_dir() / "crop_rects.json");
  ASSERT_TRUE(golden.ok()) << golden.status().to_string();
  ASSERT_EQ(golden->size(), 523u);
  ASSERT_EQ(from_landmarks->size(), golden->size());
  for (std::size_t i = 0; i < golden->size(); ++i) {
    EXPECT_EQ((*from_landmarks)[i], (*golden)[i]) << "frame " << i;
  }
}

TEST(CropRects, ObjectFormAgreesWithArrayForm) {
  auto array_form = read_rects(sanders_dir() / "crop_rects.json");
  auto object_form = read_rects(sanders_dir() / "crop_rectangles.json");
  ASSERT_TRUE(array_form.ok()) << array_form.status().to_string();
  ASSERT_TRUE(object_form.ok()) << object_form.status().to_string();
  EXPECT_EQ(*array_form, *object_form);
}

TEST(CropRects, RuleUsesPoints1_52_31AndTruncatesFloats) {
  std::vector<Landmark> lms(kLandmarkCount);
  lms[1] = {100, 0};
  lms[52] = {0, 200};
  lms[31] = {150, 0};
  auto rect = rect_from_landmarks(lms);
  ASSERT_TRUE(rect.ok());
  EXPECT_EQ(*rect, (Rect{100, 200, 150, 250}));

  const fs::path dir = testing::temp_dir();
  std::ofstream out(dir / "0.lms");
  for (int i = 0; i < kLandmarkCount; ++i) out << (i == 1 ? "10.9 3.2" : "7.5 8.99") << "\n";
  out.close();
  auto parsed = read_landmarks(dir / "0.lms");
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ((*parsed)[1].x, 10);
  EXPECT_EQ((*parsed)[1].y, 3);
  EXPECT_EQ((*parsed)[2].y, 8);
}

TEST(CropRects, WriteThenReadRoundTrips) {
  const std::vector<Rect> rects = {{1, 2, 3, 4}, {-5, 6, 70, 80}};
  const fs::path path = testing::temp_dir() / "crop_rects.json";
  ASSERT_TRUE(write_rects_json(path, rects).ok());
  auto back = read_rects(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, rects);
}

TEST(CropRects, BadInputsNameTheProblem) {
  const fs::path dir = testing::temp_dir();
  std::ofstream(dir / "0.lms") << "1 2\n3 4\n";
  auto short_file = read_landmarks(dir / "0.lms");
  ASSERT_FALSE(short_file.ok());
  EXPECT_NE(short_file.status().message().find("2 landmarks, expected 110"), std::string::npos);

  std::ofstream(dir / "bad.json") << R"([[1, 2, 3]])";
  auto bad = read_rects(dir / "bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("[0]"), std::string::npos) << bad.status().message();

  // Coordinates past int's range were converted anyway (UBSan; fuzz/landmarks_fuzzer.cpp).
  for (const char* line : {"532 2235320185", "1e30 5", "nan 5", "5 -inf"}) {
    std::ofstream lms(dir / "huge.lms");
    for (int i = 0; i < kLandmarkCount; ++i) lms << (i == 3 ? line : "1 2") << "\n";
    lms.close();
    const auto huge = read_landmarks(dir / "huge.lms");
    ASSERT_FALSE(huge.ok()) << line;
    EXPECT_NE(huge.status().message().find("line 4: expected \"x y\" (pixel coordinates within "),
              std::string::npos)
        << huge.status().message();
  }
  std::ofstream(dir / "huge.json") << R"([[0, 0, 1e300, 5]])";
  const auto huge_rect = read_rects(dir / "huge.json");
  ASSERT_FALSE(huge_rect.ok());
  EXPECT_NE(huge_rect.status().message().find("is outside"), std::string::npos)
      << huge_rect.status().message();

  std::ofstream(dir / "keys.json") << R"({"0": {"rect": [1,2,3,4]}, "5": {"rect": [1,2,3,4]}})";
  EXPECT_FALSE(read_rects(dir / "keys.json").ok());
  std::ofstream(dir / "garbage.json") << "{not json";
  EXPECT_EQ(read_rects(dir / "garbage.json").status().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(read_rects(dir / "missing.json").status().code(), ErrorCode::kNotFound);
}

TEST(CropRects, MissingLandmarkFileInSequenceIsAnError) {
  const fs::path dir = testing::temp_dir();
  for (int name : {0, 2}) {
    std::ofstream out(dir / (std::to_string(name) + ".lms"));
    for (int i = 0; i < kLandmarkCount; ++i) out << "1 2\n";
  }
  auto rects = rects_from_landmarks_dir(dir);
  ASSERT_FALSE(rects.ok());
  EXPECT_NE(rects.status().message().find("1.lms is missing"), std::string::npos);
}

TEST(CropRects, StatsSummariseSizes) {
  const std::vector<Rect> rects = {{0, 0, 10, 20}, {5, 5, 35, 15}};
  const RectStats stats = rect_stats(rects);
  EXPECT_EQ(stats.min_width, 10);
  EXPECT_EQ(stats.max_width, 30);
  EXPECT_EQ(stats.min_height, 10);
  EXPECT_EQ(stats.max_height, 20);
  EXPECT_DOUBLE_EQ(stats.mean_width, 20.0);
  EXPECT_EQ(stats.bounds, (Rect{0, 0, 35, 20}));
}

}  // namespace
}  // namespace lipsync::imaging
