// Internal to module `runtime`: CUDA graphs (SessionOptions::cuda_graph); Session::Impl's
// graph_slot() and execute_graph() live in cuda_graph.cpp. Not included outside src/runtime (it
// exposes ORT types).
//
// ORT replays a captured graph with the device addresses it was captured with, so each graph has
// its own inputs and outputs at fixed addresses, and a batch is copied into and out of them on
// the device around the run (46 MB at batch 25 in float16: tens of microseconds). ORT keeps
// graphs per calling thread: a slot belongs to the thread that first ran it, other threads run
// that batch size uncaptured.
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "runtime/staging.h"

namespace lipsync::runtime::detail {

struct GraphSlot {
  int64_t batch = 0;
  std::thread::id thread;
  int runs = 0;                       // runs with this graph id so far
  std::vector<StagingMemory> memory;  // declared first: freed after the tensors over it
  std::vector<Ort::Value> inputs;
  std::vector<Ort::Value> outputs;
};

}  // namespace lipsync::runtime::detail
