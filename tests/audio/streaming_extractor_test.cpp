// Streaming == whole clip, for any chunking (issue 3, item 4).
#include "audio/streaming_extractor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "audio/audio_decoder.h"
#include "core/npy.h"
#include "support/test_audio_writer.h"
#include "support/test_paths.h"
#include "test_encoders.h"

namespace lipsync::audio {
namespace {

std::vector<float> sanders_audio() {
  auto array = read_npy(lipsync::testing::reference_dir() / "audio" / "sanders_audio_16k.npy");
  EXPECT_TRUE(array.ok());
  return array.ok() ? array->to_c_order<float>() : std::vector<float>{};
}

std::vector<float> synthetic_audio(std::size_t length, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> audio(length);
  for (std::size_t n = 0; n < length; ++n) {
    audio[n] = 0.3f * std::sin(0.07f * static_cast<float>(n)) + noise(rng);
  }
  return audio;
}

// Chunk sizes covering `total` samples: all `fixed` if fixed > 0, else seeded random in [1, max].
std::vector<std::size_t> chunking(std::size_t total, std::size_t fixed, std::size_t max,
                                  unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(1, std::max<std::size_t>(max, 1));
  std::vector<std::size_t> chunks;
  for (std::size_t done = 0; done < total;) {
    const std::size_t chunk = std::min(total - done, fixed > 0 ? fixed : size(rng));
    chunks.push_back(chunk);
    done += chunk;
  }
  return chunks;
}

struct Chunking {
  const char* name;
  std::size_t fixed;
  std::size_t max;
};
const Chunking kChunkings[] = {
    {"one chunk", std::size_t{1} << 30, 0},
    {"1-sample", 1, 0},
    {"random 1..37", 0, 37},
    {"random 1..4000", 0, 4000},
    {"random 1..40000", 0, 40000},
    {"320 (20 ms)", 320, 0},
};

std::shared_ptr<const MelAnalyzer> make_analyzer() {
  auto analyzer = MelAnalyzer::create();
  EXPECT_TRUE(analyzer.ok());
  return std::shared_ptr<const MelAnalyzer>(std::move(analyzer).value());
}

TEST(StreamingMelTest, BitIdenticalToWholeClipForAnyChunking) {
  const auto analyzer = make_analyzer();
  const std::vector<float> audio = sanders_audio();
  auto whole = analyzer->compute(audio);
  ASSERT_TRUE(whole.ok());
  unsigned seed = 1;
  for (const Chunking& c : kChunkings) {
    StreamingMel stream(analyzer);
    std::vector<double> rows;
    std::size_t offset = 0;
    for (std::size_t chunk : chunking(audio.size(), c.fixed, c.max, seed++)) {
      ASSERT_TRUE(stream.push(std::span(audio).subspan(offset, chunk), rows).ok());
      offset += chunk;
      // Before flush, exactly the rows whose padded span is complete are out.
      ASSERT_EQ(rows.size() / kMelBins, offset >= 400 ? (offset - 400) / 200 + 1 : 0);
    }
    ASSERT_TRUE(stream.flush(rows).ok());
    ASSERT_EQ(rows.size(), whole->values.size()) << c.name;
    EXPECT_TRUE(std::memcmp(rows.data(), whole->values.data(), rows.size() * sizeof(double)) == 0)
        << c.name << ": streaming mel is not bit-identical";
  }
}

// Runs the whole-clip path and the streaming extractor; compares every frame tensor.
void expect_streaming_equals_whole_clip(const std::vector<float>& audio, const Chunking& c,
                                        unsigned seed) {
  const auto analyzer = make_analyzer();
  auto mel = analyzer->compute(audio);
  ASSERT_TRUE(mel.ok());
  testing::MixingEncoder whole_encoder;
  auto clip = extract_clip_features(*mel, whole_encoder);
  ASSERT_TRUE(clip.ok()) << clip.status().to_string();
  const std::vector<float> expected = clip_frame_tensors(*clip);

  testing::MixingEncoder stream_encoder;
  StreamingFeatureExtractor stream(analyzer, stream_encoder);
  std::vector<FrameTensor> frames;
  std::size_t offset = 0;
  for (std::size_t chunk : chunking(audio.size(), c.fixed, c.max, seed)) {
    auto out = stream.push(std::span(audio).subspan(offset, chunk));
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    offset += chunk;
    for (auto& frame : *out) {
      // Emitted exactly when its audio had arrived, never later than the look-ahead allows.
      ASSERT_GE(offset, samples_needed_for_frame(frame.index));
      ASSERT_LT(offset - chunk, samples_needed_for_frame(frame.index));
      frames.push_back(std::move(frame));
    }
  }
  auto tail = stream.flush();
  ASSERT_TRUE(tail.ok()) << tail.status().to_string();
  for (auto& frame : *tail) frames.push_back(std::move(frame));

  ASSERT_EQ(frames.size(), clip->frame_count()) << c.name << ", " << audio.size() << " samples";
  for (std::size_t i = 0; i < frames.size(); ++i) {
    ASSERT_EQ(frames[i].index, i);
    ASSERT_EQ(0, std::memcmp(frames[i].values.data(), expected.data() + i * kFrameTensorSize,
                             kFrameTensorSize * sizeof(float)))
        << c.name << ": frame " << i << " of " << frames.size() << " differs";
  }
}

TEST(StreamingExtractorTest, SandersEqualsWholeClipForAnyChunking) {
  const std::vector<float> audio = sanders_audio();
  unsigned seed = 100;
  for (const Chunking& c : kChunkings) {
    SCOPED_TRACE(c.name);
    expect_streaming_equals_whole_clip(audio, c, seed++);
  }
}

TEST(StreamingExtractorTest, ClipEndsEqualWholeClip) {
  // Lengths around the minimum (3000 samples), hop and frame boundaries.
  unsigned seed = 200;
  for (std::size_t length :
       {3000u, 3001u, 3199u, 3200u, 3400u, 3640u, 7240u, 9999u, 16000u, 16123u, 31999u}) {
    const std::vector<float> audio = synthetic_audio(length, seed);
    for (const Chunking& c : {kChunkings[0], kChunkings[1], kChunkings[2]}) {
      SCOPED_TRACE(std::to_string(length) + " samples, " + c.name);
      expect_streaming_equals_whole_clip(audio, c, seed++);
    }
  }
}

TEST(StreamingExtractorTest, LiveStereo48kThroughTheConverterEqualsWholeClip) {
  // A 48 kHz stereo stream (WebRTC-like) converted chunk by chunk, then streamed, against the
  // same PCM converted in one go and processed as a whole clip.
  const std::vector<float> speech = sanders_audio();
  auto stereo = testing::to_stereo(std::span(speech).first(5 * 16000), 48000);
  ASSERT_TRUE(stereo.ok());
  auto mono = convert_pcm(*stereo, 48000, 2);
  ASSERT_TRUE(mono.ok());
  const auto analyzer = make_analyzer();
  auto mel = analyzer->compute(*mono);
  ASSERT_TRUE(mel.ok());
  testing::MixingEncoder whole_encoder;
  auto clip = extract_clip_features(*mel, whole_encoder);
  ASSERT_TRUE(clip.ok());
  const std::vector<float> expected = clip_frame_tensors(*clip);

  auto converter = PcmStreamConverter::create(48000, 2);
  ASSERT_TRUE(converter.ok());
  testing::MixingEncoder stream_encoder;
  StreamingFeatureExtractor stream(analyzer, stream_encoder);
  std::vector<float> streamed;
  auto collect = [&](Result<std::vector<FrameTensor>> frames) {
    ASSERT_TRUE(frames.ok()) << frames.status().to_string();
    for (const auto& f : *frames) streamed.insert(streamed.end(), f.values.begin(), f.values.end());
  };
  constexpr std::size_t kChunk = 2 * 960;  // 20 ms of 48 kHz stereo
  std::vector<float> converted;
  for (std::size_t at = 0; at < stereo->size(); at += kChunk) {
    converted.clear();
    const std::size_t n = std::min(kChunk, stereo->size() - at);
    ASSERT_TRUE(converter->push(std::span(*stereo).subspan(at, n), converted).ok());
    collect(stream.push(converted));
  }
  converted.clear();
  ASSERT_TRUE(converter->flush(converted).ok());
  collect(stream.push(converted));
  collect(stream.flush());
  ASSERT_EQ(streamed.size(), expected.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(streamed[i] - expected[i])));
  }
  EXPECT_LE(worst, 1e-6);
}

TEST(StreamingExtractorTest, LookaheadIsTheModelsProperty) {
  std::size_t worst = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    worst = std::max(worst, samples_needed_for_frame(i) - 640 * i);
  }
  EXPECT_EQ(worst, static_cast<std::size_t>(timeline::kLookaheadSamples));
  EXPECT_DOUBLE_EQ(StreamingFeatureExtractor::lookahead_ms(), 452.5);  // pipeline.md §3: ~452 ms
  EXPECT_EQ(samples_needed_for_frame(0), 200u * (19 + 16) + 200);
}

TEST(StreamingExtractorTest, EmitsFrameZeroAsSoonAsItsAudioArrived) {
  const auto analyzer = make_analyzer();
  testing::MixingEncoder encoder;
  StreamingFeatureExtractor stream(analyzer, encoder);
  const std::vector<float> audio = synthetic_audio(samples_needed_for_frame(0), 7);
  auto before = stream.push(std::span(audio).first(audio.size() - 1));
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty());
  auto at = stream.push(std::span(audio).last(1));
  ASSERT_TRUE(at.ok());
  ASSERT_EQ(at->size(), 1u);
  EXPECT_EQ((*at)[0].index, 0u);
}

TEST(StreamingExtractorTest, MemoryStaysBoundedOnLongStreams) {
  const auto analyzer = make_analyzer();
  testing::MixingEncoder encoder;
  StreamingFeatureExtractor stream(analyzer, encoder);
  const std::vector<float> second = synthetic_audio(16000, 9);
  std::size_t frames = 0;
  std::size_t peak = 0;
  std::size_t peak_first_minute = 0;
  for (int s = 0; s < 180; ++s) {  // 3 minutes in 20 ms chunks
    if (s == 60) peak_first_minute = peak;
    for (std::size_t at = 0; at < second.size(); at += 320) {
      auto out = stream.push(std::span(second).subspan(at, 320));
      ASSERT_TRUE(out.ok());
      frames += out->size();
      peak = std::max(peak, stream.buffered_bytes());
    }
  }
  EXPECT_EQ(frames, stream.frames_emitted());
  EXPECT_GT(frames, 4400u);
  std::printf("streaming 180 s: peak buffered %zu bytes\n", peak);
  EXPECT_EQ(peak, peak_first_minute);  // no growth with the stream's length
  EXPECT_LT(peak, 1024u * 1024u);
}

TEST(StreamingExtractorTest, BadInputIsAClearError) {
  const auto analyzer = make_analyzer();
  testing::MixingEncoder encoder;
  {
    StreamingFeatureExtractor stream(analyzer, encoder);
    auto empty = stream.flush();
    ASSERT_FALSE(empty.ok());
    EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
  }
  {
    StreamingFeatureExtractor stream(analyzer, encoder);
    std::vector<float> chunk(100, 0.1f);
    ASSERT_TRUE(stream.push(chunk).ok());
    chunk[17] = INFINITY;
    auto bad = stream.push(chunk);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("sample 117"), std::string::npos)
        << bad.status().message();
    auto short_clip = stream.flush();
    ASSERT_FALSE(short_clip.ok());
    EXPECT_NE(short_clip.status().message().find("too short"), std::string::npos);
    EXPECT_FALSE(stream.push(chunk).ok());
    EXPECT_FALSE(stream.flush().ok());
  }
  {
    testing::BrokenEncoder broken;
    StreamingFeatureExtractor stream(analyzer, broken);
    auto out = stream.push(synthetic_audio(20000, 3));
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.status().message().find("audio encoder returned"), std::string::npos);
  }
}

}  // namespace
}  // namespace lipsync::audio
