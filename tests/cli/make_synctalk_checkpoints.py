#!/usr/bin/env python3
"""Writes SyncTalk_2D checkpoints with random weights for the `lipsync import` tests, saved as
the reference saves them (tools/synctalk_models.py holds the architecture):

  unet.pth             torch.save(net.state_dict()), as train_328.py
  unet_wrapped.pth     {'state_dict': ...} with DataParallel's `module.` prefix
  encoder.pth          the encoder's keys without `audio_encoder.`, as audio_visual_encoder.pth
  unet_truncated.pth   the UNet without its audio branch: must be refused, naming the keys

Usage: make_synctalk_checkpoints.py --tools DIR --out DIR [--seed N]
"""
import argparse
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", required=True, help="the folder of synctalk_models.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, args.tools)
    import torch
    import synctalk_models

    os.makedirs(args.out, exist_ok=True)
    unet = synctalk_models.randomize(synctalk_models.Model(), args.seed).state_dict()
    torch.save(unet, os.path.join(args.out, "unet.pth"))
    torch.save({"state_dict": {"module." + k: v for k, v in unet.items()}, "epoch": 7},
               os.path.join(args.out, "unet_wrapped.pth"))
    torch.save({k: v for k, v in unet.items() if not k.startswith("audio_model.")},
               os.path.join(args.out, "unet_truncated.pth"))
    encoder = synctalk_models.randomize(synctalk_models.AudioEncoder(), args.seed + 1).state_dict()
    prefix = "audio_encoder."
    torch.save({k[len(prefix):]: v for k, v in encoder.items()}, os.path.join(args.out, "encoder.pth"))
    print(f"{args.out}: unet.pth unet_wrapped.pth unet_truncated.pth encoder.pth")


if __name__ == "__main__":
    main()
