#include "bench/synthetic_image.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace lipsync::bench {
namespace {

constexpr int kShapes = 12;
constexpr double kNoiseStddev = 6.0;

struct Shape {
  double cx, cy, radius;
  double color[3];
  bool square;
};

double shape_weight(const Shape& s, double x, double y) {
  double dx = std::abs(x - s.cx);
  double dy = std::abs(y - s.cy);
  double d = s.square ? std::max(dx, dy) : std::sqrt(dx * dx + dy * dy);
  return std::clamp((s.radius - d) / 3.0, 0.0, 1.0);  // a 3 px anti-aliased edge
}

}  // namespace

Image make_synthetic_frame(int width, int height, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, kNoiseStddev);
  Shape shapes[kShapes];
  for (Shape& s : shapes) {
    s = {unit(rng) * width,
         unit(rng) * height,
         (0.03 + 0.12 * unit(rng)) * std::min(width, height),
         {40 + 180 * unit(rng), 40 + 180 * unit(rng), 40 + 180 * unit(rng)},
         unit(rng) < 0.4};
  }
  double phase = unit(rng) * 6.28;
  Image image(width, height);
  for (int y = 0; y < height; ++y) {
    std::uint8_t* row = image.pixels.data() + static_cast<std::size_t>(y) * image.stride();
    for (int x = 0; x < width; ++x) {
      double u = static_cast<double>(x) / width;
      double v = static_cast<double>(y) / height;
      double texture = 10.0 * std::sin(x * 0.11 + phase) * std::sin(y * 0.07);
      double bgr[3] = {60 + 120 * v + texture, 90 + 80 * u * v + texture, 150 - 70 * u + texture};
      for (const Shape& s : shapes) {
        double w = shape_weight(s, x, y);
        for (int c = 0; c < 3; ++c) bgr[c] += w * (s.color[c] - bgr[c]);
      }
      for (int c = 0; c < 3; ++c) {
        row[x * 3 + c] = static_cast<std::uint8_t>(std::clamp(bgr[c] + noise(rng), 0.0, 255.0));
      }
    }
  }
  return image;
}

}  // namespace lipsync::bench
