// Client audio bytes (gRPC audio.encoded, the WebSocket upload) under the allow-list and the
// limits checked before work (issue 19, items 1-2): files, playlists, SDP, image sequences and
// subtitles are refused naming what they are; hostile headers cost nothing before the refusal.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "audio/audio_decoder.h"
#include "ffmpeg/input.h"
#include "support/test_paths.h"
#include "support/test_audio_writer.h"

namespace lipsync::audio {
namespace {

std::span<const std::byte> as_bytes(const std::string& text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// A RIFF/WAVE file of 16-bit mono PCM (or another WAVE format tag) whose header says `rate_hz`
// and `data_size` bytes of samples; `payload` bytes follow (a hostile header may claim more
// than it holds).
std::string wav_bytes(std::uint32_t rate_hz, std::uint32_t data_size, std::size_t payload,
                      std::uint16_t format_tag = 1) {
  std::string out;
  const auto u32 = [&](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&](std::uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); };
  out += "RIFF";
  u32(static_cast<std::uint32_t>(36 + payload));
  out += "WAVEfmt ";
  u32(16);
  u16(format_tag);
  u16(1);  // mono
  u32(rate_hz);
  u32(rate_hz * 2);
  u16(2);
  u16(16);
  out += "data";
  u32(data_size);
  for (std::size_t i = 0; i < payload; ++i) out += static_cast<char>((i * 37) & 0x7f);
  return out;
}

std::string wav_of_seconds(std::uint32_t rate_hz, double seconds) {
  const auto size = static_cast<std::uint32_t>(seconds * rate_hz) * 2;
  return wav_bytes(rate_hz, size, size);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A real, readable WAV on disk: what a reference inside client bytes would try to reach.
std::filesystem::path existing_wav() {
  const auto path = lipsync::testing::temp_dir() / "existing.wav";
  std::ofstream(path, std::ios::binary) << wav_of_seconds(16000, 2.0);
  return path;
}

// Refused by name before any demuxer of it ran: nothing decoded, nothing opened.
void expect_refused(const std::string& bytes, const std::string& named) {
  DecodeCounters counters;
  const std::int64_t refused_opens = ffmpeg::refused_opens();
  auto r = decode_audio_bytes(as_bytes(bytes), "audio.encoded", {.counters = &counters});
  EXPECT_EQ(ffmpeg::refused_opens(), refused_opens);
  ASSERT_FALSE(r.ok()) << named << " was decoded";
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
  EXPECT_NE(r.status().message().find("audio.encoded"), std::string::npos);
  EXPECT_NE(r.status().message().find(named), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("WAV, MP3"), std::string::npos) << r.status().message();
  EXPECT_EQ(counters.packets_decoded, 0);
  EXPECT_EQ(counters.peak_output_bytes, 0u);
}

TEST(ClientAudioAllowList, ConcatScriptNamingAReadableFileIsRefused) {
  const std::string path = existing_wav().string();
  ASSERT_TRUE(decode_audio_file(path).ok());  // readable: only the policy stands in the way
  expect_refused("ffconcat version 1.0\nfile '" + path + "'\n", "concat");
  expect_refused("ffconcat version 1.0\nfile 'file:" + path + "'\n", "concat");
  expect_refused("ffconcat version 1.0\nfile 'concat:" + path + "|" + path + "'\n", "concat");
}

TEST(ClientAudioAllowList, PlaylistsAreRefused) {
  const std::string path = existing_wav().string();
  expect_refused(
      "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:" + path + "\n#EXT-X-ENDLIST\n", "hls");
  expect_refused("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nconcat:" + path + "|" + path +
                     "\n#EXT-X-ENDLIST\n",
                 "hls");
}

TEST(ClientAudioAllowList, SdpIsRefused) {
  expect_refused(
      "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 0.0.0.0\nt=0 0\n"
      "m=audio 5004 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n",
      "sdp");
}

TEST(ClientAudioAllowList, ImagesAndSubtitlesAreRefused) {
  // The start of a JPEG (what an image2 sequence reads): the image pipe demuxer claims it.
  const std::string jpeg =
      std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 20) +
      std::string("\xFF\xDB\x00\x43\x00", 5) + std::string(64, '\x10') + std::string("\xFF\xD9", 2);
  auto r = decode_audio_bytes(as_bytes(jpeg), "audio.encoded");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
  expect_refused(
      "1\n00:00:00,000 --> 00:00:01,000\nhello\n\n2\n00:00:01,000 --> 00:00:02,000\n"
      "world\n",
      "srt");
  expect_refused("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n", "webvtt");
}

TEST(ClientAudioAllowList, UnrecognisedBytesAreInvalidArgument) {
  auto r = decode_audio_bytes(as_bytes(std::string(3000, '\x11')), "audio.encoded");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
  // A damaged accepted container is the client's fault too, not DATA_LOSS.
  const std::string wav = wav_of_seconds(16000, 1.0);
  auto cut = decode_audio_bytes(as_bytes(wav.substr(0, 30)), "audio.encoded");
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), ErrorCode::kInvalidArgument) << cut.status().to_string();
}

// 29 bytes of ADTS AAC whose frames change their channel layout mid-stream (found by
// fuzz/audio_decode): swresample, set up for the first frame, read a plane the next frame did
// not have (a null pointer: SEGV). Refused now, naming the change.
TEST(ClientAudioAllowList, AFormatChangeMidStreamIsRefusedNotACrash) {
  const unsigned char adts[] = {0xff, 0xf9, 0x01, 0x3f, 0x04, 0x00, 0x83, 0x00, 0x00, 0x00,
                                0x07, 0xff, 0xf9, 0x00, 0x45, 0x01, 0x00, 0x00, 0x00, 0x00,
                                0x00, 0x07, 0xff, 0x00, 0x50, 0x3c, 0xff, 0x00, 0x00};
  auto r = decode_audio_bytes(std::as_bytes(std::span(adts)), "audio.encoded");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().code() == ErrorCode::kUnimplemented ||
              r.status().code() == ErrorCode::kInvalidArgument)
      << r.status().to_string();
}

TEST(ClientAudioAllowList, CodecsOutsideTheListAreRefused) {
  // WAVE format tag 0x31: GSM 6.10, a decoder clients have no use for.
  auto r = decode_audio_bytes(as_bytes(wav_bytes(8000, 6500, 6500, 0x31)), "audio.encoded");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("gsm"), std::string::npos) << r.status().message();
}

// Every accepted container, written by FFmpeg's own muxers, decodes from bytes as from the file.
TEST(ClientAudioAllowList, AcceptedContainersDecode) {
  std::vector<float> tone(16000 * 2);
  for (std::size_t i = 0; i < tone.size(); ++i) tone[i] = 0.3f * std::sin(0.05f * i);
  const std::vector<testing::TestAudioFormat> formats = {
      {"pcm_s16le", ".wav", 44100, 0},       {"flac", ".flac", 44100, 0},
      {"libmp3lame", ".mp3", 44100, 128000}, {"aac", ".m4a", 44100, 128000},
      {"aac", ".mov", 48000, 128000},        {"aac", ".aac", 44100, 128000},
      {"libopus", ".ogg", 48000, 96000},     {"libvorbis", ".ogg", 44100, 128000},
      {"libopus", ".webm", 48000, 96000},    {"flac", ".mkv", 48000, 0}};
  for (const testing::TestAudioFormat& format : formats) {
    if (!testing::encoder_available(format.encoder)) continue;
    const auto path =
        lipsync::testing::temp_dir() / ("accepted_" + format.encoder + format.extension);
    ASSERT_TRUE(testing::write_test_audio(path, tone, format).ok()) << path;
    const std::string bytes = read_file(path);
    auto decoded = decode_audio_bytes(as_bytes(bytes), "upload");
    ASSERT_TRUE(decoded.ok()) << format.extension << ": " << decoded.status().to_string();
    EXPECT_NEAR(static_cast<double>(decoded->size()), 32000.0, 2000.0) << format.extension;
  }
}

// --- limits before work -------------------------------------------------------------------

void expect_rate_refused(std::uint32_t rate_hz, std::size_t payload) {
  DecodeCounters counters;
  auto r =
      decode_audio_bytes(as_bytes(wav_bytes(rate_hz, static_cast<std::uint32_t>(payload), payload)),
                         "audio.encoded", {.counters = &counters});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("sample rate " + std::to_string(rate_hz) + " Hz"),
            std::string::npos)
      << r.status().message();
  EXPECT_EQ(counters.packets_decoded, 0);
  EXPECT_EQ(counters.peak_output_bytes, 0u);
}

TEST(ClientAudioLimits, LowAndHighRatesAreRefusedBeforeDecoding) {
  expect_rate_refused(1, 32 * 1024);  // was ~1 GB of resampler output
  expect_rate_refused(8, 1024);       // was 1 499 frames of rendering
  expect_rate_refused(7999, 4096);
  expect_rate_refused(192001, 4096);
  // The same rule holds for PCM.
  const std::vector<float> pcm(4000, 0.1f);
  auto low = convert_pcm(pcm, 7999, 1);
  ASSERT_FALSE(low.ok());
  EXPECT_NE(low.status().message().find("sample rate 7999 Hz"), std::string::npos);
  EXPECT_TRUE(convert_pcm(pcm, kMinInputRateHz, 1).ok());
  EXPECT_TRUE(convert_pcm(pcm, kMaxInputRateHz, 1).ok());
}

TEST(ClientAudioLimits, DeclaredDurationIsRefusedBeforeDecoding) {
  DecodeCounters counters;
  const std::string wav = wav_of_seconds(8000, 10.0);
  auto r = decode_audio_bytes(as_bytes(wav), "audio.encoded",
                              {.max_duration_s = 2.0, .counters = &counters});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("declares 10 s"), std::string::npos) << r.status().message();
  EXPECT_EQ(counters.packets_decoded, 0);
  EXPECT_EQ(counters.peak_output_bytes, 0u);
}

TEST(ClientAudioLimits, ClientBytesAreHeldToTheClientLimit) {
  // Asking for the 6 h file limit does not lift the client's 30 min.
  const std::string wav = wav_of_seconds(8000, kMaxClientAudioSeconds + 60.0);
  DecodeCounters counters;
  auto r = decode_audio_bytes(as_bytes(wav), "audio.encoded",
                              {.max_duration_s = 6 * 3600.0, .counters = &counters});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("limit of 1800 s"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(counters.packets_decoded, 0);
}

TEST(ClientAudioLimits, UndeclaredLengthStopsAtTheLimit) {
  // Data size 0xFFFFFFFF: "unknown" to the WAV demuxer, so only decoding can tell the length.
  const std::size_t payload = 60 * 8000 * 2;  // 60 s at 8 kHz
  const std::string wav = wav_bytes(8000, 0xFFFFFFFFu, payload);
  DecodeCounters counters;
  auto r = decode_audio_bytes(as_bytes(wav), "audio.encoded",
                              {.max_duration_s = 2.0, .counters = &counters});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("longer than the limit of 2 s"), std::string::npos)
      << r.status().message();
  // Stopped after ~2 s of 60 (32 000 bytes; the demuxer reads ahead up to 256 KiB while probing
  // the stream): the bytes read and the output held say so.
  EXPECT_GT(counters.packets_decoded, 0);
  EXPECT_LT(counters.bytes_read, static_cast<std::int64_t>(payload / 3));
  EXPECT_LE(counters.peak_output_bytes, decoded_audio_budget_bytes(2.0));
}

TEST(ClientAudioLimits, AcceptedAudioStaysWithinTheBudget) {
  const std::string wav = wav_of_seconds(8000, 20.0);
  DecodeCounters counters;
  auto r = decode_audio_bytes(as_bytes(wav), "audio.encoded",
                              {.max_duration_s = 20.0, .counters = &counters});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_NEAR(static_cast<double>(r->size()), 20.0 * kSampleRateHz, 200.0);
  EXPECT_GE(counters.peak_output_bytes, r->size() * sizeof(float));
  EXPECT_LE(counters.peak_output_bytes, decoded_audio_budget_bytes(20.0));
  EXPECT_GE(counters.bytes_read, static_cast<std::int64_t>(wav.size()));
}

TEST(ClientAudioLimits, PcmLongerThanTheLimitIsRefusedBeforeResampling) {
  const std::vector<float> pcm(8000 * 3, 0.1f);  // 3 s at 8 kHz
  DecodeCounters counters;
  auto r = convert_pcm(pcm, 8000, 1, {.max_duration_s = 2.0, .counters = &counters});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("longer than the limit"), std::string::npos);
  EXPECT_EQ(counters.peak_output_bytes, 0u);
}

}  // namespace
}  // namespace lipsync::audio
