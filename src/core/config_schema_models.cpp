// The keys of each model under `models.<id>`: its files, frames and loading.
#include "core/config_schema_sections.h"

namespace lipsync::schema {

std::vector<ConfigKey> model_keys() {
  std::vector<ConfigKey> keys{
      path_key("models.<id>.model_path", MODEL(model_path), PathBase::kModelsRoot, FileRole::kUnet,
               "The person's SyncTalk_2D UNet (ONNX: `input` [B,6,320,320] and `audio` "
               "[B,32,16,16] to `output` [B,3,320,320]). Required.",
               "alice/unet.onnx"),
      path_key("models.<id>.background_dir", MODEL(background_dir), PathBase::kModelsRoot,
               FileRole::kFrameFolder,
               "Folder of the avatar's numbered frames (`frame_000000.jpg`, ...). This or "
               "`source_video` is required; the frames win when the folder has any.",
               "alice/frames"),
      path_key("models.<id>.source_video", MODEL(source_video), PathBase::kModelsRoot,
               FileRole::kVideo, "The avatar's video (25 fps), decoded at load.",
               "alice/video.mp4"),
      path_key("models.<id>.crop_rects_path", MODEL(crop_rects_path), PathBase::kModelsRoot,
               FileRole::kCropRects,
               "The face rectangle of every frame: `crop_rects.json`, `crop_rectangles.json` or "
               "a folder of `.lms` landmark files. One per frame.",
               "alice/crop_rects.json"),
      integer("models.<id>.num_frames", MODEL(num_frames), 0, 10000000,
              "Use only the first N frames (and rects); 0: all.", "500"),
      boolean("models.<id>.accept_any_fps", MODEL(accept_any_fps),
              "Use a `source_video` that is not 25 fps as it is (its frame k plays at 40·k ms, "
              "so the person moves at another speed); otherwise it is refused at load with the "
              "ffmpeg command that converts it.",
              "true"),
      boolean("models.<id>.accept_rects_outside_frame", MODEL(accept_rects_outside_frame),
              "Use rects that cross the frame border (clipped: the mouth is pasted clipped); "
              "otherwise they are refused at load (often rects of a video of another size).",
              "true"),
      boolean("models.<id>.preload_model", MODEL(preload_model),
              "Load at start (`lipsync serve --no-preload` skips it); otherwise on first use.",
              "true"),
      boolean("models.<id>.preload_backgrounds", MODEL(preload_backgrounds),
              "As `preload_model` (the backgrounds are part of the model); kept for the older "
              "configuration.",
              "true"),
      optional_integer("models.<id>.preferred_gpu", MODEL(preferred_gpu), -1, 1024,
                       "CUDA device for this model; -1 or absent: by "
                       "`gpus.assignment_strategy`. Must be one of the configured devices.",
                       "1"),
  };
  ConfigKey required = boolean(
      "models.<id>.required", MODEL(required),
      "`/health/ready` answers 503 while this model has failed to load. Set `false` for a model "
      "whose failure should not take the server out of a load balancer.",
      "false");
  required.default_text = "true when `preload_model` or `preload_backgrounds`, else false";
  keys.push_back(std::move(required));
  return keys;
}

}  // namespace lipsync::schema
