// Writes the demo avatar: a synthetic 1280x720 25 fps video of a simple drawn face with slight
// head motion, and its crop rects (crop_rects.json). Deterministic. Its mouth sits where the demo
// UNet (tools/make_demo_models.py) draws the opening: ROI (160, 224), half-width 46 ROI px.
// Other sizes scale the drawing with the height (the GPU benchmark's 1920x1080 avatar).
//
//   make_demo_avatar --out DIR [--seconds 10 | --frames N] [--width 1280 --height 720]
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "core/image.h"
#include "imaging/crop_rects.h"
#include "imaging/model_geometry.h"
#include "media/video_writer.h"

namespace {

constexpr int kFps = 25;

// The drawing is laid out for 1280x720 and scaled by height / 720 for other sizes.
struct Layout {
  int width = 1280;
  int height = 720;
  double scale() const { return height / 720.0; }
  int px(double at_720p) const { return static_cast<int>(std::lround(at_720p * scale())); }
};
constexpr int kRectSize = 300;  // source pixels at 720p; the crop is resampled to 328
constexpr double kPi = 3.14159265358979323846;

// The demo UNet's mouth, in ROI pixels (tools/make_demo_models.py MOUTH_X/Y/HALF_WIDTH).
constexpr double kMouthRoiX = 160;
constexpr double kMouthRoiY = 224;
constexpr double kMouthRoiHalfWidth = 46;

lipsync::Rect rect_for_frame(const Layout& l, int f) {
  const int x1 = l.width / 2 - l.px(150) + l.px(14 * std::sin(2 * kPi * f / 100.0));
  const int y1 = l.px(180) + l.px(8 * std::sin(2 * kPi * f / 64.0 + 1.0));
  return {x1, y1, x1 + l.px(kRectSize), y1 + l.px(kRectSize)};
}

// ROI coordinates -> source pixels inside `rect` (pipeline.md §5: crop -> 328, inner 320).
cv::Point2d roi_to_source(const lipsync::Rect& rect, double x, double y) {
  const auto& g = lipsync::imaging::kSyncTalk328;
  const double scale = static_cast<double>(rect.width()) / g.crop_size_px;
  return {rect.x1 + (x + g.border_px) * scale, rect.y1 + (y + g.border_px) * scale};
}

cv::Mat background(const Layout& l) {
  cv::Mat bg(l.height, l.width, CV_8UC3);
  for (int y = 0; y < l.height; ++y) {
    for (int x = 0; x < l.width; ++x) {
      // A soft gradient with a fixed pseudo-random grain, so that JPEG sees texture.
      const int grain = static_cast<int>((x * 7919u + y * 104729u) % 17u) - 8;
      bg.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uchar>(150 + y / 8 + grain),
                                         cv::saturate_cast<uchar>(120 + x / 16 + grain),
                                         cv::saturate_cast<uchar>(90 + grain));
    }
  }
  cv::rectangle(bg, {l.px(80), l.px(80), l.px(260), l.px(400)}, {70, 95, 120},
                cv::FILLED);                                                               // a door
  cv::circle(bg, {l.width - l.px(180), l.px(160)}, l.px(70), {60, 200, 230}, cv::FILLED);  // lamp
  cv::rectangle(bg, {l.width - l.px(330), l.px(420), l.px(300), l.px(300)}, {40, 60, 75},
                cv::FILLED);  // a desk
  return bg;
}

void draw_face(const Layout& l, cv::Mat& frame, const lipsync::Rect& r) {
  const cv::Scalar skin{150, 180, 225};
  const int cx = r.x1 + r.width() / 2;
  cv::ellipse(frame, {cx, r.y1 + r.height() + l.px(150)}, {l.px(260), l.px(140)}, 0, 0, 360,
              {120, 70, 50}, cv::FILLED);  // shoulders
  cv::rectangle(frame, {cx - l.px(45), r.y1 + l.px(250), l.px(90), l.px(120)}, skin,
                cv::FILLED);  // neck
  cv::ellipse(frame, {cx, r.y1 + l.px(130)}, {l.px(128), l.px(168)}, 0, 0, 360, skin,
              cv::FILLED);  // head
  cv::ellipse(frame, {cx, r.y1 + l.px(10)}, {l.px(132), l.px(70)}, 0, 180, 360, {40, 40, 60},
              cv::FILLED);  // hair
  for (int side : {-1, 1}) {
    const cv::Point eye{cx + side * l.px(48), r.y1 + l.px(95)};
    cv::ellipse(frame, eye, {l.px(22), l.px(12)}, 0, 0, 360, {250, 250, 250}, cv::FILLED);
    cv::circle(frame, eye, l.px(7), {60, 40, 30}, cv::FILLED);
    cv::line(frame, {eye.x - l.px(22), eye.y - l.px(24)}, {eye.x + l.px(22), eye.y - l.px(28)},
             {40, 40, 60}, l.px(5));
  }
  cv::line(frame, {cx, r.y1 + l.px(115)}, {cx - l.px(8), r.y1 + l.px(165)}, {110, 140, 190},
           l.px(4));  // nose
  const cv::Point2d mouth = roi_to_source(r, kMouthRoiX, kMouthRoiY);
  const double half_width =
      kMouthRoiHalfWidth * r.width() / lipsync::imaging::kSyncTalk328.crop_size_px;
  cv::ellipse(frame, cv::Point(std::lround(mouth.x), std::lround(mouth.y)),
              cv::Size(std::lround(half_width), l.px(4)), 0, 0, 360, {60, 50, 150}, cv::FILLED);
}

int run(const std::filesystem::path& out, const Layout& layout, int frames) {
  std::filesystem::create_directories(out);
  lipsync::media::VideoWriterOptions options;
  options.width = layout.width;
  options.height = layout.height;
  options.fps = kFps;
  options.crf = 16;
  auto writer = lipsync::media::VideoWriter::create(out / "avatar.mp4", options);
  if (!writer.ok()) {
    fmt::print(stderr, "error: {}\n", writer.status().message());
    return 1;
  }
  const cv::Mat bg = background(layout);
  std::vector<lipsync::Rect> rects;
  for (int f = 0; f < frames; ++f) {
    cv::Mat frame = bg.clone();
    rects.push_back(rect_for_frame(layout, f));
    draw_face(layout, frame, rects.back());
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
             rects.size(), layout.width, layout.height, kFps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes the lipsync demo avatar (video + crop rects)"};
  std::filesystem::path out;
  int seconds = 10;
  int frames = 0;
  Layout layout;
  app.add_option("--out", out, "output folder")->required();
  app.add_option("--seconds", seconds, "video length")->check(CLI::Range(1, 600));
  app.add_option("--frames", frames, "video length in frames (instead of --seconds)")
      ->check(CLI::Range(1, 15000));
  app.add_option("--width", layout.width, "frame width (even)")->check(CLI::Range(640, 3840));
  app.add_option("--height", layout.height, "frame height (even); the drawing scales with it")
      ->check(CLI::Range(360, 2160));
  CLI11_PARSE(app, argc, argv);
  if (layout.width % 2 != 0 || layout.height % 2 != 0 || layout.width * 9 < layout.height * 12) {
    fmt::print(stderr, "error: --width and --height must be even, at most 4:3 tall\n");
    return 1;
  }
  return run(out, layout, frames > 0 ? frames : seconds * kFps);
}
