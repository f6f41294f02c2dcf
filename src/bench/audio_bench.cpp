// `lipsync bench audio`: the audio front-end's speed. Mel + encoder windows per second of audio
// on one core (the process is pinned to the core it starts on), streaming mel in 20 ms chunks,
// and the audio encoder's CPU time per window at batch 1 and 64. JSON with median and spread.
#include "bench/audio_bench.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "audio/audio_decoder.h"
#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "audio/streaming_extractor.h"
#include "core/clock.h"
#include "pipeline/onnx_feature_encoder.h"

namespace lipsync::bench {
namespace {

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// Pins the process to the core it runs on; returns that core.
int pin_to_one_core() {
  const int cpu = sched_getcpu();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
  return cpu;
}

nlohmann::json summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[static_cast<std::size_t>(q * static_cast<double>(ms.size() - 1) + 0.5)];
  };
  return {{"iterations", ms.size()}, {"median_ms", at(0.5)}, {"min_ms", ms.front()},
          {"p10_ms", at(0.1)},       {"p90_ms", at(0.9)},    {"max_ms", ms.back()}};
}

// Times `body` (warm-up runs first); stops at the first error.
Result<nlohmann::json> time_runs(const BenchAudioOptions& options,
                                 const std::function<Status()>& body) {
  std::vector<double> ms;
  for (int i = 0; i < options.warmup + options.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(body());
    const double elapsed = ms_since(start);
    if (i >= options.warmup) ms.push_back(elapsed);
  }
  return summarize(std::move(ms));
}

std::vector<float> synthetic_speechlike(std::size_t samples) {
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> audio(samples);
  for (std::size_t n = 0; n < samples; ++n) {
    const float t = static_cast<float>(n) / audio::kSampleRateHz;
    audio[n] = 0.3f * std::sin(2.0f * 3.14159265f * (180.0f + 40.0f * std::sin(3.0f * t)) * t) +
               noise(rng);
  }
  return audio;
}

Result<nlohmann::json> bench_front_end(const BenchAudioOptions& options,
                                       const std::vector<float>& samples) {
  ASSIGN_OR_RETURN(std::shared_ptr<const audio::MelAnalyzer> analyzer,
                   audio::MelAnalyzer::create());
  const double seconds = static_cast<double>(samples.size()) / audio::kSampleRateHz;
  ASSIGN_OR_RETURN(auto whole, time_runs(options, [&]() -> Status {
                     ASSIGN_OR_RETURN(audio::MelSpectrogram mel, analyzer->compute(samples));
                     ASSIGN_OR_RETURN(std::vector<float> windows, audio::clip_windows(mel));
                     return windows.empty() ? Status(ErrorCode::kInternal, "no windows")
                                            : Status::ok_status();
                   }));
  whole["realtime_factor_median"] = seconds * 1000.0 / whole["median_ms"].get<double>();
  constexpr std::size_t kChunk = 320;  // 20 ms
  ASSIGN_OR_RETURN(auto streaming, time_runs(options, [&]() -> Status {
                     audio::StreamingMel stream(analyzer);
                     std::vector<double> rows;
                     for (std::size_t at = 0; at < samples.size(); at += kChunk) {
                       const std::size_t n = std::min(kChunk, samples.size() - at);
                       RETURN_IF_ERROR(stream.push(std::span(samples).subspan(at, n), rows));
                     }
                     return stream.flush(rows);
                   }));
  streaming["realtime_factor_median"] = seconds * 1000.0 / streaming["median_ms"].get<double>();
  return nlohmann::json{{"audio_seconds", seconds},
                        {"mel_and_windows_whole_clip", whole},
                        {"streaming_mel_20ms_chunks", streaming}};
}

Result<nlohmann::json> bench_encoder(const BenchAudioOptions& options, const std::string& path) {
  const runtime::SessionOptions session_options =
      runtime::session_options_from({}, {.intra_op_threads = options.threads});
  ASSIGN_OR_RETURN(auto encoder, pipeline::OnnxFeatureEncoder::create(path, session_options));
  nlohmann::json report{{"model", path},
                        {"intra_op_threads", options.threads},
                        {"device", encoder->session().device_description()},
                        {"results", nlohmann::json::array()}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mel(-4.0f, 4.0f);
  for (int batch : options.batches) {
    std::vector<float> windows(static_cast<std::size_t>(batch) * audio::kWindowSize);
    for (float& v : windows) v = mel(rng);
    ASSIGN_OR_RETURN(auto timing, time_runs(options, [&]() -> Status {
                       return encoder->encode(windows, static_cast<std::size_t>(batch)).status();
                     }));
    timing["batch"] = batch;
    timing["ms_per_window_median"] = timing["median_ms"].get<double>() / batch;
    report["results"].push_back(std::move(timing));
  }
  return report;
}

}  // namespace

Result<nlohmann::json> bench_audio(BenchAudioOptions options) {
  const int core = pin_to_one_core();
  std::vector<float> samples;
  if (options.audio.empty()) {
    samples = synthetic_speechlike(20 * audio::kSampleRateHz);
  } else {
    ASSIGN_OR_RETURN(samples, audio::load_audio(options.audio));
  }
  const char* commit = std::getenv("LIPSYNC_COMMIT");
  nlohmann::json report{{"benchmark", "audio"},
                        {"commit", commit != nullptr ? commit : "unknown"},
                        {"cpu", cpu_name()},
                        {"pinned_core", core},
                        {"audio", options.audio.empty() ? "synthetic 20 s" : options.audio}};
  ASSIGN_OR_RETURN(report["front_end"], bench_front_end(options, samples));
  if (options.encoders.empty()) {
    for (const char* name : {"encoder_tiny.onnx", "encoder.onnx"}) {
      const auto path = std::filesystem::path(options.models_dir) / name;
      if (std::filesystem::exists(path)) options.encoders.push_back(path.string());
    }
  }
  report["encoders"] = nlohmann::json::array();
  for (const auto& path : options.encoders) {
    ASSIGN_OR_RETURN(auto encoder, bench_encoder(options, path));
    report["encoders"].push_back(std::move(encoder));
  }
  return report;
}

}  // namespace lipsync::bench
