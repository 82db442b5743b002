#!/usr/bin/env python3
"""Room members for tests/hub.rs, built on the Python `websockets` package.

Usage: py_hub_client.py --url ws://127.0.0.1:PORT/path --clients N --messages K
                        [--compression none|deflate]

Opens N connections (offering permessage-deflate with --compression deflate,
the default), then prints one JSON line:
  {"ready": N, "extensions": ["<Sec-WebSocket-Extensions of each>", ...]}
Each connection then waits for K messages. Once all have them it prints
  {"ok": true, "received": [[m1, ..., mK], ...]}     (one list per connection;
                                                    binary messages as hex)
or, on any failure (including a 60 s timeout), {"ok": false, "error": "..."}.
It then closes every connection with 1000 and exits 0. JSON is compact
(no spaces) so that the Rust side can compare it as a string.
"""

import argparse
import asyncio
import json
import os
import sys
import threading

from websockets.asyncio.client import connect

HARD_TIMEOUT = 60.0


def say(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def receive(ws, count):
    got = []
    for _ in range(count):
        m = await ws.recv()
        got.append(m.hex() if isinstance(m, bytes) else m)
    return got


async def run(args):
    compression = "deflate" if args.compression == "deflate" else None
    conns = []
    try:
        for _ in range(args.clients):
            conns.append(await connect(args.url, compression=compression,
                                       max_size=None, ping_interval=None,
                                       open_timeout=10, close_timeout=10,
                                       proxy=None))
        say({"ready": len(conns),
             "extensions": [ws.response.headers.get("Sec-WebSocket-Extensions", "")
                            for ws in conns]})
        received = await asyncio.gather(*(receive(ws, args.messages) for ws in conns))
        return {"ok": True, "received": received}
    finally:
        await asyncio.gather(*(ws.close(1000) for ws in conns), return_exceptions=True)


async def main(args):
    try:
        return await asyncio.wait_for(run(args), HARD_TIMEOUT)
    except Exception as e:  # report, don't crash: the Rust test reads the JSON
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--messages", type=int, default=1)
    p.add_argument("--compression", choices=["none", "deflate"], default="deflate")
    backstop = threading.Timer(HARD_TIMEOUT + 10, lambda: os._exit(3))
    backstop.daemon = True
    backstop.start()
    say(asyncio.run(main(p.parse_args())))
    os._exit(0)
