// Writes the demo avatar: a synthetic 1280x720 25 fps video of a simple drawn face with slight
// head motion, and its crop rects (crop_rects.json). Deterministic. Its mouth sits where the demo
// UNet (tools/make_demo_models.py) draws the opening: ROI (160, 224), half-width 46 ROI px.
//
//   make_demo_avatar --out DIR [--seconds 10]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <vector>

#include "core/image.h"
#include "imaging/crop_rects.h"
#include "imaging/model_geometry.h"
#include "media/video_writer.h"

namespace {

constexpr int kWidth = 1280;
constexpr int kHeight = 720;
constexpr int kFps = 25;
constexpr int kRectSize = 300;  // source pixels; the crop is resampled to 328
constexpr double kPi = 3.14159265358979323846;

// The demo UNet's mouth, in ROI pixels (tools/make_demo_models.py MOUTH_X/Y/HALF_WIDTH).
constexpr double kMouthRoiX = 160;
constexpr double kMouthRoiY = 224;
constexpr double kMouthRoiHalfWidth = 46;

lipsync::Rect rect_for_frame(int f) {
  const int x1 = 490 + static_cast<int>(std::lround(14 * std::sin(2 * kPi * f / 100.0)));
  const int y1 = 180 + static_cast<int>(std::lround(8 * std::sin(2 * kPi * f / 64.0 + 1.0)));
  return {x1, y1, x1 + kRectSize, y1 + kRectSize};
}

// ROI coordinates -> source pixels inside `rect` (pipeline.md §5: crop -> 328, inner 320).
cv::Point2d roi_to_source(const lipsync::Rect& rect, double x, double y) {
  const auto& g = lipsync::imaging::kSyncTalk328;
  const double scale = static_cast<double>(rect.width()) / g.crop_size_px;
  return {rect.x1 + (x + g.border_px) * scale, rect.y1 + (y + g.border_px) * scale};
}

cv::Mat background() {
  cv::Mat bg(kHeight, kWidth, CV_8UC3);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      // A soft gradient with a fixed pseudo-random grain, so that JPEG sees texture.
      const int grain = static_cast<int>((x * 7919u + y * 104729u) % 17u) - 8;
      bg.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uchar>(150 + y / 8 + grain),
                                         cv::saturate_cast<uchar>(120 + x / 16 + grain),
                                         cv::saturate_cast<uchar>(90 + grain));
    }
  }
  cv::rectangle(bg, {80, 80, 260, 400}, {70, 95, 120}, cv::FILLED);      // a door
  cv::circle(bg, {1100, 160}, 70, {60, 200, 230}, cv::FILLED);            // a lamp
  cv::rectangle(bg, {950, 420, 300, 300}, {40, 60, 75}, cv::FILLED);      // a desk
  return bg;
}

void draw_face(cv::Mat& frame, const lipsync::Rect& r) {
  const cv::Scalar skin{150, 180, 225};
  const int cx = r.x1 + r.width() / 2;
  cv::ellipse(frame, {cx, r.y1 + r.height() + 150}, {260, 140}, 0, 0, 360, {120, 70, 50},
              cv::FILLED);                                               // shoulders
  cv::rectangle(frame, {cx - 45, r.y1 + 250, 90, 120}, skin, cv::FILLED);  // neck
  cv::ellipse(frame, {cx, r.y1 + 130}, {128, 168}, 0, 0, 360, skin, cv::FILLED);  // head
  cv::ellipse(frame, {cx, r.y1 + 10}, {132, 70}, 0, 180, 360, {40, 40, 60}, cv::FILLED);  // hair
  for (int side : {-1, 1}) {
    const cv::Point eye{cx + side * 48, r.y1 + 95};
    cv::ellipse(frame, eye, {22, 12}, 0, 0, 360, {250, 250, 250}, cv::FILLED);
    cv::circle(frame, eye, 7, {60, 40, 30}, cv::FILLED);
    cv::line(frame, {eye.x - 22, eye.y - 24}, {eye.x + 22, eye.y - 28}, {40, 40, 60}, 5);
  }
  cv::line(frame, {cx, r.y1 + 115}, {cx - 8, r.y1 + 165}, {110, 140, 190}, 4);  // nose
  const cv::Point2d mouth = roi_to_source(r, kMouthRoiX, kMouthRoiY);
  const double half_width =
      kMouthRoiHalfWidth * r.width() / lipsync::imaging::kSyncTalk328.crop_size_px;
  cv::ellipse(frame, cv::Point(std::lround(mouth.x), std::lround(mouth.y)),
              cv::Size(std::lround(half_width), 4), 0, 0, 360, {60, 50, 150}, cv::FILLED);
}

int run(const std::filesystem::path& out, int seconds) {
  std::filesystem::create_directories(out);
  lipsync::media::VideoWriterOptions options;
  options.width = kWidth;
  options.height = kHeight;
  options.fps = kFps;
  options.crf = 16;
  auto writer = lipsync::media::VideoWriter::create(out / "avatar.mp4", options);
  if (!writer.ok()) {
    fmt::print(stderr, "error: {}\n", writer.status().message());
    return 1;
  }
  const cv::Mat bg = background();
  std::vector<lipsync::Rect> rects;
  for (int f = 0; f < seconds * kFps; ++f) {
    cv::Mat frame = bg.clone();
    rects.push_back(rect_for_frame(f));
    draw_face(frame, rects.back());
    const lipsync::ImageView view{frame.data, frame.cols, frame.rows, 3, frame.step[0]};
    if (auto s = writer->write_frame(view); !s.ok()) {
      fmt::print(stderr, "error: {}\n", s.message());
      return 1;
    }
  }
  auto status = writer->finish();
  if (status.ok()) status = lipsync::imaging::write_rects_json(out / "crop_rects.json", rects);
  if (!status.ok()) {
    fmt::print(stderr, "error: {}\n", status.message());
    return 1;
  }
  fmt::print("{}: {} frames {}x{} at {} fps, crop_rects.json\n", (out / "avatar.mp4").string(),
             rects.size(), kWidth, kHeight, kFps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes the lipsync demo avatar (video + crop rects)"};
  std::filesystem::path out;
  int seconds = 10;
  app.add_option("--out", out, "output folder")->required();
  app.add_option("--seconds", seconds, "video length")->check(CLI::Range(1, 600));
  CLI11_PARSE(app, argc, argv);
  return run(out, seconds);
}
