// The keys of the `pipeline` and `output` sections: batching of UNet runs, served frames.
#include "core/config_schema_sections.h"

namespace lipsync::schema {

std::vector<ConfigKey> pipeline_and_output_keys() {
  ConfigKey max_batch = integer(
      "pipeline.max_batch", TOP(pipeline.max_batch), 1, 256,
      "Most frames per UNet run; requests for one model are batched together up to it. On the "
      "CPU a larger batch needs more memory without running faster (the full UNet: 1.5 GB at 4, "
      "about 10 GB at 25).",
      "32");
  max_batch.default_text = "25 (CUDA), 4 (CPU)";
  ConfigKey batch_sizes = integer_list(
      "pipeline.cuda_batch_sizes", TOP(pipeline.cuda_batch_sizes), 1, 256,
      "CUDA: the batch sizes a GPU runs, comma-separated; a batch runs at the smallest that "
      "holds it (a batch of 3 as 4), and `max_batch` is always one (larger sizes are dropped). "
      "Each size is an ORT session of its own per model, warmed up at load: fewer sizes load "
      "faster and take less GPU memory (each size's arena grows to what its runs take; the "
      "full test UNet on an H100: ~2.6 GB for 25), more pad less. Ignored on the CPU, where a "
      "batch runs at its own size.",
      "\"1, 4, 25\"");
  batch_sizes.default_text = "1, 2, 4, 8, 16, 25, 32 (capped by max_batch)";
  return {
      std::move(max_batch),
      integer("pipeline.max_queue_delay_ms", TOP(pipeline.max_queue_delay_ms), 0, 10000,
              "How long a batch waits for more requests of its model before it runs.", "2"),
      integer("pipeline.max_queue_depth", TOP(pipeline.max_queue_depth), 1, 100000,
              "Pending requests per model; one more is refused with RESOURCE_EXHAUSTED.", "128"),
      std::move(batch_sizes),
      choice<OutputFormat>("output.format", TOP(output.format),
                           {{"jpeg", OutputFormat::kJpeg}, {"raw", OutputFormat::kRaw}},
                           "Compat API frames: JPEG, or raw BGR bytes.", "raw"),
      integer("output.jpeg_quality", TOP(output.jpeg_quality), 1, 100,
              "JPEG quality of served frames.", "90"),
      choice<ChromaSubsampling>(
          "output.chroma_subsampling", TOP(output.chroma_subsampling),
          {{"420", ChromaSubsampling::k420}, {"444", ChromaSubsampling::k444}},
          "JPEG chroma subsampling of served frames.", "\"444\""),
  };
}

}  // namespace lipsync::schema
