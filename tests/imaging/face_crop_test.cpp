#include "imaging/face_crop.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "core/npy.h"
#include "support/test_paths.h"

namespace lipsync::imaging {
namespace {

constexpr ModelGeometry kG = kSyncTalk328;

// Smooth, textured content: a gradient plus low-frequency waves (what faces look like to a
// bicubic resampler), so resampling errors stay small and meaningful.
Image synthetic_frame(int width, int height) {
  Image image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = image.pixels.data() + (static_cast<std::size_t>(y) * width + x) * 3;
      p[0] = static_cast<std::uint8_t>(128 + 100 * std::sin(x * 0.05) * std::cos(y * 0.04));
      p[1] = static_cast<std::uint8_t>((x + y) * 200 / (width + height));
      p[2] = static_cast<std::uint8_t>(128 + 90 * std::cos((x - y) * 0.03));
    }
  }
  return image;
}

// The identity model: the output reproduces the ROI (+0.5 so that truncation gives it back).
std::vector<float> identity_output(ImageView roi) {
  std::vector<float> out(kG.output_tensor_elements());
  for (int y = 0; y < roi.height; ++y) {
    for (int x = 0; x < roi.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        out[c * kG.roi_plane_elements() + y * kG.roi_size_px + x] =
            (roi.row(y)[x * 3 + c] + 0.5f) / 255.0f;
      }
    }
  }
  return out;
}

struct Diff {
  int max = 0;
  double mean = 0;
};

Diff diff_inside(const Image& a, const Image& b, const Rect& r) {
  Diff d;
  for (int y = r.y1; y < r.y2; ++y) {
    for (int x = r.x1; x < r.x2; ++x) {
      for (int c = 0; c < 3; ++c) {
        const std::size_t i = (static_cast<std::size_t>(y) * a.width + x) * 3 + c;
        const int delta = std::abs(a.pixels[i] - b.pixels[i]);
        d.max = std::max(d.max, delta);
        d.mean += delta;
      }
    }
  }
  d.mean /= 3.0 * r.width() * r.height();
  return d;
}

bool equal_outside(const Image& a, const Image& b, const Rect& r) {
  for (int y = 0; y < a.height; ++y) {
    for (int x = 0; x < a.width; ++x) {
      if (x >= r.x1 && x < r.x2 && y >= r.y1 && y < r.y2) continue;
      const std::size_t i = (static_cast<std::size_t>(y) * a.width + x) * 3;
      for (int c = 0; c < 3; ++c) {
        if (a.pixels[i + c] != b.pixels[i + c]) return false;
      }
    }
  }
  return true;
}

TEST(ModelGeometry, DescribesThe328Model) {
  EXPECT_EQ(kG.border_px * 2 + kG.roi_size_px, kG.crop_size_px);
  EXPECT_EQ(kG.input_tensor_elements(), 6u * 320 * 320);
  EXPECT_EQ(kG.mask_px, (Rect{5, 5, 315, 310}));
}

TEST(InputTensor, MaskGeometryIsExact) {
  Image roi(320, 320);
  std::mt19937 rng(7);
  for (auto& p : roi.pixels) p = static_cast<std::uint8_t>(1 + rng() % 255);  // never 0
  std::vector<float> tensor(kG.input_tensor_elements());
  ASSERT_TRUE(fill_input_tensor(roi.view(), tensor).ok());
  const std::size_t plane = kG.roi_plane_elements();
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 320; ++y) {
      for (int x = 0; x < 320; ++x) {
        const float value = tensor[c * plane + y * 320 + x];
        const float masked = tensor[(c + 3) * plane + y * 320 + x];
        const bool inside = y >= 5 && y <= 309 && x >= 5 && x <= 314;  // inclusive, pipeline §5.4
        ASSERT_EQ(masked, inside ? 0.0f : value) << c << " " << y << " " << x;
        ASSERT_GT(value, 0.0f);
      }
    }
  }
}

TEST(InputTensor, LayoutFromReferenceCropsIsBgrPlanarScaled) {
  auto npy = read_npy(testing::reference_dir() / "visual" / "face_crops_328_rgb.npy");
  ASSERT_TRUE(npy.ok()) << npy.status().to_string();
  ASSERT_EQ(npy->shape, (std::vector<std::size_t>{6, 328, 328, 3}));
  const std::vector<std::uint8_t> rgb = npy->to_c_order<std::uint8_t>();
  const std::size_t crop_bytes = 328 * 328 * 3;
  std::vector<float> tensor(kG.input_tensor_elements());
  for (std::size_t k = 0; k < 6; ++k) {
    Image frame(328, 328);  // RGB -> BGR
    for (std::size_t i = 0; i < 328 * 328; ++i) {
      for (int c = 0; c < 3; ++c) frame.pixels[i * 3 + c] = rgb[k * crop_bytes + i * 3 + 2 - c];
    }
    // A 328² rect of a 328² frame: the bicubic resample is the identity.
    auto face = make_face_crop(frame.view(), {0, 0, 328, 328});
    ASSERT_TRUE(face.ok()) << face.status().to_string();
    ASSERT_EQ(face->crop.pixels, frame.pixels);
    ASSERT_TRUE(fill_input_tensor(face->roi(), tensor).ok());
    for (int c = 0; c < 3; ++c) {  // tensor channel c = B, G, R = RGB channel 2 - c
      for (int y = 0; y < 320; y += 7) {
        for (int x = 0; x < 320; x += 3) {
          const std::size_t src = k * crop_bytes + ((y + 4) * 328 + (x + 4)) * 3 + (2 - c);
          ASSERT_EQ(tensor[c * kG.roi_plane_elements() + y * 320 + x], rgb[src] / 255.0f)
              << "crop " << k << " channel " << c << " at " << y << "," << x;
        }
      }
    }
  }
}

TEST(FaceCrop, ResamplesTheRectBicubicallyTo328) {
  const Image frame = synthetic_frame(640, 480);
  auto face = make_face_crop(frame.view(), {100, 50, 264, 214});  // 164 -> 328: scale 2
  ASSERT_TRUE(face.ok());
  EXPECT_EQ(face->crop.width, 328);
  EXPECT_EQ(face->source_rect, (Rect{100, 50, 264, 214}));
  // Upscaling by 2 keeps the source pixel values close to their sample points.
  const Diff d = [&] {
    Image down(164, 164);
    for (int y = 0; y < 164; ++y)
      for (int x = 0; x < 164; ++x)
        for (int c = 0; c < 3; ++c)
          down.pixels[(y * 164 + x) * 3 + c] = frame.pixels[((y + 50) * 640 + x + 100) * 3 + c];
    Image sampled(164, 164);
    for (int y = 0; y < 164; ++y)
      for (int x = 0; x < 164; ++x)
        for (int c = 0; c < 3; ++c)
          sampled.pixels[(y * 164 + x) * 3 + c] =
              face->crop.pixels[((2 * y) * 328 + 2 * x) * 3 + c];
    return diff_inside(down, sampled, {0, 0, 164, 164});
  }();
  EXPECT_LE(d.mean, 3.0);
}

TEST(Composite, IdentityModelLeavesOutsideUnchangedAndInsideWithinResamplingError) {
  const Image frame = synthetic_frame(640, 480);
  const Rect rect{200, 150, 380, 330};
  auto face = make_face_crop(frame.view(), rect);
  ASSERT_TRUE(face.ok());
  Image out = frame;
  ASSERT_TRUE(composite_face(out.mutable_view(), *face, identity_output(face->roi())).ok());
  EXPECT_TRUE(equal_outside(frame, out, rect));
  const Diff d = diff_inside(frame, out, rect);
  // Stated tolerance: bicubic 180 -> 328 -> 180 on smooth content.
  EXPECT_LE(d.max, 12);
  EXPECT_LE(d.mean, 1.5);
}

TEST(Composite, RectsPartlyOutsideTheFrameAreClipped) {
  const Image frame = synthetic_frame(640, 480);
  const Rect rect{-50, 400, 130, 580};
  auto face = make_face_crop(frame.view(), rect);
  ASSERT_TRUE(face.ok()) << face.status().to_string();
  EXPECT_EQ(face->source_rect, (Rect{0, 400, 130, 480}));
  Image out = frame;
  ASSERT_TRUE(composite_face(out.mutable_view(), *face, identity_output(face->roi())).ok());
  EXPECT_TRUE(equal_outside(frame, out, face->source_rect));
  EXPECT_LE(diff_inside(frame, out, face->source_rect).mean, 2.0);
}

TEST(Composite, OutputIsTruncatedAndTheBorderKeepsTheOriginal) {
  const Image frame = synthetic_frame(328, 328);
  auto face = make_face_crop(frame.view(), {0, 0, 328, 328});  // identity resamples both ways
  ASSERT_TRUE(face.ok());
  std::vector<float> output(kG.output_tensor_elements(), 0.999f);  // 254.7 -> 254
  Image out = frame;
  ASSERT_TRUE(composite_face(out.mutable_view(), *face, output).ok());
  for (int y = 0; y < 328; ++y) {
    for (int x = 0; x < 328; ++x) {
      const bool roi = y >= 4 && y < 324 && x >= 4 && x < 324;
      const std::size_t i = (static_cast<std::size_t>(y) * 328 + x) * 3;
      ASSERT_EQ(out.pixels[i + 1], roi ? 254 : frame.pixels[i + 1]) << y << "," << x;
    }
  }
}

TEST(Composite, FeatheringIsOptionalAndBlendsOnlyTheEdge) {
  const Image frame = synthetic_frame(640, 480);
  const Rect rect{200, 150, 380, 330};
  auto face = make_face_crop(frame.view(), rect);
  ASSERT_TRUE(face.ok());
  const std::vector<float> white(kG.output_tensor_elements(), 1.0f);
  Image hard = frame;
  Image soft = frame;
  ASSERT_TRUE(composite_face(hard.mutable_view(), *face, white).ok());
  ASSERT_TRUE(composite_face(soft.mutable_view(), *face, white, {.feather_px = 16}).ok());
  EXPECT_TRUE(equal_outside(frame, soft, rect));
  const std::size_t centre = (static_cast<std::size_t>(240) * 640 + 290) * 3;
  EXPECT_EQ(soft.pixels[centre], hard.pixels[centre]);
  const std::size_t edge = (static_cast<std::size_t>(240) * 640 + 206) * 3;  // inside the ramp
  const int original = frame.pixels[edge];
  EXPECT_NE(soft.pixels[edge], hard.pixels[edge]);
  EXPECT_LE(std::abs(soft.pixels[edge] - original), std::abs(hard.pixels[edge] - original));
}

TEST(FaceCrop, BadRectsAreClearErrors) {
  const Image frame = synthetic_frame(64, 48);
  auto empty = make_face_crop(frame.view(), {10, 10, 10, 30});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("zero or negative size"), std::string::npos);
  auto outside = make_face_crop(frame.view(), {100, 10, 140, 50});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("outside the 64x48 frame"), std::string::npos);
  std::vector<float> small(10);
  EXPECT_FALSE(fill_input_tensor(frame.view(), small).ok());
}

TEST(FaceCrop, RectsOfAnotherVideoAreRefusedBeforeCropping) {
  const Image frame = synthetic_frame(128, 72);                // 1280x720 at a tenth
  auto huge = make_face_crop(frame.view(), {0, 0, 500, 500});  // [0,0,5000,5000] at a tenth
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(huge.status().message().find("larger than the 128x72 frame"), std::string::npos)
      << huge.status().message();
  auto beside = make_face_crop(frame.view(), {120, 10, 160, 50});  // 8 of 40 px inside
  ASSERT_FALSE(beside.ok());
  EXPECT_NE(beside.status().message().find("mostly outside the 128x72 frame"), std::string::npos)
      << beside.status().message();
  EXPECT_TRUE(make_face_crop(frame.view(), {100, 10, 140, 50}).ok());  // 28 of 40 px inside
}

}  // namespace
}  // namespace lipsync::imaging
