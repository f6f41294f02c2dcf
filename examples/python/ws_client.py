#!/usr/bin/env python3
"""The WebSocket /ws/render protocol (the browser page's) from Python, one clip per connection.

usage: ws_client.py HOST:HTTP_PORT MODEL_ID AUDIO_FILE OUT_DIR

AUDIO_FILE: any format FFmpeg reads. Writes OUT_DIR/frame_NNNNNN.jpg. Needs the `websockets`
package (Debian: python3-websockets).
"""
import asyncio
import json
import pathlib
import struct
import sys

import websockets


async def render(address, model_id, audio_path, out_dir):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    async with websockets.connect(f"ws://{address}/ws/render", max_size=None) as ws:
        await ws.send(json.dumps({"model": model_id, "sequence": "ping_pong"}))
        await ws.send(pathlib.Path(audio_path).read_bytes())
        header = json.loads(await ws.recv())
        if "error" in header:
            sys.exit(header["error"])
        print(f"clip: {header['frames']} frames {header['width']}x{header['height']}")
        while True:
            message = await ws.recv()
            if isinstance(message, str):  # {"done": ...} or {"error": ...}
                result = json.loads(message)
                if "error" in result:
                    sys.exit(result["error"])
                print(f"{result['frames']} frames in {out}/, {result['ms']} ms")
                return
            index, _timestamp_ms = struct.unpack_from("<II", message)
            (out / f"frame_{index:06d}.jpg").write_bytes(message[8:])


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    asyncio.run(render(*sys.argv[1:]))


if __name__ == "__main__":
    main()
