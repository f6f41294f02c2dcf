#!/usr/bin/env python3
"""The native API (lipsync.v1.LipSync) from Python: a whole clip, streamed, from an audio file.

usage: native_client.py HOST:PORT MODEL_ID AUDIO_FILE OUT_DIR

AUDIO_FILE: any format FFmpeg reads (the server decodes it). Writes OUT_DIR/frame_NNNNNN.jpg.
Needs the stubs generated from src/proto/lipsync_v1.proto (docs/api.md says how) on PYTHONPATH.
"""
import pathlib
import sys

import grpc

import lipsync_v1_pb2 as pb
import lipsync_v1_pb2_grpc


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    address, model_id, audio_path, out_dir = sys.argv[1:]
    stub = lipsync_v1_pb2_grpc.LipSyncStub(grpc.insecure_channel(address))

    print(stub.Health(pb.HealthRequest()))
    try:
        model = stub.GetModel(pb.GetModelRequest(model_id=model_id))
    except grpc.RpcError as error:  # NOT_FOUND lists the configured models
        sys.exit(f"{error.code().name}: {error.details()}")
    print(f"model {model.model_id}: {pb.ModelState.Name(model.state)}")

    request = pb.RenderRequest(
        model_id=model_id,
        audio=pb.AudioInput(encoded=pathlib.Path(audio_path).read_bytes()),
        sequence_mode=pb.SEQUENCE_MODE_PING_PONG,
        output=pb.OutputOptions(format=pb.FRAME_FORMAT_JPEG, jpeg_quality=90))
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    received = 0
    try:
        for response in stub.RenderStream(request):
            if response.clip_frames and received == 0:
                print(f"clip: {response.clip_frames} frames {response.width}x{response.height}")
            for frame in response.frames:
                (out / f"frame_{frame.index:06d}.jpg").write_bytes(frame.data)
                received += 1
    except grpc.RpcError as error:
        sys.exit(f"{error.code().name}: {error.details()}")
    print(f"{received} frames in {out}/")


if __name__ == "__main__":
    main()
