#!/usr/bin/env python3
"""WebSocket test server built on the Python `websockets` package.

Usage: py_server.py [--compression none|deflate] [--max-size N] [--mode echo|close]

Binds 127.0.0.1 on an ephemeral port and prints exactly one line, `PORT <n>`,
to stdout (nothing else is ever written there; logs go to stderr).

  --compression  none (default) or deflate (permessage-deflate, RFC 7692)
  --max-size     largest accepted message in bytes (default 64 MiB)
  --mode         echo (default): send every message back with the same type;
                 close: a text message "close:CODE:REASON" makes the server
                 close with that code and reason, anything else is echoed.

The server exits when stdin reaches EOF (the test holds the pipe open and
drops it when done) or after a hard timeout of 120 s, whichever comes first.
"""

import argparse
import asyncio
import logging
import os
import sys
import threading

from websockets.exceptions import ConnectionClosedError

try:
    from websockets.asyncio.server import serve
except ImportError:  # websockets < 13: legacy API
    from websockets import serve

HARD_TIMEOUT = 120.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compression", choices=["none", "deflate"], default="none")
    p.add_argument("--max-size", type=int, default=64 * 1024 * 1024)
    p.add_argument("--mode", choices=["echo", "close"], default="echo")
    return p.parse_args()


async def main(args):
    async def handler(ws):
        try:
            async for msg in ws:  # str for text frames, bytes for binary frames
                if args.mode == "close" and isinstance(msg, str) and msg.startswith("close:"):
                    parts = msg.split(":", 2)
                    await ws.close(int(parts[1]), parts[2] if len(parts) > 2 else "")
                    return
                await ws.send(msg)
        except ConnectionClosedError as e:
            print(f"py_server: connection failed: {e}", file=sys.stderr)

    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def wait_stdin_eof():
        if sys.stdin is not None:
            while sys.stdin.buffer.read(65536):
                pass
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result("stdin EOF"))

    server = await serve(
        handler,
        "127.0.0.1",
        0,
        compression="deflate" if args.compression == "deflate" else None,
        max_size=args.max_size,
        ping_interval=None,  # no unsolicited pings during tests
    )
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    threading.Thread(target=wait_stdin_eof, daemon=True).start()

    try:
        reason = await asyncio.wait_for(stop, HARD_TIMEOUT)
    except asyncio.TimeoutError:
        reason = "hard timeout"
    print(f"py_server: stopping ({reason})", file=sys.stderr)
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), 2)
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    asyncio.run(main(parse_args()))
    sys.stderr.flush()
    os._exit(0)  # don't wait for the stdin reader thread
