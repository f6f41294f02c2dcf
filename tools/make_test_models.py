#!/usr/bin/env python3
"""Writes ONNX test models with exactly the production architecture (pipeline.md §8).

Trained weights are not available, so the weights are seeded random numbers. BatchNorm is
folded into the preceding convolution (as in an exported, optimised model), every graph has a
dynamic batch axis, and the I/O names are those of the real exports:

  UNet:          input [B,6,320,320], audio [B,32,16,16] -> output [B,3,320,320] (sigmoid)
  audio encoder: mel_spectrogram [B,1,80,16] -> audio_features [B,512] (ReLU, >= 0)

Files (float32 and float16 variants; "tiny" = channel widths / 8, same I/O):
  unet.onnx unet_fp16.onnx encoder.onnx encoder_fp16.onnx unet_tiny.onnx encoder_tiny.onnx

Exports as users make them, with the weights of the tiny model they derive from (so their
outputs must equal it): torch's default I/O names (`input.1`, `input.177`; the inputs listed
audio first), and a fixed batch dimension (the reference export has dynamic_axes commented out):
  unet_tiny_torch_names.onnx unet_tiny_batch1.onnx unet_tiny_batch4.onnx encoder_tiny_batch4.onnx

Deterministic: the same seed gives the same bytes. Uses only Debian's python3-onnx/numpy.
Usage: make_test_models.py --out DIR [--seed N] [--only NAME ...]
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
BN_EPS = 1e-5

# Unfolded (PyTorch) parameter counts of the production models, pipeline.md §8.
UNET_PARAMS = 12_186_935
ENCODER_PARAMS = 2_812_672


class Graph:
    """Accumulates nodes and initializers; tracks the unfolded parameter count."""

    def __init__(self, rng, name):
        self.rng = rng
        self.name = name
        self.nodes = []
        self.inits = []
        self.counter = 0
        self.params = 0
        # Node names follow the module path, as torch.onnx.export writes them ("/down1/ir0/
        # expand"), so that profiles (tools/ort_profile_table.py) group the nodes by block.
        self.scope = ""
        self.used_names = set()

    def node_name(self, role):
        name = f"{self.scope}/{role}"
        k = 1
        while name in self.used_names:
            k += 1
            name = f"{self.scope}/{role}_{k}"
        self.used_names.add(name)
        return name

    def fresh(self, prefix):
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def const(self, prefix, array):
        name = self.fresh(prefix)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def conv(self, x, cin, cout, k, stride=1, pad=0, groups=1, conv_bias=False, bn=True,
             gain=1.0, role="conv"):
        """Conv (+ BN folded in). Returns the output name. ReLU is separate."""
        strides = list(stride) if isinstance(stride, tuple) else [stride, stride]
        fan_in = (cin // groups) * k * k
        w = self.rng.standard_normal((cout, cin // groups, k, k)) * gain * np.sqrt(2.0 / fan_in)
        b = self.rng.standard_normal(cout) * 0.02 if conv_bias else np.zeros(cout)
        self.params += w.size + (cout if conv_bias else 0)
        if bn:
            gamma = self.rng.uniform(0.8, 1.2, cout)
            beta = self.rng.standard_normal(cout) * 0.05
            mean = self.rng.standard_normal(cout) * 0.05
            var = self.rng.uniform(0.8, 1.2, cout)
            self.params += 2 * cout  # gamma and beta; running stats are buffers
            scale = gamma / np.sqrt(var + BN_EPS)
            w = w * scale[:, None, None, None]
            b = (b - mean) * scale + beta
        wn = self.const("w", w.astype(np.float32))
        bn_ = self.const("b", b.astype(np.float32))
        y = self.fresh("conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, wn, bn_], [y], name=self.node_name(role), kernel_shape=[k, k],
            strides=strides, pads=[pad, pad, pad, pad], group=groups))
        return y

    def op(self, op_type, inputs, role=None, **attrs):
        y = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [y],
                                           name=self.node_name(role or op_type.lower()), **attrs))
        return y

    def relu(self, x, role="relu"):
        return self.op("Relu", [x], role=role)

    def scoped(self, scope, build):
        """build() with node names under `scope` (a module path like "down1/ir0")."""
        outer = self.scope
        self.scope = f"{outer}/{scope}"
        try:
            return build()
        finally:
            self.scope = outer

    def upsample2x(self, x):
        """Bilinear x2 with align_corners = True (PyTorch Upsample semantics)."""
        scales = self.const("scales", np.array([1, 1, 2, 2], dtype=np.float32))
        return self.op("Resize", [x, "", scales], role="upsample", mode="linear",
                       coordinate_transformation_mode="align_corners")


# ---------------------------------------------------------------- UNet (SyncTalk_2D "328")

def inverted_residual(g, x, inp, oup, stride, res, scope, e=2):
    def build():
        hidden = inp * e
        h = g.relu(g.conv(x, inp, hidden, 1, role="expand"), role="expand_relu")
        h = g.relu(g.conv(h, hidden, hidden, 3, stride=stride, pad=1, groups=hidden,
                          role="depthwise"), role="depthwise_relu")
        h = g.conv(h, hidden, oup, 1, gain=0.25 if res else 1.0, role="project")
        return g.op("Add", [x, h], role="residual") if res else h
    return g.scoped(scope, build)


def double_conv_dw(g, x, cin, cout, stride, scope):
    x = inverted_residual(g, x, cin, cout, stride, res=False, scope=f"{scope}/ir0")
    return inverted_residual(g, x, cout, cout, 1, res=True, scope=f"{scope}/ir1")


def build_unet(g, w):
    """w: channel widths; the production model has w = 1 (scale 1/8 for tiny). Scopes follow
    tools/synctalk_models.py's module names."""
    c = lambda n: max(2, int(n * w))  # noqa: E731
    x1 = inverted_residual(g, "input", 6, c(32), 1, res=False, scope="inc")   # 320
    x2 = double_conv_dw(g, x1, c(32), c(32), 2, "down1")                      # 160
    x3 = double_conv_dw(g, x2, c(32), c(64), 2, "down2")                      # 80
    x4 = double_conv_dw(g, x3, c(64), c(128), 2, "down3")                     # 40
    x5 = double_conv_dw(g, x4, c(128), c(256), 2, "down4")                    # 20
    x6 = double_conv_dw(g, x5, c(256), c(512), 2, "down5")                    # 10

    def audio_conv(x, cin, cout, stride, pad, scope):
        return g.scoped(scope, lambda: g.relu(
            g.conv(x, cin, cout, 3, stride=stride, pad=pad, conv_bias=True)))
    a = inverted_residual(g, "audio", 32, c(64), 1, res=False, scope="audio_model/conv1")  # 16
    a = inverted_residual(g, a, c(64), c(128), 1, res=False, scope="audio_model/conv2")
    a = audio_conv(a, c(128), c(256), 1, 1, "audio_model/conv3")
    a = inverted_residual(g, a, c(256), c(256), 1, res=True, scope="audio_model/conv4")
    a = audio_conv(a, c(256), c(512), 2, 3, "audio_model/conv5")                          # 10
    a = inverted_residual(g, a, c(512), c(512), 1, res=True, scope="audio_model/conv6")
    a = inverted_residual(g, a, c(512), c(512), 1, res=True, scope="audio_model/conv7")

    f = g.scoped("fuse_conv", lambda: g.op("Concat", [x6, a], axis=1))
    f = double_conv_dw(g, f, 2 * c(512), c(512), 1, "fuse_conv/0")
    f = double_conv_dw(g, f, c(512), c(256), 1, "fuse_conv/1")

    for i, (skip, cin, cout) in enumerate(((x5, c(256), c(128)), (x4, c(128), c(64)),
                                           (x3, c(64), c(32)), (x2, c(32), c(32)),
                                           (x1, c(32), c(16))), start=1):
        up = g.scoped(f"up{i}", lambda: g.op("Concat", [g.upsample2x(f), skip], axis=1))
        f = double_conv_dw(g, up, 2 * cin, cout, 1, f"up{i}")

    return g.scoped("outc", lambda: g.op("Sigmoid", [g.conv(
        f, c(16), 3, 1, conv_bias=True, bn=False, gain=0.1)]))


# ---------------------------------------------------------------- audio encoder ("ave")

ENCODER_LAYERS = [  # (cin, cout, kernel, stride, pad, residual)
    (1, 32, 3, 1, 1, False), (32, 32, 3, 1, 1, True), (32, 32, 3, 1, 1, True),
    (32, 64, 3, (3, 1), 1, False), (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True),
    (64, 128, 3, 3, 1, False), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True),
    (128, 256, 3, (3, 2), 1, False), (256, 256, 3, 1, 1, True),
    (256, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False),
]


def build_encoder(g, w):
    c = lambda n: n if n in (1,) else max(2, int(n * w))  # noqa: E731
    x = "mel_spectrogram"
    for i, (cin, cout, k, s, p, res) in enumerate(ENCODER_LAYERS):
        last = i == len(ENCODER_LAYERS) - 1
        cin_w = c(cin)
        cout_w = 512 if last else c(cout)  # the feature size is part of the I/O contract

        def layer(x=x):
            y = g.conv(x, cin_w, cout_w, k, stride=s, pad=p, conv_bias=True,
                       gain=0.5 if res else 1.0)
            if res:
                y = g.op("Add", [y, x], role="residual")
            return g.relu(y)
        x = g.scoped(f"audio_encoder/{i}", layer)
    return g.op("Flatten", [x], axis=1)


# ---------------------------------------------------------------- assembly

def to_fp16(model):
    """Casts every float32 initializer and graph I/O to float16 (Resize scales stay float32)."""
    keep = {n.input[2] for n in model.graph.node if n.op_type == "Resize"}
    for init in model.graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            arr = numpy_helper.to_array(init).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
    for vi in list(model.graph.input) + list(model.graph.output):
        vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    return model


def rename_io(model, names):
    """Renames graph inputs/outputs (and their uses) as torch.onnx.export names them by default."""
    for node in model.graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for vi in list(model.graph.input) + list(model.graph.output):
        vi.name = names.get(vi.name, vi.name)


def fix_batch(model, batch):
    """A static batch dimension on every graph input and output."""
    for vi in list(model.graph.input) + list(model.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_value = batch


def make_model(kind, width, seed, fp16, variant=None):
    rng = np.random.default_rng(seed)
    g = Graph(rng, kind)
    if kind == "unet":
        out = build_unet(g, width)
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 6, 320, 320]),
                  helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", 32, 16, 16])]
        outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3, 320, 320])]
        out_name = "output"
    else:
        out = build_encoder(g, width)
        inputs = [helper.make_tensor_value_info("mel_spectrogram", TensorProto.FLOAT,
                                                ["batch", 1, 80, 16])]
        outputs = [helper.make_tensor_value_info("audio_features", TensorProto.FLOAT, ["batch", 512])]
        out_name = "audio_features"
    g.nodes.append(helper.make_node("Identity", [out], [out_name], name=g.node_name("output")))
    graph = helper.make_graph(g.nodes, f"{kind}_w{width}", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lipsync make_test_models.py")
    model.ir_version = IR_VERSION
    if fp16:
        model = to_fp16(model)
    variant = variant or {}
    if "names" in variant:
        rename_io(model, variant["names"])
    if variant.get("audio_first"):
        model.graph.input.reverse()
    if "batch" in variant:
        fix_batch(model, variant["batch"])
    onnx.checker.check_model(model)
    return model, g.params


TORCH_NAMES = {"input": "input.1", "audio": "input.177", "output": "1049"}

MODELS = {  # name: (kind, width, fp16, expected unfolded parameter count or None[, variant])
    "unet": ("unet", 1.0, False, UNET_PARAMS),
    "unet_fp16": ("unet", 1.0, True, UNET_PARAMS),
    "encoder": ("encoder", 1.0, False, ENCODER_PARAMS),
    "encoder_fp16": ("encoder", 1.0, True, ENCODER_PARAMS),
    "unet_tiny": ("unet", 0.125, False, None),
    "encoder_tiny": ("encoder", 0.125, False, None),
    "unet_tiny_torch_names": ("unet", 0.125, False, None,
                              {"names": TORCH_NAMES, "audio_first": True}),
    "unet_tiny_batch1": ("unet", 0.125, False, None, {"batch": 1}),
    "unet_tiny_batch4": ("unet", 0.125, False, None, {"batch": 4}),
    "encoder_tiny_batch4": ("encoder", 0.125, False, None, {"batch": 4}),
    # The same architecture as unet_tiny with other weights: another person's model.
    "unet_tiny_other_weights": ("unet", 0.125, False, None, {"seed_offset": 100}),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--only", nargs="*", choices=sorted(MODELS), help="write only these")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or MODELS:
        kind, width, fp16, expected, *variant = MODELS[name]
        # One seed per architecture: fp32, fp16 and export variants share their weights.
        seed = args.seed + (0 if kind == "unet" else 1) + (10 if width != 1.0 else 0)
        seed += variant[0].get("seed_offset", 0) if variant else 0
        model, params = make_model(kind, width, seed, fp16, *variant)
        if expected is not None and params != expected:
            sys.exit(f"{name}: {params} parameters, the architecture has {expected}")
        path = os.path.join(args.out, f"{name}.onnx")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, path)
        print(f"{path}: {params} parameters (unfolded)")


if __name__ == "__main__":
    main()
