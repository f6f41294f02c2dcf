// One executor per device (the CPU is one device, each CUDA ordinal one): the only caller of
// runs on that device, for the UNet batches of every model placed there and for the device's
// audio encoder. The rest of the process submits work and gets futures; the executor decides
// what runs next (style.md rule 3; Triton's dynamic batcher and llama.cpp's slot loop in spirit).
//
// Scheduling (continuous, deadline-aware batching):
//   - Every queued frame carries a deadline (see Scheduler for the rules). A UNet batch takes
//     the queued frames of ONE model in deadline order, merging every request and session of
//     that model, up to max_batch; the model is the one whose earliest frame is due first among
//     those ready to form a batch. A model is ready once it has max_batch frames queued, or its
//     oldest queued frame has waited max_queue_delay (so concurrent requests can join), or the
//     executor is stopping.
//   - A batch of n frames runs at the smallest of `batch_sizes` ≥ n (the shapes warmed at load;
//     a batch of 3 runs as 4, not as max_batch); the extra slots repeat a frame and are dropped.
//   - Every step runs one audio-encoder run of the pending mel windows of all requests and
//     sessions in deadline order (up to encoder_max_batch), alternating with UNet batches.
//   - Preparing a batch (image and audio tensors, upload) happens on a preparer thread while the
//     device runs the previous batch (prepare_ahead batches are formed ahead); compositing and
//     JPEG encoding happen on a finisher thread; both parallelise over the thread pool. Results
//     are handed over through futures: nothing on the device's path waits for a consumer.
//   - Queues are bounded: a submit beyond max_queued_frames (or windows) is refused at once
//     with RESOURCE_EXHAUSTED. cancel() answers the queued work of a CancelFlag with CANCELLED at
//     once; its frames never run.
//
//   DeviceExecutor cpu("cpu", options, &pool, encoder.get());
//   auto frames = cpu.submit({.model_id = "a", .runner = runner, .request = r, .deadlines = d});
//   auto features = cpu.encode(windows, count, SteadyClock::now());
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audio/audio_features.h"
#include "core/bounded_queue.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "pipeline/model_runner.h"
#include "pipeline/render_request.h"

namespace lipsync::pipeline {

struct ExecutorOptions {
  int max_batch = 25;  // frames per UNet run
  // The sizes UNet batches run at, ascending, the last one max_batch (normalised by the
  // constructor: sizes above max_batch dropped, max_batch added). Empty: every size
  // 1..max_batch (no padding: right for the CPU, where a new shape costs nothing).
  std::vector<int> batch_sizes;
  std::chrono::milliseconds max_queue_delay{5};
  // Requests of one model with frames still queued (pipeline.max_queue_depth).
  std::size_t max_queued_requests = 64;
  std::size_t max_queued_frames = 4096;    // all models of the device
  std::size_t max_queued_windows = 65536;  // mel windows waiting for the encoder
  std::size_t encoder_max_batch = audio::kDefaultEncoderBatch;  // windows per encoder run
  int prepare_ahead = 1;  // batches formed and prepared while the device runs one
};

// Frames of one model to render: what submit() takes.
struct UnetWork {
  std::string model_id;
  // The model on this device. Work with the same runner is batched together; the pointer keeps
  // the model alive (and loaded) until the work is answered.
  std::shared_ptr<ModelRunner> runner;
  // Checked: frames in range, tensor sizes. Its `deadlines` (one per frame) say when each frame
  // is due; its `cancel` flag (may be null) cancels it.
  RenderRequest request;
  // Called once with a successful answer before the future gets it; may amend it (the
  // registry's statistics, the model-load fields).
  std::function<void(RenderResult&)> on_done;
  // Admitted already (it waited for its model's load in a bounded queue): not refused because
  // the model's queue is full.
  bool admitted = false;
};

struct ExecutorStats {
  std::int64_t batches = 0;
  std::int64_t frames = 0;        // frames rendered (padded slots not counted)
  std::int64_t padded_slots = 0;  // slots run only to reach a batch size
  std::int64_t requests = 0;      // UnetWork answered with frames
  int largest_batch_frames = 0;
  int largest_batch_requests = 0;               // distinct UnetWork in one batch
  std::map<int, std::int64_t> batches_by_size;  // by the size the batch ran at
  std::int64_t encoder_runs = 0;
  std::int64_t encoder_windows = 0;
  std::size_t largest_encoder_run = 0;   // windows in one encoder run
  int largest_encoder_run_requests = 0;  // distinct encode() calls in one run
  std::int64_t rejected = 0;             // submits refused because a queue was full
  std::int64_t cancelled = 0;            // frames and windows answered CANCELLED unrun
};

// Called after each UNet batch ran, before its answers go out: the model, the batch's frames and
// the frames of that model still queued.
using BatchObserver = std::function<void(const std::string& model_id, int frames, int queued)>;

class DeviceExecutor {
 public:
  // `pool` parallelises prepare and finish (may be null); `encoder` (may be null: encode()
  // then fails) runs only on this executor's device thread; both must outlive the executor.
  DeviceExecutor(std::string device, ExecutorOptions options, ThreadPool* pool,
                 audio::FeatureEncoder* encoder, BatchObserver observer = {});
  ~DeviceExecutor();  // refuses new work, runs what is queued, joins its threads
  DeviceExecutor(const DeviceExecutor&) = delete;
  DeviceExecutor& operator=(const DeviceExecutor&) = delete;

  // Errors (in the future): INVALID_ARGUMENT for frames outside the avatar or tensors of the
  // wrong size, RESOURCE_EXHAUSTED when the device's queue is full, CANCELLED, UNAVAILABLE after
  // shutdown, and whatever a step reports.
  std::future<Result<RenderResult>> submit(UnetWork work);
  // As submit(), answering into `answer`.
  void submit(UnetWork work, std::promise<Result<RenderResult>> answer);

  // Features [count, 512] of `count` mel windows [count, 1, 80, 16], batched with every other
  // pending window of the device. Errors as submit().
  std::future<Result<std::vector<float>>> encode(std::vector<float> windows, std::size_t count,
                                                 TimePoint deadline,
                                                 std::shared_ptr<CancelFlag> cancel = {});

  // Runs `task` on the device thread between batches (tests use it to hold the device).
  std::future<Status> run_on_device(std::function<Status()> task);

  // Sets `flag` and answers the work carrying it with CANCELLED at once, unless its frames are
  // running already: its queued frames never run, those of batches formed but not yet running
  // run but are dropped.
  void cancel(const std::shared_ptr<CancelFlag>& flag);

  const std::string& device() const { return device_; }
  bool has_encoder() const { return encoder_ != nullptr; }
  const ExecutorOptions& options() const { return options_; }
  // The size a batch of `frames` frames runs at.
  int batch_size_for(int frames) const;
  ExecutorStats stats() const;
  int queued_frames(const std::string& model_id) const;
  // Requests of the model with frames still queued.
  int queued_requests(const std::string& model_id) const;
  std::size_t queued_windows() const;

 private:
  struct Work;
  struct EncodeWork;
  struct QueuedFrame;
  struct ModelQueue;
  struct Batch;
  // A queue per model and way of pasting faces: only frames that paste alike share a batch.
  struct QueueKey {
    const ModelRunner* runner = nullptr;
    imaging::CompositeOptions composite;
    bool operator<(const QueueKey& other) const;
  };
  static QueueKey queue_key_of(const UnetWork& work);
  struct ByDeadline {
    bool operator()(const QueuedFrame& a, const QueuedFrame& b) const;
  };
  struct EncodeOrder {
    bool operator()(const std::shared_ptr<EncodeWork>& a,
                    const std::shared_ptr<EncodeWork>& b) const;
  };
  using BatchPtr = std::shared_ptr<Batch>;

  void device_loop();
  void prepare_loop();
  void finish_loop();
  // Forms batches while fewer than prepare_ahead wait to run; returns when the next model
  // becomes ready by its queue delay (max() when none waits). On the preparer thread.
  TimePoint form_batches_locked(TimePoint now);
  ModelQueue* ready_model_locked(TimePoint now, TimePoint* next_ready);
  void form_batch_locked(ModelQueue& queue, TimePoint now);
  void run_encoder(std::unique_lock<std::mutex>& lock);
  void execute_head(std::unique_lock<std::mutex>& lock);
  void deliver(Batch& batch, Result<RenderedBatch> rendered);
  void answer_locked(Work& work, Result<RenderResult> result);
  void answer_encode_locked(EncodeWork& work, Result<std::vector<float>> result);
  void drop_queued_locked(Work& work);
  void left_queue_locked(ModelQueue& queue, Work& work);
  bool idle_locked() const;

  const std::string device_;
  const ExecutorOptions options_;
  ThreadPool* const pool_;
  audio::FeatureEncoder* const encoder_;
  const BatchObserver observer_;

  mutable std::mutex mutex_;
  std::condition_variable device_wake_;
  std::condition_variable prepare_wake_;
  bool stopping_ = false;
  bool device_done_ = false;
  std::uint64_t next_sequence_ = 0;
  std::uint64_t next_batch_id_ = 0;
  std::size_t queued_frames_ = 0;
  std::size_t queued_windows_ = 0;
  std::map<QueueKey, std::unique_ptr<ModelQueue>> queues_;
  std::set<std::shared_ptr<EncodeWork>, EncodeOrder> encode_queue_;
  std::deque<std::packaged_task<Status()>> device_tasks_;
  std::deque<BatchPtr> formed_;  // formed, in order: waiting, preparing or prepared
  ExecutorStats stats_;
  BoundedQueue<BatchPtr> to_finish_;

  std::thread device_thread_;
  std::thread prepare_thread_;
  std::thread finish_thread_;
};

// The sizes of `options` normalised as the constructor does: ascending, unique, within
// [1, max_batch], ending with max_batch.
std::vector<int> normalised_batch_sizes(const ExecutorOptions& options);

}  // namespace lipsync::pipeline
