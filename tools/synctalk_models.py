"""The SyncTalk_2D "328" UNet and the "ave" audio encoder in PyTorch (pipeline.md §8).

Module and attribute names are those of the reference (unet_328.py, utils.py), so that a
training checkpoint's state-dict keys load as they are: `inc.inconv.0.conv.3.weight`,
`down1.maxpool_conv.0.double_conv.1.conv.7.running_var`, `audio_model.conv5.weight`,
`up3.conv.double_conv.0.conv.0.weight`, `outc.conv.bias`; the encoder's
`audio_encoder.4.conv_block.1.weight` (its checkpoint file stores them without the
`audio_encoder.` prefix). Only the "ave" audio mode, the one this project serves, is defined.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

UNET_PARAMETERS = 12_186_935
ENCODER_PARAMETERS = 2_812_672


class InvertedResidual(nn.Module):
    """1x1 expand + BN + ReLU, depthwise 3x3 + BN + ReLU, 1x1 project + BN; plus input if res."""

    def __init__(self, inp, oup, stride, use_res_connect, expand_ratio=2):
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = use_res_connect
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class DoubleConvDW(nn.Module):
    def __init__(self, in_channels, out_channels, stride=2):
        super().__init__()
        self.double_conv = nn.Sequential(
            InvertedResidual(in_channels, out_channels, stride, False),
            InvertedResidual(out_channels, out_channels, 1, True))

    def forward(self, x):
        return self.double_conv(x)


class InConvDw(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.inconv = nn.Sequential(InvertedResidual(in_channels, out_channels, 1, False))

    def forward(self, x):
        return self.inconv(x)


class Down(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(DoubleConvDW(in_channels, out_channels, stride=2))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Bilinear x2 (align_corners), concat with the skip, DoubleConvDW.

    The reference pads the upsampled map to the skip's size; at 320x320 every level halves
    exactly (320 / 32 = 10), so the pad is always empty and is left out of the export.
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = DoubleConvDW(in_channels, out_channels, stride=1)

    def forward(self, x1, x2):
        x1 = F.interpolate(x1, scale_factor=2.0, mode="bilinear", align_corners=True)
        return self.conv(torch.cat([x1, x2], dim=1))


class OutConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class AudioConvAve(nn.Module):
    """The audio branch: [B, 32, 16, 16] -> [B, 512, 10, 10]."""

    def __init__(self):
        super().__init__()
        self.conv1 = InvertedResidual(32, 64, 1, False)
        self.conv2 = InvertedResidual(64, 128, 1, False)
        self.conv3 = nn.Conv2d(128, 256, kernel_size=3, padding=1, stride=1)
        self.bn3 = nn.BatchNorm2d(256)
        self.conv4 = InvertedResidual(256, 256, 1, True)
        self.conv5 = nn.Conv2d(256, 512, kernel_size=3, padding=3, stride=2)
        self.bn5 = nn.BatchNorm2d(512)
        self.relu = nn.ReLU()
        self.conv6 = InvertedResidual(512, 512, 1, True)
        self.conv7 = InvertedResidual(512, 512, 1, True)

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        x = self.conv4(self.relu(self.bn3(self.conv3(x))))
        x = self.relu(self.bn5(self.conv5(x)))
        return self.conv7(self.conv6(x))


class Model(nn.Module):
    """The UNet: image [B, 6, 320, 320] (BGR / 255, masked copy) + audio [B, 32, 16, 16] ->
    face [B, 3, 320, 320] after a sigmoid."""

    def __init__(self):
        super().__init__()
        self.audio_model = AudioConvAve()
        self.fuse_conv = nn.Sequential(DoubleConvDW(1024, 512, stride=1), DoubleConvDW(512, 256, stride=1))
        self.inc = InConvDw(6, 32)
        self.down1 = Down(32, 32)
        self.down2 = Down(32, 64)
        self.down3 = Down(64, 128)
        self.down4 = Down(128, 256)
        self.down5 = Down(256, 512)
        self.up1 = Up(512, 128)
        self.up2 = Up(256, 64)
        self.up3 = Up(128, 32)
        self.up4 = Up(64, 32)
        self.up5 = Up(64, 16)
        self.outc = OutConv(16, 3)

    def forward(self, x, audio_feat):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x6 = self.down5(x5)
        x6 = self.fuse_conv(torch.cat([x6, self.audio_model(audio_feat)], dim=1))
        x = self.up1(x6, x5)
        x = self.up2(x, x4)
        x = self.up3(x, x3)
        x = self.up4(x, x2)
        x = self.up5(x, x1)
        return torch.sigmoid(self.outc(x))


class Conv2d(nn.Module):
    """The encoder's layer: Conv (bias) + BN [+ input] + ReLU."""

    def __init__(self, cin, cout, kernel_size, stride, padding, residual=False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        return self.act(out + x if self.residual else out)


ENCODER_LAYERS = [  # (cin, cout, kernel, stride, padding, residual), pipeline.md §8
    (1, 32, 3, 1, 1, False), (32, 32, 3, 1, 1, True), (32, 32, 3, 1, 1, True),
    (32, 64, 3, (3, 1), 1, False), (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True),
    (64, 128, 3, 3, 1, False), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True),
    (128, 256, 3, (3, 2), 1, False), (256, 256, 3, 1, 1, True),
    (256, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False),
]


class AudioEncoder(nn.Module):
    """Mel window [B, 1, 80, 16] -> features [B, 512] (>= 0)."""

    def __init__(self):
        super().__init__()
        self.audio_encoder = nn.Sequential(*(Conv2d(*layer) for layer in ENCODER_LAYERS))

    def forward(self, x):
        return self.audio_encoder(x).squeeze(2).squeeze(2)


def randomize(model, seed):
    """Random weights and BN statistics (for tests): what a training run would leave, untrained."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var") or (name.endswith("weight") and tensor.dim() == 1):
                tensor.copy_(0.8 + 0.4 * torch.rand(tensor.shape, generator=generator))
            elif name.endswith("running_mean") or name.endswith("bias"):
                tensor.copy_(0.05 * torch.randn(tensor.shape, generator=generator))
            else:  # convolution weights, He-scaled; projections and the output layer damped so
                # that the activations neither explode through the stack nor saturate the sigmoid
                gain = 4.0 if name.startswith("outc") else 0.3 if name.endswith("conv.6.weight") else 1.0
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * gain * (2.0 / fan_in) ** 0.5)
    return model
