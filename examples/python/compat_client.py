#!/usr/bin/env python3
"""The compat API (monolithic.MonolithicService) from Python: one batch of frames for a model.

usage: compat_client.py HOST:PORT MODEL_ID AUDIO.wav OUT_DIR

AUDIO.wav: 16-bit PCM WAV, any rate (the server resamples to 16 kHz), channels averaged. Writes OUT_DIR/frame_NNNNNN.jpg. Needs the stubs
generated from src/proto/monolithic.proto (docs/api.md says how) on PYTHONPATH.
"""
import pathlib
import sys
import wave

import grpc
import numpy as np

import monolithic_pb2
import monolithic_pb2_grpc


def read_wav_mono(path):
    """float32 little-endian mono samples and their rate."""
    with wave.open(path) as wav:
        if wav.getsampwidth() != 2:
            sys.exit(f"{path}: need 16-bit PCM WAV (compat raw_audio is float32 PCM)")
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        mono = pcm.reshape(-1, wav.getnchannels()).mean(axis=1)
        return (mono / 32768.0).astype("<f4"), wav.getframerate()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    address, model_id, audio_path, out_dir = sys.argv[1:]
    samples, rate = read_wav_mono(audio_path)
    # A compat batch of 25 JPEG frames is a few MB; the server allows 100 MiB by default.
    channel = grpc.insecure_channel(address, options=[
        ("grpc.max_receive_message_length", 100 * 1024 * 1024)])
    stub = monolithic_pb2_grpc.MonolithicServiceStub(channel)

    print(stub.Health(monolithic_pb2.HealthRequest()))
    for model in stub.ListModels(monolithic_pb2.ListModelsRequest()).models:
        print(f"model {model.model_id}: loaded={model.loaded}")

    # Frames 0..24 (one second); raw_audio starts at frame max(0, start_frame_idx - 8) = 0.
    response = stub.InferBatchComposite(monolithic_pb2.CompositeBatchRequest(
        model_id=model_id, raw_audio=samples.tobytes(), batch_size=25, start_frame_idx=0,
        sample_rate=rate))
    if not response.success:
        sys.exit(f"InferBatchComposite failed: {response.error}")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i, jpeg in enumerate(response.composited_frames):
        (out / f"frame_{i:06d}.jpg").write_bytes(jpeg)
    print(f"{len(response.composited_frames)} frames in {out}/, "
          f"{response.total_time_ms:.0f} ms on the server")


if __name__ == "__main__":
    main()
