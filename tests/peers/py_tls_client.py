#!/usr/bin/env python3
"""wss:// test client on the Python `websockets` package, trusting one CA.

Usage: py_tls_client.py --url wss://127.0.0.1:PORT/path --ca CA.pem
                        [--sizes 0,125,126,...] [--kinds text,binary]
                        [--compression none|deflate]

Verifies the server's certificate against the CA in --ca only (an
ssl.SSLContext with check_hostname on). For each kind and each size it sends
one deterministic message, waits for the echo and checks it is identical and
of the same type, then closes with 1000 and waits for the server's Close.
  text:   "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated to size
  binary: bytes (i * 31 + 7) & 0xff for i in range(size)

Prints exactly one JSON line on stdout:
  {"ok": true, "echoed": N, "close_code": C, "close_reason": R,
   "extensions": E, "tls": V}
      close_code/close_reason: what the server's Close frame said;
      extensions: the Sec-WebSocket-Extensions the server answered (or null);
      tls: the negotiated TLS version, e.g. "TLSv1.3"
  {"ok": false, "error": "..."}      any failure (incl. 60 s timeout)
Exit code is 0 in all these cases; non-zero only on a crash. Used by
tests/tls_server.rs.
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import threading

from websockets.asyncio.client import connect

HARD_TIMEOUT = 60.0
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--sizes", default="0,125,126,65535,65536,1048576")
    p.add_argument("--kinds", default="text,binary")
    p.add_argument("--compression", choices=["none", "deflate"], default="none")
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
    tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
    ws = await connect(
        args.url,
        ssl=tls,
        compression="deflate" if args.compression == "deflate" else None,
        max_size=64 * 1024 * 1024,
        open_timeout=10,
        close_timeout=10,
        ping_interval=None,
        proxy=None,
    )
    echoed = 0
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
        await ws.close(1000, "done")
    ssl_object = ws.transport.get_extra_info("ssl_object")
    return {
        "ok": ws.close_code == 1000,
        "echoed": echoed,
        "close_code": ws.close_code,
        "close_reason": ws.close_reason,
        "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
        "tls": ssl_object.version() if ssl_object is not None else None,
    }


async def main(args):
    try:
        return await asyncio.wait_for(run(args), HARD_TIMEOUT)
    except asyncio.TimeoutError:
        return {"ok": False, "error": f"TimeoutError: no result within {HARD_TIMEOUT:.0f} s"}
    except Exception as e:  # report, don't crash: the Rust test reads the JSON
        error = f"{type(e).__name__}: {e}"
        if e.__cause__ is not None:
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
