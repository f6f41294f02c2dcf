// `lipsync render` (the binary, as a child process) and the server's native Render on the same
// avatar, models and samples give the same frames: render's JPEG folder holds exactly the bytes
// of encoding the server's raw BGR frames, for ping-pong and for wrap (render's --start-frame
// taken modulo the avatar's frames), with batches of another size than the server's.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/npy.h"
#include "media/jpeg_codec.h"
#include "proto/lipsync_v1.grpc.pb.h"
#include "run_cli.h"
#include "support/synthetic_server_test.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;

class RenderEqualsServer : public testing::SyntheticServerTest {
 protected:
  // The server's raw frames of `samples`.
  static std::vector<std::string> served(int port, std::span<const float> samples,
                                         v1::SequenceMode mode, std::int64_t start) {
    auto stub = v1::LipSync::NewStub(testing::local_channel(port));
    v1::RenderRequest request;
    request.set_model_id("a");
    request.set_sequence_mode(mode);
    request.set_start_frame(start);
    request.mutable_audio()->mutable_pcm()->set_sample_rate_hz(16000);
    request.mutable_audio()->mutable_pcm()->mutable_samples()->Add(samples.begin(), samples.end());
    request.mutable_output()->set_format(v1::FRAME_FORMAT_RAW_BGR);
    grpc::ClientContext context;
    v1::RenderResponse response;
    const grpc::Status status = stub->Render(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> frames;
    for (const auto& frame : response.frames()) frames.push_back(frame.data());
    return frames;
  }

  // `lipsync render` of the .npy `audio` into the folder `out` as JPEGs of quality 90.
  static void render(const fs::path& audio, const fs::path& out,
                     std::vector<std::string> sequence_args) {
    std::vector<std::string> args = {"render",
                                     "--audio",
                                     audio.string(),
                                     "--video",
                                     (*dir_ / "avatar.mp4").string(),
                                     "--rects",
                                     (*dir_ / "crop_rects.json").string(),
                                     "--unet",
                                     (testing::test_models_dir() / "unet_tiny.onnx").string(),
                                     "--encoder",
                                     (testing::test_models_dir() / "encoder_tiny.onnx").string(),
                                     "--threads",
                                     "1",
                                     "--batch",
                                     "7",
                                     "--jpeg-quality",
                                     "90",
                                     "-o",
                                     out.string() + "/"};
    args.insert(args.end(), sequence_args.begin(), sequence_args.end());
    const testing::RunResult result = testing::run_cli(args, *dir_);
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }

  static void expect_same_frames(const std::vector<std::string>& raw, const fs::path& out) {
    ASSERT_EQ(raw.size(), 24u);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      ASSERT_EQ(raw[i].size(), std::size_t{testing::kAvatarWidth} * testing::kAvatarHeight * 3);
      const ImageView view{.data = reinterpret_cast<const std::uint8_t*>(raw[i].data()),
                           .width = testing::kAvatarWidth,
                           .height = testing::kAvatarHeight,
                           .stride = std::size_t{testing::kAvatarWidth} * 3};
      auto jpeg = media::encode_jpeg(view, {90, ChromaSubsampling::k420});
      ASSERT_TRUE(jpeg.ok());
      const std::string written = testing::read_file(out / fmt::format("frame_{:06d}.jpg", i));
      EXPECT_TRUE(written == std::string(jpeg->begin(), jpeg->end())) << "frame " << i;
    }
    EXPECT_FALSE(fs::exists(out / fmt::format("frame_{:06d}.jpg", raw.size())));
  }
};

TEST_F(RenderEqualsServer, RenderWritesTheNativeRenderFrames) {
  Config c = config({"a"});
  c.output.format = OutputFormat::kRaw;  // the avatar stored as render stores it (JPEG, q90)
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  const auto samples = testing::noise(16000, 21);  // 24 frames over the avatar's 12
  const fs::path audio = *dir_ / "clip.npy";
  ASSERT_TRUE(write_npy(audio, std::span<const float>(samples), {samples.size()}).ok());

  render(audio, *dir_ / "ping_pong", {});
  expect_same_frames(served(server->grpc_port(), samples, v1::SEQUENCE_MODE_PING_PONG, 0),
                     *dir_ / "ping_pong");
  render(audio, *dir_ / "wrap", {"--sequence", "wrap", "--start-frame", "-7"});  // 12 - 7 = 5
  expect_same_frames(served(server->grpc_port(), samples, v1::SEQUENCE_MODE_WRAP, 5),
                     *dir_ / "wrap");
  for (const char* name : {"clip.npy", "ping_pong", "wrap"}) fs::remove_all(*dir_ / name);
}

}  // namespace
}  // namespace lipsync
