#!/usr/bin/env python3
"""WebSocket test client built on the Python `websockets` package.

Usage: py_client.py --url ws://127.0.0.1:PORT/path [--sizes 0,125,126,...]
                    [--kinds text,binary] [--origin O] [--user U --password P]
                    [--compression none|deflate] [--max-size N]

For each kind and each size it sends one deterministic message, waits for the
echo and checks it is identical and of the same type, then closes with 1000
(the server must answer with a Close frame).
  text:   "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated to size
  binary: bytes (i * 31 + 7) & 0xff for i in range(size)
--user/--password send `Authorization: Basic base64(U:P)`.

Prints exactly one JSON line on stdout:
  {"ok": true, "echoed": N}          all N messages echoed correctly
  {"ok": false, "status": 403}       handshake rejected with that HTTP status
  {"ok": false, "error": "..."}      any other failure (incl. 60 s timeout)
Exit code is 0 in all these cases; non-zero only on a crash.
"""

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
import threading
import time

try:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    HEADERS_KW = "additional_headers"
except ImportError:  # websockets < 13: legacy API
    from websockets import connect
    from websockets.exceptions import InvalidStatusCode as InvalidStatus

    HEADERS_KW = "extra_headers"

HARD_TIMEOUT = 60.0
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--sizes", default="0,125,126,65535,65536,1048576")
    p.add_argument("--kinds", default="text,binary")
    p.add_argument("--origin")
    p.add_argument("--user")
    p.add_argument("--password", default="")
    p.add_argument("--compression", choices=["none", "deflate"], default="none")
    p.add_argument("--max-size", type=int, default=64 * 1024 * 1024)
    return p.parse_args()


def payload(kind, size):
    if kind == "text":
        return (ALPHABET * (size // len(ALPHABET) + 1))[:size]
    if kind == "binary":
        return bytes((i * 31 + 7) & 0xFF for i in range(size))
    raise ValueError(f"unknown kind {kind!r}")


async def run(args):
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    headers = {}
    if args.user is not None:
        token = base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    kwargs = {
        "origin": args.origin,
        HEADERS_KW: headers or None,
        "compression": "deflate" if args.compression == "deflate" else None,
        "max_size": args.max_size,
        "open_timeout": 10,
        "close_timeout": 10,
        "ping_interval": None,
    }
    if HEADERS_KW == "additional_headers":
        kwargs["proxy"] = None  # never route 127.0.0.1 through an env proxy
    echoed = 0
    ws = await connect(args.url, **kwargs)
    try:
        for kind in kinds:
            for size in sizes:
                msg = payload(kind, size)
                await ws.send(msg)
                reply = await ws.recv()
                if type(reply) is not type(msg):
                    return {"ok": False, "error": f"{kind} size {size}: echo came back as "
                            f"{'text' if isinstance(reply, str) else 'binary'}"}
                if reply != msg:
                    return {"ok": False, "error": f"{kind} size {size}: echo differs "
                            f"(got {len(reply)} units)"}
                echoed += 1
    finally:
        await ws.close(1000)
    if ws.close_code == 1006:  # no Close frame came back from the server
        return {"ok": False, "error": "closing handshake failed: no close frame from server"}
    return {"ok": True, "echoed": echoed}


async def main(args):
    deadline = time.monotonic() + HARD_TIMEOUT
    try:
        return await asyncio.wait_for(run(args), HARD_TIMEOUT)
    except InvalidStatus as e:
        response = getattr(e, "response", None)
        status = response.status_code if response is not None else e.status_code
        return {"ok": False, "status": int(status)}
    except asyncio.TimeoutError as e:  # hard timeout, or open/close timeout (10 s)
        what = f"hard timeout after {HARD_TIMEOUT:.0f} s" if time.monotonic() >= deadline else e
        return {"ok": False, "error": f"TimeoutError: {what or 'timed out'}"}
    except Exception as e:  # report, don't crash: the Rust test reads the JSON
        error = f"{type(e).__name__}: {e}"
        if e.__cause__ is not None:  # e.g. InvalidMessage hides the parse error here
            error += f" (caused by {type(e.__cause__).__name__}: {e.__cause__})"
        return {"ok": False, "error": error}


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    # Backstop in case the event loop itself gets stuck.
    backstop = threading.Timer(HARD_TIMEOUT + 10, lambda: os._exit(3))
    backstop.daemon = True
    backstop.start()
    result = asyncio.run(main(parse_args()))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)
