#!/usr/bin/env python3
"""Writes the demo models: plain ONNX graphs with the real I/O contract whose effect a person can
see and a test can measure. They only demonstrate the pipeline; real lip-sync needs a trained
SyncTalk_2D model.

  demo_encoder.onnx  mel_spectrogram [B,1,80,16] -> audio_features [B,512]
      feature j = loudness of mel row (j mod 16) of the window: mean over the 80 normalised mel
      bins, shifted by +4 so that silence (-4) is 0, ReLU. The 16 rows of a window span
      200 ms from the window's start (pipeline.md §2), so the features keep the time profile.
  demo_unet.onnx     input [B,6,320,320], audio [B,32,16,16] -> output [B,3,320,320]
      output = the reference image (input channels 0-2) with a dark mouth opening whose
      half-height follows the loudness of the output frame's own 40 ms: F_pad row 9 of the
      frame's 16-row audio window (= encoder window i, pipeline.md §3) and, in it, mel rows
      0..3 (the first 40 ms of that window) -> audio channel 18, row 0, columns 0..3.

Geometry (ROI pixels, 320x320): the mouth centre and size are parameters; the demo avatar
generator draws its face so that the mouth lands there.
Usage: make_demo_models.py --out DIR
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ROI = 320

# ROI-space mouth geometry shared with the demo avatar (src/cli/demo_command.cpp).
MOUTH_X = 160
MOUTH_Y = 224
MOUTH_HALF_WIDTH = 46
MAX_HALF_HEIGHT = 30
PIXELS_PER_LOUDNESS = 9.0   # half-height in pixels per unit of (mel + 4)
LOUDNESS_FLOOR = 1.0        # loudness below this keeps the mouth closed (background noise)
MOUTH_BGR = (0.12, 0.08, 0.30)


def const(name, array, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def save(model, path):
    onnx.checker.check_model(model)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model.SerializeToString())
    os.replace(tmp, path)
    print(path)


def demo_encoder():
    nodes = [
        helper.make_node("ReduceMean", ["mel_spectrogram"], ["row_mean"], axes=[2], keepdims=1),
        helper.make_node("Add", ["row_mean", "four"], ["shifted"]),        # [B,1,1,16]
        helper.make_node("Relu", ["shifted"], ["loudness"]),
        helper.make_node("Tile", ["loudness", "repeats"], ["tiled"]),      # [B,1,1,512]
        helper.make_node("Flatten", ["tiled"], ["audio_features"], axis=1),
    ]
    inits = [const("four", 4.0), const("repeats", [1, 1, 1, 32], np.int64)]
    graph = helper.make_graph(
        nodes, "demo_encoder",
        [helper.make_tensor_value_info("mel_spectrogram", TensorProto.FLOAT, ["batch", 1, 80, 16])],
        [helper.make_tensor_value_info("audio_features", TensorProto.FLOAT, ["batch", 512])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="lipsync make_demo_models.py")


def demo_unet():
    ys = np.arange(ROI, dtype=np.float32).reshape(1, 1, ROI, 1)
    xs = np.arange(ROI, dtype=np.float32).reshape(1, 1, 1, ROI)
    # An ellipse: at column x the opening's half-height is half * sqrt(1 - (dx / half_width)^2).
    width_profile = np.sqrt(np.clip(1.0 - ((xs - MOUTH_X) / MOUTH_HALF_WIDTH) ** 2, 0.0, 1.0))
    nodes = [
        helper.make_node("Slice", ["input", "img_start", "img_end", "axis1"], ["image"]),
        helper.make_node("Slice", ["audio", "aud_start", "aud_end", "axes123"], ["slot"]),
        helper.make_node("ReduceMean", ["slot"], ["loud"], axes=[1, 2, 3], keepdims=1),  # [B,1,1,1]
        helper.make_node("Sub", ["loud", "floor"], ["over"]),
        helper.make_node("Mul", ["over", "gain"], ["half_raw"]),
        helper.make_node("Clip", ["half_raw", "zero", "max_half"], ["half"]),
        helper.make_node("Mul", ["half", "width_profile"], ["half_at_x"]),         # [B,1,1,320]
        helper.make_node("Abs", ["dy"], ["abs_dy"]),                               # const [1,1,320,1]
        helper.make_node("Sub", ["half_at_x", "abs_dy"], ["inside_raw"]),          # [B,1,320,320]
        helper.make_node("Clip", ["inside_raw", "zero", "one"], ["mask"]),         # 1-px soft edge
        helper.make_node("Sub", ["one", "mask"], ["keep"]),
        helper.make_node("Mul", ["image", "keep"], ["kept"]),
        helper.make_node("Mul", ["mask", "mouth_bgr"], ["painted"]),               # [B,3,320,320]
        helper.make_node("Add", ["kept", "painted"], ["mixed"]),
        helper.make_node("Clip", ["mixed", "zero", "one"], ["output"]),
    ]
    inits = [
        const("img_start", [0], np.int64), const("img_end", [3], np.int64),
        const("axis1", [1], np.int64),
        const("aud_start", [18, 0, 0], np.int64), const("aud_end", [19, 1, 4], np.int64),
        const("axes123", [1, 2, 3], np.int64),
        const("floor", LOUDNESS_FLOOR), const("gain", PIXELS_PER_LOUDNESS),
        const("max_half", float(MAX_HALF_HEIGHT)), const("zero", 0.0), const("one", 1.0),
        const("dy", ys - MOUTH_Y), const("width_profile", width_profile),
        const("mouth_bgr", np.array(MOUTH_BGR, dtype=np.float32).reshape(1, 3, 1, 1)),
    ]
    graph = helper.make_graph(
        nodes, "demo_unet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 6, ROI, ROI]),
         helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", 32, 16, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3, ROI, ROI])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="lipsync make_demo_models.py")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, model in (("demo_encoder", demo_encoder()), ("demo_unet", demo_unet())):
        model.ir_version = 8
        save(model, os.path.join(args.out, name + ".onnx"))


if __name__ == "__main__":
    main()
