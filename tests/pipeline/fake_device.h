// Fake devices for the executor's tests: a model runner and an audio encoder that log what they
// were given, on which thread, and whose runs can be held at a gate (no sleeps: tests wait for
// conditions).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audio/audio_features.h"
#include "pipeline/model_runner.h"

namespace lipsync::pipeline::testing {

// Counts arrivals and holds them until opened.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void pass() {
    std::unique_lock lock(mutex_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  // Waits until `count` callers arrived; false after 30 s (a hung test fails instead of hanging).
  bool wait_arrived(int count) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return arrived_ >= count; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
  int arrived_ = 0;
};

// What happened on the fake devices, in order, across runners.
struct DeviceLog {
  struct Event {
    std::string what;  // "prepare", "execute", "encode"
    std::string runner;
    std::vector<std::int64_t> frames;  // source frames (UNet) or first values (encoder)
    int slots = 0;                     // batch size run (UNet) or windows (encoder)
    std::thread::id thread;
  };
  std::mutex mutex;
  std::vector<Event> events;
  std::atomic<int> running{0};  // executes and encodes in progress (all runners of the log)
  std::atomic<int> most_running{0};

  void add(Event event) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(event));
  }
  std::vector<Event> of(const std::string& what) {
    std::lock_guard lock(mutex);
    std::vector<Event> out;
    for (const auto& e : events) {
      if (e.what == what) out.push_back(e);
    }
    return out;
  }
  void enter() {
    const int now = ++running;
    int seen = most_running.load();
    while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { --running; }
};

// A model whose output frame k is a 1x1 image with the job's source frame in its first byte
// (JPEG jobs: the source frame as the bytes' first element).
class FakeRunner : public ModelRunner {
 public:
  FakeRunner(std::string name, DeviceLog& log, Gate* gate = nullptr, std::int64_t frames = 200)
      : name_(std::move(name)), log_(log), gate_(gate), frames_(frames) {}

  std::int64_t frame_count() const override { return frames_; }
  std::size_t image_tensor_elements() const override { return 4; }

  Result<std::unique_ptr<Batch>> prepare(std::span<const FrameJob> jobs, int slots,
                                         ThreadPool*) override {
    auto batch = std::make_unique<FakeBatch>();
    for (const FrameJob& job : jobs) batch->frames.push_back(job.source_frame);
    batch->slots = slots;
    batch->jpeg = !jobs.empty() && jobs.front().jpeg.has_value();
    if (fail_prepare_at_frame >= 0 && batch->frames.front() == fail_prepare_at_frame)
      return make_error(ErrorCode::kInternal, "fake prepare failure");
    log_.add({"prepare", name_, batch->frames, slots, std::this_thread::get_id()});
    return std::unique_ptr<Batch>(std::move(batch));
  }
  Status execute(Batch& batch) override {
    auto& fake = static_cast<FakeBatch&>(batch);
    log_.enter();
    log_.add({"execute", name_, fake.frames, fake.slots, std::this_thread::get_id()});
    if (gate_ != nullptr) gate_->pass();
    log_.leave();
    return {};
  }
  Result<RenderedBatch> finish(Batch& batch, const imaging::CompositeOptions&,
                               ThreadPool*) override {
    auto& fake = static_cast<FakeBatch&>(batch);
    RenderedBatch out;
    for (std::int64_t frame : fake.frames) {
      if (fake.jpeg) {
        out.jpegs.push_back({static_cast<std::uint8_t>(frame)});
      } else {
        Image image(1, 1);
        image.pixels[0] = static_cast<std::uint8_t>(frame);
        out.frames.push_back(std::move(image));
      }
    }
    return out;
  }

  std::int64_t fail_prepare_at_frame = -1;

 private:
  struct FakeBatch : Batch {
    std::vector<std::int64_t> frames;
    int slots = 0;
    bool jpeg = false;
  };
  std::string name_;
  DeviceLog& log_;
  Gate* gate_;
  std::int64_t frames_;
};

// An encoder whose feature row k is 512 copies of window k's first value plus one.
class FakeEncoder : public audio::FeatureEncoder {
 public:
  explicit FakeEncoder(DeviceLog& log, Gate* gate = nullptr) : log_(log), gate_(gate) {}
  Result<std::vector<float>> encode(std::span<const float> windows, std::size_t count) override {
    log_.enter();
    std::vector<std::int64_t> firsts;
    std::vector<float> features;
    for (std::size_t k = 0; k < count; ++k) {
      const float first = windows[k * audio::kWindowSize];
      firsts.push_back(static_cast<std::int64_t>(first));
      features.insert(features.end(), audio::kFeatureSize, first + 1.0f);
    }
    log_.add({"encode", "encoder", firsts, static_cast<int>(count), std::this_thread::get_id()});
    if (gate_ != nullptr) gate_->pass();
    log_.leave();
    return features;
  }

 private:
  DeviceLog& log_;
  Gate* gate_;
};

}  // namespace lipsync::pipeline::testing
