#!/usr/bin/env python3
"""Writes the seed corpus of fuzz target compat_request (fuzz/corpus/compat_request/*.pb):
CompositeBatchRequest messages, valid and near-valid, encoded by protoc from text format.
Usage (repository root): python3 fuzz/compat_request_seeds.py"""
import math
import struct
import subprocess


def floats(values):
    """float32 LE bytes as a text-format string literal."""
    return ''.join('\\%03o' % c for c in struct.pack('<%df' % len(values), *values))


def sine(count, rate):
    return [0.3 * math.sin(2 * math.pi * 220 * i / rate) for i in range(count)]


SEEDS = {
    'pcm_16k': f'model_id: "demo" batch_size: 2 start_frame_idx: 10 sample_rate: 16000 '
               f'raw_audio: "{floats(sine(1600, 16000))}"',
    'pcm_8k_audio_start': f'model_id: "demo" batch_size: 3 start_frame_idx: 4 sample_rate: 8000 '
                          f'audio_start_frame: 2 raw_audio: "{floats(sine(800, 8000))}"',
    'legacy_features': f'model_id: "demo" batch_size: 1 start_frame_idx: 0 '
                       f'audio_features: "{floats([0.01 * (i % 7) for i in range(8192)])}"',
    'nan_audio': f'model_id: "demo" batch_size: 1 raw_audio: "{floats([0.0, float("nan"), 0.5])}"',
    'bad_batch_visual': f'model_id: "demo" batch_size: 0 visual_frames: "{floats([1.0] * 16)}" '
                        f'raw_audio: "{floats(sine(64, 16000))}"',
    'bad_model_id': f'model_id: "../x\\nE [server] FAKE" batch_size: 1 '
                    f'raw_audio: "{floats(sine(64, 16000))}"',
    'far_frames': f'model_id: "demo" batch_size: 32 start_frame_idx: -2147483648 '
                  f'audio_start_frame: 2147483647 sample_rate: 44100 '
                  f'raw_audio: "{floats(sine(441, 44100))}"',
}

for name, text in SEEDS.items():
    encoded = subprocess.run(
        ['protoc', '--proto_path=src', '--encode=monolithic.CompositeBatchRequest',
         'src/proto/monolithic.proto'], input=text.encode(), capture_output=True, check=True).stdout
    with open(f'fuzz/corpus/compat_request/{name}.pb', 'wb') as out:
        out.write(encoded)
