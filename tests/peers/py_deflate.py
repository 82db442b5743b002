#!/usr/bin/env python3
"""permessage-deflate peer on the Python `websockets` package (used by
tests/interop_deflate.rs). Compression is on: websockets' defaults
(compression="deflate"), or a factory built from --pmd.

Usage:
  py_deflate.py server [--pmd JSON]
      Binds 127.0.0.1 port 0, prints exactly one line `PORT <n>` on stdout,
      and echoes every message with its type, except these text commands:
        "cmd:extensions"            reply one JSON text (see EXTENSIONS below)
        "cmd:fragments:KIND:SIZE:N" send the KIND (text|binary|far) payload of
                                    SIZE bytes as N fragments (websockets
                                    adds a final empty continuation)
      Exits when stdin reaches EOF or after a hard timeout of 120 s.
  py_deflate.py client --url URL --sizes 0,1,... [--kinds text,binary,far]
                       [--fragments N] [--pmd JSON]
      For each kind and size: sends the payload whole and checks the echo,
      then (N > 0) sends it again as N fragments and checks the echo. Closes
      with 1000. Prints one JSON line:
        {"ok":true,"echoed":E,"close":C,"extensions":[...],"response":"..."}
        {"ok":false,"error":"..."}   (any failure, incl. a 60 s timeout)
      Exit code 0 unless it crashes.

--pmd: keyword arguments (JSON object) of websockets'
ServerPerMessageDeflateFactory / ClientPerMessageDeflateFactory, e.g.
{"server_max_window_bits": 10, "client_no_context_takeover": true}.

EXTENSIONS (both modes): ws.protocol.extensions as a list of
  {"name", "local_no_context_takeover", "remote_no_context_takeover",
   "local_max_window_bits", "remote_max_window_bits"}
plus, from the server, "offer" (the request's Sec-WebSocket-Extensions) and
"response" (ours), and from the client "response" (the server's).

Payloads: text = "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated
to size; binary = bytes (i * 31 + 7) & 0xff; far (binary) = a 3000-byte
pseudo-random block repeated (x = (x * 1103515245 + 12345) mod 2^31 from
x = 1, byte (x >> 16) & 0xff): it only compresses with back-references
3000 bytes away, beyond a 9-, 10- or 11-bit window, so an inflater with a
small window fails on it if the compressor ignored the agreed window.
All JSON is compact (separators "," and ":").
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import threading

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

HARD_TIMEOUT = 60.0
SERVER_TIMEOUT = 120.0
MAX_SIZE = 64 * 1024 * 1024
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
PATTERN = bytes((i * 31 + 7) & 0xFF for i in range(256))  # period 256


def far_block():
    x, out = 1, bytearray()
    for _ in range(FAR_PERIOD):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append((x >> 16) & 0xFF)
    return bytes(out)


FAR_PERIOD = 3000
FAR = far_block()


def payload(kind, size):
    if kind == "text":
        return (ALPHABET * (size // len(ALPHABET) + 1))[:size]
    if kind == "far":
        return (FAR * (size // FAR_PERIOD + 1))[:size]
    return (PATTERN * (size // 256 + 1))[:size]


def split(data, n):
    step = -(-len(data) // n) if data else 0
    return [data[i * step:(i + 1) * step] for i in range(n)]


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def describe(ws):
    return [
        {
            "name": str(ext.name),
            "local_no_context_takeover": getattr(ext, "local_no_context_takeover", None),
            "remote_no_context_takeover": getattr(ext, "remote_no_context_takeover", None),
            "local_max_window_bits": getattr(ext, "local_max_window_bits", None),
            "remote_max_window_bits": getattr(ext, "remote_max_window_bits", None),
        }
        for ext in ws.protocol.extensions
    ]


def compression_kwargs(pmd_json, factory):
    if not pmd_json:
        return {"compression": "deflate"}
    return {"compression": None, "extensions": [factory(**json.loads(pmd_json))]}


# --- server -------------------------------------------------------------------


async def server_main(args):
    async def handler(ws):
        try:
            async for msg in ws:
                if isinstance(msg, str) and msg == "cmd:extensions":
                    await ws.send(dumps({
                        "extensions": describe(ws),
                        "offer": ws.request.headers.get("Sec-WebSocket-Extensions", ""),
                        "response": ws.response.headers.get("Sec-WebSocket-Extensions", ""),
                    }))
                elif isinstance(msg, str) and msg.startswith("cmd:fragments:"):
                    _, _, kind, size, n = msg.split(":")
                    await ws.send(split(payload(kind, int(size)), int(n)))
                else:
                    await ws.send(msg)
        except ConnectionClosed as e:
            print(f"py_deflate server: connection closed: {e}", file=sys.stderr)

    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def wait_stdin_eof():
        while sys.stdin.buffer.read(65536):
            pass
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result("stdin EOF"))

    server = await serve(
        handler, "127.0.0.1", 0, max_size=MAX_SIZE, ping_interval=None,
        **compression_kwargs(args.pmd, ServerPerMessageDeflateFactory),
    )
    sys.stdout.write(f"PORT {server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    threading.Thread(target=wait_stdin_eof, daemon=True).start()
    try:
        reason = await asyncio.wait_for(stop, SERVER_TIMEOUT)
    except asyncio.TimeoutError:
        reason = "hard timeout"
    print(f"py_deflate server: stopping ({reason})", file=sys.stderr)
    server.close()


# --- client -------------------------------------------------------------------


async def client_run(args):
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = [k for k in args.kinds.split(",") if k]
    ws = await connect(
        args.url, max_size=MAX_SIZE, open_timeout=10, close_timeout=10,
        ping_interval=None, proxy=None,
        **compression_kwargs(args.pmd, ClientPerMessageDeflateFactory),
    )
    echoed = 0
    try:
        for kind in kinds:
            for size in sizes:
                msg = payload(kind, size)
                sends = [("whole", msg)]
                if args.fragments > 0:
                    sends.append((f"{args.fragments} fragments", split(msg, args.fragments)))
                for how, data in sends:
                    await ws.send(data)
                    echo = await ws.recv()
                    if type(echo) is not type(msg) or echo != msg:
                        return {"ok": False, "error": f"{kind} {size} sent {how}: echo differs "
                                f"({type(echo).__name__} of {len(echo)} units)"}
                    echoed += 1
    finally:
        await ws.close(1000)
    rcvd = ws.protocol.close_rcvd
    return {
        "ok": rcvd is not None and rcvd.code == 1000,
        "echoed": echoed,
        "close": rcvd.code if rcvd is not None else 1006,
        "extensions": describe(ws),
        "response": ws.response.headers.get("Sec-WebSocket-Extensions", ""),
    }


async def client_main(args):
    try:
        return await asyncio.wait_for(client_run(args), HARD_TIMEOUT)
    except asyncio.TimeoutError:
        return {"ok": False, "error": "TimeoutError"}
    except Exception as e:  # report, don't crash: the Rust test reads the JSON
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--url")
    p.add_argument("--sizes", default="0,1,125,126,65535,65536,1048576")
    p.add_argument("--kinds", default="text,binary")
    p.add_argument("--fragments", type=int, default=0)
    p.add_argument("--pmd", default="")
    return p.parse_args()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    args = parse_args()
    if args.role == "server":
        asyncio.run(server_main(args))
    else:
        backstop = threading.Timer(HARD_TIMEOUT + 10, lambda: os._exit(3))
        backstop.daemon = True
        backstop.start()
        result = asyncio.run(client_main(args))
        sys.stdout.write(dumps(result) + "\n")
        sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
