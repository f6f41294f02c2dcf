#!/usr/bin/env python3
"""A live avatar over the WebSocket /ws/live: idle, then speech sent at the pace it is spoken,
then (optionally) an interruption; prints what arrived and when.

usage: live_client.py HOST:HTTP_PORT MODEL_ID WAV_FILE OUT_DIR [--interrupt-after S]

WAV_FILE: 16-bit PCM WAV at any rate and channel count (sent as it is; the server resamples).
Writes OUT_DIR/frame_NNNNNN.jpg for every frame received. Needs the `websockets` package
(Debian: python3-websockets).
"""
import argparse
import asyncio
import json
import pathlib
import struct
import sys
import time
import wave

import websockets

CHUNK_SECONDS = 0.1


async def receive(ws, out, stats, stop):
    while not stop.is_set():
        try:
            message = await asyncio.wait_for(ws.recv(), timeout=0.2)
        except asyncio.TimeoutError:
            continue
        if isinstance(message, str):
            sys.exit(json.loads(message).get("error", message))
        index, pts_ms, utterance = struct.unpack_from("<III", message)
        now = time.monotonic()
        (out / f"frame_{index:06d}.jpg").write_bytes(message[12:])
        stats["frames"] += 1
        stats["speech" if utterance else "idle"] += 1
        if utterance and stats["first_speech"] is None:
            stats["first_speech"] = now
        if stats["interrupted"] is not None and not utterance and stats["idle_again"] is None:
            stats["idle_again"] = now


async def run(args):
    out = pathlib.Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with wave.open(args.wav, "rb") as wav:
        if wav.getsampwidth() != 2:
            sys.exit(f"{args.wav}: 16-bit PCM WAV expected")
        rate, channels = wav.getframerate(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
    stats = {"frames": 0, "idle": 0, "speech": 0, "first_speech": None,
             "interrupted": None, "idle_again": None}
    opened = time.monotonic()
    async with websockets.connect(f"ws://{args.address}/ws/live", max_size=None) as ws:
        await ws.send(json.dumps({"model": args.model, "sample_rate": rate, "channels": channels,
                                  "format": "s16"}))
        hello = json.loads(await ws.recv())
        if "error" in hello:
            sys.exit(hello["error"])
        print(f"session {hello['session']}: {hello['width']}x{hello['height']} at "
              f"{hello['fps']} fps, look-ahead {hello['lookahead_ms']} ms")
        stop = asyncio.Event()
        receiver = asyncio.create_task(receive(ws, out, stats, stop))
        await asyncio.sleep(1.0)  # idle
        chunk = int(rate * CHUNK_SECONDS) * channels * 2
        started = time.monotonic()
        for at in range(0, len(pcm), chunk):  # at the pace it is spoken
            await ws.send(pcm[at:at + chunk])
            spoken = time.monotonic() - started
            if args.interrupt_after is not None and spoken >= args.interrupt_after:
                stats["interrupted"] = time.monotonic()
                await ws.send(json.dumps({"interrupt": True}))
                break
            await asyncio.sleep(max(0.0, (at + chunk) / (rate * channels * 2) - spoken))
        else:
            await ws.send(json.dumps({"end": True}))
        await asyncio.sleep(2.0)  # the rest of the speech, then idle
        stop.set()
        await receiver
    print(f"{stats['frames']} frames ({stats['idle']} idle, {stats['speech']} speech) in {out}/")
    if stats["first_speech"] is not None:
        print(f"first speech frame {1000 * (stats['first_speech'] - started):.0f} ms after the "
              f"first audio was sent")
    if stats["interrupted"] is not None and stats["idle_again"] is not None:
        print(f"interrupt to idle: {1000 * (stats['idle_again'] - stats['interrupted']):.0f} ms")
    print(f"session open for {time.monotonic() - opened:.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("model")
    parser.add_argument("wav")
    parser.add_argument("out_dir")
    parser.add_argument("--interrupt-after", type=float, default=None,
                        help="interrupt after this many seconds of speech")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
