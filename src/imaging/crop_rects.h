// Per-frame crop rectangles: from 110-point landmarks and the two JSON forms (pipeline.md §4).
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/image.h"
#include "core/status.h"

namespace lipsync::imaging {

inline constexpr int kLandmarkCount = 110;

struct Landmark {
  int x = 0;
  int y = 0;
};

// Parses a `.lms` file: 110 lines "x y", parsed as float then truncated to int.
Result<std::vector<Landmark>> read_landmarks(const std::filesystem::path& path);

// x1 = lms[1].x, y1 = lms[52].y, x2 = lms[31].x, w = x2 - x1, y2 = y1 + w.
Result<Rect> rect_from_landmarks(std::span<const Landmark> landmarks);

// Reads `0.lms` .. `N-1.lms` of a folder (numeric order; gaps are an error).
Result<std::vector<Rect>> rects_from_landmarks_dir(const std::filesystem::path& dir);

// Reads `crop_rects.json` (array of [x1,y1,x2,y2]) or `crop_rectangles.json` (object keyed
// "0".."N-1" with a `rect` field); the form is detected from the content.
Result<std::vector<Rect>> read_rects_json(const std::filesystem::path& path);

// Reads rects from a .json file (either form) or a folder of .lms landmarks.
Result<std::vector<Rect>> read_rects(const std::filesystem::path& path);

// Writes the array form (`crop_rects.json`).
Status write_rects_json(const std::filesystem::path& path, std::span<const Rect> rects);

struct RectStats {
  int count = 0;
  int min_width = 0, max_width = 0;
  int min_height = 0, max_height = 0;
  double mean_width = 0, mean_height = 0;
  Rect bounds;  // union of all rects
};
RectStats rect_stats(std::span<const Rect> rects);

}  // namespace lipsync::imaging
