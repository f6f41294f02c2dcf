#!/usr/bin/env python3
"""A live avatar over the native API (lipsync.v1.LipSync/Live) from Python: open a session,
watch it idle for a second, speak a WAV file into it at the pace it is spoken, optionally
interrupt it, watch it idle again, close.

usage: native_live_client.py HOST:PORT MODEL_ID WAV_FILE OUT_DIR [--interrupt-after SECONDS]

WAV_FILE: 16-bit PCM at any rate and channel count (sent as float32 at its own rate).
Writes OUT_DIR/frame_NNNNNN.jpg. Needs the stubs generated from src/proto/lipsync_v1.proto
(docs/api.md says how) on PYTHONPATH.
"""
import argparse
import array
import pathlib
import queue
import sys
import threading
import time
import wave

import grpc

import lipsync_v1_pb2 as pb
import lipsync_v1_pb2_grpc

CHUNK_SECONDS = 0.04


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("address")
    parser.add_argument("model")
    parser.add_argument("wav")
    parser.add_argument("out_dir")
    parser.add_argument("--interrupt-after", type=float, default=0.0)
    args = parser.parse_args()
    out = pathlib.Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with wave.open(args.wav, "rb") as wav:
        if wav.getsampwidth() != 2:
            sys.exit(f"{args.wav}: 16-bit PCM WAV expected")
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    pcm = [s / 32768.0 for s in samples]

    # The requests: a queue the call reads from; None ends the call's sending side.
    requests = queue.Queue()
    requests.put(pb.LiveRequest(start=pb.LiveStart(model_id=args.model, sample_rate_hz=rate,
                                                   channels=channels)))
    stub = lipsync_v1_pb2_grpc.LipSyncStub(grpc.insecure_channel(args.address))
    events = stub.Live(iter(requests.get, None))
    stats = {"idle": 0, "speech": 0, "sent": None, "first_speech": None,
             "interrupted": None, "idle_again": None, "error": None}
    opened = threading.Event()

    def receive():
        try:
            for event in events:
                now = time.monotonic()
                if event.HasField("opened"):
                    o = event.opened
                    print(f"session {o.session}: {o.width}x{o.height} at {o.fps} fps, "
                          f"look-ahead {o.lookahead_ms} ms")
                    opened.set()
                elif event.HasField("frame"):
                    f = event.frame
                    (out / f"frame_{f.index:06d}.jpg").write_bytes(f.jpeg)
                    stats["speech" if f.utterance else "idle"] += 1
                    if f.utterance and stats["sent"] and stats["first_speech"] is None:
                        stats["first_speech"] = now
                    if not f.utterance and stats["interrupted"] and stats["idle_again"] is None:
                        stats["idle_again"] = now
                elif event.HasField("error"):
                    print(f"refused: {event.error.code}: {event.error.message}")
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                stats["error"] = f"{error.code().name}: {error.details()}"
        opened.set()

    receiver = threading.Thread(target=receive)
    receiver.start()
    opened.wait()
    if stats["error"]:
        receiver.join()
        sys.exit(stats["error"])
    time.sleep(1.0)  # idle
    chunk = int(rate * CHUNK_SECONDS) * channels
    started = time.monotonic()
    for k, at in enumerate(range(0, len(pcm), chunk)):  # at the pace it is spoken
        time.sleep(max(0.0, started + k * CHUNK_SECONDS - time.monotonic()))
        if args.interrupt_after and time.monotonic() - started >= args.interrupt_after:
            stats["interrupted"] = time.monotonic()
            requests.put(pb.LiveRequest(interrupt=True))
            break
        stats["sent"] = stats["sent"] or time.monotonic()
        requests.put(pb.LiveRequest(pcm=pcm[at:at + chunk]))
    else:
        requests.put(pb.LiveRequest(end=True))
    time.sleep(1.5)  # idle again
    requests.put(pb.LiveRequest(close=True))
    requests.put(None)
    receiver.join()
    if stats["error"]:
        sys.exit(stats["error"])
    print(f"{stats['idle'] + stats['speech']} frames ({stats['idle']} idle, "
          f"{stats['speech']} speech) in {out}/")
    if stats["first_speech"]:
        print(f"first speech frame {1000 * (stats['first_speech'] - stats['sent']):.0f} ms "
              "after the first audio was sent")
    if stats["idle_again"]:
        print(f"interrupt to idle: {1000 * (stats['idle_again'] - stats['interrupted']):.0f} ms")


if __name__ == "__main__":
    main()
