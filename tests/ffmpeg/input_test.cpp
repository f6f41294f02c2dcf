// Opening inputs under an allow-list (issue 19, item 1): paths are taken literally, and even a
// demuxer that follows references gets no file, URL or socket from inside an input.
#include "ffmpeg/input.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/test_paths.h"

namespace lipsync::ffmpeg {
namespace {

namespace fs = std::filesystem;

// 0.5 s of 16-bit mono PCM at 16 kHz in a WAVE file.
std::string wav_bytes() {
  const std::uint32_t data = 16000;
  std::string out = "RIFF";
  const auto u32 = [&](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&](std::uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); };
  u32(36 + data);
  out += "WAVEfmt ";
  u32(16);
  u16(1);
  u16(1);
  u32(16000);
  u32(32000);
  u16(2);
  u16(16);
  out += "data";
  u32(data);
  out.append(data, '\x01');
  return out;
}

fs::path write(const std::string& name, const std::string& bytes) {
  const fs::path path = lipsync::testing::temp_dir() / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::span<const std::byte> as_bytes(const std::string& text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

int open_sockets() {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const fs::path target = fs::read_symlink(entry.path(), error);
    if (!error && target.string().rfind("socket:", 0) == 0) ++count;
  }
  return count;
}

TEST(FileInput, OpensAnAcceptedFile) {
  const fs::path path = write("plain.wav", wav_bytes());
  auto input = open_input(path);
  ASSERT_TRUE(input.ok()) << input.status().to_string();
  EXPECT_EQ((*input)->nb_streams, 1u);
  EXPECT_GT(input->counters().bytes_read, 0);
}

TEST(FileInput, PathsAreNamesNotUrls) {
  const std::string a = write("a.wav", wav_bytes()).string();
  const std::string b = write("b.wav", wav_bytes()).string();
  // FFmpeg would read a then b, a itself, and a numbered image sequence, for these.
  for (const std::string& trick : {"concat:" + a + "|" + b, "file:" + a,
                                   (lipsync::testing::temp_dir() / "frame%03d.wav").string()}) {
    auto input = open_input(trick);
    ASSERT_FALSE(input.ok()) << trick;
    EXPECT_EQ(input.status().code(), ErrorCode::kNotFound) << input.status().to_string();
    EXPECT_NE(input.status().message().find(trick), std::string::npos);
  }
  write("frame001.wav", wav_bytes());
  EXPECT_FALSE(open_input(lipsync::testing::temp_dir() / "frame%03d.wav").ok());
  // And a file whose name looks like a URL is just that file.
  const fs::path odd = write("file:odd.wav", wav_bytes());
  EXPECT_TRUE(open_input(odd).ok());
}

TEST(FileInput, PlaylistFilesAreRefused) {
  const std::string target = write("target.wav", wav_bytes()).string();
  const fs::path list = write("list.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n" +
                                               target + "\n#EXT-X-ENDLIST\n");
  auto input = open_input(list);
  ASSERT_FALSE(input.ok());
  EXPECT_EQ(input.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(input.status().message().find("hls"), std::string::npos) << input.status().message();
  EXPECT_NE(input.status().message().find("list.m3u8"), std::string::npos);
}

TEST(FileInput, DirectoriesAreNotFiles) {
  auto input = open_input(lipsync::testing::temp_dir());
  ASSERT_FALSE(input.ok());
  EXPECT_EQ(input.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(input.status().message().find("not a regular file"), std::string::npos);
}

// Defence in depth: even with the reference-following demuxers on the list, they open nothing.
constexpr std::array<std::string_view, 3> kRiskyFormats = {"concat", "hls", "sdp"};
const InputPolicy kRiskyPolicy{.accepted = "test formats",
                               .formats = kRiskyFormats,
                               .unreadable = ErrorCode::kInvalidArgument};

TEST(NestedOpens, ConcatScriptReachesNoFile) {
  const std::string target = write("concat_target.wav", wav_bytes()).string();
  for (const std::string& name : {target, "file:" + target}) {
    const std::string script = "ffconcat version 1.0\nfile '" + name + "'\n";
    auto input = open_memory_input(as_bytes(script), "script", kRiskyPolicy);
    ASSERT_FALSE(input.ok()) << name;
    EXPECT_EQ(input.status().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(NestedOpens, PlaylistSegmentsAreRefused) {
  const std::string target = write("hls_target.wav", wav_bytes()).string();
  const std::string playlist =
      "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhls_target.wav\n#EXT-X-ENDLIST\n";
  // As a file the playlist has a location, so the demuxer asks for the segment next to it.
  const std::int64_t refused = refused_opens();
  auto from_file = open_file_input(write("risky.m3u8", playlist), kRiskyPolicy);
  EXPECT_FALSE(from_file.ok());
  EXPECT_GE(refused_opens(), refused + 1);
  auto from_bytes = open_memory_input(as_bytes(playlist), "playlist", kRiskyPolicy);
  EXPECT_FALSE(from_bytes.ok());
}

TEST(NestedOpens, SdpBindsNoSocket) {
  const int sockets = open_sockets();
  const std::string sdp =
      "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 0.0.0.0\nt=0 0\n"
      "m=audio 5004 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n";
  auto input = open_memory_input(as_bytes(sdp), "sdp", kRiskyPolicy);
  EXPECT_FALSE(input.ok());
  EXPECT_EQ(open_sockets(), sockets);
}

TEST(MemoryInput, CountsWhatItReads) {
  const std::string wav = wav_bytes();
  const std::int64_t refused = refused_opens();
  auto input = open_memory_input(as_bytes(wav), "upload", client_media_policy());
  ASSERT_TRUE(input.ok()) << input.status().to_string();
  EXPECT_GT(input->counters().bytes_read, 0);
  EXPECT_EQ(refused_opens(), refused);
  EXPECT_FALSE(open_memory_input({}, "nothing", client_media_policy()).ok());
}

}  // namespace
}  // namespace lipsync::ffmpeg
