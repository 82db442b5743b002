#!/usr/bin/env python3
"""Message-level WebSocket test client built on the Python `websockets` package.

Usage: py_conn_client.py --url ws://127.0.0.1:PORT/path --mode MODE
                         [--kind text|binary] [--size N] [--fragments N]
                         [--code C] [--reason R]

Modes (used by tests/interop_connection.rs and
tests/interop_connection_close.rs):
  send-fragments  send one --kind/--size message as --fragments fragments
                  (websockets adds a final empty continuation) with a ping
                  ("ping-0", "ping-1", ...) after every fragment but the last,
                  wait for every pong, then expect the whole message echoed
                  once; close with 1000.
                  -> {"ok": true, "pongs": P, "echoed": 1}
  recv-fragments  wait for one message, check it is the --kind/--size payload,
                  send it back unchanged, then wait for the server's Close.
                  -> {"ok": true, "received": 1, "extra": E, "code": C, "reason": R}
                  (E = further messages before the Close, C/R = server's Close)
  wait-close      receive (and count) messages until the server closes.
                  -> {"ok": true, "messages": M, "code": C, "reason": R}
  close           close at once with --code/--reason and wait for the reply.
                  -> {"ok": true, "code": C, "reason": R}  (the server's reply)

Payloads: text = "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated to
size; binary = bytes (i * 31 + 7) & 0xff.
Prints exactly one JSON line on stdout; {"ok": false, "error": "..."} on any
failure (incl. a 60 s hard timeout). Exit code 0 unless it crashes.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import threading

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

HARD_TIMEOUT = 60.0
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--mode", required=True,
                   choices=["send-fragments", "recv-fragments", "wait-close", "close"])
    p.add_argument("--kind", choices=["text", "binary"], default="text")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--fragments", type=int, default=3)
    p.add_argument("--code", type=int, default=1000)
    p.add_argument("--reason", default="")
    return p.parse_args()


def payload(kind, size):
    if kind == "text":
        return (ALPHABET * (size // len(ALPHABET) + 1))[:size]
    return bytes((i * 31 + 7) & 0xFF for i in range(size))


def split(data, n):
    step = -(-len(data) // n) if data else 0
    return [data[i * step:(i + 1) * step] for i in range(n)]


def closed_info(ws, exc=None):
    rcvd = getattr(exc, "rcvd", None) if exc is not None else None
    if rcvd is None:
        rcvd = ws.protocol.close_rcvd
    if rcvd is None:
        return {"code": 1006, "reason": ""}
    return {"code": int(rcvd.code), "reason": rcvd.reason}


async def send_fragments(ws, args):
    msg = payload(args.kind, args.size)
    pongs = []

    async def fragments():
        parts = split(msg, args.fragments)
        for i, part in enumerate(parts):
            yield part
            if i < len(parts) - 1:
                pongs.append(await ws.ping(f"ping-{i}"))

    await ws.send(fragments())
    await asyncio.wait_for(asyncio.gather(*pongs), 20)
    echo = await ws.recv()
    if type(echo) is not type(msg) or echo != msg:
        return {"ok": False, "error": f"echo differs: {type(echo).__name__} of {len(echo)} units"}
    await ws.close(1000)
    return {"ok": True, "pongs": len(pongs), "echoed": 1}


async def recv_fragments(ws, args):
    expected = payload(args.kind, args.size)
    msg = await ws.recv()
    if type(msg) is not type(expected):
        return {"ok": False, "error": f"got a {type(msg).__name__} message"}
    if msg != expected:
        return {"ok": False, "error": f"message differs: {len(msg)} units, expected {len(expected)}"}
    await ws.send(msg)
    extra = 0
    try:
        while True:
            await ws.recv()
            extra += 1
    except ConnectionClosed as e:
        return {"ok": True, "received": 1, "extra": extra, **closed_info(ws, e)}


async def wait_close(ws, args):
    messages = 0
    try:
        while True:
            await ws.recv()
            messages += 1
    except ConnectionClosed as e:
        return {"ok": True, "messages": messages, **closed_info(ws, e)}


async def close(ws, args):
    await ws.close(args.code, args.reason)
    return {"ok": True, **closed_info(ws)}


async def run(args):
    ws = await connect(args.url, max_size=64 * 1024 * 1024, open_timeout=10,
                       close_timeout=10, ping_interval=None, proxy=None)
    try:
        mode = {"send-fragments": send_fragments, "recv-fragments": recv_fragments,
                "wait-close": wait_close, "close": close}[args.mode]
        return await mode(ws, args)
    finally:
        await ws.close(1000)


async def main(args):
    try:
        return await asyncio.wait_for(run(args), HARD_TIMEOUT)
    except asyncio.TimeoutError:
        return {"ok": False, "error": "TimeoutError"}
    except Exception as e:  # report, don't crash: the Rust test reads the JSON
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    backstop = threading.Timer(HARD_TIMEOUT + 10, lambda: os._exit(3))
    backstop.daemon = True
    backstop.start()
    result = asyncio.run(main(parse_args()))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)
