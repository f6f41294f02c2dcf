// Session::Batch: a run in three steps (write, execute, read) over a batch's staging memory.
#include <atomic>
#include <mutex>
#include <string>

#include "runtime/model_tensors.h"
#include "runtime/ort_error.h"
#include "runtime/session.h"
#include "runtime/session_impl.h"
#include "runtime/tensor_copy.h"

namespace lipsync::runtime {

using detail::copy_in;
using detail::copy_out;
using detail::shape_text;
using detail::Staging;

struct Session::Batch::State {
  Session::Impl* impl = nullptr;
  Staging staging;
  std::vector<Ort::Value> no_direct;   // every input is staged
  std::vector<Ort::Value> produced;    // filled by execute() (host memory)
  std::atomic<bool> uploaded = false;  // the device copies of the inputs are current
  std::mutex download_mutex;           // the outputs come to the host on the first read
  bool downloaded = false;
  Status download_status;
  bool executed = false;

  bool on_device() const { return !staging.device_inputs.empty(); }
  // Output o in host memory, after execute().
  const Ort::Value& output(std::size_t o) const {
    return on_device() ? staging.outputs[o] : produced[o];
  }
  ~State() {
    if (impl != nullptr) {
      produced.clear();
      impl->give_back(std::move(staging));
    }
  }
  // Checks that [offset, offset + count) lies within `index` of `specs` for this batch.
  Status check_range(const char* kind, const std::vector<TensorSpec>& specs, std::size_t index,
                     std::size_t offset, std::size_t count) const {
    if (index >= specs.size()) {
      return make_error(ErrorCode::kInvalidArgument, "model '{}': no {} {} (it has {})",
                        impl->path.string(), kind, index, specs.size());
    }
    const auto total = static_cast<std::size_t>(staging.batch * values_per_frame(specs[index]));
    if (offset > total || count > total - offset) {
      return make_error(
          ErrorCode::kInvalidArgument, "model '{}': values [{}, {}) outside {} '{}' of {} values",
          impl->path.string(), offset, offset + count, kind, specs[index].name, total);
    }
    return {};
  }
};

Session::Batch::Batch() = default;
Session::Batch::Batch(std::unique_ptr<State> state) : state_(std::move(state)) {}
Session::Batch::Batch(Batch&&) noexcept = default;
Session::Batch& Session::Batch::operator=(Batch&&) noexcept = default;
Session::Batch::~Batch() = default;
int64_t Session::Batch::size() const {
  return state_ == nullptr ? 0 : state_->staging.batch;
}

Status Session::Batch::write_input(std::size_t input, std::size_t offset,
                                   std::span<const float> values) {
  if (state_ == nullptr) return make_error(ErrorCode::kInvalidArgument, "an empty batch");
  Impl& impl = *state_->impl;
  RETURN_IF_ERROR(state_->check_range("input", impl.inputs, input, offset, values.size()));
  copy_in(values, state_->staging.inputs[input], impl.half(impl.model_inputs[input]), offset);
  state_->uploaded = false;
  return {};
}

Status Session::Batch::read_output(std::size_t output, std::size_t offset,
                                   std::span<float> values) const {
  if (state_ == nullptr || !state_->executed) {
    return make_error(ErrorCode::kInvalidArgument, "outputs read from a batch that did not run");
  }
  Impl& impl = *state_->impl;
  RETURN_IF_ERROR(state_->check_range("output", impl.outputs, output, offset, values.size()));
  if (state_->on_device()) {
    std::lock_guard lock(state_->download_mutex);
    if (!state_->downloaded) {
      state_->download_status = impl.copy(state_->staging.device_outputs, state_->staging.outputs,
                                          state_->staging, "downloading");
      state_->downloaded = true;
    }
    RETURN_IF_ERROR(state_->download_status);
  }
  copy_out(state_->output(output), values, impl.half(impl.model_outputs[output]), offset);
  return {};
}

Result<Session::Batch> Session::new_batch(int64_t batch) {
  if (batch <= 0 || (impl_->inputs[0].shape[0] > 0 && impl_->inputs[0].shape[0] != batch)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': batch {} is not accepted (batch dimension {})",
                      path_.string(), batch, impl_->inputs[0].shape[0]);
  }
  for (const auto& spec : impl_->outputs) {
    if (values_per_frame(spec) < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': output '{}' has shape {}; a staged batch needs every "
                        "dimension after the batch",
                        path_.string(), spec.name, shape_text(spec.shape));
    }
  }
  auto state = std::make_unique<Batch::State>();
  RETURN_IF_ERROR(detail::ort_guard(
      ErrorCode::kResourceExhausted,
      [&] {
        return fmt::format("model '{}': staging batch {} failed", path_.string(), batch);
      },
      [&] { state->staging = impl_->take_staging(batch, true); }));
  state->impl = impl_.get();
  return Batch(std::move(state));
}

Result<Session::Batch> Session::stage(std::span<const std::span<const float>> inputs,
                                      int64_t batch) {
  RETURN_IF_ERROR(impl_->check_run_inputs(inputs, batch));
  ASSIGN_OR_RETURN(Batch staged, new_batch(batch));
  for (std::size_t i = 0; i < inputs.size(); ++i)
    RETURN_IF_ERROR(staged.write_input(i, 0, inputs[i]));
  return staged;
}

Status Session::upload(Batch& batch) {
  auto* state = batch.state_.get();
  if (state == nullptr || state->impl != impl_.get()) {
    return make_error(ErrorCode::kInvalidArgument, "model '{}': the batch was not staged here",
                      path_.string());
  }
  if (!state->on_device() || state->uploaded) return {};
  RETURN_IF_ERROR(impl_->copy(state->staging.inputs, state->staging.device_inputs, state->staging,
                              "uploading"));
  state->uploaded = true;
  return {};
}

Status Session::execute(Batch& batch) {
  RETURN_IF_ERROR(upload(batch));
  auto* state = batch.state_.get();
  state->executed = false;
  RETURN_IF_ERROR(detail::ort_guard(
      ErrorCode::kInternal,
      [&] {
        return fmt::format("model '{}': run of batch {} failed", path_.string(),
                           state->staging.batch);
      },
      [&] {
        state->produced = impl_->execute_bound(state->staging, state->no_direct, {}, *this);
      }));
  if (state->on_device()) {  // the first read_output() downloads, on the reading thread
    state->produced.clear();
    std::lock_guard lock(state->download_mutex);
    state->downloaded = false;
  }
  state->executed = true;
  return {};
}

Status Session::read_outputs(const Batch& batch, std::span<const std::span<float>> outputs) const {
  if (outputs.size() != impl_->outputs.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': {} output buffer(s) given, {} expected", path_.string(),
                      outputs.size(), impl_->outputs.size());
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const auto want = static_cast<std::size_t>(batch.size() * values_per_frame(impl_->outputs[o]));
    if (outputs[o].size() != want) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': output '{}' has {} values, the buffer {}",
                        path_.string(), impl_->outputs[o].name, want, outputs[o].size());
    }
    RETURN_IF_ERROR(batch.read_output(o, 0, outputs[o]));
  }
  return {};
}

}  // namespace lipsync::runtime
