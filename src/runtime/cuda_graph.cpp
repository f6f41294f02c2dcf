// CUDA graphs of a session's batches (SessionOptions::cuda_graph; see cuda_graph.h).
#include "runtime/cuda_graph.h"

#include <onnxruntime_run_options_config_keys.h>

#include <algorithm>
#include <shared_mutex>
#include <string>

#include "core/log.h"
#include "runtime/ort_env.h"
#include "runtime/session_impl.h"

namespace lipsync::runtime {
namespace {

// Uncaptured runs of a batch size before it gets a graph, so that ORT has allocated what runs
// of that shape need (no allocation may happen while capturing).
constexpr int kRunsBeforeGraph = 3;
// Runs of a new graph id during which ORT may capture (it captures after two regular runs;
// one more for margin).
constexpr int kCaptureRuns = 4;
constexpr std::size_t kMaxGraphs = 4;  // batch sizes with a graph, per session

}  // namespace

using detail::GraphSlot;
using detail::Staging;

GraphSlot* Session::Impl::graph_slot(const Staging& staging) {
  if (!cuda_graph || graphs_failed || staging.device_inputs.empty()) return nullptr;
  const auto thread = std::this_thread::get_id();
  for (const auto& slot : graphs) {
    if (slot->batch == staging.batch) return slot->thread == thread ? slot.get() : nullptr;
  }
  if (graphs.size() >= kMaxGraphs || ++uncaptured_runs[staging.batch] <= kRunsBeforeGraph)
    return nullptr;
  auto slot = std::make_unique<GraphSlot>();
  slot->batch = staging.batch;
  slot->thread = thread;
  try {
    for (std::size_t i = 0; i < inputs.size(); ++i)
      slot->inputs.push_back(allocate(inputs[i], model_inputs[i], slot->batch, slot->memory, true));
    for (std::size_t o = 0; o < outputs.size(); ++o)
      slot->outputs.push_back(
          allocate(outputs[o], model_outputs[o], slot->batch, slot->memory, true));
  } catch (const Ort::Exception& e) {  // not an error: the batch runs uncaptured
    LOG_WARN("runtime",
             "model '{}': no memory for a CUDA graph for batch {} ({}); runs are "
             "uncaptured from now on",
             path.string(), slot->batch, e.what());
    graphs_failed = true;
    return nullptr;
  }
  uncaptured_runs.erase(staging.batch);
  graphs.push_back(std::move(slot));
  LOG_INFO("runtime", "model '{}': CUDA graph {} for batch {}", path.string(), graphs.size(),
           staging.batch);
  return graphs.back().get();
}

void Session::Impl::execute_graph(Staging& staging, GraphSlot& slot) {
  // While ORT may capture, nothing else in the process touches CUDA; a replay only keeps
  // captures of other devices' sessions away.
  std::unique_lock capturing(detail::cuda_activity(), std::defer_lock);
  std::shared_lock replaying(detail::cuda_activity(), std::defer_lock);
  if (slot.runs < kCaptureRuns) {
    capturing.lock();
  } else {
    replaying.lock();
  }
  auto check = [](const Status& status) {
    if (!status.ok()) throw Ort::Exception(std::string(status.message()), ORT_FAIL);
  };
  check(copy_unlocked(staging.device_inputs, slot.inputs, staging, "copying into the graph"));
  Ort::Session& run_session = session_for(staging.batch);
  Ort::IoBinding binding(run_session);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    binding.BindInput(inputs[i].name.c_str(), slot.inputs[i]);
  for (std::size_t o = 0; o < outputs.size(); ++o)
    binding.BindOutput(outputs[o].name.c_str(), slot.outputs[o]);
  const std::size_t index =
      std::find_if(graphs.begin(), graphs.end(), [&](const auto& g) { return g.get() == &slot; }) -
      graphs.begin();
  Ort::RunOptions run_options;
  run_options.AddConfigEntry(kOrtRunOptionsConfigCudaGraphAnnotation,
                             std::to_string(index + 1).c_str());
  run_session.Run(run_options, binding);
  binding.SynchronizeOutputs();
  ++slot.runs;
  check(copy_unlocked(slot.outputs, staging.device_outputs, staging, "copying out of the graph"));
}

}  // namespace lipsync::runtime
