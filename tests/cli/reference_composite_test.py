#!/usr/bin/env python3
"""Whole frames of `lipsync render` against a composite made independently, the way the
reference renderer makes it (SyncTalk_2D's inference_328.py with cv2; pipeline.md §4-7):

  crop = frame[y1:y2, x1:x2]; crop328 = cv2.resize(crop, (328, 328), INTER_CUBIC)
  input = [roi, roi with rows 5..309 x columns 5..314 zeroed] / 255, BGR (roi = crop328[4:324])
  crop328[4:324, 4:324] = uint8(255 * output)        (truncated)
  frame[y1:y2, x1:x2] = cv2.resize(crop328, (w, h), INTER_CUBIC)
  output frame i shows source frame 1, 2, .., N-1, N-2, .., 0, 1, .. (ping-pong)

No OpenCV here: cv2.resize's INTER_CUBIC for 8-bit images is written out below as OpenCV
computes it (float32 positions and weights, weights rounded to 11 fractional bits, integer sums,
replicated borders), from the spec's description of its semantics, not from OpenCV's code.

The avatar is a folder of lossless PNG frames (odd size, textured) with rects of several sizes,
one at the frame's right edge; the UNet is a small ONNX model (one 1x1 convolution over the six
input channels and a sigmoid) whose output this script computes itself, so the face's pixels
are checked through every geometric step, not only the model. The output is a PNG folder
(`--frame-format png`): the composited pixels as they are.

Checks: with the default background store (auto: raw pixels for an avatar this small) every
pixel outside the face equals the source exactly and every face pixel is within 1 grey level of
the reference (the UNet runs in float32 in ONNX Runtime; 255 * v truncated may land one level
apart); with `--background-store jpeg` the background is no longer exact (the check can fail).

Usage: reference_composite_test.py --lipsync BIN --encoder ENCODER.onnx --work DIR
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WIDTH, HEIGHT = 241, 181  # odd on purpose: PNG frames keep any size
FRAMES = 6
CROP = 328  # pipeline.md §5: the crop's size; the UNet sees its inner 320x320
BORDER = 4
SAMPLE_RATE = 16000


# ---- PNG (8-bit RGB, the format FFmpeg writes and reads here) ----

def write_png(path, bgr):
    rgb = bgr[:, :, ::-1]
    raw = b"".join(b"\x00" + row.tobytes() for row in rgb)  # filter 0 on every row

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", bgr.shape[1], bgr.shape[0], 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour == 2 and interlace == 0, (path, depth, colour)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 3 * width
    out = np.zeros((height, stride), np.int64)
    prev = np.zeros(stride, np.int64)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if kind == 0:
            cur = row
        elif kind == 2:
            cur = (row + prev) & 255
        else:  # Sub, Average, Paeth: each byte depends on the one 3 bytes left of it
            cur = row.copy()
            for x in range(stride):
                left = cur[x - 3] if x >= 3 else 0
                upper_left = prev[x - 3] if x >= 3 else 0
                if kind == 1:
                    cur[x] = (row[x] + left) & 255
                elif kind == 3:
                    cur[x] = (row[x] + (left + prev[x]) // 2) & 255
                else:
                    cur[x] = (row[x] + paeth(left, prev[x], upper_left)) & 255
        out[y] = cur
        prev = cur
    return out.reshape(height, width, 3)[:, :, ::-1].astype(np.uint8)  # RGB -> BGR


# ---- cv2.resize(..., INTER_CUBIC) of an 8-bit image ----

def cubic_taps(src, dst):
    """Per output position: the 4 source indices (replicated at the borders) and their weights
    in 11-bit fixed point."""
    scale = 1.0 / (dst / src)  # OpenCV keeps the inverse scale and inverts it, in double
    fx = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    sx = np.floor(fx)
    x = (fx - sx).astype(np.float32)
    a = np.float32(-0.75)  # the Keys cubic of OpenCV
    one = np.float32(1)
    c0 = ((a * (x + one) - 5 * a) * (x + one) + 8 * a) * (x + one) - 4 * a
    c1 = ((a + 2) * x - (a + 3)) * x * x + one
    c2 = ((a + 2) * (one - x) - (a + 3)) * (one - x) * (one - x) + one
    c3 = one - c0 - c1 - c2
    weights = np.rint(np.stack([c0, c1, c2, c3], 1).astype(np.float32) * np.float32(2048))
    index = np.clip(sx.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :], 0, src - 1)
    return index, weights.astype(np.int64)


def resize_cubic(image, width, height):
    src = image.astype(np.int64)
    xi, xw = cubic_taps(src.shape[1], width)
    yi, yw = cubic_taps(src.shape[0], height)
    rows = np.einsum("hwkc,wk->hwc", src[:, xi, :], xw)       # horizontal: integer sums
    total = np.einsum("hkwc,hk->hwc", rows[yi, :, :], yw)     # vertical: 22 fractional bits
    return np.clip((total + (1 << 21)) >> 22, 0, 255).astype(np.uint8)


# ---- the reference composite ----

def unet(weight, bias, tensor):
    """The test UNet: output[c] = sigmoid(sum_k weight[c, k] * input[k] + bias[c]), float32."""
    z = np.einsum("ck,khw->chw", weight, tensor.astype(np.float32)) + bias[:, None, None]
    return (np.float32(1) / (np.float32(1) + np.exp(-z))).astype(np.float32)


def reference_frame(frame, rect, weight, bias):
    x1, y1, x2, y2 = rect
    crop328 = resize_cubic(frame[y1:y2, x1:x2], CROP, CROP)
    roi = crop328[BORDER:CROP - BORDER, BORDER:CROP - BORDER]
    masked = roi.copy()
    masked[5:310, 5:315] = 0  # cv2.rectangle(img, (5, 5, 310, 305), 0, FILLED)
    tensor = np.concatenate([roi, masked], 2).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    output = unet(weight, bias, tensor)
    crop328[BORDER:CROP - BORDER, BORDER:CROP - BORDER] = (
        (output * np.float32(255)).transpose(1, 2, 0).astype(np.uint8))  # truncated
    out = frame.copy()
    out[y1:y2, x1:x2] = resize_cubic(crop328, x2 - x1, y2 - y1)
    return out


def ping_pong(i, count):
    period = 2 * (count - 1)
    p = (i + 1) % period
    return p if p < count else period - p


# ---- inputs ----

def make_frames(rng):
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for t in range(FRAMES):
        base = np.stack([40 + 0.6 * x + 5 * t, 60 + 0.8 * y, 128 + 70 * np.sin((x - 2 * y + 9 * t) * 0.05)], 2)
        frames.append(np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype(np.uint8))
    return frames


def make_rects():
    rects = []
    for t in range(FRAMES):
        w, h = 96 + 5 * t, 100 + 3 * t  # several sizes, square and not
        x1 = 30 + 4 * t if t != 3 else WIDTH - w  # frame 3's face touches the right edge
        y1 = 25 + 3 * t
        rects.append([x1, y1, x1 + w, y1 + h])
    return rects


def write_unet(path, weight, bias):
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["z"], kernel_shape=[1, 1]),
         helper.make_node("Sigmoid", ["z"], ["output"])],
        "reference_composite_unet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 6, 320, 320]),
         helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", 32, 16, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3, 320, 320])],
        [numpy_helper.from_array(weight.reshape(3, 6, 1, 1), "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def render(args, work, name, extra):
    out = os.path.join(work, name) + "/"
    cmd = [args.lipsync, "--log-level", "warn", "render", "--frames", os.path.join(work, "frames"),
           "--rects", os.path.join(work, "crop_rects.json"), "--unet", os.path.join(work, "unet.onnx"),
           "--encoder", args.encoder, "--audio", os.path.join(work, "speech.npy"),
           "--frame-format", "png", "-o", out] + extra
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    names = sorted(os.listdir(out))
    return [read_png(os.path.join(out, n)) for n in names]


def compare(outputs, frames, rects, weight, bias):
    """Per output frame: (values outside the face that differ, the largest face difference,
    face values that differ, face values)."""
    results = []
    for i, got in enumerate(outputs):
        source = ping_pong(i, FRAMES)
        expected = reference_frame(frames[source], rects[source], weight, bias)
        x1, y1, x2, y2 = rects[source]
        face = np.zeros(got.shape[:2], bool)
        face[y1:y2, x1:x2] = True
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
        results.append((int(np.count_nonzero(diff[~face])), int(diff[face].max()),
                        int(np.count_nonzero(diff[face])), int(diff[face].size)))
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lipsync", required=True)
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "frames"))
    rng = np.random.default_rng(16)
    frames = make_frames(rng)
    for t, frame in enumerate(frames):
        write_png(os.path.join(work, "frames", f"frame_{t:06d}.png"), frame)
    rects = make_rects()
    with open(os.path.join(work, "crop_rects.json"), "w") as f:
        json.dump(rects, f)
    weight = rng.normal(0, 1.5, (3, 6)).astype(np.float32)
    bias = rng.normal(0, 0.3, 3).astype(np.float32)
    write_unet(os.path.join(work, "unet.onnx"), weight, bias)
    np.save(os.path.join(work, "speech.npy"), (0.1 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32))

    failures = []
    outputs = render(args, work, "auto", [])
    if len(outputs) < 2 * FRAMES:
        failures.append(f"{len(outputs)} frames: too few to go back and forth over the avatar")
    results = compare(outputs, frames, rects, weight, bias)
    for i, (outside, face, _, _) in enumerate(results):
        if outside or face > 1:
            failures.append(f"frame {i}: {outside} background values differ, face differs by up to {face}")
    off = sum(r[2] for r in results)
    total = sum(r[3] for r in results)
    print(f"auto store: {len(outputs)} frames; {sum(r[0] for r in results)} background values differ; "
          f"face: {off} of {total} values differ, by at most {max(r[1] for r in results)}")

    jpeg = compare(render(args, work, "jpeg", ["--background-store", "jpeg"]), frames, rects, weight, bias)
    changed = sum(r[0] for r in jpeg)
    print(f"jpeg store: {changed} background pixel values differ from the source (expected: many)")
    if changed == 0:
        failures.append("the JPEG background store left the background exact: the check cannot fail")

    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    shutil.rmtree(work, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
