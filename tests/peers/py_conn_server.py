#!/usr/bin/env python3
"""Message-level WebSocket test server built on the Python `websockets` package.

Usage: py_conn_server.py

Binds 127.0.0.1 on an ephemeral port and prints exactly one line, `PORT <n>`,
to stdout (logs go to stderr). Every message is echoed with its type, except
these text commands (used by tests/interop_connection.rs and
tests/interop_connection_close.rs):

  "fragments:KIND:SIZE:N"  send the KIND (text|binary) payload of SIZE bytes
                           as N fragments (websockets adds a final empty
                           continuation) with a ping ("ping-0", ...) after
                           every fragment but the last; wait for all pongs
                           (20 s at most) and then send the text "pongs:P"
                           (P = pongs received) or "pong-timeout:P".
  "close:CODE:REASON"      close with that code and reason.
  "last-close"             reply "CODE:REASON": the Close frame received on
                           the most recent earlier connection that ended
                           (waits up to 20 s for one to end).

Payloads: text = "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated to
size; binary = bytes (i * 31 + 7) & 0xff.
Exits when stdin reaches EOF or after a hard timeout of 120 s.
"""

import asyncio
import logging
import os
import sys
import threading

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

HARD_TIMEOUT = 120.0
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def payload(kind, size):
    if kind == "text":
        return (ALPHABET * (size // len(ALPHABET) + 1))[:size]
    return bytes((i * 31 + 7) & 0xFF for i in range(size))


def split(data, n):
    step = -(-len(data) // n) if data else 0
    return [data[i * step:(i + 1) * step] for i in range(n)]


async def main():
    closes = []  # (code, reason) of each connection that ended
    close_seen = asyncio.Event()

    async def send_fragments(ws, kind, size, n):
        pongs = []

        async def fragments():
            parts = split(payload(kind, size), n)
            for i, part in enumerate(parts):
                yield part
                if i < len(parts) - 1:
                    pongs.append(await ws.ping(f"ping-{i}"))

        await ws.send(fragments())
        try:
            await asyncio.wait_for(asyncio.gather(*pongs), 20)
        except asyncio.TimeoutError:
            await ws.send(f"pong-timeout:{sum(p.done() for p in pongs)}")
            return
        await ws.send(f"pongs:{len(pongs)}")

    async def handler(ws):
        try:
            async for msg in ws:
                if isinstance(msg, str) and msg.startswith("fragments:"):
                    _, kind, size, n = msg.split(":")
                    await send_fragments(ws, kind, int(size), int(n))
                elif isinstance(msg, str) and msg.startswith("close:"):
                    _, code, reason = msg.split(":", 2)
                    await ws.close(int(code), reason)
                elif msg == "last-close":
                    await asyncio.wait_for(close_seen.wait(), 20)
                    code, reason = closes[-1]
                    await ws.send(f"{code}:{reason}")
                else:
                    await ws.send(msg)
        except ConnectionClosed:
            pass  # recorded below; "last-close" reports it
        finally:
            rcvd = ws.protocol.close_rcvd
            closes.append((rcvd.code, rcvd.reason) if rcvd is not None else (1006, ""))
            close_seen.set()

    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def wait_stdin_eof():
        while sys.stdin.buffer.read(65536):
            pass
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result("stdin EOF"))

    server = await serve(handler, "127.0.0.1", 0, max_size=64 * 1024 * 1024, ping_interval=None)
    sys.stdout.write(f"PORT {server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    threading.Thread(target=wait_stdin_eof, daemon=True).start()
    try:
        reason = await asyncio.wait_for(stop, HARD_TIMEOUT)
    except asyncio.TimeoutError:
        reason = "hard timeout"
    print(f"py_conn_server: stopping ({reason})", file=sys.stderr)
    server.close()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    asyncio.run(main())
    sys.stderr.flush()
    os._exit(0)
