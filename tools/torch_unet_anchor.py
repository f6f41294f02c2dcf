#!/usr/bin/env python3
"""PyTorch anchors for the UNet of pipeline.md §8: eager fp32 and fp16 channels-last, random weights.

The same architecture as tools/make_test_models.py, built in torch, timed on the GPU with CUDA
events (inputs already on the device: the model alone). Prints JSON with median and spread.
Usage: torch_unet_anchor.py [--batch 1,8,25,64] [--iterations 30] [--warmup 5]
"""
import argparse
import json
import statistics

import torch
import torch.nn as nn
import torch.nn.functional as F


class InvertedResidual(nn.Module):  # ref: pipeline.md §8
    def __init__(self, inp, oup, stride, res, e=2):
        super().__init__()
        hidden = inp * e
        self.res = res
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.res else y


def double_conv_dw(inp, out, stride=1):
    return nn.Sequential(InvertedResidual(inp, out, stride, False), InvertedResidual(out, out, 1, True))


def conv_bn_relu(inp, out, stride, pad):
    return nn.Sequential(nn.Conv2d(inp, out, 3, stride, pad), nn.BatchNorm2d(out), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inc = InvertedResidual(6, 32, 1, False)
        widths = [32, 32, 64, 128, 256, 512]
        self.down = nn.ModuleList(double_conv_dw(widths[i], widths[i + 1], 2) for i in range(5))
        self.audio = nn.Sequential(
            InvertedResidual(32, 64, 1, False), InvertedResidual(64, 128, 1, False), conv_bn_relu(128, 256, 1, 1),
            InvertedResidual(256, 256, 1, True), conv_bn_relu(256, 512, 2, 3),
            InvertedResidual(512, 512, 1, True), InvertedResidual(512, 512, 1, True))
        self.fuse = nn.Sequential(double_conv_dw(1024, 512), double_conv_dw(512, 256))
        self.up = nn.ModuleList([double_conv_dw(512, 128), double_conv_dw(256, 64), double_conv_dw(128, 32),
                                 double_conv_dw(64, 32), double_conv_dw(64, 16)])
        self.outc = nn.Conv2d(16, 3, 1)

    def forward(self, image, audio):
        skips = [self.inc(image)]
        for down in self.down:
            skips.append(down(skips[-1]))
        x = self.fuse(torch.cat([skips.pop(), self.audio(audio)], dim=1))
        for up in self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
            x = up(torch.cat([x, skips.pop()], dim=1))
        return torch.sigmoid(self.outc(x))


def time_model(model, batch, dtype, channels_last, iterations, warmup):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    image = torch.rand(batch, 6, 320, 320, device="cuda", dtype=dtype).to(memory_format=fmt)
    audio = torch.rand(batch, 32, 16, 16, device="cuda", dtype=dtype).to(memory_format=fmt)
    times = []
    with torch.inference_mode():
        for i in range(warmup + iterations):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = model(image, audio)
            end.record()
            torch.cuda.synchronize()
            if i >= warmup:
                times.append(start.elapsed_time(end))
    assert out.shape == (batch, 3, 320, 320) and torch.isfinite(out.float()).all()
    times.sort()
    median = statistics.median(times)
    return {"batch": batch, "median_ms": median, "min_ms": times[0], "max_ms": times[-1],
            "p10_ms": times[int(0.1 * (len(times) - 1) + 0.5)], "p90_ms": times[int(0.9 * (len(times) - 1) + 0.5)],
            "fps_median": batch * 1000.0 / median}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", default="1,8,25,64")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    model = UNet().eval().cuda()
    for m in model.modules():  # random BN statistics, as in the ONNX test models
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    batches = [int(b) for b in args.batch.split(",")]
    report = {"benchmark": "torch_unet_anchor", "torch": torch.__version__,
              "device": torch.cuda.get_device_name(0), "cudnn_benchmark": True,
              "parameters": sum(p.numel() for p in model.parameters())}
    report["eager_fp32"] = [time_model(model, b, torch.float32, False, args.iterations, args.warmup)
                            for b in batches]
    half = model.half().to(memory_format=torch.channels_last)
    report["eager_fp16_channels_last"] = [time_model(half, b, torch.float16, True, args.iterations, args.warmup)
                                          for b in batches]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
