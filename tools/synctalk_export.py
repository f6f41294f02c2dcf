#!/usr/bin/env python3
"""Exports a SyncTalk_2D training checkpoint to the ONNX files `lipsync` serves (docs/models.md).

`lipsync import` runs this with Debian's /usr/bin/python3 and python3-torch (CPU), then checks
the files with ONNX Runtime against the PyTorch outputs written here. It can run alone too:

  synctalk_export.py --unet checkpoint/May/200.pth [--encoder audio_visual_encoder.pth] \
      --out PACKAGE_DIR --check-dir CHECK_DIR

Writes into --out:
  unet.onnx        input [B,6,320,320], audio [B,32,16,16] -> output [B,3,320,320], float32
  unet_fp16.onnx   the same graph in float16 (half the size; for GPUs)
  encoder.onnx     (with --encoder) mel_spectrogram [B,1,80,16] -> audio_features [B,512]
and into --check-dir the sample inputs and PyTorch outputs (.npy) the check runs on:
  unet_input.npy unet_audio.npy unet_output.npy [encoder_input.npy encoder_output.npy]
B is a dynamic axis in every file; the samples have a batch of 2 (the export traces 1).

Checkpoints: a state_dict as the reference's train_328.py saves it (`torch.save(net.state_dict())`),
also wrapped in {'state_dict': ...} or with DataParallel's `module.` prefix; the encoder's as
inference_328.py loads it (keys without the `audio_encoder.` prefix) or with it. A checkpoint
that does not fit the architecture is an error naming the missing and unexpected keys.
Exit codes: 0 done, 2 bad checkpoint or arguments, 3 torch/onnx missing, 1 anything else.
"""
import argparse
import os
import sys
import warnings

try:
    import numpy as np
    import onnx
    import torch
    from onnx import TensorProto, numpy_helper

    import synctalk_models
except ImportError as e:  # exit code 3: `lipsync import` names the packages to install
    print(f"error: {e}: the export needs python3-torch, python3-onnx and python3-numpy", file=sys.stderr)
    sys.exit(3)

OPSET = 17
WRAPPERS = ("state_dict", "model_state_dict", "model", "net")  # common checkpoint wrappings


class CheckpointError(Exception):
    pass


def read_state_dict(path):
    """The checkpoint's tensors, unwrapped and without a DataParallel `module.` prefix."""
    try:
        loaded = torch.load(path, map_location="cpu")
    except (ModuleNotFoundError, AttributeError) as e:
        raise CheckpointError(f"{path}: a pickled model object ({e}); save net.state_dict() instead")
    except Exception as e:  # torch raises several types for a file that is not a checkpoint
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({type(e).__name__}: {e})")
    if isinstance(loaded, torch.nn.Module):
        loaded = loaded.state_dict()
    for key in WRAPPERS:
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(torch.is_tensor(v) for v in loaded.values()):
        raise CheckpointError(f"{path}: holds no state_dict (a dict of tensors)")
    if loaded and all(k.startswith("module.") for k in loaded):
        loaded = {k[len("module."):]: v for k, v in loaded.items()}
    return loaded


def fit(model, state, path, prefix=""):
    """Loads `state` into `model` (adding `prefix` to keys that lack it); errors name the keys."""
    if prefix and not any(k.startswith(prefix) for k in state):
        state = {prefix + k: v for k, v in state.items()}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        def listed(what, keys):
            more = f" and {len(keys) - 8} more" if len(keys) > 8 else ""
            return f"{len(keys)} {what}: {', '.join(keys[:8])}{more}" if keys else ""
        parts = [p for p in (listed("missing keys", missing), listed("unexpected keys", unexpected),
                             listed("wrong shapes", wrong)) if p]
        raise CheckpointError(f"{path} does not fit the SyncTalk_2D {type(model).__name__} "
                              f"(328, 'ave' audio): {'; '.join(parts)}")
    model.load_state_dict(state)
    return model.eval()


def to_fp16(path_in, path_out):
    """The float32 graph in float16: initializers, constants and I/O; Resize's roi and scales
    stay float32 as ONNX requires."""
    model = onnx.load(path_in)
    graph = model.graph
    keep = {n.input[i] for n in graph.node if n.op_type == "Resize" for i in (1, 2) if i < len(n.input)}
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] not in keep:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16)))
    for value in list(graph.input) + list(graph.output):
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
    del graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.save(model, path_out)


def export(model, samples, path, input_names, output_name):
    """ONNX with a dynamic batch axis, traced at batch 1."""
    axes = {name: {0: "batch"} for name in input_names + [output_name]}
    first = tuple(s[:1] for s in samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 1.13's export warns about its own constants
        torch.onnx.export(model, first, path, input_names=input_names, output_names=[output_name],
                          dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def save_check(check_dir, name, array):
    np.save(os.path.join(check_dir, name), np.ascontiguousarray(array.numpy(), dtype=np.float32))


def export_unet(checkpoint, out, check_dir):
    model = fit(synctalk_models.Model(), read_state_dict(checkpoint), checkpoint)
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 6, 320, 320, generator=generator)  # BGR / 255 and its masked copy
    audio = torch.rand(2, 32, 16, 16, generator=generator) * 4  # encoder features are >= 0
    with torch.no_grad():
        output = model(image, audio)
    export(model, (image, audio), os.path.join(out, "unet.onnx"), ["input", "audio"], "output")
    to_fp16(os.path.join(out, "unet.onnx"), os.path.join(out, "unet_fp16.onnx"))
    for name, array in (("unet_input", image), ("unet_audio", audio), ("unet_output", output)):
        save_check(check_dir, name + ".npy", array)
    return sum(p.numel() for p in model.parameters())


def export_encoder(checkpoint, out, check_dir):
    model = fit(synctalk_models.AudioEncoder(), read_state_dict(checkpoint), checkpoint,
                prefix="audio_encoder.")
    generator = torch.Generator().manual_seed(1)
    mel = torch.rand(2, 1, 80, 16, generator=generator) * 8 - 4  # normalised mel in [-4, 4]
    with torch.no_grad():
        features = model(mel)
    export(model, (mel,), os.path.join(out, "encoder.onnx"), ["mel_spectrogram"], "audio_features")
    save_check(check_dir, "encoder_input.npy", mel)
    save_check(check_dir, "encoder_output.npy", features)
    return sum(p.numel() for p in model.parameters())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unet", required=True, help="the UNet checkpoint (.pth)")
    ap.add_argument("--encoder", help="the audio encoder checkpoint (audio_visual_encoder.pth)")
    ap.add_argument("--out", required=True, help="folder for the ONNX files")
    ap.add_argument("--check-dir", required=True, help="folder for the check samples (.npy)")
    args = ap.parse_args()
    for path in filter(None, (args.unet, args.encoder)):
        if not os.path.isfile(path):
            print(f"error: {path}: no such file", file=sys.stderr)
            return 2
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.check_dir, exist_ok=True)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    try:
        params = export_unet(args.unet, args.out, args.check_dir)
        print(f"unet: {args.unet} ({params} parameters) -> unet.onnx, unet_fp16.onnx", flush=True)
        if args.encoder:
            params = export_encoder(args.encoder, args.out, args.check_dir)
            print(f"encoder: {args.encoder} ({params} parameters) -> encoder.onnx", flush=True)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
