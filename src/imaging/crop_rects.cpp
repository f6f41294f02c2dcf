#include "imaging/crop_rects.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace lipsync::imaging {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Pixel coordinates beyond this are no frame's: refused before the conversion to int, which
// is undefined past INT_MAX (found by fuzz/landmarks_fuzzer.cpp: "532 2235320185").
constexpr double kMaxCoordinate = 1'000'000;

bool in_coordinate_range(double value) {
  return std::isfinite(value) && std::abs(value) <= kMaxCoordinate;
}

// Parses "x y"; values are floats truncated to int (ref: pipeline.md §4).
bool parse_landmark_line(const std::string& line, Landmark* out) {
  std::istringstream in(line);
  float x = 0;
  float y = 0;
  if (!(in >> x >> y)) return false;
  std::string rest;
  if (in >> rest) return false;
  if (!in_coordinate_range(x) || !in_coordinate_range(y)) return false;
  out->x = static_cast<int>(x);
  out->y = static_cast<int>(y);
  return true;
}

Result<Rect> rect_from_json(const json& value, const std::string& where) {
  if (!value.is_array() || value.size() != 4) {
    return make_error(ErrorCode::kInvalidArgument, "{}: expected [x1, y1, x2, y2], got {}", where,
                      value.dump());
  }
  int v[4];
  for (int i = 0; i < 4; ++i) {
    if (!value[i].is_number()) {
      return make_error(ErrorCode::kInvalidArgument, "{}: coordinate {} is not a number", where,
                        value[i].dump());
    }
    const double coordinate = value[i].get<double>();
    if (!in_coordinate_range(coordinate)) {
      return make_error(ErrorCode::kInvalidArgument, "{}: coordinate {} is outside ±{}", where,
                        value[i].dump(), kMaxCoordinate);
    }
    v[i] = static_cast<int>(coordinate);
  }
  return Rect{v[0], v[1], v[2], v[3]};
}

Result<std::vector<Rect>> rects_from_array(const json& doc, const std::string& origin) {
  std::vector<Rect> rects;
  rects.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    ASSIGN_OR_RETURN(Rect rect, rect_from_json(doc[i], fmt::format("{} [{}]", origin, i)));
    rects.push_back(rect);
  }
  return rects;
}

Result<std::vector<Rect>> rects_from_object(const json& doc, const std::string& origin) {
  std::vector<Rect> rects(doc.size());
  for (const auto& [key, entry] : doc.items()) {
    std::size_t index = 0;
    auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
    if (ec != std::errc() || end != key.data() + key.size() || index >= rects.size()) {
      return make_error(ErrorCode::kInvalidArgument, "{}: key '{}' is not a frame index in 0..{}",
                        origin, key, rects.size() - 1);
    }
    const std::string where = fmt::format("{} [\"{}\"]", origin, key);
    if (!entry.is_object() || !entry.contains("rect")) {
      return make_error(ErrorCode::kInvalidArgument, "{}: missing field 'rect'", where);
    }
    ASSIGN_OR_RETURN(rects[index], rect_from_json(entry["rect"], where));
  }
  // Keys are unique and all < size, so every index is present.
  return rects;
}

}  // namespace

Result<std::vector<Landmark>> read_landmarks(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open landmarks '{}'", path.string());
  std::vector<Landmark> landmarks;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Landmark landmark;
    if (!parse_landmark_line(line, &landmark)) {
      return make_error(ErrorCode::kDataLoss,
                        "'{}' line {}: expected \"x y\" (pixel coordinates within ±{}), got '{}'",
                        path.string(), line_number, kMaxCoordinate, line.substr(0, 80));
    }
    landmarks.push_back(landmark);
  }
  if (landmarks.size() != kLandmarkCount) {
    return make_error(ErrorCode::kDataLoss, "'{}': {} landmarks, expected {}", path.string(),
                      landmarks.size(), kLandmarkCount);
  }
  return landmarks;
}

Result<Rect> rect_from_landmarks(std::span<const Landmark> landmarks) {
  if (landmarks.size() != kLandmarkCount) {
    return make_error(ErrorCode::kInvalidArgument, "{} landmarks, expected {}", landmarks.size(),
                      kLandmarkCount);
  }
  // ref: pipeline.md §4
  const int x1 = landmarks[1].x;
  const int y1 = landmarks[52].y;
  const int x2 = landmarks[31].x;
  const int w = x2 - x1;
  return Rect{x1, y1, x2, y1 + w};
}

Result<std::vector<Rect>> rects_from_landmarks_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return make_error(ErrorCode::kNotFound, "landmarks folder '{}' does not exist", dir.string());
  }
  std::map<std::size_t, fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".lms") continue;
    const std::string stem = entry.path().stem().string();
    std::size_t index = 0;
    auto [end, err] = std::from_chars(stem.data(), stem.data() + stem.size(), index);
    if (err != std::errc() || end != stem.data() + stem.size()) {
      return make_error(ErrorCode::kInvalidArgument, "'{}': landmark files must be named N.lms",
                        entry.path().string());
    }
    files.emplace(index, entry.path());
  }
  if (files.empty()) {
    return make_error(ErrorCode::kNotFound, "no .lms files in '{}'", dir.string());
  }
  std::vector<Rect> rects;
  rects.reserve(files.size());
  for (const auto& [index, path] : files) {
    if (index != rects.size()) {
      return make_error(ErrorCode::kDataLoss, "'{}': {}.lms is missing", dir.string(),
                        rects.size());
    }
    ASSIGN_OR_RETURN(auto landmarks, read_landmarks(path));
    ASSIGN_OR_RETURN(Rect rect, rect_from_landmarks(landmarks));
    rects.push_back(rect);
  }
  return rects;
}

Result<std::vector<Rect>> read_rects_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open rects '{}'", path.string());
  const json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  const std::string origin = path.string();
  if (doc.is_discarded()) {
    return make_error(ErrorCode::kDataLoss, "'{}' is not valid JSON", origin);
  }
  if (doc.is_array()) return rects_from_array(doc, origin);
  if (doc.is_object()) return rects_from_object(doc, origin);
  return make_error(ErrorCode::kInvalidArgument, "'{}': expected a JSON array or object", origin);
}

Result<std::vector<Rect>> read_rects(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return rects_from_landmarks_dir(path);
  return read_rects_json(path);
}

Status write_rects_json(const fs::path& path, std::span<const Rect> rects) {
  json doc = json::array();
  for (const Rect& r : rects) doc.push_back({r.x1, r.y1, r.x2, r.y2});
  std::ofstream out(path);
  if (!out) return make_error(ErrorCode::kNotFound, "cannot write '{}'", path.string());
  out << doc.dump() << '\n';
  if (!out) return make_error(ErrorCode::kDataLoss, "write to '{}' failed", path.string());
  return {};
}

RectStats rect_stats(std::span<const Rect> rects) {
  RectStats stats;
  stats.count = static_cast<int>(rects.size());
  if (rects.empty()) return stats;
  stats.min_width = stats.max_width = rects[0].width();
  stats.min_height = stats.max_height = rects[0].height();
  stats.bounds = rects[0];
  for (const Rect& r : rects) {
    stats.min_width = std::min(stats.min_width, r.width());
    stats.max_width = std::max(stats.max_width, r.width());
    stats.min_height = std::min(stats.min_height, r.height());
    stats.max_height = std::max(stats.max_height, r.height());
    stats.mean_width += r.width();
    stats.mean_height += r.height();
    stats.bounds = {std::min(stats.bounds.x1, r.x1), std::min(stats.bounds.y1, r.y1),
                    std::max(stats.bounds.x2, r.x2), std::max(stats.bounds.y2, r.y2)};
  }
  stats.mean_width /= stats.count;
  stats.mean_height /= stats.count;
  return stats;
}

}  // namespace lipsync::imaging
