// One ONNX model loaded into ONNX Runtime (CPU or CUDA), run one batch at a time.
// The header exposes no ORT types: callers pass float32 spans in C order and get float32 back;
// float16 models are detected from their input element types and converted internally.
//
//   ASSIGN_OR_RETURN(auto unet, Session::create(path, options,
//       {{"input", {-1, 6, 320, 320}}, {"audio", {-1, 32, 16, 16}}}, {{"output", {-1, 3, 320,
//       320}}}));
//   ASSIGN_OR_RETURN(auto outputs, unet->run(std::array{image_span, audio_span}, batch));
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "runtime/session_options.h"

namespace lipsync::runtime {
namespace detail {
struct SplitModel;
}

// name "" = the model's single input (or output), whatever its name; -1 = dynamic dimension.
// shape[0] is the batch dimension.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

enum class ElementType { kFloat32, kFloat16 };

class Session {
 public:
  // Loads `model` and checks it against the expected inputs and outputs (count, names,
  // element type float32/float16, non-dynamic dimensions). Errors name the file and the mismatch.
  static Result<std::unique_ptr<Session>> create(const std::filesystem::path& model,
                                                 const SessionOptions& options,
                                                 std::vector<TensorSpec> inputs,
                                                 std::vector<TensorSpec> outputs);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One run per batch. inputs[i]: batch*prod(shape[1:]) float32 values, C order, for the i-th
  // expected input. Returns one float32 vector per output. Safe to call from several threads.
  Result<std::vector<std::vector<float>>> run(std::span<const std::span<const float>> inputs,
                                              int64_t batch);

  // As run(), but output o is written into outputs[o], batch*prod(shape[1:]) values, so that
  // callers reuse their buffers. Every output dimension after the batch must be known.
  Status run_into(std::span<const std::span<const float>> inputs, int64_t batch,
                  std::span<const std::span<float>> outputs);

  // The same run in three steps, so that a pipeline keeps the device busy: the inputs are
  // written (and converted) into a batch's staging memory, execute() is the run itself — the
  // only step that holds the device — and the outputs are read (and converted) out. Writing and
  // reading may happen on other threads while another batch executes; disjoint ranges of one
  // batch may be written or read from several threads at once.
  //
  //   ASSIGN_OR_RETURN(Session::Batch batch, unet->new_batch(25));     // preparing thread
  //   RETURN_IF_ERROR(batch.write_input(0, k * image_values, image_k));
  //   RETURN_IF_ERROR(unet->execute(batch));                            // the device's thread
  //   RETURN_IF_ERROR(batch.read_output(0, k * output_values, face_k)); // finishing thread
  class Batch {
   public:
    Batch();  // empty: holds no staging memory
    Batch(Batch&&) noexcept;
    Batch& operator=(Batch&&) noexcept;
    ~Batch();  // gives the staging memory back to its session
    int64_t size() const;
    // Writes float32 values into input `input` (C order over [batch, ...]) from value `offset`.
    Status write_input(std::size_t input, std::size_t offset, std::span<const float> values);
    // Reads output `output` from value `offset` into `values`; only after execute() succeeded.
    Status read_output(std::size_t output, std::size_t offset, std::span<float> values) const;

   private:
    friend class Session;
    struct State;
    explicit Batch(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
  };
  // Staging memory for a batch of `batch` frames (reused across batches). Every output
  // dimension after the batch must be known.
  Result<Batch> new_batch(int64_t batch);
  // new_batch() with every input written whole (as run() takes them).
  Result<Batch> stage(std::span<const std::span<const float>> inputs, int64_t batch);
  // On CUDA: copies the written inputs to the device now (else execute() does), so that the
  // copy overlaps another batch's run. Call after the last write_input(). No-op on the CPU.
  Status upload(Batch& batch);
  Status execute(Batch& batch);
  // Every output whole, output o into outputs[o] (batch*prod(shape[1:]) values).
  Status read_outputs(const Batch& batch, std::span<const std::span<float>> outputs) const;

  // Expected specs with names and dimensions resolved from the model (batch stays -1 if dynamic).
  const std::vector<TensorSpec>& inputs() const;
  const std::vector<TensorSpec>& outputs() const;
  // float16 when the model's inputs are float16 (then its outputs are converted too).
  ElementType element_type() const;
  ExecutionProvider provider() const;
  const std::filesystem::path& model_path() const;
  // Host memory the session's runs hold on to, in bytes: on the CPU its arena, which keeps the
  // largest run's activations (the full UNet at batch 4: ~1 GB, more than its weights); 0 on
  // CUDA (the activations are in device memory) and before the first run.
  int64_t working_memory_bytes() const;
  // Staging sets made so far (a batch found none of its size free in the pool): after the
  // first traffic a steadily serving session makes none (on CUDA each is pinned and device
  // memory and a stream). Counted for the ORT sessions this one shares, if any.
  int64_t stagings_made() const;
  // The device the model runs on, as ORT reports it (for benchmark stamps and logs).
  const std::string& device_description() const;
  // How many Sessions (models) run on this one's ORT sessions, itself included: more than 1 when
  // SessionOptions::share_architecture found others of the same architecture; else 1.
  int sharers() const;
  // Bytes of this Session's own weights (SessionOptions::share_architecture; on the device on
  // CUDA): 0 when its weights are inside ORT sessions of its own.
  int64_t own_weight_bytes() const;
  // CUDA: while on, each run ends with ORT giving the device memory its session's arena holds
  // but no tensor uses back to the device (ORT's memory.enable_memory_arena_shrinkage). For a
  // model's warm-up: cuDNN's algorithm search takes workspaces far larger than the runs need,
  // and an arena never shrinks by itself. Costs a cudaFree per region: not for serving runs.
  // No effect on the CPU.
  void set_arena_shrinking(bool on);
  // With SessionOptions::profile_prefix: stops ORT's profiler and returns the JSON file it wrote
  // (later runs are not recorded). An error when profiling is off or the file was not written.
  Result<std::filesystem::path> end_profiling();

 private:
  struct Impl;
  struct Weights;
  Session(std::shared_ptr<Impl> impl, std::filesystem::path path,
          std::unique_ptr<Weights> weights);
  // The ORT sessions of `model`: from its file, or (split) from its graph with its Conv weights
  // as inputs.
  static Result<std::shared_ptr<Impl>> open_sessions(const std::filesystem::path& model,
                                                     const SessionOptions& options,
                                                     std::vector<TensorSpec> inputs,
                                                     std::vector<TensorSpec> outputs,
                                                     const detail::SplitModel* split);
  // share_architecture: a Session on the shared sessions of `model`'s architecture (made now
  // when none exist), with its own weights. *not_shareable: the model cannot be split (logged);
  // the caller opens it on sessions of its own.
  static Result<std::unique_ptr<Session>> create_shared(const std::filesystem::path& model,
                                                        const SessionOptions& options,
                                                        std::vector<TensorSpec> inputs,
                                                        std::vector<TensorSpec> outputs,
                                                        bool* not_shareable);
  std::shared_ptr<Impl> impl_;  // shared by the Sessions of one architecture
  std::filesystem::path path_;
  std::unique_ptr<Weights> weights_;  // null: the weights are in impl_'s ORT sessions
  std::atomic<bool> shrink_arena_{false};
};

// IEEE 754 binary16 <-> binary32, round to nearest even. `to` must be as long as `from`.
void float_to_half(std::span<const float> from, std::span<uint16_t> to);
void half_to_float(std::span<const uint16_t> from, std::span<float> to);

// Values per frame of a spec: prod(shape[1:]); -1 if some dimension is dynamic.
int64_t values_per_frame(const TensorSpec& spec);

}  // namespace lipsync::runtime
